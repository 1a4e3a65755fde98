/** Model IR: a JSON-serialisable description of a Sequential network in NHWC layout. */
/**
 * Element-wise activations, by tfjs-layers' names (Keras JSON writes `hard_sigmoid`; the readers map it). All of
 * them are fused activations of conv2d / dense or stand-alone `activation` layers, except `leakyRelu`, which only a
 * stand-alone layer has (Keras' LeakyReLU layer; its slope is the layer's `alpha`).
 */
export const ACTIVATIONS = [
  'linear',
  'relu',
  'softmax',
  'sigmoid',
  'tanh',
  'relu6',
  'elu',
  'selu',
  'softplus',
  'softsign',
  'hardSigmoid',
  'swish',
  'mish',
  'gelu',
  'gelu_new',
  'leakyRelu',
] as const;
export type Activation = (typeof ACTIVATIONS)[number];
/** Keras' LeakyReLU slope when a layer gives none (tfjs-layers and Keras 2 / 3 agree). */
export const DEFAULT_LEAKY_ALPHA = 0.3;
/** Activations a conv2d / dense layer (or Keras' Activation layer) can carry as a string. */
export const FUSED_ACTIVATIONS: readonly Activation[] = ACTIVATIONS.filter((a) => a !== 'leakyRelu');

export const LAYER_KINDS = ['conv2d', 'depthwiseConv2d', 'dense', 'maxPool2d', 'avgPool2d', 'flatten', 'activation', 'batchNorm', 'dropout'] as const;
export type LayerKind = (typeof LAYER_KINDS)[number];

export type Padding = 'same' | 'valid';

export interface Conv2dLayer {
  kind: 'conv2d';
  name: string;
  filters: number;
  kernelSize: [number, number];
  strides: [number, number];
  padding: Padding;
  activation: Activation;
  useBias: boolean;
}
/**
 * Depthwise convolution (Keras DepthwiseConv2D): each input channel convolved with its own `depthMultiplier`
 * filters; kernel `[kh, kw, inChannels, depthMultiplier]` named `<layer>/depthwise_kernel` as in tfjs. Its weights
 * are carried as they are (not a compression target: methods compress conv2d and dense kernels).
 */
export interface DepthwiseConv2dLayer {
  kind: 'depthwiseConv2d';
  name: string;
  kernelSize: [number, number];
  strides: [number, number];
  padding: Padding;
  depthMultiplier: number;
  activation: Activation;
  useBias: boolean;
}
export interface DenseLayer {
  kind: 'dense';
  name: string;
  units: number;
  activation: Activation;
  useBias: boolean;
}
export interface PoolLayer {
  kind: 'maxPool2d' | 'avgPool2d';
  name: string;
  poolSize: [number, number];
  strides: [number, number];
  padding: Padding;
}
export interface FlattenLayer {
  kind: 'flatten';
  name: string;
}
export interface ActivationLayer {
  kind: 'activation';
  name: string;
  activation: Activation;
  /** `leakyRelu`'s slope for x < 0 (Keras' LeakyReLU `alpha`, default 0.3). */
  alpha?: number;
  /** Upper clip of `relu` (Keras' ReLU layer `max_value`); none when absent. */
  maxValue?: number;
}
export interface BatchNormLayer {
  kind: 'batchNorm';
  name: string;
  epsilon: number;
  momentum: number;
  center: boolean;
  scale: boolean;
}
export interface DropoutLayer {
  kind: 'dropout';
  name: string;
  rate: number;
}

export type Layer = Conv2dLayer | DepthwiseConv2dLayer | DenseLayer | PoolLayer | FlattenLayer | ActivationLayer | BatchNormLayer | DropoutLayer;

export interface ModelIR {
  format: 'edge-compress/ir';
  version: 1;
  name: string;
  /** Per-example input shape, without the batch axis: e.g. [28, 28, 1] or [784]. */
  inputShape: number[];
  layers: Layer[];
}

/** Layers that own a weight matrix (the targets of compression methods). */
export type WeightedLayer = Conv2dLayer | DenseLayer;
export function isWeighted(l: Layer): l is WeightedLayer {
  return l.kind === 'conv2d' || l.kind === 'dense';
}

/** Names of a layer's weights, in Keras order. */
export function weightNames(l: Layer): string[] {
  switch (l.kind) {
    case 'conv2d':
    case 'dense':
      return l.useBias ? [`${l.name}/kernel`, `${l.name}/bias`] : [`${l.name}/kernel`];
    case 'depthwiseConv2d':
      return l.useBias ? [`${l.name}/depthwise_kernel`, `${l.name}/bias`] : [`${l.name}/depthwise_kernel`];
    case 'batchNorm': {
      const out: string[] = [];
      if (l.scale) out.push(`${l.name}/gamma`);
      if (l.center) out.push(`${l.name}/beta`);
      out.push(`${l.name}/moving_mean`, `${l.name}/moving_variance`);
      return out;
    }
    default:
      return [];
  }
}

/** Weights that training updates (batch-norm moving statistics are not trainable). */
export function isTrainableWeight(name: string): boolean {
  return !name.endsWith('/moving_mean') && !name.endsWith('/moving_variance');
}
