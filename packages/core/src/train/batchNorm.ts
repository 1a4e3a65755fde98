import * as tf from '@tensorflow/tfjs-core';
import { assertFits, type Dataset } from '../data/dataset.js';
import { denseEncoding } from '../encodings/index.js';
import type { Encoding } from '../encodings/types.js';
import { sizeOf } from '../ir/shapes.js';
import { forward } from '../model/forward.js';
import { type Model, weightTensors } from '../model/model.js';

export interface BatchNormRefresh {
  /** `after` with the re-estimated statistics (the same object when nothing needed refreshing). */
  model: Model;
  /** Batch-norm layers whose moving mean and variance were re-estimated. */
  layers: string[];
  /** Training examples the statistics were computed on. */
  examples: number;
}

/**
 * Re-estimates the moving statistics of every batch-norm layer that follows a layer whose weights changed between
 * `before` and `after` (object identity of the encodings): pruning, quantizing or retraining a layer changes the
 * activations every later batch-norm layer normalises, so statistics carried over from `before` are stale (on a
 * stock tfjs model with batch norm, a pruned model kept its input's statistics and lost up to 40 pp of accuracy).
 * The new statistics are exact over the first `examples` training examples (in order, no augmentation): mean and
 * population variance per channel, with each batch-norm layer normalising by batch statistics as in training and
 * dropout off. Deterministic; no tensors outlive the call.
 */
export function refreshBatchNormStats(before: Model, after: Model, data: Dataset, opts: { examples?: number; batchSize?: number } = {}): BatchNormRefresh {
  const layers = after.ir.layers;
  const firstChanged = layers.findIndex((l) => Object.keys(after.weights).some((n) => n.startsWith(`${l.name}/`) && after.weights[n] !== before.weights[n]));
  const stale =
    firstChanged < 0
      ? []
      : layers.slice(firstChanged + 1).filter((l) => l.kind === 'batchNorm' && after.weights[`${l.name}/moving_mean`] && after.weights[`${l.name}/moving_variance`]);
  if (stale.length === 0 || data.count === 0) return { model: after, layers: [], examples: 0 };
  assertFits(data, after.ir.inputShape, 'refreshBatchNormStats');
  const n = Math.min(data.count, opts.examples ?? 2048);
  const batch = opts.batchSize ?? 256;
  const per = sizeOf(after.ir.inputShape);
  const sums = new Map(
    stale.map((l) => {
      const channels = sizeOf(after.weights[`${l.name}/moving_mean`]!.shape);
      return [l.name, { s1: new Float64Array(channels), s2: new Float64Array(channels) }];
    }),
  );
  const weights = weightTensors(after);
  try {
    for (let from = 0; from < n; from += batch) {
      const nb = Math.min(n, from + batch) - from;
      const bnStats = new Map<string, { mean: tf.Tensor; variance: tf.Tensor }>();
      try {
        tf.tidy(() => {
          forward(after.ir, weights, tf.tensor(data.images.subarray(from * per, (from + nb) * per), [nb, ...after.ir.inputShape], 'float32'), { batchStats: true, bnStats });
        });
        for (const [layer, acc] of sums) {
          const st = bnStats.get(layer)!;
          const mean = st.mean.dataSync(),
            variance = st.variance.dataSync();
          for (let c = 0; c < mean.length; c++) {
            acc.s1[c]! += nb * mean[c]!;
            acc.s2[c]! += nb * (variance[c]! + mean[c]! * mean[c]!);
          }
        }
      } finally {
        bnStats.forEach((st) => tf.dispose([st.mean, st.variance]));
      }
    }
  } finally {
    tf.dispose(Object.values(weights));
  }
  const out: Record<string, Encoding> = { ...after.weights };
  for (const [layer, { s1, s2 }] of sums) {
    const mean = Float32Array.from(s1, (v) => v / n);
    const variance = Float32Array.from(s2, (v, c) => Math.max(0, v / n - (s1[c]! / n) ** 2));
    out[`${layer}/moving_mean`] = denseEncoding([...after.weights[`${layer}/moving_mean`]!.shape], mean);
    out[`${layer}/moving_variance`] = denseEncoding([...after.weights[`${layer}/moving_variance`]!.shape], variance);
  }
  return { model: { ir: after.ir, weights: out }, layers: stale.map((l) => l.name), examples: n };
}
