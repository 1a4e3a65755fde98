import { denseEncoding, storageBits } from '@edge-compress/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { encodeSmartDeal, paperFormatBits, reconstruct, smartDealKernel, smartDealLayout, smartDealStorageBits } from '../src/index.js';

function lcg(seed: number): () => number {
  let s = seed;
  return () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31 - 0.5;
}
const pow2 = (rnd: () => number, lo: number, hi: number): number => {
  const u = rnd();
  if (Math.abs(u) < 0.15) return 0;
  return Math.sign(u) * 2 ** (lo + Math.floor((Math.abs(u) / 0.5) * (hi - lo + 0.999)));
};

/** Dense weight from blocks written independently of the package: W[ih, iw, ic, r] = Σ_m ce[r][ic·kh+ih][m]·B[r][m][iw]. */
function naiveConv(ce: Float32Array, b: Float32Array, kh: number, kw: number, cin: number, cout: number, k: number): Float32Array {
  const w = new Float32Array(kh * kw * cin * cout);
  const p = cin * kh;
  for (let r = 0; r < cout; r++)
    for (let ic = 0; ic < cin; ic++)
      for (let ih = 0; ih < kh; ih++)
        for (let iw = 0; iw < kw; iw++) {
          let s = 0;
          for (let m = 0; m < k; m++) s += ce[(r * p + ic * kh + ih) * k + m]! * b[(r * k + m) * kw + iw]!;
          w[((ih * kw + iw) * cin + ic) * cout + r] = s;
        }
  return w;
}

describe('SmartDeal encoding', () => {
  it('storageBits is exact: mask index + pow2 codes + one scale, plus the basis (hand count)', () => {
    // one dense row of 4 inputs, q = 2 → p = 2, one block; k = 2; range [-2, 0] → 3 levels → 3-bit codes.
    const layout = { kind: 'rowBlocks' as const, p: 2, q: 2 };
    const ce = Float32Array.of(1, 0, 0.5, -0.25);
    const enc = encodeSmartDeal([4, 1], layout, 2, ce, Float32Array.of(1, 2, 3, 4), { minExp: -2, maxExp: 0 });
    // mask [1,0,1,1]: bitmap 4 bits (a 2-bit relative index needs 6); 3 kept × 3 bits; scale 32; basis 4 × 32.
    expect(storageBits(enc.coeffs)).toBe(4 + 9 + 32);
    expect(smartDealStorageBits(enc)).toBe(4 + 9 + 32 + 128);
    // SmartDeal's own format: 2 row bits + 2 kept rows × 2 occupancy bits + 3 non-zeros × (1 sign + 2 exponent bits) + basis.
    expect(paperFormatBits(enc, { minExp: -2, maxExp: 0 })).toBe(2 + 4 + 9 + 128);
  });

  it('shift-add reconstruction equals the dense product Ce·B (conv, with channel splits and padding)', () => {
    const rnd = lcg(3);
    const [kh, kw, cin, cout, k] = [3, 3, 3, 4, 3];
    const layout = smartDealLayout([kh, kw, cin, cout]);
    const ce = Float32Array.from({ length: cout * cin * kh * k }, () => pow2(rnd, -5, 1));
    const b = Float32Array.from({ length: cout * k * kw }, () => Math.fround(rnd() * 3));
    const enc = encodeSmartDeal([kh, kw, cin, cout], layout, k, ce, b, { minExp: -5, maxExp: 1 });
    const got = reconstruct(enc);
    const want = naiveConv(ce, b, kh, kw, cin, cout, k);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    expect(worst).toBeLessThan(1e-6);
  });
});

describe('SmartDeal layer kernel vs the dense forward', () => {
  const rnd = lcg(11);
  it('conv: max abs diff ≤ 1e-4', () => {
    const [kh, kw, cin, cout, k] = [3, 3, 5, 6, 2];
    const layout = smartDealLayout([kh, kw, cin, cout]);
    const ce = Float32Array.from({ length: cout * cin * kh * k }, () => pow2(rnd, -6, 0));
    const b = Float32Array.from({ length: cout * k * kw }, () => Math.fround(rnd()));
    const enc = encodeSmartDeal([kh, kw, cin, cout], layout, k, ce, b, { minExp: -6, maxExp: 0 });
    const dense = naiveConv(ce, b, kh, kw, cin, cout, k);
    const bias = Float32Array.from({ length: cout }, () => rnd());
    const layer = {
      kind: 'conv2d' as const,
      name: 'c',
      filters: cout,
      kernelSize: [kh, kw] as [number, number],
      strides: [1, 1] as [number, number],
      padding: 'same' as const,
      activation: 'relu' as const,
      useBias: true,
    };
    const before = tf.memory().numTensors;
    const kern = smartDealKernel.prepare(layer, enc, bias);
    const x = tf.tensor4d(
      Float32Array.from({ length: 2 * 7 * 7 * cin }, () => rnd()),
      [2, 7, 7, cin],
    );
    const y = kern.run(x);
    const ref = tf.tidy(() => tf.add(tf.conv2d(x, tf.tensor4d(dense, [kh, kw, cin, cout]), 1, 'same'), tf.tensor1d(bias)));
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(y, ref))).dataSync()[0]!);
    expect(diff).toBeLessThanOrEqual(1e-4);
    tf.dispose([x, y, ref]);
    kern.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(smartDealKernel.supports!(layer, enc)).toBe(true);
    expect(smartDealKernel.supports!(layer, denseEncoding([1], Float32Array.of(1)) as never)).toBe(false);
  });

  it('dense: max abs diff ≤ 1e-4', () => {
    const [din, dout] = [10, 4];
    const layout = smartDealLayout([din, dout]); // q = 3, p = 4 (R = 4), 12 padded columns
    const k = 3;
    const ce = Float32Array.from({ length: dout * layout.p * k }, () => pow2(rnd, -3, 2));
    const b = Float32Array.from({ length: dout * k * 3 }, () => Math.fround(rnd()));
    const enc = encodeSmartDeal([din, dout], layout, k, ce, b, { minExp: -3, maxExp: 2 });
    // independent dense weight: W[j, r] = Σ_m ce[r][⌊j/3⌋][m]·B[r][m][j mod 3]
    const w = new Float32Array(din * dout);
    for (let r = 0; r < dout; r++)
      for (let j = 0; j < din; j++) {
        let s = 0;
        for (let m = 0; m < k; m++) s += ce[(r * layout.p + Math.floor(j / 3)) * k + m]! * b[(r * k + m) * 3 + (j % 3)]!;
        w[j * dout + r] = s;
      }
    const layer = { kind: 'dense' as const, name: 'd', units: dout, activation: 'linear' as const, useBias: false };
    const kern = smartDealKernel.prepare(layer, enc, undefined);
    const x = tf.tensor2d(
      Float32Array.from({ length: 5 * din }, () => rnd()),
      [5, din],
    );
    const y = kern.run(x);
    const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(y, tf.matMul(x, tf.tensor2d(w, [din, dout]))))).dataSync()[0]!);
    expect(diff).toBeLessThanOrEqual(1e-4);
    tf.dispose([x, y]);
    kern.dispose();
  });
});
