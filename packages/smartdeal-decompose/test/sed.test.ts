import { describe, expect, it } from 'vitest';
import { projectAll, refineCoding, sedBlock, structuralRowMask, blockGeometry } from '../src/index.js';

const isPow2InRange = (v: number, lo: number, hi: number): boolean => {
  if (v === 0) return true;
  const e = Math.log2(Math.abs(v));
  return Number.isInteger(e) && e >= lo && e <= hi;
};
const frob = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, v) => s + v * v, 0));

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
}

describe('SED (offline decomposition)', () => {
  it('recovers an exact rank-1 block whose coefficients are powers of two (k = 1)', () => {
    const b = [0.3, -0.7, 0.2];
    const coef = [1, 0.5, -0.25, 2, 0.125];
    const a = Float32Array.from(coef.flatMap((c) => b.map((x) => c * x)));
    const r = sedBlock(a, 5, 3, undefined, { k: 1, range: { minExp: -6, maxExp: 0 }, tau: 0 });
    expect(r.error / frob(a)).toBeLessThan(1e-5);
    // the coefficients are the true ones up to one power-of-two scale absorbed by B
    const ratio = r.ce[0]! / coef[0]!;
    coef.forEach((c, i) => expect(r.ce[i]).toBeCloseTo(c * ratio, 7));
  });

  it('coefficients are signed powers of two inside the range; masked rows are zero; error beats the direct projection', () => {
    const rnd = lcg(5);
    const p = 12,
      q = 3;
    const a = Float32Array.from({ length: p * q }, () => rnd() * 0.2);
    const rowMask = Uint8Array.from({ length: p }, (_, i) => (i % 4 === 1 ? 0 : 1));
    const range = { minExp: -4, maxExp: 0 };
    const r = sedBlock(a, p, q, rowMask, { k: 3, range, tau: 0.02 });
    r.ce.forEach((v) => expect(isPow2InRange(v, range.minExp, range.maxExp)).toBe(true));
    for (let i = 0; i < p; i++) if (!rowMask[i]) for (let m = 0; m < 3; m++) expect(r.ce[i * 3 + m]).toBe(0);
    // Baseline written independently: B = s·I, Ce = project(A/s) with s = max|A| over kept rows.
    let s = 0;
    for (let i = 0; i < p; i++) if (rowMask[i]) for (let t = 0; t < q; t++) s = Math.max(s, Math.abs(a[i * q + t]!));
    const direct = projectAll(
      Float32Array.from(a, (v, i) => (rowMask[Math.floor(i / q)] ? v / s : 0)),
      range,
      0.02,
    );
    const directErr = frob(Float32Array.from(a, (v, i) => v - direct[i]! * s));
    expect(r.error).toBeLessThan(directErr);
    expect(r.error).toBeGreaterThan(0);
  });
});

describe('structural sparsity', () => {
  it('zeroes the lowest-scoring (c_in, kernel row) positions, shared by the filters of a group', () => {
    // 4 filters (groups of 2), one block each of p = 4 rows, q = 2 (dense-like geometry with cols = 8).
    const g = blockGeometry([8, 4], { kind: 'rowBlocks', p: 4, q: 2 });
    // score of row i in group 0: filters 0,1; make row 2 and row 0 weakest in group 0; rows 1 and 3 weakest in group 1.
    const blocks = new Float32Array(4 * 4 * 2);
    const set = (f: number, i: number, v: number) => blocks.fill(v, (f * 4 + i) * 2, (f * 4 + i) * 2 + 2);
    [
      [0.1, 1, 0.05, 2],
      [0.1, 3, 0.02, 1],
    ].forEach((rows, f) => rows.forEach((v, i) => set(f, i, v)));
    [
      [5, 0.1, 4, 0.2],
      [6, 0.3, 1, 0.1],
    ].forEach((rows, f) => rows.forEach((v, i) => set(f + 2, i, v)));
    const m = structuralRowMask(blocks, g, 2, 0.5);
    expect(Array.from(m)).toEqual([0, 1, 0, 1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 0]);
  });

  it('never counts all-padding positions and keeps everything at ratio 0', () => {
    const g = blockGeometry([5, 2], { kind: 'rowBlocks', p: 2, q: 2 }); // 5 cols → 2 chunks of 4, 3 padded entries
    const blocks = new Float32Array(g.blocks * 4).fill(1);
    const m0 = structuralRowMask(blocks, g, 1, 0);
    // positions per row: chunk0 rows 0,1 and chunk1 row 0 (cols 4); chunk1 row 1 (cols 6-7) is padding
    expect(Array.from(m0)).toEqual([1, 1, 1, 0, 1, 1, 1, 0]);
  });
});

describe("SED coding 'search' (coordinate descent over power-of-two levels)", () => {
  it('never raises the penalised row objective of the projected least-squares start, and stays on the levels', () => {
    const rnd = lcg(9);
    const p = 40,
      q = 3,
      k = 3;
    const range = { minExp: -2, maxExp: 0 };
    const a = Float32Array.from({ length: p * q }, () => rnd());
    const b = Float32Array.from({ length: k * q }, () => rnd());
    const start = projectAll(
      Float32Array.from({ length: p * k }, () => rnd() * 2),
      range,
    );
    const tau = 0.3;
    const lambda = (tau * tau * [0, 1, 2].reduce((s, m) => s + b[m * 3]! ** 2 + b[m * 3 + 1]! ** 2 + b[m * 3 + 2]! ** 2, 0)) / 3;
    const objective = (ce: Float32Array): number => {
      let f = 0;
      for (let i = 0; i < p; i++)
        for (let t = 0; t < q; t++) {
          let w = 0;
          for (let m = 0; m < k; m++) w += ce[i * k + m]! * b[m * q + t]!;
          f += (a[i * q + t]! - w) ** 2;
        }
      return f + lambda * Array.from(ce).filter((v) => v !== 0).length;
    };
    const ce = start.slice();
    refineCoding(a, ce, b, p, k, q, range, tau, () => true);
    expect(objective(ce)).toBeLessThan(objective(start));
    ce.forEach((v) => expect(isPow2InRange(v, -2, 0)).toBe(true));
  });

  it('sedBlock with coding search keeps the invariants and reaches a lower error than threshold at equal or higher sparsity', () => {
    const rnd = lcg(21);
    const p = 60,
      q = 3;
    const a = Float32Array.from({ length: p * q }, () => rnd() * 0.3);
    const range = { minExp: -2, maxExp: 0 };
    const th = sedBlock(a, p, q, undefined, { k: 3, range, tau: 0.1, iters: 10 });
    const se = sedBlock(a, p, q, undefined, { k: 3, range, tau: 0.1, iters: 10, coding: 'search' });
    se.ce.forEach((v) => expect(isPow2InRange(v, -2, 0)).toBe(true));
    const nz = (c: Float32Array) => Array.from(c).filter((v) => v !== 0).length;
    expect(se.error <= th.error || nz(se.ce) < nz(th.ce)).toBe(true);
  });
});
