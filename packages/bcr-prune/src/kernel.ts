import * as tf from '@tensorflow/tfjs-core';
import { defineKernel, toDense, type BlockSparseEncoding, type Layer, type ModelIR } from '@edge-compress/core';
import { SparseRunner } from './runtime/runner.js';

/**
 * core LayerKernel for kernel weights in the `blockSparse` encoding: the layer runs on the bcr-prune wasm runtime
 * (one wasm call per layer; im2col + BCR GEMM + bias for conv). Used by createRunner / `edge-compress eval`.
 * For a whole model in one wasm call use `SparseRunner` directly.
 */
export const bcrKernel = defineKernel({
  name: 'bcr-wasm-simd',
  kind: 'blockSparse',
  supports: (layer) => layer.kind === 'dense' || layer.kind === 'conv2d',
  prepare(layer: Layer, encoding, bias) {
    const e = encoding as BlockSparseEncoding;
    const layout = { shape: e.shape, block: e.block, keptRows: e.keptRows, keptCols: e.keptCols, rowIdx: e.rowIdx, colIdx: e.colIdx, values: toDense(e.values) };
    const runners = new Map<string, SparseRunner>();
    const runnerFor = (inShape: number[]): SparseRunner => {
      const key = inShape.join('x');
      let r = runners.get(key);
      if (!r) {
        // One layer on its own input (a graph layer's `inputs` name layers this one-layer model does not have).
        const { inputs: _from, ...own } = layer;
        const l = { ...own, activation: 'linear' } as Layer;
        const ir: ModelIR = { format: 'edge-compress/ir', version: 1, name: layer.name, inputShape: inShape, layers: [l] };
        const params: Record<string, Float32Array> = bias ? { [`${layer.name}/bias`]: bias } : {};
        r = new SparseRunner({ ir, kernels: { [layer.name]: { format: 'bcr', layout } }, params });
        runners.set(key, r);
      }
      return r;
    };
    return {
      run(x: tf.Tensor): tf.Tensor {
        const n = x.shape[0]!;
        const r = runnerFor(x.shape.slice(1) as number[]);
        const out = r.predict(x.dataSync() as Float32Array, n, 256);
        return tf.tensor(out, [n, ...r.outputShape], 'float32');
      },
      dispose() {
        runners.clear(); // each runner's wasm memory goes with it
      },
    };
  },
});
