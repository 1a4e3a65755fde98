/**
 * The core-facing training glue (one file, to port to core v2's trainThroughEncodings): factors as trainer
 * parameters, the factored forward as a layerForward hook, the regularisers as extraLoss.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  cosineDecay,
  toDense,
  Trainer,
  type CompressContext,
  type EpochRecord,
  type Layer,
  type Model,
  type Params,
  type TrainHooks,
  type WeightTensors,
} from '@edge-compress/core';
import type { Factors } from './factors.js';
import { orthogonalityLoss, sparsityLoss, type SparsityKind } from './regularizers.js';

/** One targeted layer during training: factored (U, s, V) or stored dense. */
export interface LayerState {
  layer: Layer & { kind: 'conv2d' | 'dense' };
  weight: string;
  factors?: Factors;
  dense?: Float32Array;
  bias?: Float32Array;
  orthoWeight: number;
  sparsityWeight: number;
  sparsity: SparsityKind;
}

export interface PhaseOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  phase: string;
  ortho: boolean;
  sparsity: boolean;
  augment?: { maxShift: number; imageShape?: [number, number, number] };
  /** Orthogonality term every k-th step, weighted k× (default 1). */
  orthoEvery?: number;
  /** s is trained as ŝ = s / sMult (default 1): an sMult-times larger learning rate for the singular values. */
  sMult?: number;
}

const U = '#u',
  S = '#s',
  V = '#v';

/** Differentiable factored forward (uses |s|, as the paper's code does); bias added. */
export function factoredForward(layer: LayerState['layer'], f: Factors, x: tf.Tensor, u: tf.Tensor, s: tf.Tensor, v: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
  const r = f.rank;
  const as = tf.abs(s);
  let y: tf.Tensor;
  if (layer.kind === 'dense') {
    y = tf.matMul(tf.matMul(x as tf.Tensor2D, tf.mul(v, as) as tf.Tensor2D), u as tf.Tensor2D, false, true);
  } else {
    const [kh, kw, cin, cout] = f.shape as [number, number, number, number];
    if (f.view === 'gemm') {
      const f1 = tf.reshape(tf.mul(v, as), [kh, kw, cin, r]) as tf.Tensor4D;
      const f2 = tf.reshape(tf.transpose(u), [1, 1, r, cout]) as tf.Tensor4D;
      y = tf.conv2d(tf.conv2d(x as tf.Tensor4D, f1, layer.strides, layer.padding), f2, 1, 'valid');
    } else {
      const f1 = tf.reshape(tf.transpose(tf.reshape(tf.mul(u, as), [cin, kh, r]), [1, 0, 2]), [kh, 1, cin, r]) as tf.Tensor4D;
      const f2 = tf.reshape(tf.transpose(tf.reshape(v, [cout, kw, r]), [1, 2, 0]), [1, kw, r, cout]) as tf.Tensor4D;
      y = tf.conv2d(tf.conv2d(x as tf.Tensor4D, f1, [layer.strides[0], 1], layer.padding), f2, [1, layer.strides[1]], layer.padding);
    }
  }
  return bias ? tf.add(y, bias) : y;
}

/**
 * Trains the targeted layers (factors, dense-stored kernels and their biases) for one phase; every other
 * weight is frozen. Returns new states (the inputs are not mutated) and the epoch history.
 */
export async function trainPhase(model: Model, states: LayerState[], ctx: CompressContext, o: PhaseOptions): Promise<{ states: LayerState[]; history: EpochRecord[] }> {
  if (o.epochs === 0) return { states, history: [] };
  const sMult = o.sMult ?? 1;
  const sOf = (t: tf.Tensor): tf.Tensor => (sMult === 1 ? t : tf.mul(t, sMult));
  const byWeight = new Map(states.map((st) => [st.weight, st]));
  const byLayer = new Map(states.map((st) => [st.layer.name, st]));
  const params: Record<string, { values: Float32Array; shape: number[] }> = {};
  for (const [name, e] of Object.entries(model.weights)) {
    const st = byWeight.get(name);
    const layerSt = byLayer.get(name.split('/')[0]!);
    if (st?.factors) {
      const f = st.factors;
      params[name + U] = { values: f.u, shape: [f.rows, f.rank] };
      params[name + S] = { values: Float32Array.from(f.s, (x) => x / sMult), shape: [f.rank] };
      params[name + V] = { values: f.v, shape: [f.cols, f.rank] };
    } else if (st?.dense) params[name] = { values: st.dense, shape: e.shape };
    else if (layerSt?.bias && name === `${layerSt.layer.name}/bias`) params[name] = { values: layerSt.bias, shape: e.shape };
    else params[name] = { values: toDense(e), shape: e.shape };
  }
  const trainer = new Trainer({ ir: model.ir, params });
  const eyes = new Map<number, tf.Tensor2D>();
  for (const st of states) if (st.factors && !eyes.has(st.factors.rank)) eyes.set(st.factors.rank, tf.keep(tf.eye(st.factors.rank) as tf.Tensor2D));
  const hooks: TrainHooks = {
    layerForward(layer, x, w: WeightTensors) {
      const st = byLayer.get(layer.name);
      if (!st?.factors) return undefined;
      return factoredForward(st.layer, st.factors, x, w[st.weight + U]!, sOf(w[st.weight + S]!), w[st.weight + V]!, w[`${layer.name}/bias`]);
    },
    extraLoss(p: Params, info) {
      const terms: tf.Scalar[] = [];
      const k = o.orthoEvery ?? 1;
      const orthoNow = o.ortho && info.globalStep % k === 0;
      for (const st of states) {
        if (!st.factors) continue;
        if (orthoNow && st.orthoWeight > 0)
          terms.push(tf.mul(k * st.orthoWeight, orthogonalityLoss(p[st.weight + U] as tf.Tensor2D, p[st.weight + V] as tf.Tensor2D, eyes.get(st.factors.rank)!)) as tf.Scalar);
        if (o.sparsity && st.sparsityWeight > 0) terms.push(tf.mul(st.sparsityWeight, sparsityLoss(sOf(p[st.weight + S]!) as tf.Tensor1D, st.sparsity)) as tf.Scalar);
      }
      return terms.length ? (tf.addN(terms) as tf.Scalar) : undefined;
    },
  };
  const layers = new Set(states.map((st) => st.layer.name));
  try {
    const history = await trainer.fit(ctx.train, {
      trainable: (n) => layers.has(n.split('/')[0]!),
      epochs: o.epochs,
      batchSize: o.batchSize,
      optimizer: { kind: 'adam', lr: o.lr },
      lrSchedule: cosineDecay(o.lr, o.epochs),
      seed: ctx.seed,
      augment: o.augment,
      hooks,
      phase: o.phase,
      signal: ctx.signal,
      onProgress: ctx.onProgress && ((p) => ctx.onProgress!({ ...p, method: 'svd' })),
    });
    const out = states.map((st): LayerState => {
      const bias = st.layer.useBias ? trainer.read(`${st.layer.name}/bias`) : undefined;
      if (st.factors)
        return { ...st, bias, factors: { ...st.factors, u: trainer.read(st.weight + U), s: trainer.read(st.weight + S).map((x) => x * sMult), v: trainer.read(st.weight + V) } };
      return { ...st, bias, dense: trainer.read(st.weight) };
    });
    return { states: out, history };
  } finally {
    trainer.dispose();
    eyes.forEach((t) => t.dispose());
  }
}
