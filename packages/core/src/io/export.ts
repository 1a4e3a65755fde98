import type { Dataset } from '../data/dataset.js';
import { subset } from '../data/dataset.js';
import { encodePayload } from '../encodings/serialize.js';
import { containsKind, toDense } from '../encodings/ops.js';
import { describeEncoding } from '../encodings/describe.js';

export { describeEncoding };
import { denseEncoding } from '../encodings/kinds/dense.js';
import { maskedEncoding } from '../encodings/kinds/masked.js';
import type { Encoding, QuantizedEncoding } from '../encodings/types.js';
import { sizeOf } from '../ir/shapes.js';
import { assertFiniteWeights, type Model, validateModel } from '../model/model.js';
import { chooseQuantParams, quantizeWith } from '../tensor/quant.js';
import { predict } from '../train/trainer.js';
import { EXTENSION_KEY, serializeModel, type SerializedModel } from './serialize.js';
import { gzipSize, serializedFiles, sizeReportOf } from './size.js';
import { hasStockForm, lowerToStock } from './stock.js';

/** Stock stand-in for a weight stock tfjs cannot hold: 'auto' picks the smallest that keeps predictions. */
export type Widen = 'auto' | 'uint8' | 'uint16' | 'float16' | 'float32';

export interface ExportOptions {
  /** true: model.json uses only what stock tfjs understands. false (default): every encoding exact under `edgeCompress`, plus stock fallback shards. */
  stock?: boolean;
  /**
   * Stock form of a weight with none (masked fp32, per-channel, pow2, low-rank, block-sparse, ...): re-quantized
   * per tensor with the converter's nudged affine rule to uint8 / uint16, cast to float16, or widened to float32
   * (exact). 'auto' (default) picks per weight the smallest that keeps every top-1 prediction on `data` (use
   * training-split data, never test); without `data`, 'auto' means float32 for fp32 weights and uint16 for
   * quantized ones.
   */
  widen?: Widen;
  /** Calibration data for 'auto' and the reported prediction match (from the training split). */
  data?: Dataset;
  /** Examples of `data` used (default 1,000). */
  checkSamples?: number;
  /** Stored under model.json userDefinedMetadata. */
  metadata?: Record<string, unknown>;
}

export interface ExportLayerRow {
  weight: string;
  /** Where our loader reads it: stock manifest or the `edgeCompress` extension payload. */
  storedAs: 'stock' | 'extension';
  encoding: string;
  /** Stock manifest dtype our loader or (for the extension) stock loaders read. */
  dtype: string;
  rawBytes: number;
  /** This weight's bytes gzipped alone (fflate level 9); file totals are measured on the real files. */
  gzipBytes: number;
  /** float32 bytes after a stock tfjs load (tfjs dequantizes every weight at load). */
  stockInMemoryBytes: number;
  fp32Bytes: number;
  /** What our loader gets differs from the model by at most this (0: the extended format is exact). */
  maxAbsError: number;
  /** Set when stock loaders get a widened or re-quantized stand-in. */
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
    /** Bytes a stock tfjs loader reads (extended format: model.json + stock shards + fallback shards). */
    stockRawBytes: number;
    stockGzipBytes: number;
    /** float32 bytes of all weights in memory after a stock load: NOT reduced by quantization. */
    stockInMemoryBytes: number;
    fp32Bytes: number;
  };
  inMemoryNote: string;
  /** Weights stock loaders cannot get exactly, what they get instead and the largest error. */
  lost: Array<{ weight: string; from: string; widenedTo: string; maxAbsError: number }>;
  /** Fraction of checked examples where stock loaders' weights give our model's top-1. */
  predictionMatch?: number;
}

export const IN_MEMORY_NOTE =
  'tfjs dequantizes uint8 / uint16 / float16 weights to float32 when it loads a model, so quantization shrinks the download, not the memory or the compute: stockInMemoryBytes is 4 bytes per parameter whatever the file holds (tensorflow/tfjs#6551)';

/** A stock-expressible stand-in for `e` (per tensor, a mask kept as exact zeros), and its largest deviation. */
export function widenEncoding(e: Encoding, to: Exclude<Widen, 'auto'>): { encoding: Encoding; maxAbsError: number } {
  const values = toDense(e);
  const mask = e.kind === 'masked' ? e.mask : undefined;
  let enc: Encoding;
  if (to === 'float32') enc = denseEncoding(e.shape, values.slice());
  else {
    const p =
      to === 'float16'
        ? chooseQuantParams(values, e.shape, { scheme: 'float16', bits: 16 })
        : chooseQuantParams(values, e.shape, { scheme: 'affine', bits: to === 'uint8' ? 8 : 16, axis: null, mask });
    const q: QuantizedEncoding = { kind: 'quantized', shape: [...e.shape], ...p, codes: quantizeWith(values, e.shape, p) };
    enc = mask && to !== 'float16' ? maskedEncoding(q, mask) : q;
  }
  const got = toDense(enc);
  let err = 0;
  for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i]! - values[i]!));
  return { encoding: enc, maxAbsError: err };
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
 * Saves any model as a tfjs LayersModel through core's one save path and returns the honest size report: per
 * weight and total raw bytes, gzip bytes and stock in-memory bytes, plus what stock loaders lose. Every encoding
 * is exact under the `edgeCompress` extension (our loader); stock loaders read, per weight without a stock form,
 * the smallest stock stand-in that keeps every top-1 prediction on the calibration data. Validation (shapes,
 * NaN) runs first; nothing is written: `exportModel` (Node) writes the files atomically, or hand `serialized` to any store.
 */
export function serializeExport(model: Model, opts: ExportOptions = {}): { serialized: SerializedModel; report: ExportReport } {
  validateModel(model, 'exportModel');
  assertFiniteWeights(model, 'exportModel');
  const format = opts.stock ? 'stock' : 'extended';
  const check = opts.data ? subset(opts.data, Math.min(opts.data.count, opts.checkSamples ?? 1000)) : undefined;
  // Our predictions on the check digits, computed only if some weight needs a stock stand-in.
  let ours: Int32Array | undefined;
  const agreeing = (m: Model): number => {
    ours ??= argmaxes(predict(model, check!.images, check!.count), check!.numClasses);
    return agreement(argmaxes(predict(m, check!.images, check!.count, { kernels: [] }), check!.numClasses), ours);
  };
  const matches = (m: Model): boolean => agreeing(m) === 1;
  const weights: Record<string, Encoding> = { ...model.weights };
  const lost: ExportReport['lost'] = [];
  const chosen = new Map<string, { to: Exclude<Widen, 'auto'>; err: number }>();
  const need = Object.keys(model.weights).filter((n) => !hasStockForm(model.weights[n]!));
  const apply = (n: string, to: Exclude<Widen, 'auto'>): void => {
    const w = widenEncoding(model.weights[n]!, to);
    weights[n] = w.encoding;
    chosen.set(n, { to, err: w.maxAbsError });
  };
  const mode = opts.widen ?? 'auto';
  for (const n of need) {
    const e = model.weights[n]!;
    if (mode !== 'auto') apply(n, mode);
    else if (!check) apply(n, containsKind(e, 'quantized') ? 'uint16' : 'float32');
    else {
      // Smallest per-weight form that keeps predictions with every other weight exact.
      for (const to of ORDER) {
        apply(n, to);
        if (to === 'float32' || matches({ ir: model.ir, weights: { ...model.weights, [n]: weights[n]! } })) break;
      }
    }
  }
  // Together the per-weight choices might still flip a prediction: widen the worst one step until they agree.
  // `final`: the agreement of the weights as they end up (so the report need not predict them again).
  let final: number | undefined;
  if (check && mode === 'auto' && chosen.size > 0) {
    while ((final = agreeing({ ir: model.ir, weights })) !== 1) {
      const worst = [...chosen].filter(([, c]) => c.to !== 'float32').sort((a, b) => b[1].err - a[1].err)[0];
      if (!worst) break;
      apply(worst[0], ORDER[ORDER.indexOf(worst[1].to) + 1]!);
    }
  }
  for (const [n, c] of chosen) lost.push({ weight: n, from: describeEncoding(model.weights[n]!), widenedTo: c.to, maxAbsError: c.err });
  const stockModel: Model = { ir: model.ir, weights };
  const stockFallback = Object.fromEntries([...chosen.keys()].map((n) => [n, weights[n]!]));
  const saved = format === 'stock' ? serializeModel(stockModel, { format, metadata: opts.metadata }) : serializeModel(model, { format, metadata: opts.metadata, stockFallback });
  const [oursSize, stockSize] = [sizeReportOf(serializedFiles(saved, saved.files), model.ir), sizeReportOf(serializedFiles(saved, saved.stockFiles), model.ir)];
  const layers: ExportLayerRow[] = saved.weights.map((w) => {
    const enc = (format === 'stock' ? stockModel : model).weights[w.name]!;
    const bytes = w.storedAs === 'extension' ? encodePayload([[w.name, enc]]).data : lowerToStock(enc).bytes;
    const c = chosen.get(w.name);
    const what = describeEncoding(model.weights[w.name]!);
    const row: ExportLayerRow = {
      weight: w.name,
      storedAs: w.storedAs,
      encoding: what,
      dtype: w.storedAs === 'extension' ? `extension (${describeEncoding(enc)})` : w.stock.dtype,
      rawBytes: w.storedAs === 'extension' ? bytes.byteLength : w.stock.bytes,
      gzipBytes: gzipSize(bytes),
      stockInMemoryBytes: sizeOf(enc.shape) * 4,
      fp32Bytes: sizeOf(enc.shape) * 4,
      maxAbsError: w.storedAs === 'extension' && format === 'extended' ? 0 : c ? c.err : w.stock.maxAbsError,
      note:
        w.storedAs === 'extension'
          ? `exact under '${EXTENSION_KEY}'; stock loaders read a ${c ? `${c.to} stand-in (max abs error ${c.err.toExponential(2)})` : `${w.stock.dtype} fallback`}`
          : c
            ? `${what} has no stock form; ${c.to === 'float32' ? 'widened to float32 (exact, no size saving)' : `re-quantized per tensor to ${c.to}`}, max abs error ${c.err.toExponential(2)}`
            : w.stock.note,
    };
    if (c) row.widenedTo = c.to;
    return row;
  });
  const report: ExportReport = {
    format,
    modelJson: saved.jsonName,
    files: saved.allFiles,
    layers,
    total: {
      rawBytes: oursSize.rawBytes,
      gzipBytes: oursSize.gzipBytes,
      stockRawBytes: stockSize.rawBytes,
      stockGzipBytes: stockSize.gzipBytes,
      stockInMemoryBytes: oursSize.stockInMemoryBytes,
      fp32Bytes: layers.reduce((a, l) => a + l.fp32Bytes, 0),
    },
    inMemoryNote: IN_MEMORY_NOTE,
    lost,
  };
  // An all-dense model is saved as is: stock loaders read the same weights and run the same forward.
  const allDense = Object.values(model.weights).every((e) => e.kind === 'dense');
  if (check) report.predictionMatch = allDense ? 1 : (final ?? agreeing(stockModel));
  return { serialized: saved, report };
}
