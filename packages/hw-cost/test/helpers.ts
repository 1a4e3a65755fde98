import {
  conv2dLayer,
  createRng,
  denseEncoding,
  gemmDims,
  initModel,
  maskedEncoding,
  sizeOf,
  type Encoding,
  type Model,
  type ModelIR,
  type QuantizedEncoding,
} from '@edge-compress/core';

/** A VGG-style CNN large enough to be compute-bound on every device (32×32×3, 4 conv layers, 2 dense). */
export function vggSmall(size = 32, width = 1): ModelIR {
  const conv = (name: string, filters: number) => conv2dLayer(name, filters);
  const pool = (name: string) => ({ kind: 'maxPool2d' as const, name, poolSize: [2, 2] as [number, number], strides: [2, 2] as [number, number], padding: 'valid' as const });
  return {
    format: 'edge-compress/ir',
    version: 1,
    name: 'vgg-small',
    inputShape: [size, size, 3],
    layers: [
      conv('c1', 64 * width),
      conv('c2', 64 * width),
      pool('p1'),
      conv('c3', 128 * width),
      conv('c4', 128 * width),
      pool('p2'),
      ...(size > 32 ? [pool('p3')] : []),
      { kind: 'flatten', name: 'f' },
      { kind: 'dense', name: 'fc1', units: 64, activation: 'relu', useBias: true },
      { kind: 'dense', name: 'fc2', units: 10, activation: 'softmax', useBias: true },
    ],
  };
}

/** Mask constant over [br, bc] blocks of the GEMM view (rows = out channels), keeping `keep` of the blocks. */
export function blockMask(shape: number[], br: number, bc: number, keep: number, seed = 0): Uint8Array {
  const { rows, cols } = gemmDims(shape);
  const rng = createRng(seed);
  const m = new Uint8Array(rows * cols);
  for (let r0 = 0; r0 < rows; r0 += br)
    for (let c0 = 0; c0 < cols; c0 += bc) {
      const on = rng.next() < keep ? 1 : 0;
      for (let r = r0; r < r0 + br; r++) for (let c = c0; c < c0 + bc; c++) m[c * rows + r] = on;
    }
  return m;
}

export function randomMask(n: number, keep: number, seed = 0): Uint8Array {
  const rng = createRng(seed);
  return Uint8Array.from({ length: n }, () => (rng.next() < keep ? 1 : 0));
}

export function quantized(e: Encoding, bits: number): QuantizedEncoding {
  const n = sizeOf(e.shape);
  return {
    kind: 'quantized',
    shape: [...e.shape],
    scheme: 'symmetric',
    bits,
    axis: null,
    scales: Float32Array.of(0.01),
    zeroPoints: Int32Array.of(0),
    codes: Int32Array.from({ length: n }, (_, i) => (i % Math.max(1, 2 ** (bits - 1) - 1)) + 1),
  };
}

/** Applies `fn` to every conv/dense kernel of a model. */
export function mapKernels(m: Model, fn: (e: Encoding, name: string) => Encoding): Model {
  const weights: Record<string, Encoding> = {};
  for (const [k, v] of Object.entries(m.weights)) weights[k] = k.endsWith('/kernel') ? fn(v, k) : v;
  return { ir: m.ir, weights };
}

export const blockPruned = (m: Model, keep: number) => mapKernels(m, (e, n) => maskedEncoding(e, blockMask(e.shape, 4, 4, keep, n.length)));
export const unstructuredPruned = (m: Model, keep: number) => mapKernels(m, (e, n) => maskedEncoding(e, randomMask(sizeOf(e.shape), keep, n.length)));
export const quantizedModel = (m: Model, bits: number) => mapKernels(m, (e) => quantized(e, bits));
export { initModel, denseEncoding };
