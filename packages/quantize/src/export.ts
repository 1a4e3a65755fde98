import { basename } from 'node:path';
import { assertFiniteWeights, gzipSize, hasStockForm, chooseQuantParams, type Dataset, denseEncoding, encodePayload, type Encoding, EXTENSION_KEY, lowerToStock, maskedEncoding, type Model, predict, type QuantizedEncoding, quantizeWith, saveModel, sizeOf, sizeReport, subset, toDense, validateModel } from '@edge-compress/core';
import { maxAbsDiff } from './weights.js';

export { hasStockForm };

export type Widen = 'auto' | 'uint8' | 'uint16' | 'float16' | 'float32';

export interface ExportOptions {
  /** true: model.json uses only what stock tfjs understands. false (default): richer encodings go, exact, under the `edgeCompress` key. */
  stock?: boolean;
  /**
   * Stock export of a weight with no stock form (per-channel, pow2, factorized): re-quantized per tensor with
   * the nudged affine rule to uint8 / uint16, cast to float16, or widened to float32 (exact). 'auto' (default)
   * picks per layer the smallest that keeps every top-1 prediction on `data` equal to our model's; without
   * `data`, 'auto' means 'uint16' (max error = range / 131070).
   */
  widen?: Widen;
  /** Check data for 'auto' widening and the reported prediction match (e.g. the calibration set). */
  data?: Dataset;
  /** Examples of `data` used (default 1,000). */
  checkSamples?: number;
  /** Stored under model.json userDefinedMetadata (e.g. activation ranges from the report). */
  metadata?: Record<string, unknown>;
}

export interface ExportLayerRow {
  weight: string;
  /** Where our loader reads it: stock manifest or the `edgeCompress` extension payload. */
  storedAs: 'stock' | 'extension';
  /** Stock manifest dtype (uint8 / uint16 / float16 / float32). */
  dtype: string;
  rawBytes: number;
  /** This weight's bytes gzipped alone (fflate level 9, as core's sizeReport); the file total is measured on the real files. */
  gzipBytes: number;
  /** float32 bytes after a stock tfjs load (tfjs dequantizes every weight at load). */
  stockInMemoryBytes: number;
  fp32Bytes: number;
  /** What our loader gets differs from the model by at most this (0 when exact; the extended format is always exact). */
  maxAbsError: number;
  /** Set when a stock export widened or re-quantized the weight. */
  widenedTo?: Exclude<Widen, 'auto'>;
  note: string;
}

export interface ExportReport {
  format: 'stock' | 'extended';
  modelJson: string;
  files: string[];
  layers: ExportLayerRow[];
  total: {
    /** Bytes our loader reads (model.json + shards + extension payload). */
    rawBytes: number;
    gzipBytes: number;
    /** Bytes a stock tfjs loader reads (for the extended format: model.json + stock shards + fallback shards). */
    stockRawBytes: number;
    stockGzipBytes: number;
    /** float32 bytes of all weights in memory after a stock load: NOT reduced by quantization. */
    stockInMemoryBytes: number;
    /** Bytes of the weights as float32 (the size of an uncompressed export, minus model.json). */
    fp32Bytes: number;
  };
  inMemoryNote: string;
  /** Weights stock loaders cannot get exactly (the stock export, or the extended format's fallback shards). */
  lost: Array<{ weight: string; from: string; widenedTo: string; maxAbsError: number }>;
  /** Fraction of `data` examples where the exported weights (as a stock loader decodes them) give our model's top-1. */
  predictionMatch?: number;
}

export const IN_MEMORY_NOTE = 'tfjs dequantizes uint8 / uint16 / float16 weights to float32 when it loads a model, so quantization shrinks the download, not the memory or the compute: stockInMemoryBytes is 4 bytes per parameter whatever the file holds (tensorflow/tfjs#6551)';

const quantizedIn = (e: Encoding): boolean => e.kind === 'quantized' || (e.kind === 'masked' ? quantizedIn(e.base) : e.kind === 'lowRank' ? quantizedIn(e.u) || quantizedIn(e.v) : e.kind === 'factorized' ? quantizedIn(e.basis) || quantizedIn(e.coeffs) : false);

/** A stock-expressible stand-in for `e` (per tensor, mask kept), and its largest deviation. */
export function widenEncoding(e: Encoding, to: Exclude<Widen, 'auto'>): { encoding: Encoding; maxAbsError: number } {
  const values = toDense(e);
  const mask = e.kind === 'masked' ? e.mask : undefined;
  let enc: Encoding;
  if (to === 'float32') enc = denseEncoding(e.shape, values.slice());
  else {
    const p = to === 'float16' ? chooseQuantParams(values, e.shape, { scheme: 'float16', bits: 16 }) : chooseQuantParams(values, e.shape, { scheme: 'affine', bits: to === 'uint8' ? 8 : 16, axis: null, mask });
    const q: QuantizedEncoding = { kind: 'quantized', shape: [...e.shape], ...p, codes: quantizeWith(values, e.shape, p) };
    enc = mask && to !== 'float16' ? maskedEncoding(q, mask) : q;
  }
  return { encoding: enc, maxAbsError: maxAbsDiff(toDense(enc), values) };
}

function argmaxes(probs: Float32Array, classes: number): Int32Array {
  const out = new Int32Array(probs.length / classes);
  for (let i = 0; i < out.length; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (probs[i * classes + c]! > probs[i * classes + best]!) best = c;
    out[i] = best;
  }
  return out;
}

const agreement = (a: Int32Array, b: Int32Array): number => a.reduce((n, v, i) => n + (v === b[i] ? 1 : 0), 0) / Math.max(1, a.length);

const ORDER: Array<Exclude<Widen, 'auto'>> = ['uint8', 'uint16', 'float32'];

/**
 * Writes `model` with core's saveModel and returns the honest size report: per weight and total raw bytes,
 * gzip bytes and stock in-memory bytes, plus what a stock export lost. Validation (shapes, NaN) runs before
 * anything is written.
 */
export async function exportQuantized(model: Model, dir: string, opts: ExportOptions = {}): Promise<ExportReport> {
  validateModel(model, 'exportQuantized');
  assertFiniteWeights(model, 'exportQuantized');
  const format = opts.stock ? 'stock' : 'extended';
  const check = opts.data ? subset(opts.data, Math.min(opts.data.count, opts.checkSamples ?? 1000)) : undefined;
  const ours = check ? argmaxes(predict(model, check.images, check.count), check.numClasses) : undefined;
  const matches = (m: Model): boolean => agreement(argmaxes(predict(m, check!.images, check!.count), check!.numClasses), ours!) === 1;
  const weights: Record<string, Encoding> = { ...model.weights };
  const lost: ExportReport['lost'] = [];
  const chosen = new Map<string, { to: Exclude<Widen, 'auto'>; err: number }>();
  {
    // Stand-ins for weights stock tfjs cannot hold: the stock export itself, or the extended format's fallback shards.
    const need = Object.keys(model.weights).filter((n) => !hasStockForm(model.weights[n]!));
    const apply = (n: string, to: Exclude<Widen, 'auto'>): void => {
      const w = widenEncoding(model.weights[n]!, to);
      weights[n] = w.encoding;
      chosen.set(n, { to, err: w.maxAbsError });
    };
    for (const n of need) {
      const e = model.weights[n]!;
      const mode = opts.widen ?? 'auto';
      if (!quantizedIn(e)) apply(n, 'float32'); // fp32 factors / masked fp32: stock float32 is exact and no larger
      else if (mode !== 'auto') apply(n, mode);
      else if (!check) apply(n, 'uint16');
      else {
        // Smallest per-layer form that keeps predictions with every other weight exact.
        for (const to of ORDER) {
          apply(n, to);
          if (to === 'float32' || matches({ ir: model.ir, weights: { ...model.weights, [n]: weights[n]! } })) break;
        }
      }
    }
    // Together the per-layer choices might still flip a prediction: widen the worst one step until they agree.
    if (check && (opts.widen ?? 'auto') === 'auto') {
      while (!matches({ ir: model.ir, weights })) {
        const worst = [...chosen].filter(([, c]) => c.to !== 'float32').sort((a, b) => b[1].err - a[1].err)[0];
        if (!worst) break;
        apply(worst[0], ORDER[ORDER.indexOf(worst[1].to) + 1]!);
      }
    }
    for (const [n, c] of chosen) lost.push({ weight: n, from: describe(model.weights[n]!), widenedTo: c.to, maxAbsError: c.err });
  }
  const stockModel: Model = { ir: model.ir, weights };
  const stockFallback = Object.fromEntries([...chosen.keys()].map((n) => [n, weights[n]!]));
  const saved = format === 'stock' ? await saveModel(stockModel, dir, { format, metadata: opts.metadata }) : await saveModel(model, dir, { format, metadata: opts.metadata, stockFallback });
  // saveModel lists the files each loader reads: the extended format's fallback shards are for stock loaders only.
  const [oursSize, stockSize] = [await sizeReport(saved.files, model.ir), await sizeReport(saved.stockFiles, model.ir)];
  const layers: ExportLayerRow[] = saved.weights.map((w) => {
    const enc = (format === 'stock' ? stockModel : model).weights[w.name]!;
    const bytes = w.storedAs === 'extension' ? encodePayload([[w.name, enc]]).data : lowerToStock(enc).bytes;
    const c = chosen.get(w.name);
    const row: ExportLayerRow = {
      weight: w.name,
      storedAs: w.storedAs,
      dtype: w.storedAs === 'extension' ? `extension (${describe(enc)})` : w.stock.dtype,
      rawBytes: w.storedAs === 'extension' ? bytes.byteLength : w.stock.bytes,
      gzipBytes: gzipSize(bytes),
      stockInMemoryBytes: sizeOf(enc.shape) * 4,
      fp32Bytes: sizeOf(enc.shape) * 4,
      maxAbsError: w.storedAs === 'extension' && format === 'extended' ? 0 : c ? c.err : w.stock.maxAbsError,
      note: w.storedAs === 'extension' ? `exact under '${EXTENSION_KEY}'; stock loaders read a ${c ? `${c.to} fallback (max abs error ${c.err.toExponential(2)})` : `${w.stock.dtype} fallback`}` : c ? `${describe(model.weights[w.name]!)} has no stock form; ${c.to === 'float32' ? 'widened to float32 (exact, no size saving)' : `re-quantized per tensor to ${c.to}`}, max abs error ${c.err.toExponential(2)}` : w.stock.note,
    };
    if (c) row.widenedTo = c.to;
    return row;
  });
  const report: ExportReport = {
    format,
    modelJson: saved.modelJson,
    files: saved.allFiles.map((f) => basename(f)),
    layers,
    total: { rawBytes: oursSize.rawBytes, gzipBytes: oursSize.gzipBytes, stockRawBytes: stockSize.rawBytes, stockGzipBytes: stockSize.gzipBytes, stockInMemoryBytes: oursSize.stockInMemoryBytes, fp32Bytes: layers.reduce((a, l) => a + l.fp32Bytes, 0) },
    inMemoryNote: IN_MEMORY_NOTE,
    lost,
  };
  if (check) report.predictionMatch = agreement(argmaxes(predict(stockModel, check.images, check.count), check.numClasses), ours!);
  return report;
}

function describe(e: Encoding): string {
  switch (e.kind) {
    case 'quantized':
      return `${e.bits}-bit ${e.scheme}${e.axis === null || e.scales.length <= 1 ? '' : ' per-channel'}`;
    case 'masked':
      return `masked ${describe(e.base)}`;
    case 'dense':
      return 'float32';
    default:
      return `${e.kind} (${describe(e.kind === 'lowRank' ? e.u : e.coeffs)} factors)`;
  }
}
