import {
  assertFiniteWeights,
  CompressionError,
  chooseQuantParams,
  type CompressContext,
  type Dataset,
  denseEncoding,
  type Encoding,
  evaluateModel,
  evaluateWith,
  type LayerReport,
  layerReport,
  type Model,
  type Plan,
  quantizeWith,
  type Report,
  sizeOf,
  storageBits as storageBitsOf,
  toDense,
  toGemm,
  validateModel,
} from '@edge-compress/core';
import * as tf from '@tensorflow/tfjs-core';
import { resolveTarget, type SmartDealConfig, type SmartDealOptions } from './config.js';
import { coeffStats, encodeSmartDeal, fp32Bits, paperFormatBits, reconstruct, type SmartDealEncoding, smartDealStorageBits } from './encoding.js';
import { blockGeometry, gemmToBlocks, smartDealLayout } from './geometry.js';
import { smartDealKernel } from './kernel.js';
import { codeBits, levelCount } from './pow2.js';
import { sedBlock } from './sed.js';
import { structuralRowMask } from './structure.js';
import { type LayerState, smartDealTrain } from './train.js';

export type SmartDealPlan = Plan<SmartDealConfig, SmartDealOptions>;

export interface SmartDealLayerReport extends LayerReport {
  basisSize: number;
  block: [number, number];
  blocks: number;
  coeffSparsity: number;
  structuralSparsity: number;
  exponentRange: [number, number];
  coeffBits: number;
  storageBits: number;
  paperFormatBits: number;
  fp32Bits: number;
  /** ‖W − Ŵ‖_F / ‖W‖_F of the SED result and of the final weight, against the input weight. */
  sedError: number;
  reconstructionError: number;
}

export interface SmartDealReport extends Report {
  layers: SmartDealLayerReport[];
}

export interface SmartDealResult {
  model: Model;
  report: SmartDealReport;
  /** The SmartDeal encoding of every targeted kernel (the same objects as in `model.weights`). */
  encodings: Record<string, SmartDealEncoding>;
}

const relErr = (w: Float32Array, h: Float32Array): number => {
  let num = 0,
    den = 0;
  for (let i = 0; i < w.length; i++) ((num += (w[i]! - h[i]!) ** 2), (den += w[i]! ** 2));
  return Math.sqrt(num / Math.max(den, 1e-30));
};

/** Structural mask + SED of one kernel (pure). */
export function decomposeWeight(
  w: Float32Array,
  t: ReturnType<typeof resolveTarget>,
  iters: number,
  coding: 'threshold' | 'search' = 'threshold',
): LayerState & { structuralSparsity: number } {
  const layout = smartDealLayout(t.shape);
  const geo = blockGeometry(t.shape, layout);
  const blocks = gemmToBlocks(toGemm(w, t.shape), geo);
  const rowMask = structuralRowMask(blocks, geo, t.groupSize, t.sparseRatio);
  const { p, q } = geo;
  const ce = new Float32Array(geo.blocks * p * t.k);
  const basis = new Float32Array(geo.blocks * t.k * q);
  for (let g = 0; g < geo.blocks; g++) {
    const r = sedBlock(blocks.subarray(g * p * q, (g + 1) * p * q), p, q, rowMask.subarray(g * p, (g + 1) * p), { k: t.k, range: t.range, tau: t.tau, iters, coding });
    ce.set(r.ce, g * p * t.k);
    basis.set(r.basis, g * t.k * q);
  }
  const realRows = geo.rows * Math.ceil(geo.cols / q);
  let kept = 0;
  for (const m of rowMask) kept += m;
  const mask = Uint8Array.from(ce, (v) => (v !== 0 ? 1 : 0));
  return { t, geo, ce, basis, mask, structuralSparsity: 1 - kept / realRows };
}

/** Evaluates a model whose targeted kernels run through the SmartDeal kernel (multiplication-free reconstruction). */
export function evaluateSmartDeal(model: Model, encodings: Record<string, SmartDealEncoding>, data: Dataset): { accuracy: number; loss: number } {
  const prepared = new Map<string, ReturnType<typeof smartDealKernel.prepare>>();
  for (const l of model.ir.layers) {
    const e = encodings[`${l.name}/kernel`];
    if (e && (l.kind === 'conv2d' || l.kind === 'dense')) prepared.set(l.name, smartDealKernel.prepare(l, e, l.useBias ? toDense(model.weights[`${l.name}/bias`]!) : undefined));
  }
  const dense: Record<string, tf.Tensor> = {};
  for (const [n, e] of Object.entries(model.weights)) if (!encodings[n]) dense[n] = tf.tensor(toDense(e), e.shape, 'float32');
  try {
    return evaluateWith(model.ir, () => dense, data, { layerForward: (layer, x) => prepared.get(layer.name)?.run(x) });
  } finally {
    tf.dispose(Object.values(dense));
    prepared.forEach((k) => k.dispose());
  }
}

/**
 * SmartDeal: structural sparsity → SED → SmartDeal training (STE power-of-two projection, mask fixed) →
 * basis fine-tuning → encoding. Never reads test data; accuracies in the report are on `ctx.val`.
 */
export async function compressSmartDeal(model: Model, ctx: CompressContext, plan: SmartDealPlan): Promise<SmartDealResult> {
  if (ctx.signal?.aborted) throw new CompressionError({ code: 'ABORTED', method: 'smartdeal', message: 'smartdeal was aborted before it started', cause: ctx.signal.reason });
  validateModel(model, 'smartdeal: input model');
  assertFiniteWeights(model, 'smartdeal: input model');
  const o = plan.options;
  const targets = plan.targets.map(resolveTarget);
  const originals = new Map(targets.map((t) => [t.weight, toDense(model.weights[t.weight]!)]));
  const decomposed = targets.map((t) => decomposeWeight(originals.get(t.weight)!, t, o.sedIters, o.sedCoding));
  const sedErrors = new Map(decomposed.map((d) => [d.t.weight, relErr(originals.get(d.t.weight)!, reconstructFrom(d))]));
  let states: LayerState[] = decomposed;
  let biases: Record<string, Float32Array> = {};
  if (o.sdEpochs + o.finetuneEpochs > 0) {
    const r = await smartDealTrain(model, decomposed, ctx, o);
    states = r.states;
    biases = r.biases;
  }
  const encodings: Record<string, SmartDealEncoding> = {};
  const weights: Record<string, Encoding> = { ...model.weights };
  const warnings: string[] = [];
  const rows: SmartDealLayerReport[] = states.map((s) => {
    const layout = smartDealLayout(s.t.shape);
    let basis: Float32Array | Encoding = s.basis;
    if (o.basisBits) {
      const shape = [s.geo.blocks, s.t.k, s.geo.q];
      const qp = chooseQuantParams(s.basis, shape, { scheme: 'symmetric', bits: o.basisBits, axis: null, range: 'minmax' });
      basis = { kind: 'quantized', shape, ...qp, codes: quantizeWith(s.basis, shape, qp) };
    }
    const enc = encodeSmartDeal(s.t.shape, layout, s.t.k, s.ce, basis, s.t.range);
    encodings[s.t.weight] = enc;
    const w = reconstruct(enc);
    weights[s.t.weight] = enc;
    const bits = smartDealStorageBits(enc);
    const stats = coeffStats(enc);
    if (bits >= fp32Bits(s.t.shape))
      warnings.push(
        `smartdeal: layer '${s.t.layer}' stores ${bits} bits, not less than its ${fp32Bits(s.t.shape)} fp32 bits ([${s.geo.p}×${s.geo.q}] blocks with a ${s.t.k}×${s.geo.q} basis each gain nothing here); exclude it or raise sparse_ratio`,
      );
    const d = decomposed.find((x) => x.t.weight === s.t.weight)!;
    const before = model.weights[s.t.weight]!;
    return {
      ...layerReport(s.t.layer, s.t.weight, before, enc),
      basisSize: s.t.k,
      block: [s.geo.p, s.geo.q],
      blocks: s.geo.blocks,
      coeffSparsity: stats.sparsity,
      structuralSparsity: d.structuralSparsity,
      exponentRange: [s.t.range.minExp, s.t.range.maxExp],
      exponentLevels: levelCount(s.t.range),
      coeffBits: codeBits(s.t.range),
      storageBits: bits,
      paperFormatBits: paperFormatBits(enc, s.t.range),
      fp32Bits: fp32Bits(s.t.shape),
      sedError: sedErrors.get(s.t.weight)!,
      reconstructionError: relErr(originals.get(s.t.weight)!, w),
    } as SmartDealLayerReport;
  });
  for (const [n, v] of Object.entries(biases)) weights[n] = denseEncoding(model.weights[n]!.shape, v);
  const out: Model = { ir: model.ir, weights };
  const fp32 = Object.values(model.weights).reduce((a, e) => a + sizeOf(e.shape) * 32, 0);
  const stored = Object.values(weights).reduce((a, e) => a + storageBitsOf(e), 0);
  const metrics: Record<string, number> = {
    storageRatioTotal: fp32 / stored,
    storageRatioTargets: rows.reduce((a, r) => a + r.fp32Bits, 0) / rows.reduce((a, r) => a + r.storageBits, 0),
    storageBits: stored,
    fp32Bits: fp32,
  };
  metrics.valAccuracyBefore = evaluateModel(model, ctx.val).accuracy;
  metrics.valAccuracyAfter = evaluateSmartDeal(out, encodings, ctx.val).accuracy;
  return { model: out, report: { method: 'smartdeal', layers: rows, metrics, warnings }, encodings };
}

function reconstructFrom(d: LayerState): Float32Array {
  const layout = smartDealLayout(d.t.shape);
  return reconstruct(encodeSmartDeal(d.t.shape, layout, d.t.k, d.ce, d.basis, d.t.range));
}
