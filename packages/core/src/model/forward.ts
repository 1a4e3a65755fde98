import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../errors.js';
import { DEFAULT_LEAKY_ALPHA, layerInputs, MODEL_INPUT, type Activation, type Layer, type ModelIR } from '../ir/types.js';

export type WeightTensors = Record<string, tf.Tensor>;

export interface ForwardOptions {
  /** Training mode: dropout active, batch-norm uses batch statistics. Default false. */
  training?: boolean;
  /** Skip a final softmax (fused or stand-alone) and return logits. Default false. */
  logits?: boolean;
  /** Seed for dropout masks in training mode (the trainer passes one per step). */
  dropoutSeed?: number;
  /** Collects batch-norm batch statistics in training mode (the trainer folds them into the moving stats). */
  bnStats?: Map<string, { mean: tf.Tensor; variance: tf.Tensor }>;
  /** Batch-norm layers normalise with (and collect) batch statistics, as in training, with dropout still off. */
  batchStats?: boolean;
  /**
   * Replace the computation of a weighted layer (conv2d or dense), e.g. a sparse kernel or a product of
   * factors. Return undefined to use the stock computation. The result is the pre-activation output.
   */
  layerForward?: (layer: Layer, input: tf.Tensor, weights: WeightTensors, info: { training: boolean }) => tf.Tensor | undefined;
}

/**
 * An activation as tfjs-layers computes it (same ops, so a model saved for stock tfjs predicts the same).
 * `alpha` is leakyRelu's slope, `maxValue` relu's optional cap (stand-alone layers only).
 */
export function activate(x: tf.Tensor, a: Activation, p: { alpha?: number; maxValue?: number } = {}): tf.Tensor {
  switch (a) {
    case 'linear':
      return x;
    case 'relu':
      return p.maxValue === undefined ? tf.relu(x) : tf.clipByValue(tf.relu(x), 0, p.maxValue);
    case 'softmax':
      return tf.softmax(x);
    case 'sigmoid':
      return tf.sigmoid(x);
    case 'tanh':
      return tf.tanh(x);
    case 'relu6':
      return tf.minimum(6, tf.relu(x));
    case 'elu':
      return tf.elu(x);
    case 'selu':
      return tf.selu(x);
    case 'softplus':
      return tf.softplus(x);
    case 'softsign':
      return tf.div(x, tf.add(tf.abs(x), 1));
    case 'hardSigmoid':
      return tf.clipByValue(tf.add(0.5, tf.mul(0.2, x)), 0, 1);
    case 'swish':
      return tf.mul(tf.sigmoid(x), x);
    case 'mish':
      return tf.mul(x, tf.tanh(tf.softplus(x)));
    case 'gelu':
      return tf.mul(x, tf.mul(0.5, tf.add(1, tf.erf(tf.div(x, Math.SQRT2)))));
    case 'gelu_new':
      return tf.mul(0.5, tf.mul(x, tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))))))));
    case 'leakyRelu':
      return tf.leakyRelu(x, p.alpha ?? DEFAULT_LEAKY_ALPHA);
  }
}

/** Index of the layer whose activation is the model's final softmax (through trailing dropout / flatten), or -1. */
function finalSoftmaxIndex(ir: ModelIR): number {
  const index = new Map(ir.layers.map((l, i) => [l.name, i]));
  for (let i = ir.layers.length - 1; i >= 0;) {
    const l = ir.layers[i]!;
    if (l.kind === 'dropout' || l.kind === 'flatten') {
      const from = layerInputs(ir, i)[0]!;
      if (from === MODEL_INPUT) return -1;
      i = index.get(from)!;
      continue;
    }
    if ((l.kind === 'dense' || l.kind === 'conv2d' || l.kind === 'depthwiseConv2d' || l.kind === 'activation') && l.activation === 'softmax') return i;
    return -1;
  }
  return -1;
}

function need(w: WeightTensors, name: string): tf.Tensor {
  const t = w[name];
  if (!t) throw new CompressionError({ code: 'BAD_MODEL_FILE', message: `forward: weight '${name}' is missing`, layer: name.split('/')[0] });
  return t;
}

/**
 * The forward pass of an IR model with tfjs-core ops, NHWC. `x` is a batch in the model's input shape
 * ([N, ...inputShape]). Returns class probabilities (or logits with `logits: true`). Call inside tf.tidy
 * or dispose the result.
 */
export function forward(ir: ModelIR, weights: WeightTensors, x: tf.Tensor, opts: ForwardOptions = {}): tf.Tensor {
  const last = opts.logits ? finalSoftmaxIndex(ir) : -1;
  // Every output so far by layer name, for the layers that name their inputs (a chain just passes `h` on).
  const kept = new Map<string, tf.Tensor>([[MODEL_INPUT, x]]);
  let h = x;
  let dropIdx = 0;
  for (const [i, l] of ir.layers.entries()) {
    const act = (a: Activation): Activation => (i === last && a === 'softmax' ? 'linear' : a);
    const at = (n: string): tf.Tensor => {
      const t = kept.get(n);
      if (!t)
        throw new CompressionError({
          code: 'SHAPE_MISMATCH',
          layer: l.name,
          message: `forward: layer '${l.name}' takes '${n}', which is not an earlier layer`,
          hint: 'list layers in topological order',
        });
      return t;
    };
    if (l.inputs) h = at(l.inputs[0]!);
    switch (l.kind) {
      case 'conv2d': {
        let y = opts.layerForward?.(l, h, weights, { training: Boolean(opts.training) });
        if (!y) {
          y = tf.conv2d(h as tf.Tensor4D, need(weights, `${l.name}/kernel`) as tf.Tensor4D, l.strides, l.padding);
          if (l.useBias) y = tf.add(y, need(weights, `${l.name}/bias`));
        }
        h = activate(y, act(l.activation));
        break;
      }
      case 'depthwiseConv2d': {
        let y: tf.Tensor = tf.depthwiseConv2d(h as tf.Tensor4D, need(weights, `${l.name}/depthwise_kernel`) as tf.Tensor4D, l.strides, l.padding);
        if (l.useBias) y = tf.add(y, need(weights, `${l.name}/bias`));
        h = activate(y, act(l.activation));
        break;
      }
      case 'dense': {
        let y = opts.layerForward?.(l, h, weights, { training: Boolean(opts.training) });
        if (!y) {
          y = tf.matMul(h as tf.Tensor2D, need(weights, `${l.name}/kernel`) as tf.Tensor2D);
          if (l.useBias) y = tf.add(y, need(weights, `${l.name}/bias`));
        }
        h = activate(y, act(l.activation));
        break;
      }
      case 'maxPool2d':
        h = tf.maxPool(h as tf.Tensor4D, l.poolSize, l.strides, l.padding);
        break;
      case 'avgPool2d':
        h = tf.avgPool(h as tf.Tensor4D, l.poolSize, l.strides, l.padding);
        break;
      case 'flatten':
        h = tf.reshape(h, [h.shape[0]!, -1]);
        break;
      case 'activation':
        h = activate(h, act(l.activation), l);
        break;
      case 'dropout':
        if (opts.training && l.rate > 0) h = tf.dropout(h, l.rate, undefined, (opts.dropoutSeed ?? 0) * 31 + dropIdx++);
        break;
      case 'batchNorm': {
        const axes = h.shape.map((_, k) => k).slice(0, -1);
        let mean = need(weights, `${l.name}/moving_mean`);
        let variance = need(weights, `${l.name}/moving_variance`);
        if (opts.training || opts.batchStats) {
          const m = tf.moments(h, axes);
          mean = m.mean;
          variance = m.variance;
          opts.bnStats?.set(l.name, { mean: tf.keep(tf.clone(m.mean)), variance: tf.keep(tf.clone(m.variance)) });
        }
        // tfjs' BatchNorm gradient fails on a missing scale / offset: pass explicit ones / zeros instead.
        const gamma = l.scale ? need(weights, `${l.name}/gamma`) : tf.onesLike(mean);
        const beta = l.center ? need(weights, `${l.name}/beta`) : tf.zerosLike(mean);
        h = tf.batchNorm(h, mean, variance, beta, gamma, l.epsilon);
        break;
      }
      case 'zeroPad2d':
        h = tf.pad(h, [[0, 0], l.padding[0], l.padding[1], [0, 0]]);
        break;
      case 'add':
        h = tf.addN(l.inputs.map(at));
        break;
      case 'concatenate':
        h = tf.concat(l.inputs.map(at), -1);
        break;
    }
    kept.set(l.name, h);
  }
  return h;
}
