import type { Conv2dLayer, Layer, ModelIR } from './types.js';

/**
 * Caffe LeNet-5 as used by ADMM-NN: conv 5x5x20 valid → maxpool 2 → conv 5x5x50 valid → maxpool 2 →
 * dense 500 + relu → dense 10 (softmax). 431,080 parameters. ReLU after both convs as in the reference TF code.
 */
export function lenet5(): ModelIR {
  return {
    format: 'edge-compress/ir',
    version: 1,
    name: 'lenet5',
    inputShape: [28, 28, 1],
    layers: [
      { kind: 'conv2d', name: 'conv1', filters: 20, kernelSize: [5, 5], strides: [1, 1], padding: 'valid', activation: 'relu', useBias: true },
      { kind: 'maxPool2d', name: 'pool1', poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
      { kind: 'conv2d', name: 'conv2', filters: 50, kernelSize: [5, 5], strides: [1, 1], padding: 'valid', activation: 'relu', useBias: true },
      { kind: 'maxPool2d', name: 'pool2', poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
      { kind: 'flatten', name: 'flatten' },
      { kind: 'dense', name: 'fc1', units: 500, activation: 'relu', useBias: true },
      { kind: 'dense', name: 'fc2', units: 10, activation: 'softmax', useBias: true },
    ],
  };
}

/** LeNet-300-100: 784-300-100-10, 266,610 parameters. */
export function lenet300100(): ModelIR {
  return {
    format: 'edge-compress/ir',
    version: 1,
    name: 'lenet300100',
    inputShape: [784],
    layers: [
      { kind: 'dense', name: 'fc1', units: 300, activation: 'relu', useBias: true },
      { kind: 'dense', name: 'fc2', units: 100, activation: 'relu', useBias: true },
      { kind: 'dense', name: 'fc3', units: 10, activation: 'softmax', useBias: true },
    ],
  };
}

export const ARCHITECTURES = { lenet5, lenet300100 } as const;
export type ArchitectureName = keyof typeof ARCHITECTURES;

/**
 * A conv2d layer for IRs written by hand: 3×3, stride 1, 'same' padding, relu and a bias unless `o` says otherwise;
 * `o.inputs` names the layers it reads (graphs).
 */
export function conv2dLayer(name: string, filters: number, o: Partial<Omit<Conv2dLayer, 'kind' | 'name' | 'filters'>> & { inputs?: string[] } = {}): Layer {
  return { kind: 'conv2d', name, filters, kernelSize: [3, 3], strides: [1, 1], padding: 'same', activation: 'relu', useBias: true, ...o };
}
