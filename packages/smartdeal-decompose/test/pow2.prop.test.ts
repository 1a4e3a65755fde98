import { dequantize } from '@edge-compress/core';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { codeBits, encodeSmartDeal, projectAll, projectPow2, projectTensor, pow2Codes, shiftMul, signedShiftMul, smartDealLayout } from '../src/index.js';

const SEED = 1101;
const range = fc.record({ minExp: fc.integer({ min: -12, max: 3 }), width: fc.integer({ min: 0, max: 12 }) }).map(({ minExp, width }) => ({ minExp, maxExp: minExp + width }));
const value = fc.float({ min: Math.fround(-64), max: Math.fround(64), noNaN: true, noDefaultInfinity: true });

/** Every level of the range plus zero, the candidates a projection may return. */
const levels = (r: { minExp: number; maxExp: number }): number[] => {
  const out = [0];
  for (let e = r.minExp; e <= r.maxExp; e++) out.push(2 ** e, -(2 ** e));
  return out;
};

describe('power-of-two projection (fast-check, fixed seed)', () => {
  it('returns 0 or ±2^e with e inside the exponent range, and the nearest such value', () => {
    fc.assert(
      fc.property(value, range, (c, r) => {
        const v = projectPow2(c, r);
        const cands = levels(r);
        expect(cands).toContain(v);
        const best = Math.min(...cands.map((l) => Math.abs(c - l)));
        expect(Math.abs(c - v)).toBeLessThanOrEqual(best + 1e-12);
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it('zeroes values below τ and keeps the sign of the others', () => {
    fc.assert(
      fc.property(value, range, fc.double({ min: 0, max: 1, noNaN: true }), (c, r, tau) => {
        const v = projectPow2(c, r, tau);
        if (Math.abs(c) < tau) expect(v).toBe(0);
        if (v !== 0) expect(Math.sign(v)).toBe(Math.sign(c));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('the tfjs projection used in training agrees with the JS projection', () => {
    const r = { minExp: -6, maxExp: 0 };
    const vals = Float32Array.from({ length: 2000 }, (_, i) => Math.fround(Math.sin(i * 12.9898) * 1.7));
    vals.set([1, 0.5, 0.75, -0.375, 2 ** -6, 2 ** -7, -(2 ** -7) * 0.99, 0, 1.5, 3, -3], 0);
    const t = tf.tensor1d(vals);
    const got = projectTensor(t, r);
    expect(Array.from(got.dataSync(), (v) => v + 0)).toEqual(Array.from(projectAll(vals, r), (v) => v + 0)); // -0 and 0 are the same weight
    tf.dispose([t, got]);
  });

  it("pow2 codes decode with core's 'pow2' dequantizer to exactly the projected values", () => {
    fc.assert(
      fc.property(fc.array(value, { minLength: 1, maxLength: 40 }), range, (cs, r) => {
        const v = projectAll(Float32Array.from(cs), r);
        const codes = pow2Codes(v, r);
        const back = dequantize(codes, [v.length], { scheme: 'pow2', bits: codeBits(r), axis: null, scales: Float32Array.of(2 ** r.maxExp), zeroPoints: new Int32Array(1) });
        expect(Array.from(back)).toEqual(Array.from(v));
        for (const c of codes) expect(Math.abs(c)).toBeLessThanOrEqual(2 ** (codeBits(r) - 1) - 1);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('a stored SmartDeal coefficient leaf holds only signed powers of two inside the range', () => {
    const r = { minExp: -3, maxExp: 1 };
    const shape = [3, 3, 2, 2];
    const layout = smartDealLayout(shape); // p = 6, q = 3, one block per filter
    const ce = projectAll(
      Float32Array.from({ length: 2 * 6 * 3 }, (_, i) => Math.cos(i) * 2.2),
      r,
    );
    const enc = encodeSmartDeal(shape, layout, 3, ce, new Float32Array(2 * 9).fill(0.1), r);
    const vals = dequantize((enc.coeffs.base as { codes: Int32Array }).codes, enc.coeffs.shape, enc.coeffs.base as never);
    vals.forEach((v, i) => {
      if (!enc.coeffs.mask[i]) return expect(v).toBe(0);
      const e = Math.log2(Math.abs(v));
      expect(Number.isInteger(e) && e >= r.minExp && e <= r.maxExp).toBe(true);
    });
  });
});

describe('multiplication-free scaling by 2^e (exponent arithmetic)', () => {
  it('shiftMul(x, e) equals the float32 product x·2^e, normal and subnormal', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true }), fc.integer({ min: -60, max: 60 }), (x, e) => {
        expect(Object.is(shiftMul(x, e), Math.fround(x * 2 ** e))).toBe(true);
      }),
      { seed: SEED, numRuns: 2000 },
    );
  });

  it('signedShiftMul applies the code: +q → 2^(max−q+1), −q → −2^(max−q+1)', () => {
    expect(signedShiftMul(3, 1, 0)).toBe(3);
    expect(signedShiftMul(3, -2, 0)).toBe(-1.5);
    expect(signedShiftMul(-0.75, 3, 2)).toBe(-0.75);
    expect(signedShiftMul(1.25, -7, 0)).toBe(-1.25 / 64);
  });
});
