import * as tf from '@tensorflow/tfjs-core';
import { type CompressContext, cosineDecay, type Model, type Params, straightThrough, toDense, Trainer, type TrainHooks, type WeightTensors } from '@edge-compress/core';
import type { ResolvedTarget, SmartDealOptions } from './config.js';
import { type BlockGeometry, type ReorderPlan, reorderPlan, smartDealLayout } from './geometry.js';
import { type ExpRange, projectAll, zeroThreshold } from './pow2.js';

/**
 * Training glue (the only file that talks to core's Trainer): SmartDeal training with the structure kept, then
 * basis fine-tuning. Per target the trainable parameters are the latent coefficients C [G, p, k] and the basis
 * B [G, k, q]; the forward weight is reshape(Q(C)⊙M · B) with Q the power-of-two projection and the
 * straight-through gradient ∂L/∂C = ∂L/∂Q(C) (ALGORITHMS §4.4); the mask M (non-zeros after SED) is fixed.
 * Phase 2 freezes C = Q(C)⊙M and trains B (optionally fake-quantized to `basis_bits`) and the biases.
 */
export interface LayerState {
  t: ResolvedTarget;
  geo: BlockGeometry;
  /** Projected coefficients [G, p, k]. */
  ce: Float32Array;
  /** Basis [G, k, q]. */
  basis: Float32Array;
  /** Fixed coefficient mask [G, p, k] (1 = may be non-zero). */
  mask: Uint8Array;
}

const cName = (w: string): string => `${w}#C`;
const bName = (w: string): string => `${w}#B`;

/** Q(c) with tfjs ops: the same projection as pow2.ts projectPow2 (τ = 0 during training). */
export function projectTensor(v: tf.Tensor, r: ExpRange): tf.Tensor {
  return tf.tidy(() => {
    const a = tf.abs(v);
    const safe = tf.maximum(a, 2 ** (r.minExp - 2));
    let e = tf.floor(tf.div(tf.log(safe), Math.LN2));
    // exact bracketing 2^e ≤ a < 2^(e+1) despite log rounding
    e = tf.sub(e, tf.cast(tf.greater(tf.pow(2, e), safe), 'float32'));
    e = tf.add(e, tf.cast(tf.lessEqual(tf.pow(2, tf.add(e, 1)), safe), 'float32'));
    e = tf.add(e, tf.cast(tf.greaterEqual(safe, tf.mul(tf.pow(2, e), 1.5)), 'float32'));
    e = tf.clipByValue(e, r.minExp, r.maxExp);
    const keep = tf.cast(tf.greaterEqual(a, zeroThreshold(r)), 'float32');
    return tf.mul(tf.mul(tf.sign(v), tf.pow(2, e)), keep);
  });
}

/** Blocks [G, p, q] → the tfjs weight, with reshapes, a slice and a transpose only (differentiable on wasm). */
export function blocksToWeight(blocks: tf.Tensor, geo: BlockGeometry, plan: ReorderPlan, shape: readonly number[]): tf.Tensor {
  let rows = tf.reshape(blocks, [geo.rows, geo.padded]);
  if (geo.padded !== geo.cols) rows = tf.slice(rows, [0, 0], [geo.rows, geo.cols]);
  if (plan.kind === 'identity') return tf.reshape(tf.transpose(rows), [...shape]);
  return tf.transpose(tf.reshape(rows, [geo.rows, plan.cin, plan.kh, plan.kw]), [2, 3, 1, 0]);
}

/** Per-tensor symmetric fake quantization of the basis with a straight-through gradient (scale = max|B| / (2^(b−1)−1)). */
function fakeQuantBasis(b: tf.Tensor, bits: number): tf.Tensor {
  const qmax = 2 ** (bits - 1) - 1;
  return straightThrough(b, (v) => {
    const s = tf.maximum(tf.div(tf.max(tf.abs(v)), qmax), 1e-30);
    return tf.mul(tf.clipByValue(tf.round(tf.div(v, s)), -qmax, qmax), s);
  });
}

export interface TrainResult {
  states: LayerState[];
  /** New values of the targeted layers' biases. */
  biases: Record<string, Float32Array>;
  history: { sd: number[]; finetune: number[] };
}

export async function smartDealTrain(model: Model, states: LayerState[], ctx: CompressContext, o: SmartDealOptions): Promise<TrainResult> {
  const targets = new Map(states.map((s) => [s.t.weight, s]));
  // C is trained as C/α: Adam's step is scale-free, so α sets the coefficient step (≈ α·lr) apart from B's.
  const alpha = o.coeffLrScale;
  const params: Record<string, { values: Float32Array; shape: number[] }> = {};
  for (const [name, e] of Object.entries(model.weights)) {
    const s = targets.get(name);
    if (!s) params[name] = { values: toDense(e), shape: [...e.shape] };
    else {
      params[cName(name)] = { values: Float32Array.from(s.ce, (v) => v / alpha), shape: [s.geo.blocks, s.geo.p, s.t.k] };
      params[bName(name)] = { values: s.basis, shape: [s.geo.blocks, s.t.k, s.geo.q] };
    }
  }
  const trainer = new Trainer({ ir: model.ir, params });
  const consts = new Map(
    states.map((s) => [
      s.t.weight,
      {
        mask: tf.keep(tf.tensor(Float32Array.from(s.mask), [s.geo.blocks, s.geo.p, s.t.k], 'float32')),
        plan: reorderPlan(s.t.shape, smartDealLayout(s.t.shape)),
      },
    ]),
  );
  let frozen = false;
  const weightOf = (s: LayerState, p: Params | WeightTensors): tf.Tensor => {
    const c = consts.get(s.t.weight)!;
    const C = tf.mul(p[cName(s.t.weight)]!, alpha);
    const cq = frozen
      ? C
      : tf.mul(
          straightThrough(C, (v) => projectTensor(v, s.t.range)),
          c.mask,
        );
    const B = frozen && o.basisBits ? fakeQuantBasis(p[bName(s.t.weight)]!, o.basisBits) : p[bName(s.t.weight)]!;
    return blocksToWeight(tf.matMul(cq as tf.Tensor3D, B as tf.Tensor3D), s.geo, c.plan, s.t.shape);
  };
  const hooks: TrainHooks = {
    transform: (p) => {
      const out: WeightTensors = {};
      for (const [n, v] of Object.entries(p)) if (!n.includes('#')) out[n] = v;
      for (const s of states) out[s.t.weight] = weightOf(s, p);
      return out;
    },
    afterStep: (p: Params) => {
      if (!o.quantEachStep || frozen) return;
      tf.tidy(() =>
        states.forEach((s) => p[cName(s.t.weight)]!.assign(tf.div(tf.mul(projectTensor(tf.mul(p[cName(s.t.weight)]!, alpha), s.t.range), consts.get(s.t.weight)!.mask), alpha))),
      );
    },
  };
  const layers = new Set(states.map((s) => s.t.layer));
  const ofTarget = (n: string): boolean => layers.has(n.split('/')[0]!);
  const fit = (phase: string, epochs: number, lr: number, trainable: (n: string) => boolean) =>
    trainer.fit(ctx.train, {
      epochs,
      batchSize: o.batchSize,
      optimizer: { kind: 'adam', lr },
      lrSchedule: cosineDecay(lr, epochs),
      seed: ctx.seed,
      hooks,
      trainable,
      phase,
      signal: ctx.signal,
      augment: o.maxShift > 0 && model.ir.inputShape.length === 3 ? { maxShift: o.maxShift } : undefined,
      onProgress: ctx.onProgress && ((pr) => ctx.onProgress!({ ...pr, method: 'smartdeal' })),
    });
  try {
    const sd = o.sdEpochs > 0 ? await fit('smartdeal', o.sdEpochs, o.lr, ofTarget) : [];
    // Freeze C at its projection; the mask only shrinks (a coefficient projected to 0 stays 0).
    const out = states.map((s) => {
      const ce = projectAll(
        trainer.read(cName(s.t.weight)).map((v) => v * alpha),
        s.t.range,
        0,
        s.mask,
      );
      trainer.assign(
        cName(s.t.weight),
        ce.map((v) => v / alpha),
      );
      return { ...s, ce, mask: Uint8Array.from(ce, (v) => (v !== 0 ? 1 : 0)) };
    });
    frozen = true;
    const ft = o.finetuneEpochs > 0 ? await fit('finetune', o.finetuneEpochs, o.finetuneLr, (n) => ofTarget(n) && !n.endsWith('#C')) : [];
    const biases: Record<string, Float32Array> = {};
    for (const s of out) {
      s.basis = trainer.read(bName(s.t.weight));
      const bias = `${s.t.layer}/bias`;
      if (model.weights[bias]) biases[bias] = trainer.read(bias);
    }
    return { states: out, biases, history: { sd: sd.map((h) => h.loss), finetune: ft.map((h) => h.loss) } };
  } finally {
    trainer.dispose();
    for (const c of consts.values()) c.mask.dispose();
  }
}
