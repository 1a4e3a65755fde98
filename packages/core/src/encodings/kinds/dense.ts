import { CompressionError } from '../../errors.js';
import { sizeOf } from '../../ir/shapes.js';
import { defineEncoding } from '../define.js';
import type { DenseEncoding } from '../types.js';
import { scatterKept, filterKept } from './util.js';

export function denseEncoding(shape: readonly number[], values: Float32Array): DenseEncoding {
  if (values.length !== sizeOf(shape)) {
    throw new CompressionError({ code: 'SHAPE_MISMATCH', message: `dense encoding: ${values.length} values do not fill shape [${shape.join(',')}] (${sizeOf(shape)} elements)` });
  }
  return { kind: 'dense', shape: [...shape], values };
}

/** fp32 values, one per element. */
export const denseKind = defineEncoding<DenseEncoding>({
  kind: 'dense',
  provider: '@edge-compress/core',
  description: 'fp32 values, one per element',
  elementwise: true,
  children: () => ({}),
  withChildren: (e) => e,
  toDense: (e) => e.values,
  ownBits: (e, kept) => (kept ?? e.values.length) * 32,
  ownValues: (e, kept) => kept ?? e.values.length,
  summary: () => ({ bits: 32, scheme: 'fp32' }),
  write: (e, w, keep) => ({ kind: 'dense', shape: e.shape, values: w.f32(filterKept(e.values, keep)) }),
  read(d, r, path, keep) {
    const n = sizeOf(d.shape);
    const stored = keep ? keep.reduce((a, b) => a + (b ? 1 : 0), 0) : n;
    return { kind: 'dense', shape: d.shape, values: scatterKept(r.f32(d.values, `${path}.values`, stored), keep, new Float32Array(n)) };
  },
  validate(e, where) {
    if (!(e.values instanceof Float32Array) || e.values.length !== sizeOf(e.shape))
      throw new CompressionError({ code: 'SHAPE_MISMATCH', path: where, message: `${where}: dense values must be a Float32Array of ${sizeOf(e.shape)} entries` });
  },
  train: {
    leaf: {
      init: (e) => e.values.slice(),
      effective: (p) => p,
      rebuild: (e, values) => denseEncoding(e.shape, values),
    },
  },
});
