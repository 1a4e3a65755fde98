import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { allocateSparsity, AUTO_SPARSITY_CANDIDATES, breakEvenRatio, hardwareAwareRatio, largestPassing, SENSITIVITY_GRID } from '../src/search.js';
import { storageAccount } from '../src/storage.js';

fc.configureGlobal({ seed: 20261202, numRuns: 80 });

describe("global_sparse_ratio 'auto': bisection over the candidates", () => {
  test.prop([fc.integer({ min: 0, max: 40 }).chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: -1, max: n - 1 })))])(
    'finds the last passing index of a monotone test in at most ⌈log2(n + 1)⌉ calls',
    async ([n, last]) => {
      const asked: number[] = [];
      const found = await largestPassing(n, async (i) => (asked.push(i), i <= last));
      expect(found).toBe(last);
      expect(asked.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n + 1)));
      expect(new Set(asked).size).toBe(asked.length);
    },
  );
  it('candidates ascend within (0, 1) and stay inside the sensitivity grid', () => {
    for (let i = 1; i < AUTO_SPARSITY_CANDIDATES.length; i++) expect(AUTO_SPARSITY_CANDIDATES[i]!).toBeGreaterThan(AUTO_SPARSITY_CANDIDATES[i - 1]!);
    expect(AUTO_SPARSITY_CANDIDATES[0]!).toBeGreaterThan(0);
    expect(AUTO_SPARSITY_CANDIDATES[AUTO_SPARSITY_CANDIDATES.length - 1]!).toBeLessThanOrEqual(SENSITIVITY_GRID[SENSITIVITY_GRID.length - 1]!);
  });
});

describe('global sparsity allocation', () => {
  test.prop([
    fc.array(fc.record({ size: fc.integer({ min: 1, max: 5000 }), slope: fc.double({ min: 0, max: 5, noNaN: true }) }), { minLength: 1, maxLength: 6 }),
    fc.double({ min: 0, max: 0.99, noNaN: true }),
  ])('hits the target exactly and keeps each ratio within the grid', (ls, target) => {
    const layers = ls.map((l) => ({ size: l.size, cost: SENSITIVITY_GRID.map((s) => l.slope * s * s) }));
    const r = allocateSparsity(layers, SENSITIVITY_GRID, target);
    const total = ls.reduce((a, l) => a + l.size, 0);
    const pruned = r.reduce((a, s, i) => a + s * ls[i]!.size, 0);
    expect(pruned / total).toBeCloseTo(target, 9);
    for (const s of r) {
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(SENSITIVITY_GRID[SENSITIVITY_GRID.length - 1]! + 1e-12);
    }
  });
  it('prunes the insensitive layer first', () => {
    const grid = [0, 0.5, 0.9];
    const r = allocateSparsity(
      [
        { size: 100, cost: [0, 5, 9] },
        { size: 100, cost: [0, 0.01, 0.02] },
      ],
      grid,
      0.45,
    );
    expect(r[1]).toBeCloseTo(0.9, 12);
    expect(r[0]).toBe(0);
  });
  it('rejects a target beyond the grid', () => {
    expect(() => allocateSparsity([{ size: 10, cost: [0, 1] }], [0, 0.5], 0.8)).toThrow(/exceeds/);
  });
});

describe('hardware-aware break-even rule', () => {
  it('finds the least ratio whose sparse latency is at most the dense latency', () => {
    // sparse latency: overhead 3 ms + dense 10 ms / ratio·2 (index decoding doubles the per-value cost)
    const r = breakEvenRatio((ratio) => 3 + 20 / ratio, 10, [1.25, 1.5, 2, 2.5, 3, 4]);
    expect(r).toBe(3); // 3 + 20/2.5 = 11 > 10; 3 + 20/3 = 9.67
    expect(breakEvenRatio(() => 11, 10)).toBe(Infinity);
  });
  it('keeps conv layers dense below margin·r*, and never touches fc layers', () => {
    expect(hardwareAwareRatio(0.5, 3, true, 1.2)).toBe(0); // 2× < 3.6×
    expect(hardwareAwareRatio(0.8, 3, true, 1.2)).toBe(0.8); // 5× ≥ 3.6×
    expect(hardwareAwareRatio(0.5, 3, false, 1.2)).toBe(0.5);
    expect(hardwareAwareRatio(0.9, Infinity, true)).toBe(0);
  });
});

describe('storage accounting', () => {
  it('counts data bits per non-zero, the cheaper index and one fp32 interval per quantized layer', () => {
    // 10 weights, 2 kept at positions 2 and 7: gaps 2 and 4. Bitmap = 10 bits; 2-bit gaps (escape at 3):
    // 2 → 1 symbol, 4 → 1 escape + 1 symbol = 3 symbols = 6 bits.
    const mask = Uint8Array.from([0, 0, 1, 0, 0, 0, 0, 1, 0, 0]);
    const a = storageAccount([{ layer: 'fc', elements: 10, mask, bits: 3, quantized: true, biasElements: 4 }]);
    expect(a.nonZeros).toBe(2);
    expect(a.dataBits).toBe(6);
    expect(a.indexBits).toBe(6);
    expect(a.scaleBits).toBe(32);
    expect(a.biasBits).toBe(128);
    expect(a.pruningRatio).toBe(5);
    expect(a.dataOnlyRatio).toBeCloseTo(320 / 6, 12);
    expect(a.withIndicesRatio).toBeCloseTo(320 / 44, 12);
  });
  it('an unpruned fp32 layer costs 32 bits per weight and no index', () => {
    const a = storageAccount([{ layer: 'fc', elements: 4, mask: new Uint8Array(4).fill(1), bits: 32, quantized: false }]);
    expect(a.indexBits).toBe(0);
    expect(a.dataOnlyRatio).toBe(1);
  });
});
