import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { packBits, unpackBits, relativeIndexSymbols, maskFromRelativeSymbols } from '../tensor/bitpack.js';
import { chooseQuantParams, dequantize, quantizeWith, type QuantScheme } from '../tensor/quant.js';
import { topkMask, globalTopkMasks, countNonZero } from '../tensor/prune.js';
import { fromGemm, toGemm } from '../tensor/gemm.js';
import {
  blockSparseFromMask,
  decodePayload,
  denseEncoding,
  nmFromMask,
  nmPositions,
  encodePayload,
  maskedEncoding,
  maskIndexBits,
  nonZeros,
  storageBits,
  toDense,
} from './index.js';
import type { Encoding, QuantizedEncoding } from './types.js';

const FC = { seed: 20261126, numRuns: 60 };
const floats = (n: number) => fc.array(fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a));
const shapeArb = fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 7 }));

function quantized(values: Float32Array, shape: number[], scheme: QuantScheme, bits: number, axis: number | null, mask?: Uint8Array): QuantizedEncoding {
  const p = chooseQuantParams(values, shape, { scheme, bits, axis, mask });
  return { kind: 'quantized', shape, ...p, codes: quantizeWith(values, shape, p) };
}

describe('bit packing', () => {
  it('round-trips any widths', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 16 }), fc.array(fc.nat(), { maxLength: 200 }), (bits, raw) => {
        const vals = raw.map((v) => v % 2 ** bits);
        expect(Array.from(unpackBits(packBits(vals, bits), bits, vals.length))).toEqual(vals);
      }),
      FC,
    );
  });
  it('relative mask index round-trips and its size is what maskIndexBits counts', () => {
    fc.assert(
      fc.property(fc.array(fc.boolean(), { minLength: 1, maxLength: 400 }), fc.integer({ min: 2, max: 8 }), (bs, gb) => {
        const mask = Uint8Array.from(bs, (b) => (b ? 1 : 0));
        const sym = relativeIndexSymbols(mask, gb);
        expect(Array.from(maskFromRelativeSymbols(sym, gb, mask.length))).toEqual(Array.from(mask));
        const best = maskIndexBits(mask);
        expect(best.bits).toBeLessThanOrEqual(mask.length);
        if (best.format === 'relative') expect(relativeIndexSymbols(mask, best.gapBits!).length * best.gapBits!).toBe(best.bits);
      }),
      FC,
    );
  });
});

describe('quantization invariants', () => {
  it('|dequant(quant(w)) − w| ≤ scale/2 inside the range (affine and symmetric, per tensor and per channel)', () => {
    fc.assert(
      fc.property(shapeArb, fc.constantFrom<QuantScheme>('affine', 'symmetric'), fc.integer({ min: 2, max: 12 }), fc.boolean(), fc.integer(), (sh, scheme, bits, perCh, seed) => {
        const shape = [sh[0], sh[1]];
        const n = shape[0]! * shape[1]!;
        const values = Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 12.9898) * 3);
        const e = quantized(values, shape, scheme, bits, perCh ? -1 : null);
        const back = toDense(e);
        for (let i = 0; i < n; i++) {
          const s = e.scales[perCh ? i % shape[1]! : 0]!;
          expect(Math.abs(back[i]! - values[i]!)).toBeLessThanOrEqual(s / 2 + 1e-6);
        }
      }),
      FC,
    );
  });
  it('zeros survive the nudge exactly (pruned weights stay zero)', () => {
    fc.assert(
      fc.property(floats(40), fc.integer({ min: 2, max: 16 }), (values, bits) => {
        const v = values.map((x, i) => (i % 3 === 0 ? 0 : x));
        for (const scheme of ['affine', 'symmetric'] as const) {
          const back = toDense(quantized(v, [40], scheme, bits, null));
          for (let i = 0; i < v.length; i += 3) expect(back[i]).toBe(0);
        }
      }),
      FC,
    );
  });
  it('pow2 levels are signed powers of two times the scale', () => {
    fc.assert(
      fc.property(floats(30), fc.integer({ min: 2, max: 6 }), (values, bits) => {
        const e = quantized(values, [30], 'pow2', bits, null);
        const s = e.scales[0]!;
        for (const v of toDense(e)) {
          if (v === 0) continue;
          const l = Math.log2(Math.abs(v) / s);
          expect(Math.abs(l - Math.round(l))).toBeLessThan(1e-6);
          expect(Math.round(l)).toBeLessThanOrEqual(0);
          expect(Math.round(l)).toBeGreaterThan(-(2 ** (bits - 1)));
        }
      }),
      FC,
    );
  });
});

describe('pruning helpers', () => {
  it('topkMask keeps exactly k entries, the largest in magnitude', () => {
    fc.assert(
      fc.property(floats(50), fc.integer({ min: 0, max: 50 }), (v, k) => {
        const m = topkMask(v, k);
        expect(countNonZero(m)).toBe(k);
        let minKept = Infinity,
          maxDropped = -Infinity;
        v.forEach((x, i) => (m[i] ? (minKept = Math.min(minKept, Math.abs(x))) : (maxDropped = Math.max(maxDropped, Math.abs(x)))));
        if (k > 0 && k < 50) expect(minKept).toBeGreaterThanOrEqual(maxDropped);
      }),
      FC,
    );
  });
  it('global masks prune exactly ⌊r·n⌋ weights', () => {
    fc.assert(
      fc.property(floats(30), floats(20), fc.double({ min: 0, max: 1, noNaN: true }), (a, b, r) => {
        const ms = globalTopkMasks([a, b], r);
        expect(50 - countNonZero(ms[0]!) - countNonZero(ms[1]!)).toBe(Math.floor(r * 50));
      }),
      FC,
    );
  });
  it('GEMM view round-trips', () => {
    fc.assert(
      fc.property(floats(60), (v) => {
        expect(Array.from(fromGemm(toGemm(v, [3, 4, 5]), [3, 4, 5]))).toEqual(Array.from(v));
      }),
      FC,
    );
  });
});

describe('encodings: storage and exact serialisation', () => {
  const encArb: fc.Arbitrary<Encoding> = fc
    .tuple(shapeArb, fc.integer({ min: 0, max: 9 }), fc.integer({ min: 2, max: 9 }), fc.integer({ min: 0, max: 10 ** 6 }), fc.double({ min: 0, max: 0.99, noNaN: true }))
    .map(([sh, kind, bits, seed, sparsity]) => {
      const shape = [sh[0], sh[1]];
      const n = shape[0]! * shape[1]!;
      const values = Float32Array.from({ length: n }, (_, i) => Math.sin(seed + i * 78.233) * 2);
      const mask = topkMask(values, n - Math.floor(sparsity * n));
      const q = (m?: Uint8Array) => quantized(values, shape, (['affine', 'symmetric', 'pow2'] as const)[seed % 3]!, bits, seed % 2 ? -1 : null, m);
      switch (kind) {
        case 0:
          return denseEncoding(shape, values);
        case 1:
          return maskedEncoding(denseEncoding(shape, values), mask);
        case 2:
          return q();
        case 3:
          return maskedEncoding(q(mask), mask);
        case 4: {
          const r = 1 + (seed % Math.min(shape[0]!, shape[1]!));
          const u = denseEncoding(
            [shape[1]!, r],
            Float32Array.from({ length: shape[1]! * r }, (_, i) => Math.cos(i + seed)),
          );
          const vv = denseEncoding(
            [n / shape[1]!, r],
            Float32Array.from({ length: (n / shape[1]!) * r }, (_, i) => Math.sin(i * 3 + seed)),
          );
          return { kind: 'lowRank', shape, rank: r, u, s: Float32Array.from({ length: r }, (_, i) => r - i), v: vv };
        }
        case 5: {
          const k = 2;
          const rows = shape[1]!,
            cols = shape[0]!;
          const basis = denseEncoding(
            [1, k, cols],
            Float32Array.from({ length: cols * k }, (_, i) => Math.cos(i + seed)),
          );
          const cv = Float32Array.from({ length: k * rows }, (_, i) => Math.sin(i * 5 + seed));
          const cm = topkMask(cv, Math.ceil(cv.length / 2));
          return { kind: 'factorized', shape, layout: { kind: 'gemm' }, basis, coeffs: maskedEncoding(quantized(cv, [1, rows, k], 'pow2', 4, null, cm), cm) };
        }
        case 6: {
          // SmartDeal-like row blocks with a column permutation.
          const rows = shape[1]!,
            cols = shape[0]!;
          const p = 1 + (seed % 2),
            q = 1 + (seed % 3),
            k = q;
          const chunks = Math.ceil(cols / (p * q));
          const G = rows * chunks;
          const perm = Array.from({ length: cols }, (_, i) => (i * 7 + seed) % cols);
          const isPerm = new Set(perm).size === cols;
          const cv = Float32Array.from({ length: G * p * k }, (_, i) => Math.sin(i * 3 + seed));
          const cm = topkMask(cv, Math.ceil(cv.length * 0.6));
          return {
            kind: 'factorized',
            shape,
            layout: { kind: 'rowBlocks', p, q, ...(isPerm ? { perm } : {}) },
            coeffs: maskedEncoding(quantized(cv, [G, p, k], 'pow2', 5, null, cm), cm),
            basis: denseEncoding(
              [G, k, q],
              Float32Array.from({ length: G * k * q }, (_, i) => Math.cos(i + seed)),
            ),
          };
        }
        case 7: {
          const rows = shape[1]!,
            cols = shape[0]!;
          const block: [number, number] = [1 + (seed % rows), 1 + (seed % cols)];
          const m2 = new Uint8Array(n);
          // whole kept rows × kept columns per block (BCR): keep rows/cols by a hash
          for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if ((r * 31 + seed) % 3 !== 0 && (c * 17 + seed) % 2 === 0) m2[c * rows + r] = 1;
          const bs = blockSparseFromMask(shape, m2, values, block);
          return seed % 2 ? { ...bs, values: quantized(toDense(bs.values), bs.values.shape, 'symmetric', bits, null) } : bs;
        }
        case 8: {
          const m = 2 + (seed % 3),
            nn = 1 + (seed % (m - 1));
          const enc = nmFromMask(shape, new Uint8Array(n), values, nn, m);
          const rebuilt = nmFromMask(
            shape,
            Uint8Array.from(toDense(enc), (x, i) => (nmPositions(enc).includes(i) ? 1 : 0)),
            values,
            nn,
            m,
          );
          return rebuilt;
        }
        default: {
          // ADMM-style: nonzero levels under a mask.
          const p = chooseQuantParams(values, shape, { scheme: 'nonzero', bits: Math.min(bits, 4), axis: null, mask });
          return maskedEncoding({ kind: 'quantized', shape, ...p, codes: quantizeWith(values, shape, p) }, mask);
        }
      }
    });
  it('decode(encode(e)) is exact and the payload size matches storageBits (rounded up per array)', () => {
    fc.assert(
      fc.property(encArb, (e) => {
        const { descriptors, data } = encodePayload([['w', e]]);
        const back = decodePayload(JSON.parse(JSON.stringify(descriptors)) as Record<string, unknown>, data, 'test')['w']!;
        expect(Array.from(toDense(back))).toEqual(Array.from(toDense(e)));
        expect(nonZeros(back)).toBe(nonZeros(e));
        const bits = storageBits(e);
        expect(data.byteLength).toBeGreaterThanOrEqual(Math.floor(bits / 8));
        expect(data.byteLength * 8 - bits).toBeLessThan(8 * 8);
      }),
      FC,
    );
  });
  it('masked storage counts only kept values plus the index', () => {
    const v = Float32Array.from({ length: 1000 }, (_, i) => (i % 10 === 0 ? 1 + i : 0));
    const m = Uint8Array.from(v, (x) => (x ? 1 : 0));
    const e = maskedEncoding(denseEncoding([1000], v), m);
    expect(storageBits(e)).toBe(100 * 32 + maskIndexBits(m).bits);
    expect(maskIndexBits(m).bits).toBeLessThan(1000);
  });
  it('dequantize(quantize) equals toDense of the encoding', () => {
    const values = Float32Array.from({ length: 24 }, (_, i) => i / 7 - 1.5);
    const e = quantized(values, [4, 6], 'affine', 8, -1);
    expect(Array.from(dequantize(e.codes, e.shape, e))).toEqual(Array.from(toDense(e)));
  });
});
