/**
 * Model IR: a JSON-serialisable description of a network in NHWC layout. Layers are listed in topological order;
 * each takes the previous layer's output (the model input for the first) unless it names its `inputs`, so a plain
 * chain needs no `inputs` at all and a residual or branching graph names them where it joins or forks. The model
 * output is the last layer's.
 */
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

export const LAYER_KINDS = [
  'conv2d',
  'depthwiseConv2d',
  'dense',
  'maxPool2d',
  'avgPool2d',
  'flatten',
  'activation',
  'batchNorm',
  'dropout',
  'zeroPad2d',
  'add',
  'concatenate',
] as const;
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

/** Zero padding of the spatial axes (Keras ZeroPadding2D): [[top, bottom], [left, right]] rows / columns of zeros. */
export interface ZeroPadLayer {
  kind: 'zeroPad2d';
  name: string;
  padding: [[number, number], [number, number]];
}
/** Element-wise sum of two or more outputs of the same shape (Keras Add): a residual connection's join. */
export interface AddLayer {
  kind: 'add';
  name: string;
  inputs: string[];
}
/** Outputs joined along the channel (last) axis (Keras Concatenate, axis −1); other axes must agree. */
export interface ConcatenateLayer {
  kind: 'concatenate';
  name: string;
  inputs: string[];
}
export type MergeLayer = AddLayer | ConcatenateLayer;

/** The model input, as a layer's `inputs` entry. */
export const MODEL_INPUT = '@input';

/**
 * A layer. `inputs` names the layers (or MODEL_INPUT) whose outputs it takes, all earlier in the list: one for every
 * kind but the merges, two or more for `add` / `concatenate`. Absent = the previous layer's output.
 */
export type Layer = (Conv2dLayer | DepthwiseConv2dLayer | DenseLayer | PoolLayer | FlattenLayer | ActivationLayer | BatchNormLayer | DropoutLayer | ZeroPadLayer | MergeLayer) & {
  inputs?: string[];
};

export const isMerge = (l: Layer): l is MergeLayer & { inputs: string[] } => l.kind === 'add' || l.kind === 'concatenate';

/** What a layer without `inputs` reads: the previous layer's output, or the model input for the first layer. */
const previousOutput = (ir: Pick<ModelIR, 'layers'>, index: number): string => (index === 0 ? MODEL_INPUT : ir.layers[index - 1]!.name);

/** The names a layer reads from: its `inputs`, else the previous layer (MODEL_INPUT for the first). */
export function layerInputs(ir: Pick<ModelIR, 'layers'>, index: number): string[] {
  return ir.layers[index]!.inputs ?? [previousOutput(ir, index)];
}

/** Index of the first layer that reads anything but the previous layer's output (a fork or a join), or −1 for a chain. */
export const firstGraphLayer = (ir: Pick<ModelIR, 'layers'>): number =>
  ir.layers.findIndex((l, i) => l.inputs !== undefined && (l.inputs.length !== 1 || l.inputs[0] !== previousOutput(ir, i)));

/** Whether every layer takes the previous one's output (a Sequential network). */
export const isChain = (ir: Pick<ModelIR, 'layers'>): boolean => firstGraphLayer(ir) < 0;

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
