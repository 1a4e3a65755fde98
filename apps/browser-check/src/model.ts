import type { ModelIR } from '@edge-compress/core';

/** A small MLP (784-64-32-10), so the whole scenario runs in well under a minute on each platform. */
export function smallMlp(): ModelIR {
  return {
    format: 'edge-compress/ir',
    version: 1,
    name: 'mlp64',
    inputShape: [784],
    layers: [
      { kind: 'dense', name: 'fc1', units: 64, activation: 'relu', useBias: true },
      { kind: 'dense', name: 'fc2', units: 32, activation: 'relu', useBias: true },
      { kind: 'dense', name: 'fc3', units: 10, activation: 'softmax', useBias: true },
    ],
  };
}
