import { isWeighted, toDense, toGemm, type Model } from '@edge-compress/core';
import { bcrLayoutFromMask, type BcrLayout } from '../sparsity.js';
import type { KernelWeight } from './pack.js';
import type { SparseModelSpec } from './runner.js';

/**
 * The runtime spec of a model: `blockSparse` kernels (and layers in `layouts`) run as BCR, `nm` kernels as CSR, masked
 * layers as CSR when `unstructured: 'csr'`, everything else as dense GEMM (the same wasm kernel, every row and column kept).
 */
export function sparseSpec(model: Model, opts: { layouts?: Record<string, BcrLayout>; unstructured?: 'csr' | 'dense' } = {}): SparseModelSpec {
  const kernels: Record<string, KernelWeight> = {};
  const params: Record<string, Float32Array> = {};
  for (const l of model.ir.layers) {
    if (!isWeighted(l)) continue;
    const layout = opts.layouts?.[l.name];
    const e = model.weights[`${l.name}/kernel`]!;
    if (layout) kernels[l.name] = { format: 'bcr', layout };
    else if (e.kind === 'blockSparse')
      kernels[l.name] = {
        format: 'bcr',
        layout: { shape: e.shape, block: e.block, keptRows: e.keptRows, keptCols: e.keptCols, rowIdx: e.rowIdx, colIdx: e.colIdx, values: toDense(e.values) },
      };
    else if (e.kind === 'nm') kernels[l.name] = { format: 'csr', gemm: toGemm(toDense(e), e.shape) };
    else if (opts.unstructured === 'csr' && e.kind === 'masked') kernels[l.name] = { format: 'csr', gemm: toGemm(toDense(e), e.shape) };
    else kernels[l.name] = { format: 'dense', gemm: toGemm(toDense(e), e.shape) };
  }
  for (const [name, e] of Object.entries(model.weights)) if (!name.endsWith('/kernel')) params[name] = toDense(e);
  return { ir: model.ir, kernels, params };
}

/**
 * BCR layouts of the layers a `bcr` report lists (pattern 'bcr' or 'block'), from the masked weights of the compressed
 * model, for `sparseSpec(model, { layouts })`. N:M layers are left out (run them as CSR with `unstructured: 'csr'`).
 */
export function bcrLayouts(model: Model, report: { layers: Array<{ layer: string; weight: string; [k: string]: unknown }> }): Record<string, BcrLayout> {
  const out: Record<string, BcrLayout> = {};
  for (const l of report.layers) {
    if (l.pattern !== 'bcr' && l.pattern !== 'block') continue;
    const e = model.weights[l.weight]!;
    const rows = e.shape[e.shape.length - 1]!,
      cols = e.shape.reduce((a, b) => a * b, 1) / rows;
    const mask = e.kind === 'masked' ? toGemm(Float32Array.from(e.mask), e.shape) : toGemm(toDense(e), e.shape);
    out[l.layer] = bcrLayoutFromMask(
      e.shape,
      toGemm(toDense(e), e.shape),
      rows,
      cols,
      Uint8Array.from(mask, (v) => (v !== 0 ? 1 : 0)),
      l.block as [number, number],
    );
  }
  return out;
}
