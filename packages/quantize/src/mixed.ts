import * as tf from '@tensorflow/tfjs-core';
import { type Dataset, type Encoding, forward, type Model, type ModelIR, sizeOf, storageBits, type Target, toDense, type WeightTensors, weightTensors } from '@edge-compress/core';
import { type QuantizeConfig, type QuantizeOptions, type QuantSpec, specOf } from './config.js';
import { quantizeEncoding } from './weights.js';

type MixedOptions = NonNullable<QuantizeOptions['mixedPrecision']>;

/** One cell of the sensitivity table: only this layer at `bits`, every other weight fp32. */
export interface SensitivityRow {
  bits: number;
  /** Rise of the mean cross-entropy vs the fp32 model. */
  lossRise: number;
  /** Mean KL(fp32 outputs ‖ quantized outputs). */
  kl: number;
  /** Accuracy drop vs the fp32 model (negative = better). */
  accDrop: number;
  storageBits: number;
}

export interface MixedPrecisionLayer {
  layer: string;
  weight: string;
  elements: number;
  chosenBits: number;
  sensitivity: SensitivityRow[];
}

export interface MixedPrecisionResult {
  criterion: MixedOptions['criterion'];
  budgetRatio: number;
  /** Size reduction vs fp32 (all weights incl. fp32 biases and scales) of the chosen table before QAT. */
  sizeRatio: number;
  budgetMet: boolean;
  /** Σ per-layer measured accuracy drops (clamped at 0) of the chosen table: the stopping criterion. */
  estimatedAccDrop: number;
  layers: MixedPrecisionLayer[];
  /** Greedy moves in order. */
  steps: Array<{ weight: string; from: number; to: number; score: number; ratio: number }>;
  samples: number;
}

interface Measure {
  loss: number;
  accuracy: number;
  kl: number;
  probs: Float32Array;
}

function measure(ir: ModelIR, w: WeightTensors, data: Dataset, ref?: Float32Array): Measure {
  const per = data.images.length / data.count;
  const probs = new Float32Array(data.count * data.numClasses);
  let loss = 0,
    hits = 0,
    kl = 0;
  for (let from = 0; from < data.count; from += 500) {
    const to = Math.min(data.count, from + 500);
    const [l, h, k] = tf.tidy(() => {
      const logits = forward(ir, w, tf.tensor(data.images.subarray(from * per, to * per), [to - from, ...ir.inputShape]), { logits: true });
      const y = tf.oneHot(tf.tensor1d(data.labels.subarray(from, to) as Int32Array, 'int32'), data.numClasses);
      const p = tf.softmax(logits);
      probs.set(p.dataSync(), from * data.numClasses);
      const hit = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32'));
      let klv = 0;
      if (ref) {
        const r = tf.tensor(ref.subarray(from * data.numClasses, to * data.numClasses), p.shape);
        klv = tf.sum(tf.mul(r, tf.sub(tf.log(tf.add(r, 1e-12)), tf.log(tf.add(p, 1e-12))))).dataSync()[0]!;
      }
      return [tf.mul(tf.losses.softmaxCrossEntropy(y, logits), to - from).dataSync()[0]!, hit.dataSync()[0]!, klv];
    });
    loss += l;
    hits += h;
    kl += k;
  }
  return { loss: loss / data.count, accuracy: hits / data.count, kl: kl / data.count, probs };
}

/**
 * ALGORITHMS §5.5: per-layer sensitivity (only layer l at b bits, the rest fp32: loss rise, KL of the outputs,
 * accuracy drop on `data`), then greedy lowering from the widest candidate: each move lowers the layer with the
 * smallest criterion increase per stored bit saved (storage from core's storageBits), while the summed measured
 * accuracy drop stays ≤ max_acc_drop; it stops once the whole model is `size_budget_ratio`× smaller than fp32.
 */
export function chooseMixedPrecision(
  model: Model,
  targets: Target<QuantizeConfig>[],
  data: Dataset,
  mp: MixedOptions,
): { specs: Map<string, QuantSpec>; result: MixedPrecisionResult } {
  const cands = [...new Set(mp.candidateBits)].sort((a, b) => b - a);
  const tensors = weightTensors(model);
  const layers: MixedPrecisionLayer[] = [];
  const encodings = new Map<string, Encoding[]>();
  try {
    const ref = measure(model.ir, tensors, data);
    for (const t of targets) {
      if (specOf(t.config).scheme === 'float16') continue;
      const rows: SensitivityRow[] = [];
      const encs: Encoding[] = [];
      const orig = tensors[t.weight]!;
      for (const b of cands) {
        const e = quantizeEncoding(model.weights[t.weight]!, specOf(t.config, b));
        const q = tf.tensor(toDense(e), e.shape);
        tensors[t.weight] = q;
        const m = measure(model.ir, tensors, data, ref.probs);
        q.dispose();
        rows.push({ bits: b, lossRise: m.loss - ref.loss, kl: m.kl, accDrop: ref.accuracy - m.accuracy, storageBits: storageBits(e) });
        encs.push(e);
      }
      tensors[t.weight] = orig;
      encodings.set(t.weight, encs);
      layers.push({ layer: t.layer, weight: t.weight, elements: sizeOf(t.shape), chosenBits: cands[0]!, sensitivity: rows });
    }
  } finally {
    tf.dispose(Object.values(tensors));
  }
  const fp32Bits = Object.values(model.weights).reduce((a, e) => a + sizeOf(e.shape) * 32, 0);
  const fixedBits = Object.entries(model.weights).reduce((a, [n, e]) => a + (encodings.has(n) ? 0 : storageBits(e)), 0);
  const level = new Map(layers.map((l) => [l.weight, 0]));
  const blocked = new Set<string>();
  const crit = (r: SensitivityRow): number => (mp.criterion === 'loss' ? r.lossRise : mp.criterion === 'kl' ? r.kl : r.accDrop);
  const total = (): number => fixedBits + layers.reduce((a, l) => a + l.sensitivity[level.get(l.weight)!]!.storageBits, 0);
  const drop = (): number => layers.reduce((a, l) => a + Math.max(0, l.sensitivity[level.get(l.weight)!]!.accDrop), 0);
  const steps: MixedPrecisionResult['steps'] = [];
  while (fp32Bits / total() < mp.sizeBudgetRatio) {
    let best: { l: MixedPrecisionLayer; score: number } | undefined;
    for (const l of layers) {
      const i = level.get(l.weight)!;
      if (blocked.has(l.weight) || i + 1 >= cands.length) continue;
      const a = l.sensitivity[i]!,
        b = l.sensitivity[i + 1]!;
      const score = (crit(b) - crit(a)) / Math.max(1, a.storageBits - b.storageBits);
      if (!best || score < best.score) best = { l, score };
    }
    if (!best) break;
    const w = best.l.weight;
    level.set(w, level.get(w)! + 1);
    if (drop() > mp.maxAccDrop) {
      level.set(w, level.get(w)! - 1);
      blocked.add(w);
      continue;
    }
    steps.push({ weight: w, from: cands[level.get(w)! - 1]!, to: cands[level.get(w)!]!, score: best.score, ratio: fp32Bits / total() });
  }
  const specs = new Map<string, QuantSpec>();
  for (const t of targets) {
    const l = layers.find((x) => x.weight === t.weight);
    if (l) l.chosenBits = cands[level.get(t.weight)!]!;
    specs.set(t.weight, specOf(t.config, l?.chosenBits));
  }
  const sizeRatio = fp32Bits / total();
  return {
    specs,
    result: {
      criterion: mp.criterion,
      budgetRatio: mp.sizeBudgetRatio,
      sizeRatio,
      budgetMet: sizeRatio >= mp.sizeBudgetRatio,
      estimatedAccDrop: drop(),
      layers,
      steps,
      samples: data.count,
    },
  };
}
