import { fc, test } from '@fast-check/vitest';
import { describe, expect } from 'vitest';
import { createRng } from '@edge-compress/core';
import { bcrLayoutFromMask, bcrLayoutToGemm, bcrMask, blockExtent, blockGrid, chooseRates, nmMask, wholeBlockMask } from './sparsity.js';

const matrix = (rows: number, cols: number, seed: number): Float32Array => {
  const rng = createRng(seed);
  return Float32Array.from({ length: rows * cols }, () => rng.normal());
};

const dims = fc.record({
  rows: fc.integer({ min: 1, max: 30 }),
  cols: fc.integer({ min: 1, max: 40 }),
  br: fc.integer({ min: 1, max: 12 }),
  bc: fc.integer({ min: 1, max: 16 }),
  rowRate: fc.double({ min: 0, max: 0.95, noNaN: true }),
  colRate: fc.double({ min: 0, max: 0.95, noNaN: true }),
  order: fc.constantFrom('colsFirst' as const, 'rowsFirst' as const, 'best' as const),
  seed: fc.integer({ min: 0, max: 1e6 }),
});

describe('BCR masks', () => {
  test.prop([dims], { seed: 11, numRuns: 150 })('every block keeps whole rows × whole columns, exactly the asked counts', (p) => {
    const w = matrix(p.rows, p.cols, p.seed);
    const m = bcrMask(w, p.rows, p.cols, [p.br, p.bc], p);
    const g = blockGrid(p.rows, p.cols, [p.br, p.bc]);
    for (let i = 0; i < g.nbr; i++) {
      for (let j = 0; j < g.nbc; j++) {
        const e = blockExtent(g, i, j);
        const keptR = new Set<number>(),
          keptC = new Set<number>();
        let kept = 0;
        for (let r = 0; r < e.h; r++)
          for (let c = 0; c < e.w; c++)
            if (m[(e.r0 + r) * p.cols + e.c0 + c]) {
              keptR.add(r);
              keptC.add(c);
              kept++;
            }
        // expected counts computed here from the definition, not by keptCounts
        const kr = e.h - Math.round(p.rowRate * e.h),
          kc = e.w - Math.round(p.colRate * e.w);
        const wantR = kc === 0 ? 0 : kr,
          wantC = kr === 0 ? 0 : kc;
        expect(keptR.size).toBe(wantR);
        expect(keptC.size).toBe(wantC);
        expect(kept).toBe(keptR.size * keptC.size); // a full rectangle: whole rows and whole columns
      }
    }
  });

  test.prop([dims], { seed: 12, numRuns: 60 })("'colsFirst' keeps the columns of largest norm in each block", (p) => {
    const w = matrix(p.rows, p.cols, p.seed);
    const m = bcrMask(w, p.rows, p.cols, [p.br, p.bc], { ...p, order: 'colsFirst' });
    const g = blockGrid(p.rows, p.cols, [p.br, p.bc]);
    const e = blockExtent(g, 0, 0);
    const norms = Array.from({ length: e.w }, (_, c) => {
      let s = 0;
      for (let r = 0; r < e.h; r++) s += w[r * p.cols + c]! ** 2;
      return s;
    });
    const kept = Array.from({ length: e.w }, (_, c) => {
      for (let r = 0; r < e.h; r++) if (m[r * p.cols + c]) return true;
      return false;
    });
    const minKept = Math.min(...norms.filter((_, c) => kept[c]));
    const maxDropped = Math.max(-Infinity, ...norms.filter((_, c) => !kept[c]));
    if (kept.some(Boolean)) expect(minKept).toBeGreaterThanOrEqual(maxDropped);
  });

  test.prop([dims], { seed: 13, numRuns: 100 })('layout round-trip: BCR layout → GEMM equals the masked matrix', (p) => {
    const w = matrix(p.rows, p.cols, p.seed);
    const m = bcrMask(w, p.rows, p.cols, [p.br, p.bc], p);
    const l = bcrLayoutFromMask([p.cols, p.rows], w, p.rows, p.cols, m, [p.br, p.bc]);
    const back = bcrLayoutToGemm(l, p.rows, p.cols);
    for (let i = 0; i < w.length; i++) expect(back[i]).toBe(m[i] ? w[i] : 0);
    // no explicit zeros stored for a BCR mask
    expect(l.values.length).toBe(m.reduce((a, b) => a + b, 0));
    const nb = Math.ceil(p.rows / p.br) * Math.ceil(p.cols / p.bc);
    expect(l.keptRows.length).toBe(nb);
    expect(l.rowIdx.length).toBe(l.keptRows.reduce((a, b) => a + b, 0));
  });

  test.prop([dims], { seed: 14, numRuns: 80 })('whole-block pruning removes round(rate·#blocks) whole blocks', (p) => {
    const w = matrix(p.rows, p.cols, p.seed);
    const m = wholeBlockMask(w, p.rows, p.cols, [p.br, p.bc], p.colRate);
    const g = blockGrid(p.rows, p.cols, [p.br, p.bc]);
    let keptBlocks = 0;
    for (let i = 0; i < g.nbr; i++)
      for (let j = 0; j < g.nbc; j++) {
        const e = blockExtent(g, i, j);
        let s = 0;
        for (let r = 0; r < e.h; r++) for (let c = 0; c < e.w; c++) s += m[(e.r0 + r) * p.cols + e.c0 + c]!;
        expect(s === 0 || s === e.h * e.w).toBe(true);
        if (s) keptBlocks++;
      }
    expect(keptBlocks).toBe(g.nbr * g.nbc - Math.round(p.colRate * g.nbr * g.nbc));
  });

  test.prop(
    [
      fc.record({
        rows: fc.integer({ min: 1, max: 9 }),
        cols: fc.integer({ min: 1, max: 50 }),
        m: fc.integer({ min: 2, max: 8 }),
        n: fc.integer({ min: 1, max: 7 }),
        seed: fc.nat(),
      }),
    ],
    { seed: 15, numRuns: 100 },
  )('N:M keeps the n largest |w| of every group of m', (p) => {
    fc.pre(p.n < p.m);
    const w = matrix(p.rows, p.cols, p.seed);
    const mask = nmMask(w, p.rows, p.cols, p.n, p.m);
    for (let r = 0; r < p.rows; r++)
      for (let c0 = 0; c0 < p.cols; c0 += p.m) {
        const idx = Array.from({ length: Math.min(p.m, p.cols - c0) }, (_, j) => c0 + j);
        const kept = idx.filter((c) => mask[r * p.cols + c]);
        expect(kept.length).toBe(Math.min(p.n, idx.length));
        const minKept = Math.min(...kept.map((c) => Math.abs(w[r * p.cols + c]!)));
        for (const c of idx) if (!mask[r * p.cols + c]) expect(Math.abs(w[r * p.cols + c]!)).toBeLessThanOrEqual(minKept);
      }
  });

  test.prop([fc.record({ rows: fc.integer({ min: 8, max: 60 }), cols: fc.integer({ min: 8, max: 80 }), s: fc.double({ min: 0.3, max: 0.95, noNaN: true }), seed: fc.nat() })], {
    seed: 16,
    numRuns: 30,
  })('chooseRates hits the asked kept fraction of a full block within 1/(block size) or 3%', (p) => {
    const w = matrix(p.rows, p.cols, p.seed);
    const block: [number, number] = [Math.min(8, p.rows), Math.min(16, p.cols)];
    const r = chooseRates(w, p.rows, p.cols, block, p.s);
    const h = block[0],
      wd = block[1];
    const kr = h - Math.round(r.rowRate * h),
      kc = wd - Math.round(r.colRate * wd);
    const tol = Math.max(0.03 * (1 - p.s), 1 / Math.min(h, wd)) + 1 / (h * wd);
    expect(Math.abs((kr * kc) / (h * wd) - (1 - p.s))).toBeLessThanOrEqual(tol + 0.5 * Math.max(1 / h, 1 / wd));
  });
});
