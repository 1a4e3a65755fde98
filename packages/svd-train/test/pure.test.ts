import { fc, test as ftest } from '@fast-check/vitest';
import { lenet300100, lenet5 } from '@edge-compress/core';
import { describe, expect, it } from 'vitest';
import {
  breakEvenRank,
  decompose,
  denseCost,
  energyKept,
  energyRank,
  fromView,
  gramError,
  greedyRanks,
  layerGeometry,
  lowRankCost,
  orthogonalityError,
  reconstruct,
  selectColumns,
  thresholdForBudget,
  toView,
  viewDims,
} from '../src/index.js';

fc.configureGlobal({ seed: 42, numRuns: 40 });

const convShape = fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }));
const filled = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.13 + i * 1.7) * 2);

describe('views', () => {
  it('spatial view of a [2,1,2,1] kernel is M[c·kh+i] = W[i,0,c,0] (hand-computed)', () => {
    // tfjs flat index of W[i,0,c,0] is 2i + c: M = [W[0,0,0,0], W[1,0,0,0], W[0,0,1,0], W[1,0,1,0]] = [w0, w2, w1, w3]
    expect(Array.from(toView(Float32Array.of(10, 11, 12, 13), [2, 1, 2, 1], 'spatial'))).toEqual([10, 12, 11, 13]);
    expect(viewDims([2, 1, 2, 1], 'spatial')).toEqual({ rows: 4, cols: 1 });
  });
  it('gemm view of a dense [in=2,out=3] kernel is its transpose', () => {
    expect(Array.from(toView(Float32Array.of(1, 2, 3, 4, 5, 6), [2, 3], 'gemm'))).toEqual([1, 4, 2, 5, 3, 6]);
  });
  ftest.prop([convShape, fc.constantFrom('gemm' as const, 'spatial' as const)])('fromView inverts toView', (shape, view) => {
    const w = filled(
      shape.reduce((a, b) => a * b, 1),
      3,
    );
    expect(Array.from(fromView(toView(w, shape, view), shape, view))).toEqual(Array.from(w));
  });
});

describe('decompose (ml-matrix SVD)', () => {
  it('singular values of diag(3, 4) are [4, 3]', () => {
    // dense [in=2, out=2] kernel diag(3,4): the GEMM view is its transpose, same singular values
    const f = decompose(Float32Array.of(3, 0, 0, 4), [2, 2], 'gemm');
    expect(Array.from(f.s)).toEqual([4, 3]);
    expect(f.rank).toBe(2);
  });
  ftest.prop([convShape, fc.constantFrom('gemm' as const, 'spatial' as const)])('full rank reconstructs the weight; U and V orthonormal; s descending', (shape, view) => {
    const w = filled(
      shape.reduce((a, b) => a * b, 1),
      shape[0] + shape[3],
    );
    const f = decompose(w, shape, view);
    const { rows, cols } = viewDims(shape, view);
    expect(f.rank).toBe(Math.min(rows, cols));
    const back = reconstruct(f);
    for (let i = 0; i < w.length; i++) expect(Math.abs(back[i]! - w[i]!)).toBeLessThan(1e-4);
    const o = orthogonalityError(f);
    expect(o.u).toBeLessThan(1e-4);
    expect(o.v).toBeLessThan(1e-4);
    for (let k = 1; k < f.rank; k++) expect(f.s[k - 1]!).toBeGreaterThanOrEqual(f.s[k]! - 1e-6);
  });
  ftest.prop([fc.integer({ min: 2, max: 6 }), fc.integer({ min: 2, max: 6 }), fc.integer({ min: 1, max: 5 })])(
    'truncation error is the dropped energy (Eckart–Young)',
    (m, n, r0) => {
      const w = filled(m * n, m * 10 + n);
      const f = decompose(w, [n, m], 'gemm');
      const r = Math.min(r0, f.rank);
      const t = selectColumns(
        f,
        Array.from({ length: r }, (_, i) => i),
      );
      const back = reconstruct(t);
      let err = 0;
      for (let i = 0; i < w.length; i++) err += (back[i]! - w[i]!) ** 2;
      let dropped = 0;
      for (let k = r; k < f.rank; k++) dropped += f.s[k]! ** 2;
      expect(Math.abs(err - dropped)).toBeLessThan(1e-3 * Math.max(1, dropped));
    },
  );
  it('gramError of diag(1, 2) is ‖diag(0, 3)‖ = 3', () => {
    expect(gramError(Float32Array.of(1, 0, 0, 2), 2, 2)).toBeCloseTo(3, 6);
  });
});

describe('energy threshold', () => {
  it('hand-computed: s = [3, 4] has energies 16, 9 of 25', () => {
    expect(energyRank([3, 4], 0.36)).toBe(1); // keep ≥ 16 of 25
    expect(energyRank([3, 4], 0.35)).toBe(2); // keep ≥ 16.25
    expect(energyRank([3, 4], 1)).toBe(1);
    expect(energyKept([3, 4], 1)).toBeCloseTo(0.64, 6);
  });
  ftest.prop([
    fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 30 }),
    fc.double({ min: 1e-6, max: 1, noNaN: true }),
    fc.double({ min: 1e-6, max: 1, noNaN: true }),
  ])('keeps ≥ 1 − e of the energy, minimal, monotone in e', (s, e1, e2) => {
    const k = energyRank(s, e1);
    expect(k).toBeGreaterThanOrEqual(1);
    expect(energyKept(s, k)).toBeGreaterThanOrEqual(1 - e1 - 1e-9);
    if (k > 1) expect(energyKept(s, k - 1)).toBeLessThan(1 - e1 + 1e-9);
    const [lo, hi] = e1 <= e2 ? [e1, e2] : [e2, e1];
    expect(energyRank(s, hi)).toBeLessThanOrEqual(energyRank(s, lo));
  });
  it('thresholdForBudget finds the smallest e meeting a monotone cost', () => {
    const r = thresholdForBudget((e) => 100 * (1 - e), 30);
    expect(r.met).toBe(true);
    expect(r.e).toBeCloseTo(0.7, 6);
    expect(thresholdForBudget(() => 5, 1)).toEqual({ e: 1, met: false });
  });
  it('greedyRanks drops the least energy per unit of cost first', () => {
    // layer 0: energies 0.5, 0.3, 0.2 (cost 1/rank); layer 1: 0.9, 0.1 (cost 10/rank)
    const layers = [
      { s: [Math.sqrt(0.5), Math.sqrt(0.3), Math.sqrt(0.2)], costPerRank: 1 },
      { s: [Math.sqrt(0.9), Math.sqrt(0.1)], costPerRank: 10 },
    ];
    const cost = (r: number[]) => r[0]! * 1 + r[1]! * 10;
    // scores: layer1 last 0.1/10 = 0.01 < layer0 last 0.2/1 → layer 1 drops first
    expect(greedyRanks(layers, cost, 13)).toEqual({ ranks: [3, 1], met: true });
    expect(greedyRanks(layers, cost, 12)).toEqual({ ranks: [2, 1], met: true });
    expect(greedyRanks(layers, cost, 5)).toEqual({ ranks: [1, 1], met: false });
    expect(greedyRanks([{ ...layers[0]!, fixed: 3 }, layers[1]!], cost, 13)).toEqual({ ranks: [3, 1], met: true });
  });
});

describe('FLOP and parameter accounting (ALGORITHMS §3.5)', () => {
  const l5 = lenet5();
  it('dense costs of Caffe LeNet-5 match the §0 table', () => {
    expect(denseCost(layerGeometry(l5, 'conv1'))).toEqual({ macs: 288_000, params: 500 });
    expect(denseCost(layerGeometry(l5, 'conv2'))).toEqual({ macs: 1_600_000, params: 25_000 });
    expect(denseCost(layerGeometry(l5, 'fc1'))).toEqual({ macs: 400_000, params: 400_000 });
  });
  it('low-rank costs: fc r(m+n), channel-wise P·r(Ck²+N), spatial oh·w·r·C·kh + oh·ow·r·N·kw', () => {
    expect(lowRankCost(layerGeometry(l5, 'fc1'), 'gemm', 10)).toEqual({ macs: 13_000, params: 13_010 });
    expect(lowRankCost(layerGeometry(l5, 'conv2'), 'gemm', 10)).toEqual({ macs: 64 * 10 * 550, params: 5_510 });
    // conv2 input 12×12×20, output 8×8×50, k = 5: 8·12·10·20·5 + 8·8·10·50·5
    expect(lowRankCost(layerGeometry(l5, 'conv2'), 'spatial', 10)).toEqual({ macs: 96_000 + 160_000, params: 10 * (100 + 250) + 10 });
  });
  it('break-even ranks: fc1 307, conv2 channel-wise 45 (45·550 = 24,750 < 25,000), conv2 spatial 62, conv1 10, LeNet-300-100 fc3 9', () => {
    expect(breakEvenRank(layerGeometry(l5, 'fc1'), 'gemm')).toBe(307);
    expect(breakEvenRank(layerGeometry(l5, 'conv2'), 'gemm')).toBe(45);
    expect(breakEvenRank(layerGeometry(l5, 'conv2'), 'spatial')).toBe(62);
    expect(breakEvenRank(layerGeometry(l5, 'conv1'), 'gemm')).toBe(10);
    expect(breakEvenRank(layerGeometry(lenet300100(), 'fc3'), 'gemm')).toBe(9);
  });
});
