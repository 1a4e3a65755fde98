import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../../errors.js';
import { sizeOf } from '../../ir/shapes.js';
import { maskFromRelativeSymbols, packMask, relativeIndexSymbols, unpackMask } from '../../tensor/bitpack.js';
import { countNonZero } from '../../tensor/prune.js';
import { defineEncoding } from '../define.js';
import { toDense } from '../ops.js';
import { defOf } from '../registry.js';
import type { Encoding, MaskedEncoding } from '../types.js';

export function maskedEncoding(base: Encoding, mask: Uint8Array): MaskedEncoding {
  if (mask.length !== sizeOf(base.shape)) {
    throw new CompressionError({ code: 'SHAPE_MISMATCH', message: `mask has ${mask.length} entries but the weight has ${sizeOf(base.shape)}` });
  }
  if (!defOf(base).elementwise) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      message: `a mask applies elementwise over a dense or quantized base, not '${base.kind}'`,
      hint: 'mask the elementwise leaves of a structured encoding instead (mapLeaves)',
    });
  }
  return { kind: 'masked', shape: [...base.shape], mask, base };
}

/**
 * Bits of the cheapest index for a mask, exactly as core IO stores it: a bitmap (1 bit per weight) or a
 * relative index (gapBits per kept value, plus one escape symbol per 2^gapBits − 1 skipped positions in
 * long gaps), whichever is smaller.
 */
export function maskIndexBits(mask: Uint8Array): { bits: number; format: 'bitmap' | 'relative'; gapBits?: number } {
  let best: { bits: number; format: 'bitmap' | 'relative'; gapBits?: number } = { bits: mask.length, format: 'bitmap' };
  const gaps: number[] = [];
  let gap = 0;
  for (let i = 0; i < mask.length; i++) {
    if (mask[i]) {
      gaps.push(gap);
      gap = 0;
    } else gap++;
  }
  for (let b = 2; b <= 16; b++) {
    const esc = 2 ** b - 1;
    let symbols = 0;
    for (const g of gaps) symbols += 1 + Math.floor(g / esc);
    const bits = symbols * b;
    if (bits < best.bits) best = { bits, format: 'relative', gapBits: b };
  }
  return best;
}

/** An element mask over an elementwise base; pruned entries decode to exactly 0 and are not stored. */
export const maskedKind = defineEncoding<MaskedEncoding>({
  kind: 'masked',
  provider: '@edge-compress/core',
  description: 'element mask (bitmap or relative index) over dense or quantized values; only kept values are stored',
  elementwise: false,
  children: (e) => ({ base: e.base }),
  withChildren: (e, c) => ({ ...e, base: c.base! }),
  childKept: (e) => ({ base: countNonZero(e.mask) }),
  childKeep: (e) => ({ base: e.mask }),
  toDense(e) {
    const v = toDense(e.base).slice();
    for (let i = 0; i < v.length; i++) if (!e.mask[i]) v[i] = 0;
    return v;
  },
  ownBits: (e) => maskIndexBits(e.mask).bits,
  ownValues: () => 0,
  summary: (e) => ({ view: maskIndexBits(e.mask).format }),
  write(e, w, _keep, child) {
    const idx = maskIndexBits(e.mask);
    const data = idx.format === 'bitmap' ? w.push(packMask(e.mask), 'packed', e.mask.length, 1) : w.packed(relativeIndexSymbols(e.mask, idx.gapBits!), idx.gapBits!);
    const index = idx.format === 'bitmap' ? { format: 'bitmap', data } : { format: 'relative', gapBits: idx.gapBits!, data };
    return { kind: 'masked', shape: e.shape, index, kept: countNonZero(e.mask), base: child('base', e.base, e.mask) };
  },
  read(d, r, path, _keep, child) {
    const n = sizeOf(d.shape);
    const idx = (d.index ?? {}) as { format?: string; gapBits?: number; data?: { count?: number } };
    if (idx.format !== 'bitmap' && idx.format !== 'relative') r.bad(`${path}.index.format`, `expected 'bitmap' or 'relative', got ${JSON.stringify(idx?.format)}`);
    let mask: Uint8Array = new Uint8Array(0);
    if (idx.format === 'bitmap') mask = unpackMask(r.bytes(idx.data, `${path}.index.data`, n, 'packed'), n);
    else {
      const gb = r.int(idx.gapBits, `${path}.index.gapBits`, 1, 16);
      const count = idx.data?.count ?? -1;
      const symbols = r.packed(idx.data, `${path}.index.data`, count, gb);
      try {
        mask = maskFromRelativeSymbols(symbols, gb, n);
      } catch (e) {
        r.bad(`${path}.index`, (e as Error).message);
      }
    }
    if (countNonZero(mask) !== d.kept) r.bad(`${path}.kept`, `the index keeps ${countNonZero(mask)} entries but the descriptor says ${String(d.kept)}`);
    const base = child('base', mask);
    if (!defOf(base).elementwise) r.bad(`${path}.base.kind`, `a mask applies over dense or quantized values, got '${base.kind}'`);
    return { kind: 'masked', shape: d.shape, mask, base };
  },
  validate(e, where) {
    if (e.mask.length !== sizeOf(e.shape))
      throw new CompressionError({ code: 'SHAPE_MISMATCH', path: where, message: `${where}: mask has ${e.mask.length} entries for shape [${e.shape.join(',')}]` });
    if (!defOf(e.base).elementwise)
      throw new CompressionError({ code: 'BAD_CONFIG', path: where, message: `${where}: a mask applies over dense or quantized values, not '${e.base.kind}'` });
  },
  train: {
    consts: (e) => ({ mask: tf.tensor(Float32Array.from(e.mask), e.shape, 'float32') }),
    assemble: (_e, c, _o, k) => tf.mul(c.base!, k.mask!),
    rebuild: (e, c) => ({ ...e, base: c.base! }),
    childMasks: (e) => ({ base: e.mask }),
  },
});
