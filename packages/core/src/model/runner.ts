import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../errors.js';
import type { Dataset } from '../data/dataset.js';
import { evaluateWith } from '../train/trainer.js';
import { toDense } from '../encodings/ops.js';
import type { Encoding } from '../encodings/types.js';
import { sizeOf } from '../ir/shapes.js';
import type { Layer } from '../ir/types.js';
import { forward, type WeightTensors } from './forward.js';
import type { Model } from './model.js';

/** A layer kernel prepared for one layer's weights: runs the pre-activation output (bias included). */
export interface PreparedKernel {
  run(x: tf.Tensor): tf.Tensor;
  dispose(): void;
}

/**
 * An inference kernel for weighted layers whose kernel weight has a given (outermost) encoding kind, e.g. a
 * block-sparse WebAssembly kernel for 'blockSparse' or two thin GEMMs for 'lowRank'. Declared on a compressor
 * (`defineCompressor({ kernels: [...] })`) and installed by `createRegistry`; `createRunner` picks it per layer.
 * A kernel never replaces a stock tfjs kernel.
 */
export interface LayerKernel {
  readonly name: string;
  /** Encoding kind of the layer's `/kernel` weight this kernel runs. */
  readonly kind: string;
  /** Layer kinds it runs (default both). */
  readonly layers?: ReadonlyArray<'dense' | 'conv2d'>;
  /** Finer check (e.g. only stride-1 convs); default true. */
  supports?(layer: Layer, encoding: Encoding): boolean;
  prepare(layer: Layer, encoding: Encoding, bias: Float32Array | undefined): PreparedKernel;
}

export function defineKernel(k: LayerKernel): LayerKernel {
  return Object.freeze({ ...k });
}

const KEY = Symbol.for('@edge-compress/core/kernels');
function kernelTable(): Map<string, LayerKernel> {
  const g = globalThis as unknown as Record<symbol, Map<string, LayerKernel> | undefined>;
  return (g[KEY] ??= new Map());
}

/** Installs layer kernels (createRegistry does it for every compressor's `kernels`). Same name again replaces it. */
export function registerKernels(kernels: readonly LayerKernel[]): void {
  for (const k of kernels) kernelTable().set(k.name, k);
}

/** Every installed layer kernel. */
export function registeredKernels(): LayerKernel[] {
  return [...kernelTable().values()];
}

export interface RunnerOptions {
  /** Kernels to choose from (default: every installed kernel). Pass [] for the dense path only. */
  kernels?: readonly LayerKernel[];
}

export interface Runner {
  /** Which kernel runs each weighted layer ('dense' = stock tfjs ops on the decoded fp32 weight). */
  readonly kernelsUsed: Record<string, string>;
  /** Logits (or probabilities without `logits`) of a batch tensor [N, ...inputShape]; caller disposes. */
  run(x: tf.Tensor, opts?: { logits?: boolean }): tf.Tensor;
  /** Class probabilities of `count` examples (a Float32Array in the model's input layout). */
  predict(images: Float32Array, count: number): Float32Array;
  evaluate(data: Dataset, opts?: { batchSize?: number }): { loss: number; accuracy: number; count: number };
  dispose(): void;
}

/** Examples per forward in `Runner.predict`. */
const PREDICT_BATCH = 1000;

/**
 * Runs a model as stored: each weighted layer by the installed kernel for its weight's encoding kind (when one
 * supports it), every other layer by stock tfjs ops on the decoded fp32 weights.
 */
export function createRunner(model: Model, opts: RunnerOptions = {}): Runner {
  const kernels = opts.kernels ?? registeredKernels();
  const prepared = new Map<string, PreparedKernel>();
  const kernelsUsed: Record<string, string> = {};
  const skip = new Set<string>();
  try {
    for (const l of model.ir.layers) {
      if (l.kind !== 'dense' && l.kind !== 'conv2d') continue;
      const e = model.weights[`${l.name}/kernel`];
      if (!e) continue;
      const k = kernels.find((c) => c.kind === e.kind && (c.layers ?? ['dense', 'conv2d']).includes(l.kind) && (c.supports?.(l, e) ?? true));
      kernelsUsed[l.name] = k ? k.name : 'dense';
      if (!k) continue;
      const bias = l.useBias && model.weights[`${l.name}/bias`] ? toDense(model.weights[`${l.name}/bias`]!) : undefined;
      prepared.set(l.name, k.prepare(l, e, bias));
      skip.add(`${l.name}/kernel`);
      if (bias) skip.add(`${l.name}/bias`);
    }
  } catch (e) {
    prepared.forEach((p) => p.dispose());
    throw e;
  }
  const weights: WeightTensors = {};
  for (const [name, e] of Object.entries(model.weights)) if (!skip.has(name)) weights[name] = tf.tensor(toDense(e), e.shape, 'float32');
  let disposed = false;
  const check = (): void => {
    if (disposed) throw new CompressionError({ code: 'BACKEND_NOT_READY', message: 'runner was disposed', hint: 'create a new runner with createRunner(model)' });
  };
  const layerForward = (layer: Layer, input: tf.Tensor): tf.Tensor | undefined => prepared.get(layer.name)?.run(input);
  const run = (x: tf.Tensor, o: { logits?: boolean } = {}): tf.Tensor => {
    check();
    return tf.tidy(() => forward(model.ir, weights, x, { logits: o.logits, layerForward }));
  };
  return {
    kernelsUsed,
    run,
    predict(images, count) {
      check();
      if (images.length !== count * sizeOf(model.ir.inputShape))
        throw new CompressionError({ code: 'BAD_DATASET', message: `predict: ${images.length} values are not ${count} examples of shape [${model.ir.inputShape.join(',')}]` });
      // In batches: one tensor of a whole dataset (e.g. 55,000 LeNet-5 inputs) overflows the wasm heap.
      const per = sizeOf(model.ir.inputShape);
      let out: Float32Array | undefined;
      for (let from = 0; from < count; from += PREDICT_BATCH) {
        const to = Math.min(count, from + PREDICT_BATCH);
        // The tensor leaves the tidy, not its values: tf.tidy walks a returned array element by element (~0.3 µs each).
        const y = tf.tidy(() => run(tf.tensor(images.subarray(from * per, to * per), [to - from, ...model.ir.inputShape], 'float32')));
        const p = y.dataSync() as Float32Array;
        y.dispose();
        if (to === count && from === 0) return p;
        out ??= new Float32Array((p.length / (to - from)) * count);
        out.set(p, (p.length / (to - from)) * from);
      }
      return out ?? new Float32Array(0);
    },
    evaluate(data, o = {}) {
      check();
      return evaluateWith(model.ir, () => weights, data, { batchSize: o.batchSize, layerForward });
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      tf.dispose(Object.values(weights));
      prepared.forEach((p) => p.dispose());
    },
  };
}
