import * as tf from '@tensorflow/tfjs-core';
import {
  assertFiniteWeights,
  throwIfAborted,
  type CompressContext,
  type CompressResult,
  createRng,
  type Dataset,
  type Encoding,
  evaluateModel,
  evaluateWith,
  layerReport,
  lowerToStock,
  type Model,
  type Plan,
  type Report,
  sizeOf,
  storageBits,
  subset,
  toDense,
  validateModel,
  weightTensors,
} from '@edge-compress/core';
import { type ActivationRange, ActivationQuantizer } from './activations.js';
import { type QuantizeConfig, type QuantizeOptions, type QuantSpec, specOf } from './config.js';
import { chooseMixedPrecision, type MixedPrecisionResult } from './mixed.js';
import { quantizationAwareTraining } from './qat.js';
import { hasStockForm } from '@edge-compress/core';
import { maxAbsDiff, quantizeEncoding } from './weights.js';

export type QuantizePlan = Plan<QuantizeConfig, QuantizeOptions>;

/** The quantize report: core's Report plus the activation ranges and the mixed-precision table. */
export interface QuantizeReport extends Report {
  /** Calibrated (PTQ) or EMA (QAT) activation ranges; null when activations are not quantized. */
  activations: ActivationRange[] | null;
  mixedPrecision: MixedPrecisionResult | null;
}

/** Seeded sample of `n` training examples (calibration and sensitivity data). */
function sample(d: Dataset, n: number, seed: number): Dataset {
  const idx = createRng(seed).shuffle(Array.from({ length: d.count }, (_, i) => i));
  return subset(d, idx.slice(0, Math.min(n, d.count)));
}

function storedBits(weights: Record<string, Encoding>): number {
  return Object.values(weights).reduce((a, e) => a + storageBits(e), 0);
}

/**
 * PTQ / QAT / mixed precision (see the package README). Kernels of the targeted layers become core `quantized`
 * encodings, wrapped through mapLeaves so masked / factorized structure is kept; biases stay fp32.
 */
export async function compressQuantize(model: Model, ctx: CompressContext, plan: QuantizePlan): Promise<CompressResult & { report: QuantizeReport }> {
  throwIfAborted(ctx.signal, 'quantize');
  validateModel(model, 'quantize: input model');
  assertFiniteWeights(model, 'quantize: input model');
  const o = plan.options;
  const warnings: string[] = [];
  const before = evaluateModel(model, ctx.val);
  const calib = sample(ctx.train, o.calibrationBatches * o.batchSize, ctx.seed);
  let specs = new Map<string, QuantSpec>(plan.targets.map((t) => [t.weight, specOf(t.config)]));
  let mixed: MixedPrecisionResult | null = null;
  if (o.mixedPrecision) {
    const r = chooseMixedPrecision(model, plan.targets, sample(ctx.train, o.mixedPrecision.samples, ctx.seed + 1), o.mixedPrecision);
    specs = r.specs;
    mixed = r.result;
    if (!mixed.budgetMet)
      warnings.push(
        `quantize: mixed precision stopped at ${mixed.sizeRatio.toFixed(2)}× (budget ${o.mixedPrecision.sizeBudgetRatio}×) because lowering any further layer would exceed max_acc_drop ${o.mixedPrecision.maxAccDrop}`,
      );
  }
  const aq = o.activations ? new ActivationQuantizer(model.ir, o.activations.bits, o.activations.emaMomentum) : undefined;
  let source = model;
  const runQat = (o.mode === 'qat' || mixed !== null) && o.qatEpochs > 0;
  if (runQat) {
    if (aq) {
      // Start the EMA from a calibration of the weight-quantized model.
      const w = weightTensors(quantizeAll(model, specs));
      try {
        aq.calibrate(model.ir, w, calib, o.batchSize, o.calibrationBatches);
      } finally {
        tf.dispose(Object.values(w));
      }
    }
    const r = await quantizationAwareTraining(model, ctx, specs, { epochs: o.qatEpochs, freezeEpochs: o.freezeEpochs, lr: o.lr, batchSize: o.batchSize, activations: aq });
    source = r.model;
    for (const w of r.fixed) warnings.push(`quantize: '${w}' is ${model.weights[w]!.kind}; QAT does not train factors, so its factors were quantized post-training`);
  }
  const out = quantizeAll(source, specs);
  const weightOnly = evaluateModel(out, ctx.val);
  let weightAct: number | undefined;
  if (aq) {
    const w = weightTensors(out);
    try {
      if (!runQat) aq.calibrate(out.ir, w, calib, o.batchSize, o.calibrationBatches);
      aq.mode = 'eval';
      weightAct = evaluateWith(out.ir, () => w, ctx.val, { layerForward: aq.layerForward }).accuracy;
    } finally {
      aq.mode = 'off';
      tf.dispose(Object.values(w));
    }
  }
  const actRanges = aq?.report() ?? null;
  const rows = plan.targets.map((t) => {
    const spec = specs.get(t.weight)!;
    const after = out.weights[t.weight]!;
    const stock = lowerToStock(after, 'float32');
    const native = hasStockForm(after);
    const mp = mixed?.layers.find((l) => l.weight === t.weight);
    return layerReport(t.layer, t.weight, model.weights[t.weight]!, after, {
      bits: spec.bits,
      scheme: spec.scheme,
      granularity: spec.granularity,
      rangeMethod: spec.range,
      storageBits: storageBits(after),
      fp32Bits: sizeOf(t.shape) * 32,
      maxAbsError: maxAbsDiff(toDense(after), toDense(source.weights[t.weight]!)),
      stockExport: native
        ? stock.note
        : `no stock tfjs form (${describe(spec)}); a stock export widens it per tensor (exportQuantized 'widen', default 'auto': the smallest of uint8 / uint16 / float32 that keeps predictions)`,
      activations: actRanges?.filter((a) => a.tensor.startsWith(`${t.layer}:`)) ?? null,
      ...(mp ? { sensitivity: mp.sensitivity } : {}),
    });
  });
  const fp32Bits = Object.values(model.weights).reduce((a, e) => a + sizeOf(e.shape) * 32, 0);
  const targetFp32 = rows.reduce((a, r) => a + (r.fp32Bits as number), 0);
  const targetBits = rows.reduce((a, r) => a + (r.storageBits as number), 0);
  // Accuracies here are on the validation split (methods never see test); the app measures test accuracy.
  const metrics: Record<string, number> = {
    valAccuracyBefore: before.accuracy,
    valAccuracyWeightOnly: weightOnly.accuracy,
    valAccuracyAfter: weightOnly.accuracy,
    accDropWeightOnly: before.accuracy - weightOnly.accuracy,
    sizeRatioTotal: fp32Bits / storedBits(out.weights),
    sizeRatioWeights: targetFp32 / targetBits,
    storageBytes: storedBits(out.weights) / 8,
    fp32Bytes: fp32Bits / 8,
    qatEpochs: runQat ? o.qatEpochs : 0,
  };
  if (weightAct !== undefined) {
    metrics.valAccuracyWeightAct = weightAct;
    metrics.accDropWeightAct = before.accuracy - weightAct;
  }
  return { model: out, report: { method: 'quantize', layers: rows, metrics, warnings, activations: actRanges, mixedPrecision: mixed } };
}

const describe = (s: QuantSpec): string => `${s.bits}-bit ${s.scheme}${s.granularity === 'per_channel' ? ' per-channel' : ''}`;

/** Quantizes the kernels named in `specs` (everything else unchanged). */
function quantizeAll(model: Model, specs: Map<string, QuantSpec>): Model {
  const weights = { ...model.weights };
  for (const [w, spec] of specs) weights[w] = quantizeEncoding(model.weights[w]!, spec);
  return { ir: model.ir, weights };
}
