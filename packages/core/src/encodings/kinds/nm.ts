import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../../errors.js';
import { sizeOf } from '../../ir/shapes.js';
import { gemmDims } from '../../tensor/gemm.js';
import { defineEncoding } from '../define.js';
import { bitsFor } from '../payload.js';
import { toDense } from '../ops.js';
import { defOf } from '../registry.js';
import type { NmEncoding } from '../types.js';
import { denseEncoding } from './dense.js';
import { positionsTrainSpec, scatterPositions } from './util.js';

/** Values kept per group (n, or fewer in a last group with fewer real columns) and the total per weight. */
export function nmCounts(shape: readonly number[], n: number, m: number): { rows: number; cols: number; groups: number; perGroup: (g: number) => number; total: number } {
  const { rows, cols } = gemmDims(shape);
  const groups = Math.ceil(cols / m);
  const perGroup = (g: number): number => Math.min(n, cols - g * m);
  let perRow = 0;
  for (let g = 0; g < groups; g++) perRow += perGroup(g);
  return { rows, cols, groups, perGroup, total: rows * perRow };
}

/** Flat tfjs positions of every stored value. */
export function nmPositions(e: Pick<NmEncoding, 'shape' | 'n' | 'm' | 'positions'>): Int32Array {
  const c = nmCounts(e.shape, e.n, e.m);
  const pos = new Int32Array(c.total);
  let k = 0;
  for (let r = 0; r < c.rows; r++) for (let g = 0; g < c.groups; g++) for (let j = 0; j < c.perGroup(g); j++, k++) pos[k] = (g * e.m + e.positions[k]!) * c.rows + r;
  return pos;
}

/**
 * N:M encoding of `values` (tfjs layout): in each group, the kept entries of `mask` (at most n); groups with
 * fewer kept entries are filled with the lowest free positions holding 0, so every group stores exactly n.
 */
export function nmFromMask(shape: readonly number[], mask: Uint8Array, values: Float32Array, n: number, m: number): NmEncoding {
  const c = nmCounts(shape, n, m);
  const positions = new Uint8Array(c.total);
  const vals = new Float32Array(c.total);
  let k = 0;
  for (let r = 0; r < c.rows; r++) {
    for (let g = 0; g < c.groups; g++) {
      const want = c.perGroup(g);
      const width = Math.min(m, c.cols - g * m);
      const kept: number[] = [];
      for (let j = 0; j < width; j++) if (mask[(g * m + j) * c.rows + r]) kept.push(j);
      if (kept.length > want) throw new CompressionError({ code: 'BAD_CONFIG', message: `row ${r}, group ${g}: the mask keeps ${kept.length} of ${m}, more than N = ${n}` });
      for (let j = 0; j < width && kept.length < want; j++) if (!kept.includes(j)) kept.push(j);
      kept.sort((a, b) => a - b);
      for (const j of kept) {
        const p = (g * m + j) * c.rows + r;
        positions[k] = j;
        vals[k++] = mask[p] ? values[p]! : 0;
      }
    }
  }
  return { kind: 'nm', shape: [...shape], n, m, positions, values: denseEncoding([c.total], vals) };
}

/** N:M structured sparsity along the fan-in. */
export const nmKind = defineEncoding<NmEncoding>({
  kind: 'nm',
  provider: '@edge-compress/core',
  description: 'N:M sparsity along the fan-in: n kept values and their positions per group of m',
  elementwise: false,
  children: (e) => ({ values: e.values }),
  withChildren: (e, c) => ({ ...e, values: c.values! }),
  toDense: (e) => scatterPositions(toDense(e.values), nmPositions(e), sizeOf(e.shape)),
  ownBits: (e) => e.positions.length * bitsFor(e.m - 1),
  ownValues: () => 0,
  summary: (e) => ({ nm: [e.n, e.m] }),
  write: (e, w, _k, child) => ({ kind: 'nm', shape: e.shape, n: e.n, m: e.m, positions: w.packed(e.positions, bitsFor(e.m - 1)), values: child('values', e.values) }),
  read(d, r, path, _k, child) {
    const m = r.int(d.m, `${path}.m`, 2, 255);
    const n = r.int(d.n, `${path}.n`, 1, m - 1);
    const c = nmCounts(d.shape, n, m);
    const e: NmEncoding = {
      kind: 'nm',
      shape: d.shape,
      n,
      m,
      positions: Uint8Array.from(r.packed(d.positions, `${path}.positions`, c.total, bitsFor(m - 1))),
      values: child('values'),
    };
    try {
      nmKind.validate!(e, path);
    } catch (err) {
      r.bad(path, (err as Error).message);
    }
    return e;
  },
  validate(e, where) {
    const fail = (msg: string): never => {
      throw new CompressionError({ code: 'SHAPE_MISMATCH', path: where, message: `${where}: ${msg}` });
    };
    if (!Number.isInteger(e.n) || !Number.isInteger(e.m) || e.n < 1 || e.n >= e.m) fail(`N:M needs integers 1 ≤ N < M, got ${e.n}:${e.m}`);
    const c = nmCounts(e.shape, e.n, e.m);
    if (e.positions.length !== c.total || sizeOf(e.values.shape) !== c.total)
      fail(`expected ${c.total} kept values, got ${e.positions.length} positions and ${sizeOf(e.values.shape)} values`);
    if (!defOf(e.values).elementwise) fail(`values must be dense or quantized, got '${e.values.kind}'`);
    let k = 0;
    for (let r = 0; r < c.rows; r++)
      for (let g = 0; g < c.groups; g++) {
        const width = Math.min(e.m, c.cols - g * e.m);
        for (let j = 0; j < c.perGroup(g); j++, k++)
          if (e.positions[k]! >= width || (j > 0 && e.positions[k]! <= e.positions[k - 1]!)) fail(`row ${r}, group ${g}: positions must be ascending and < ${width}`);
      }
  },
  train: {
    ...positionsTrainSpec(nmPositions),
    rebuild: (e, c) => ({ ...e, values: c.values! }),
  },
});
