import { toGemm } from '@edge-compress/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockGeometry, blocksToGemm, convPerm, gemmToBlocks, smartDealLayout } from '../src/index.js';

describe('SmartDeal block geometry (rowBlocks layout)', () => {
  it('conv perm lists GEMM columns in (cin, kh, kw) order', () => {
    // kh = kw = 2, cin = 2: GEMM column of (ih, iw, ic) is (ih·2 + iw)·2 + ic.
    expect(convPerm(2, 2, 2)).toEqual([0, 2, 4, 6, 1, 3, 5, 7]);
  });

  it('block sizes follow SmartDeal: conv (splitCin·kh)×kw, dense ⌈R/splits⌉×3 with R = ⌈d/3⌉, splits of ≤ 192 rows', () => {
    const c2 = smartDealLayout([5, 5, 20, 50]);
    expect([c2.p, c2.q]).toEqual([100, 5]);
    expect(blockGeometry([5, 5, 20, 50], c2)).toMatchObject({ rows: 50, cols: 500, chunksPerRow: 1, blocks: 50, padded: 500 });
    const c130 = smartDealLayout([3, 3, 130, 8]); // 3 splits of 44 channels
    expect([c130.p, c130.q]).toEqual([132, 3]);
    expect(blockGeometry([3, 3, 130, 8], c130).chunksPerRow).toBe(3);
    const fc1 = smartDealLayout([800, 500]);
    expect([fc1.p, fc1.q, fc1.perm]).toEqual([134, 3, undefined]);
    expect(blockGeometry([800, 500], fc1)).toMatchObject({ chunksPerRow: 2, padded: 804, blocks: 1000 });
    expect(smartDealLayout([784, 300]).p).toBe(131);
    expect(smartDealLayout([500, 10]).p).toBe(167);
    const oneByOne = smartDealLayout([1, 1, 16, 4]);
    expect([oneByOne.p, oneByOne.q]).toEqual([6, 3]);
  });

  it('a conv block row is one (c_in, kernel row) position: block[r][ic·kh + ih][iw] = W[ih, iw, ic, r]', () => {
    const shape = [3, 3, 2, 4];
    const w = Float32Array.from({ length: 72 }, (_, i) => i + 1);
    const g = blockGeometry(shape, smartDealLayout(shape));
    const b = gemmToBlocks(toGemm(w, shape), g);
    const at = (ih: number, iw: number, ic: number, oc: number) => w[((ih * 3 + iw) * 2 + ic) * 4 + oc]!;
    for (let r = 0; r < 4; r++)
      for (let ic = 0; ic < 2; ic++)
        for (let ih = 0; ih < 3; ih++)
          for (let iw = 0; iw < 3; iw++) {
            expect(b[(r * g.p + ic * 3 + ih) * g.q + iw]).toBe(at(ih, iw, ic, r));
          }
  });

  it('gemm → blocks → gemm is the identity and padding is zero (fast-check)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 4 }), (rows, cols, p, q) => {
        const g = blockGeometry([cols, rows], { kind: 'rowBlocks', p, q });
        const gemm = Float32Array.from({ length: rows * cols }, (_, i) => i + 1);
        const blocks = gemmToBlocks(gemm, g);
        expect(blocks.length).toBe(g.blocks * p * q);
        expect(Array.from(blocksToGemm(blocks, g))).toEqual(Array.from(gemm));
        let nz = 0;
        for (const v of blocks) if (v !== 0) nz++;
        expect(nz).toBe(rows * cols);
      }),
      { seed: 77, numRuns: 200 },
    );
  });
});
