/**
 * The factored forward of a low-rank layer, in a module of its own: training workers import it (core's
 * `portableLayerForward`) to rebuild svd-train's `layerForward`, so it imports tfjs and nothing else.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Layer, WeightTensors } from '@edge-compress/core';
import type { Factors } from './factors.js';

/** The suffixes of a factored weight's parameters (core's trainThroughEncodings names the lowRank leaves so). */
export const FACTOR_SUFFIX = { u: '#u', s: '#s', v: '#v' } as const;

/** What the factored forward needs of a layer's factors (no values: those are the trained weights). */
export type FactorShape = Pick<Factors, 'view' | 'shape' | 'rank'>;

/** Differentiable factored forward (uses |s|, as the paper's code does); bias added. */
export function factoredForward(layer: Layer & { kind: 'conv2d' | 'dense' }, f: FactorShape, x: tf.Tensor, u: tf.Tensor, s: tf.Tensor, v: tf.Tensor, bias?: tf.Tensor): tf.Tensor {
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

/** What a training phase's layerForward is built from (structured-clone safe: workers receive it). */
export interface FactoredForwardArgs {
  /** The factored layers: the layer, its weight's name and its factors' shape. */
  layers: Array<{ layer: Layer & { kind: 'conv2d' | 'dense' }; weight: string; factors: FactorShape }>;
  /** s is trained as ŝ = s / sMult. */
  sMult: number;
}

/** The phase's layerForward: the factored layers run as two thin products from their `#u`, `#s`, `#v` weights. */
export function svdLayerForward(args: FactoredForwardArgs): (layer: Layer, x: tf.Tensor, w: WeightTensors) => tf.Tensor | undefined {
  const byLayer = new Map(args.layers.map((l) => [l.layer.name, l]));
  return (layer, x, w) => {
    const l = byLayer.get(layer.name);
    if (!l) return undefined;
    const s = w[l.weight + FACTOR_SUFFIX.s]!;
    return factoredForward(
      l.layer,
      l.factors,
      x,
      w[l.weight + FACTOR_SUFFIX.u]!,
      args.sMult === 1 ? s : tf.mul(s, args.sMult),
      w[l.weight + FACTOR_SUFFIX.v]!,
      w[`${layer.name}/bias`],
    );
  };
}
