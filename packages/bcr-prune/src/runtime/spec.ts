import { isWeighted, toDense, toGemm, type Model } from '@edge-compress/core';
import type { BcrLayout } from '../sparsity.js';
import type { KernelWeight } from './pack.js';
import type { SparseModelSpec } from './runner.js';

/**
 * The runtime spec of a model: layers in `layouts` run as BCR, masked layers as CSR when `unstructured: 'csr'`,
 * everything else as dense GEMM (the same wasm kernel with every row and column kept).
 */
export function sparseSpec(model: Model, opts: { layouts?: Record<string, BcrLayout>; unstructured?: 'csr' | 'dense' } = {}): SparseModelSpec {
  const kernels: Record<string, KernelWeight> = {};
  const params: Record<string, Float32Array> = {};
  for (const l of model.ir.layers) {
    if (!isWeighted(l)) continue;
    const layout = opts.layouts?.[l.name];
    const e = model.weights[`${l.name}/kernel`]!;
    if (layout) kernels[l.name] = { format: 'bcr', layout };
    else if (opts.unstructured === 'csr' && e.kind === 'masked') kernels[l.name] = { format: 'csr', gemm: toGemm(toDense(e), e.shape) };
    else kernels[l.name] = { format: 'dense', gemm: toGemm(toDense(e), e.shape) };
  }
  for (const [name, e] of Object.entries(model.weights)) if (!name.endsWith('/kernel')) params[name] = toDense(e);
  return { ir: model.ir, kernels, params };
}
