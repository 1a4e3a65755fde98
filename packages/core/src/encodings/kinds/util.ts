import * as tf from '@tensorflow/tfjs-core';

/** Entries of `v` where `keep` is 1 (all of `v` without a mask). */
export function filterKept<T extends Float32Array | Int32Array>(v: T, keep: Uint8Array | undefined): T {
  if (!keep) return v;
  const out = new (v.constructor as new (n: number) => T)(keep.reduce((a, b) => a + (b ? 1 : 0), 0));
  let k = 0;
  for (let i = 0; i < v.length; i++) if (keep[i]) out[k++] = v[i]!;
  return out;
}

/** Inverse of filterKept: stored entries placed at kept positions of `fill`. */
export function scatterKept<T extends Float32Array | Int32Array>(vals: T, keep: Uint8Array | undefined, fill: T): T {
  if (!keep) return vals;
  let k = 0;
  for (let i = 0; i < fill.length; i++) if (keep[i]) fill[i] = vals[k++]!;
  return fill;
}

/** A weight of `size` zeros with `values[i]` placed at flat position `positions[i]` (blockSparse, nm). */
export function scatterPositions(values: Float32Array, positions: Int32Array, size: number): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < positions.length; i++) out[positions[i]!] = values[i]!;
  return out;
}

/**
 * Training of a kind that stores values at fixed positions of the weight (blockSparse, nm): a constant gather
 * index (0 = the zero slot, i + 1 = stored value i) built once, and the weight as a gather of [0, ...values].
 */
export function positionsTrainSpec<E extends { shape: number[] }>(positions: (e: E) => Int32Array) {
  return {
    consts(e: E): Record<string, tf.Tensor> {
      const idx = new Int32Array(e.shape.reduce((a, b) => a * b, 1));
      positions(e).forEach((p, i) => (idx[p] = i + 1));
      return { idx: tf.tensor1d(idx, 'int32') };
    },
    assemble: (e: E, c: Record<string, tf.Tensor>, _o: unknown, k: Record<string, tf.Tensor>): tf.Tensor =>
      tf.reshape(tf.gather(tf.concat([tf.zeros([1]), tf.reshape(c.values!, [-1])]), k.idx!), e.shape),
  };
}
