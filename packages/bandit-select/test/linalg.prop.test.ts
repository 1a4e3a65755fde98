import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import {
  addOuter,
  cholesky,
  cholUpdate,
  identity,
  invertSpd,
  maxAbsDiff,
  quadSym,
  quadSymMany,
  shermanMorrison,
  shermanMorrisonUpper,
  solveLower,
  solveLowerTransposed,
  symmetrizeFromUpper,
} from '../src/linalg.js';
import { directInverse } from './helpers.js';

const vecs = (d: number, n: number) => fc.array(fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: d, maxLength: d }), { minLength: 1, maxLength: n });

describe('Sherman–Morrison', () => {
  test.prop([fc.integer({ min: 1, max: 12 }).chain((d) => fc.tuple(fc.constant(d), vecs(d, 30)))], { seed: 42, numRuns: 60 })(
    'incremental (λI + Σxxᵀ)⁻¹ matches a direct inverse',
    ([d, xs]) => {
      const A = identity(d, 1);
      const Ainv = identity(d, 1);
      const u = new Float64Array(d);
      for (const x of xs) {
        const v = Float64Array.from(x);
        shermanMorrison(Ainv, v, d, u);
        addOuter(A, v, d);
      }
      const ref = directInverse(A, d);
      expect(maxAbsDiff(Ainv, ref)).toBeLessThan(1e-9);
    },
  );

  test.prop([fc.integer({ min: 1, max: 12 }).chain((d) => fc.tuple(fc.constant(d), vecs(d, 30)))], { seed: 43, numRuns: 60 })(
    'fused upper-triangular update keeps A and A⁻¹ consistent with a direct inverse',
    ([d, xs]) => {
      const A = identity(d, 1);
      const Ainv = identity(d, 1);
      const Aref = identity(d, 1);
      const u = new Float64Array(d);
      for (const x of xs) {
        const v = Float64Array.from(x);
        shermanMorrisonUpper(Ainv, A, v, d, u);
        addOuter(Aref, v, d);
      }
      symmetrizeFromUpper(A, d);
      symmetrizeFromUpper(Ainv, d);
      expect(maxAbsDiff(A, Aref)).toBeLessThan(1e-12);
      expect(maxAbsDiff(Ainv, directInverse(Aref, d))).toBeLessThan(1e-9);
    },
  );

  test.prop([fc.integer({ min: 1, max: 10 }).chain((d) => fc.tuple(fc.constant(d), vecs(d, 20)))], { seed: 7, numRuns: 40 })(
    'rank-1 Cholesky update and exact inverse agree with the direct inverse',
    ([d, xs]) => {
      const A = identity(d, 1);
      const L = identity(d, 1);
      const w = new Float64Array(d);
      for (const x of xs) {
        const v = Float64Array.from(x);
        cholUpdate(L, v, d, w);
        addOuter(A, v, d);
      }
      const L2 = new Float64Array(d * d);
      expect(cholesky(A, d, L2)).toBe(true);
      expect(maxAbsDiff(L, L2)).toBeLessThan(1e-9);
      const inv = new Float64Array(d * d);
      invertSpd(A, d, inv, new Float64Array(d * d));
      expect(maxAbsDiff(inv, directInverse(A, d))).toBeLessThan(1e-9);
      // A⁻¹ e0 by two triangular solves.
      const e0 = new Float64Array(d);
      e0[0] = 1;
      const y = new Float64Array(d);
      solveLower(L, d, e0, y);
      solveLowerTransposed(L, d, y);
      for (let i = 0; i < d; i++) expect(y[i]).toBeCloseTo(inv[i * d]!, 9);
    },
  );

  test.prop([fc.integer({ min: 1, max: 13 }).chain((d) => fc.tuple(fc.constant(d), vecs(d, 5)))], { seed: 3, numRuns: 40 })('quadSym equals xᵀMx', ([d, xs]) => {
    const M = identity(d, 2);
    for (const x of xs) addOuter(M, Float64Array.from(x), d);
    const x = Float64Array.from(xs[0]!);
    let ref = 0;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) ref += x[i]! * M[i * d + j]! * x[j]!;
    expect(quadSym(M, x, d)).toBeCloseTo(ref, 8);
  });

  // k vectors at once (odd and even k, rows with zeros): bit-identical to quadSym per row, and equal to xᵀMx.
  test.prop(
    [
      fc
        .integer({ min: 1, max: 13 })
        .chain((d) =>
          fc.tuple(fc.constant(d), vecs(d, 6), fc.array(fc.oneof(fc.constant(0), fc.double({ min: -3, max: 3, noNaN: true })), { minLength: d * 7, maxLength: d * 7 })),
        ),
    ],
    { seed: 4, numRuns: 60 },
  )('quadSymMany equals quadSym and xᵀMx for every row', ([d, ms, xsFlat]) => {
    const M = identity(d, 0.5);
    for (const v of ms) addOuter(M, Float64Array.from(v), d);
    const x = Float64Array.from(xsFlat);
    for (const k of [1, 2, 5, 7]) {
      const out = new Float64Array(k);
      quadSymMany(M, x, d, k, out);
      for (let q = 0; q < k; q++) {
        expect(Object.is(out[q], quadSym(M, x, d, q * d))).toBe(true);
        let ref = 0;
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) ref += x[q * d + i]! * M[i * d + j]! * x[q * d + j]!;
        expect(out[q]).toBeCloseTo(ref, 7);
      }
    }
  });
});
