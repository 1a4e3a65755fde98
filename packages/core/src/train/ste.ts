import * as tf from '@tensorflow/tfjs-core';
import type { QuantParams } from '../tensor/quant.js';
import { qRange } from '../tensor/quant.js';

/**
 * Straight-through estimator: the forward value is `f(x)`, the gradient is dy where lo ≤ x ≤ hi and 0
 * elsewhere (the clipped STE of TF fake_quant). Without bounds the gradient passes unchanged.
 */
export function straightThrough(x: tf.Tensor, f: (x: tf.Tensor) => tf.Tensor, lo?: tf.Tensor | number, hi?: tf.Tensor | number): tf.Tensor {
  const op = tf.customGrad(((xx: tf.Tensor, save: tf.GradSaveFunc) => {
    // Tensor bounds are saved with the input so they outlive the caller's tidy until the backward pass.
    const bounds = [lo, hi].filter((b): b is tf.Tensor => b instanceof tf.Tensor);
    save([xx, ...bounds]);
    return {
      value: f(xx),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        if (lo === undefined || hi === undefined) return [dy];
        const xs = saved[0]!;
        let k = 1;
        const l = lo instanceof tf.Tensor ? saved[k++]! : lo;
        const h = hi instanceof tf.Tensor ? saved[k++]! : hi;
        return [tf.mul(dy, tf.cast(tf.logicalAnd(tf.greaterEqual(xs, l), tf.lessEqual(xs, h)), 'float32'))];
      },
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return op(x);
}

/** Per-channel constants broadcast along the last axis (the tfjs out-channel axis). */
function perChannel(values: ArrayLike<number>, shape: readonly number[], axis: number | null): tf.Tensor {
  if (axis === null || values.length === 1) return tf.scalar(values[0] ?? 1);
  const ax = axis < 0 ? shape.length + axis : axis;
  const bshape = shape.map((d, i) => (i === ax ? d : 1));
  return tf.tensor(Float32Array.from(values), bshape, 'float32');
}

/**
 * Fake quantization with tfjs ops (forward of QAT): dequant(quant(x)) under fixed params, with the clipped
 * straight-through gradient. Same formulas as tensor/quant.ts (checked against it in tests).
 */
export function fakeQuantSte(x: tf.Tensor, p: QuantParams): tf.Tensor {
  return tf.tidy(() => {
    const s = perChannel(p.scales, x.shape, p.axis);
    if (p.scheme === 'affine' || p.scheme === 'symmetric') {
      const { qmin, qmax } = qRange(p.scheme, p.bits);
      const z = perChannel(p.scheme === 'affine' ? p.zeroPoints : [0], x.shape, p.scheme === 'affine' ? p.axis : null);
      const lo = tf.mul(s, tf.sub(qmin - 0.5, z));
      const hi = tf.mul(s, tf.sub(qmax + 0.5, z));
      return straightThrough(x, (v) => tf.mul(s, tf.sub(tf.clipByValue(tf.add(tf.round(tf.div(v, s)), z), qmin, qmax), z)), lo, hi);
    }
    if (p.scheme === 'nonzero') {
      const L = 2 ** (p.bits - 1);
      const hi = tf.mul(s, L + 0.5);
      return straightThrough(
        x,
        (v) => tf.mul(tf.mul(s, tf.where(tf.greaterEqual(v, 0), tf.onesLike(v), tf.neg(tf.onesLike(v)))), tf.clipByValue(tf.round(tf.div(tf.abs(v), s)), 1, L)),
        tf.neg(hi),
        hi,
      );
    }
    if (p.scheme === 'pow2') {
      const levels = 2 ** (p.bits - 1) - 1;
      const hi = tf.mul(s, 1.5);
      const lo = tf.neg(hi);
      return straightThrough(
        x,
        (v) => {
          const a = tf.abs(v);
          // index of the nearer level in the linear domain: level s·2^-j is chosen when 0.75·s·2^-j ≤ a < 1.5·s·2^-j.
          const j = tf.clipByValue(tf.ceil(tf.neg(tf.div(tf.log(tf.div(tf.maximum(a, 1e-30), tf.mul(s, 0.75))), Math.LN2))), 0, levels - 1);
          const level = tf.mul(s, tf.pow(2, tf.neg(j)));
          const smallest = tf.mul(s, 2 ** -(levels - 1));
          const keep = tf.cast(tf.greaterEqual(a, tf.mul(smallest, 0.5)), 'float32');
          return tf.mul(tf.mul(tf.sign(v), level), keep);
        },
        lo,
        hi,
      );
    }
    // float16: round through half precision on the host (rarely trained).
    return straightThrough(x, (v) => {
      const d = v.dataSync() as Float32Array;
      const out = new Float32Array(d.length);
      const f16 = new Float32Array(1);
      for (let i = 0; i < d.length; i++) out[i] = Math.fround(halfRound(d[i]!, f16));
      return tf.tensor(out, v.shape, 'float32');
    });
  });
}

function halfRound(v: number, _buf: Float32Array): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const e = Math.floor(Math.log2(Math.abs(v)));
  const ulp = 2 ** (Math.max(e, -14) - 10);
  return Math.round(v / ulp) * ulp;
}
