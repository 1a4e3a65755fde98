import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../errors.js';
import { denseEncoding, toDense } from '../encodings/index.js';
import type { Encoding } from '../encodings/types.js';
import { inferShapes, sizeOf } from '../ir/shapes.js';
import { type ModelIR, weightNames } from '../ir/types.js';
import { createRng, type Rng } from '../tensor/rng.js';

/**
 * A model: the IR plus one encoding per named weight (`<layer>/kernel`, `<layer>/bias`, batch-norm
 * `<layer>/gamma|beta|moving_mean|moving_variance`). Plain data: methods return new models, never mutate.
 */
export interface Model {
  ir: ModelIR;
  weights: Record<string, Encoding>;
}

/** Checks that `weights` has exactly the weights `ir` needs, with the right shapes and finite values. */
export function validateModel(model: Model, where = 'model'): void {
  const expected = new Map<string, number[]>();
  for (const s of inferShapes(model.ir)) for (const [k, v] of Object.entries(s.weights)) expected.set(k, v);
  for (const [name, shape] of expected) {
    const e = model.weights[name];
    if (!e) {
      throw new CompressionError({
        code: 'BAD_MODEL_FILE',
        path: where,
        layer: name.split('/')[0],
        message: `${where}: weight '${name}' is missing`,
        hint: `expected a weight of shape [${shape.join(',')}]`,
      });
    }
    if (e.shape.length !== shape.length || e.shape.some((d, i) => d !== shape[i])) {
      throw new CompressionError({
        code: 'SHAPE_MISMATCH',
        path: where,
        layer: name.split('/')[0],
        message: `${where}: weight '${name}' has shape [${e.shape.join(',')}] but the layer needs [${shape.join(',')}]`,
      });
    }
  }
  for (const name of Object.keys(model.weights)) {
    if (!expected.has(name)) {
      throw new CompressionError({
        code: 'BAD_MODEL_FILE',
        path: where,
        message: `${where}: weight '${name}' belongs to no layer`,
        hint: `known weights: ${[...expected.keys()].join(', ')}`,
      });
    }
  }
}

/** Throws BAD_MODEL_FILE naming the weight and index of the first NaN/Infinity. */
export function assertFiniteWeights(model: Model, where = 'model'): void {
  for (const [name, e] of Object.entries(model.weights)) {
    const v = toDense(e);
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]!)) {
        throw new CompressionError({
          code: 'BAD_MODEL_FILE',
          path: where,
          layer: name.split('/')[0],
          message: `${where}: weight '${name}' has a non-finite value (${v[i]}) at flat index ${i}`,
          hint: 'the model is corrupt or training diverged; retrain it or re-export it',
        });
      }
    }
  }
}

/**
 * Seeded initialisation as Keras does it for training from scratch: He-normal (truncated at 2σ) kernels,
 * zero biases, batch-norm gamma 1 / beta 0 / mean 0 / variance 1.
 */
export function initModel(ir: ModelIR, seed = 0): Model {
  const rng: Rng = createRng(seed);
  const weights: Record<string, Encoding> = {};
  for (const s of inferShapes(ir)) {
    for (const name of weightNames(s.layer)) {
      const shape = s.weights[name]!;
      const v = new Float32Array(sizeOf(shape));
      if (name.endsWith('/kernel') || name.endsWith('/depthwise_kernel')) {
        // He-normal (truncated at 2σ); a depthwise filter's fan-in is its kh·kw window.
        const fanIn = name.endsWith('/depthwise_kernel') ? shape[0]! * shape[1]! : sizeOf(shape) / shape[shape.length - 1]!;
        const std = Math.sqrt(2 / fanIn);
        for (let i = 0; i < v.length; i++) {
          let z = rng.normal();
          while (Math.abs(z) > 2) z = rng.normal();
          v[i] = z * std;
        }
      } else if (name.endsWith('/gamma') || name.endsWith('/moving_variance')) v.fill(1);
      weights[name] = denseEncoding(shape, v);
    }
  }
  return { ir, weights };
}

/** Dense fp32 tensors of every weight (caller owns and disposes them). */
export function weightTensors(model: Model): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, e] of Object.entries(model.weights)) out[name] = tf.tensor(toDense(e), e.shape, 'float32');
  return out;
}

/** Total parameters and the per-weight list, in layer order. */
export function weightList(model: Model): Array<{ name: string; layer: string; encoding: Encoding }> {
  const out: Array<{ name: string; layer: string; encoding: Encoding }> = [];
  for (const l of model.ir.layers) for (const n of weightNames(l)) if (model.weights[n]) out.push({ name: n, layer: l.name, encoding: model.weights[n]! });
  return out;
}

export function disposeAll(ts: Record<string, tf.Tensor>): void {
  for (const t of Object.values(ts)) t.dispose();
}
