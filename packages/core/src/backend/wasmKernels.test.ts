import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maxRelErr } from '../../test/numeric.js';
import '@tensorflow/tfjs-backend-cpu';
import { heapLoopsActive, useHeapLoops } from './wasmKernels.js';

/** Runs `f` on the cpu backend and returns the values; then switches back to wasm. */
async function onCpu(f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend('cpu');
  try {
    return tf.tidy(() => f().dataSync() as Float32Array);
  } finally {
    await tf.setBackend('wasm');
  }
}

/**
 * ∂/∂x and ∂/∂w of Σ conv(x, w)·r (r a fixed random tensor) on wasm and on cpu: the gradients are the two backprop
 * kernels applied to r alone, so a wrong stock forward cannot hide or fake an error in them.
 */
async function expectConvGradsMatchCpu(xShape: number[], wShape: number[], seed: number, conv: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor): Promise<void> {
  const xs = tf.randomNormal(xShape, 0, 1, 'float32', seed).dataSync() as Float32Array;
  const ws = tf.randomNormal(wShape, 0, 1, 'float32', seed + 1).dataSync() as Float32Array;
  const grads = (): tf.Tensor => {
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => {
      const y = conv(a as tf.Tensor4D, b as tf.Tensor4D);
      return tf.sum(tf.mul(y, tf.randomNormal(y.shape, 0, 1, 'float32', seed + 2)));
    });
    const [dx, dw] = g([tf.tensor(xs, xShape), tf.tensor(ws, wShape)]);
    return tf.concat([tf.reshape(dx!, [-1]), tf.reshape(dw!, [-1])]);
  };
  const wasm = tf.tidy(() => grads().dataSync() as Float32Array);
  const cpu = await onCpu(grads);
  expect(maxRelErr(wasm, cpu)).toBeLessThanOrEqual(1e-4);
}

const convCase = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  h: fc.integer({ min: 5, max: 11 }),
  w: fc.integer({ min: 5, max: 11 }),
  c: fc.integer({ min: 1, max: 9 }), // 4 and 8: the heap loops' four-channel blocks; others add a scalar remainder
  oc: fc.integer({ min: 1, max: 5 }),
  f: fc.integer({ min: 1, max: 4 }),
  stride: fc.integer({ min: 1, max: 2 }),
  pad: fc.constantFrom('same' as const, 'valid' as const),
  seed: fc.integer({ min: 1, max: 1000 }),
});

describe('fast wasm training kernels match the cpu backend (relative error ≤ 1e-4)', () => {
  afterAll(async () => {
    await tf.setBackend('wasm');
  });
  for (const heap of [true, false]) {
    const loops = heap ? 'wasm heap loops' : 'JavaScript loops';
    describe(loops, () => {
      beforeAll(() => void useHeapLoops(heap));
      afterAll(() => void useHeapLoops(true));
      it('Conv2DBackpropFilter and Conv2DBackpropInput through tf.grad(conv2d), square and 1-D filters, strides per axis', async () => {
        const shapeCase = fc.record({ fw: fc.integer({ min: 1, max: 4 }), strideW: fc.integer({ min: 1, max: 3 }), square: fc.boolean() });
        await fc.assert(
          fc.asyncProperty(convCase, shapeCase, async ({ n, h, w, c, oc, f, stride, pad, seed }, { fw: fw1, strideW, square }) => {
            const fw = square ? f : fw1;
            const strides: [number, number] = [stride, square ? stride : strideW];
            // (tfjs-wasm's own Conv2D forward returns zeros for 1×k filters with a row stride of 2 and 'same' padding.)
            await expectConvGradsMatchCpu([n, h, w, c], [f, fw, c, oc], seed, (x, k) => tf.conv2d(x, k, strides, pad));
          }),
          { numRuns: 60, seed: 42 },
        );
      });

      it('MaxPoolGrad: overlapping, padded and tiling windows (stride = window), with ties', async () => {
        const poolCase = fc.record({ size: fc.integer({ min: 1, max: 3 }), tile: fc.boolean(), ties: fc.boolean() });
        await fc.assert(
          fc.asyncProperty(convCase, poolCase, async ({ n, h, w, c, stride: s, pad, seed }, { size, tile, ties }) => {
            const stride = tile ? size : s;
            // Ties: values on a coarse grid, so windows hold equal maxima (the gradient goes to the first).
            const xs = Float32Array.from(tf.randomNormal([n, h, w, c], 0, 1, 'float32', seed).dataSync(), (v) => (ties ? Math.round(v) : v));
            const grads = (): tf.Tensor =>
              tf.grad((a: tf.Tensor) => {
                const y = tf.maxPool(a as tf.Tensor4D, size, stride, pad);
                return tf.sum(tf.mul(y, tf.randomNormal(y.shape, 0, 1, 'float32', seed + 3)));
              })(tf.tensor(xs, [n, h, w, c]));
            const wasm = tf.tidy(() => grads().dataSync() as Float32Array);
            const cpu = await onCpu(grads);
            expect(maxRelErr(wasm, cpu)).toBeLessThanOrEqual(1e-4);
          }),
          { numRuns: 80, seed: 7 },
        );
      });
    });
  }

  it('Conv2D with ≤ 4 input channels (the direct loop; four-pixel blocks inside, single pixels at padded edges) matches the cpu forward', async () => {
    const fwdCase = fc.record({
      fh: fc.integer({ min: 1, max: 5 }),
      fw: fc.integer({ min: 1, max: 5 }),
      sh: fc.integer({ min: 1, max: 3 }),
      sw: fc.integer({ min: 1, max: 3 }),
      oc: fc.integer({ min: 1, max: 21 }), // 8- and 4-channel blocks and the scalar remainder
    });
    await fc.assert(
      fc.asyncProperty(convCase, fwdCase, async ({ n, h, w, c: c9, pad, seed }, { fh, fw, sh, sw, oc }) => {
        const c = 1 + (c9 % 4);
        const xs = tf.randomNormal([n, h, w, c], 0, 1, 'float32', seed).dataSync() as Float32Array;
        const ks = tf.randomNormal([fh, fw, c, oc], 0, 1, 'float32', seed + 1).dataSync() as Float32Array;
        const run = (): tf.Tensor => tf.conv2d(tf.tensor4d(xs, [n, h, w, c]), tf.tensor4d(ks, [fh, fw, c, oc]), [sh, sw], pad);
        const wasm = tf.tidy(() => {
          const y = run();
          return { values: y.dataSync() as Float32Array, shape: y.shape };
        });
        const cpu = await onCpu(run);
        expect(wasm.values.length).toBe(cpu.length);
        expect(maxRelErr(wasm.values, cpu)).toBeLessThanOrEqual(1e-4);
      }),
      { numRuns: 80, seed: 17 },
    );
  });

  it("Conv2DBackpropFilter with 14–21 output channels (the direct loop's 8- and 16-channel blocks) matches cpu", async () => {
    await fc.assert(
      fc.asyncProperty(convCase, fc.integer({ min: 14, max: 21 }), async ({ n, h, w, c, f, stride, pad, seed }, oc) => {
        await expectConvGradsMatchCpu([n, h, w, c], [f, f, c, oc], seed, (x, k) => tf.conv2d(x, k, stride, pad));
      }),
      { numRuns: 40, seed: 19 },
    );
  });

  it('Add of a bias over the last axis (the heap loop) and other broadcasts (stock) match cpu', async () => {
    const shapes: Array<[number[], number[]]> = [
      [[3, 5, 4, 7], [7]],
      [
        [6, 9],
        [1, 9],
      ],
      [
        [2, 3, 1, 3],
        [1, 1, 1, 3],
      ],
      [[5, 4], [4]],
      [[7], [7]],
      [[9], [5, 9]],
      [
        [4, 6],
        [4, 1],
      ],
      [
        [4, 6],
        [4, 6],
      ],
    ];
    for (const [sa, sb] of shapes) {
      const as = tf.randomNormal(sa, 0, 1, 'float32', 3).dataSync() as Float32Array;
      const bs = tf.randomNormal(sb, 0, 1, 'float32', 4).dataSync() as Float32Array;
      const run = (): tf.Tensor => tf.add(tf.tensor(as, sa), tf.tensor(bs, sb));
      const wasm = tf.tidy(() => run().dataSync() as Float32Array);
      const cpu = await onCpu(run);
      expect(Array.from(wasm), `${sa} + ${sb}`).toEqual(Array.from(cpu));
    }
    const ints = tf.add(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), tf.tensor1d([10, 20], 'int32'));
    expect(ints.dtype).toBe('int32');
    expect(Array.from(ints.dataSync())).toEqual([11, 22, 13, 24]);
    ints.dispose();
  });

  it('MaxPool 2×2 stride 2 (the heap loop: ties, NaN and −∞ windows, odd sizes) and other pools (stock) match cpu', async () => {
    await fc.assert(
      fc.asyncProperty(convCase, fc.boolean(), fc.constantFrom('none', 'nan', 'ninf'), async ({ n, h, w, c, stride, pad, seed }, tiles, special) => {
        const xs = Float32Array.from(tf.randomNormal([n, h, w, c], 0, 1, 'float32', seed).dataSync(), (v, i) =>
          // NaN / −∞ only through the heap loop (the stock XNNPACK pool propagates NaN, the cpu backend skips it)
          tiles && special === 'nan' && i % 7 === 0 ? NaN : tiles && special === 'ninf' && i % 5 === 0 ? -Infinity : Math.round(v * 2) / 2,
        );
        const run = (): tf.Tensor => (tiles ? tf.maxPool(tf.tensor4d(xs, [n, h, w, c]), 2, 2, 'valid') : tf.maxPool(tf.tensor4d(xs, [n, h, w, c]), 3, stride, pad));
        const wasm = tf.tidy(() => {
          const y = run();
          return { values: y.dataSync() as Float32Array, shape: y.shape };
        });
        const cpu = await onCpu(run);
        if (tiles) expect(wasm.shape).toEqual([n, Math.floor(h / 2), Math.floor(w / 2), c]);
        // exact: a max is one of the inputs (−0 and 0 tie, so either may be chosen)
        const norm = (v: number): number | string => (Number.isNaN(v) ? 'NaN' : v === 0 ? 0 : v);
        expect(Array.from(wasm.values).map(norm)).toEqual(Array.from(cpu).map(norm));
      }),
      { numRuns: 60, seed: 29 },
    );
  });

  it('Cast to the same dtype shares the buffer; to another dtype it converts', () => {
    const before = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    const a = tf.tensor([1.5, -2, 3]);
    const b = tf.cast(a, 'float32');
    expect((tf.memory() as tf.MemoryInfo & { numDataBuffers: number }).numDataBuffers).toBe(before.numDataBuffers + 1);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1.5, -2, 3]);
    const i = tf.cast(b, 'int32');
    expect(i.dtype).toBe('int32');
    expect(Array.from(i.dataSync())).toEqual([1, -2, 3]);
    tf.dispose([b, i]);
    const after = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
  });

  it('Sum over leading axes (the heap loop) and over any other axes (stock), keepDims both ways, against the cpu backend', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 1, max: 1000 }),
        async (shape, k, keepDims, leading, seed) => {
          const rank = shape.length;
          const axes = leading ? [...Array(Math.min(k, rank - 1) + 1).keys()].slice(0, Math.max(1, Math.min(k + 1, rank))) : [rank - 1];
          const xs = tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync() as Float32Array;
          const f = (): tf.Tensor => tf.sum(tf.tensor(xs, shape), axes, keepDims);
          const wasm = tf.tidy(() => {
            const y = f();
            return { values: y.dataSync() as Float32Array, shape: y.shape };
          });
          await tf.setBackend('cpu');
          const cpu = tf.tidy(() => {
            const y = f();
            return { values: y.dataSync() as Float32Array, shape: y.shape };
          });
          await tf.setBackend('wasm');
          expect(wasm.shape).toEqual(cpu.shape);
          expect(maxRelErr(wasm.values, cpu.values)).toBeLessThanOrEqual(1e-4);
        },
      ),
      { numRuns: 80, seed: 11 },
    );
  });

  it('Sum over 100,000 rows keeps float32 rounding small (three-level blocked sum: 9e-7; the stock running sum: 1.4e-4)', () => {
    const rows = 100_000;
    const x = tf.fill([rows, 4], 0.1);
    const s = tf.sum(x, 0);
    // 100,000 × 0.1f, summed exactly in double: 10000.000149011612 (0.1f = 0.100000001490116…).
    for (const v of s.dataSync()) expect(Math.abs(v - 10000.000149) / 10000).toBeLessThan(2e-6);
    expect(heapLoopsActive()).toBe(true);
    tf.dispose([x, s]);
  });

  it('Identity shares the buffer: a clone outlives its source with the same values, and frees nothing twice', () => {
    const before = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    const a = tf.tensor([1.5, -2, 3]);
    const b = tf.clone(a);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1.5, -2, 3]);
    const mid = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    expect(mid.numDataBuffers).toBe(before.numDataBuffers + 1);
    b.dispose();
    const after = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
  });

  it('DepthwiseConv2dNativeBackpropInput / BackpropFilter through tf.grad(depthwiseConv2d), depth multipliers 1–3, strides, padding, both paths', async () => {
    for (const heap of [true, false]) {
      const was = useHeapLoops(heap); // multiplier 1 runs the heap loop when on
      try {
        await fc.assert(
          fc.asyncProperty(convCase, fc.integer({ min: 1, max: 3 }), async ({ n, h, w, c, f, stride, pad, seed }, m) => {
            await expectConvGradsMatchCpu([n, h, w, c], [f, f, c, m], seed, (x, k) => tf.depthwiseConv2d(x, k, stride, pad));
          }),
          { numRuns: 60, seed: 43 },
        );
      } finally {
        useHeapLoops(was);
      }
    }
  });

  it('BatchMatMul with transposes', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 17 }),
        fc.integer({ min: 1, max: 17 }),
        fc.integer({ min: 1, max: 17 }),
        fc.boolean(),
        fc.boolean(),
        async (b, m, k, n, ta, tb) => {
          const as = tf.randomNormal(ta ? [b, k, m] : [b, m, k], 0, 1, 'float32', m * 7 + k).dataSync() as Float32Array;
          const bs = tf.randomNormal(tb ? [b, n, k] : [b, k, n], 0, 1, 'float32', n * 3 + k).dataSync() as Float32Array;
          const run = (): tf.Tensor => tf.matMul(tf.tensor(as, ta ? [b, k, m] : [b, m, k]), tf.tensor(bs, tb ? [b, n, k] : [b, k, n]), ta, tb);
          const wasm = tf.tidy(() => run().dataSync() as Float32Array);
          const cpu = await onCpu(run);
          expect(maxRelErr(wasm, cpu)).toBeLessThanOrEqual(1e-4);
        },
      ),
      { numRuns: 30, seed: 3 },
    );
  });

  it('BatchMatMul as the heap loops: A·B, Aᵀ·B (4×8 blocks, 4- and 1-column and single-row remainders) and A·Bᵀ with K ≥ 128', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 19 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 29 }),
        fc.constantFrom('nn', 'tn', 'nt'),
        fc.integer({ min: 1, max: 1000 }),
        async (m, k0, n, mode, seed) => {
          const k = mode === 'nt' ? 128 + k0 : k0; // dot products from K = 128 (K % 4 ≠ 0 included)
          const ta = mode === 'tn',
            tb = mode === 'nt';
          const as = tf.randomNormal(ta ? [k, m] : [m, k], 0, 1, 'float32', seed).dataSync() as Float32Array;
          const bs = tf.randomNormal(tb ? [n, k] : [k, n], 0, 1, 'float32', seed + 1).dataSync() as Float32Array;
          const run = (): tf.Tensor => tf.matMul(tf.tensor2d(as, ta ? [k, m] : [m, k]), tf.tensor2d(bs, tb ? [n, k] : [k, n]), ta, tb);
          const wasm = tf.tidy(() => {
            const y = run();
            return { values: y.dataSync() as Float32Array, shape: y.shape };
          });
          const cpu = await onCpu(run);
          expect(wasm.shape).toEqual([m, n]);
          expect(maxRelErr(wasm.values, cpu)).toBeLessThanOrEqual(1e-4);
        },
      ),
      { numRuns: 60, seed: 23 },
    );
  });

  it('BatchMatMul with a large right-hand operand (run transposed): first and repeated use, and a transposed operand', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 8, max: 20 }),
        fc.integer({ min: 64, max: 90 }),
        fc.integer({ min: 256, max: 300 }),
        fc.boolean(),
        fc.integer({ min: 1, max: 1000 }),
        async (m, k0, n, tb, seed) => {
          // past the heap loops' bounds: Bᵀ with K < 128, or B over 2 MB
          const k = tb ? k0 : k0 * 40;
          const as = tf.randomNormal([m, k], 0, 1, 'float32', seed).dataSync() as Float32Array;
          const bs = tf.randomNormal(tb ? [n, k] : [k, n], 0, 1, 'float32', seed + 1).dataSync() as Float32Array;
          const cpu = await onCpu(() => tf.matMul(tf.tensor2d(as, [m, k]), tf.tensor2d(bs, tb ? [n, k] : [k, n]), false, tb));
          const a = tf.tensor2d(as, [m, k]),
            b = tf.tensor2d(bs, tb ? [n, k] : [k, n]);
          // the same b twice: the first product runs transposed, the second on XNNPACK's cached path
          const first = tf.matMul(a, b, false, tb),
            second = tf.matMul(a, b, false, tb);
          expect(first.shape).toEqual([m, n]);
          expect(maxRelErr(first.dataSync() as Float32Array, cpu)).toBeLessThanOrEqual(1e-4);
          expect(maxRelErr(second.dataSync() as Float32Array, cpu)).toBeLessThanOrEqual(1e-4);
          tf.dispose([a, b, first, second]);
        },
      ),
      { numRuns: 12, seed: 5 },
    );
  });

  it('are installed on the wasm backend, with the heap loops bound to its heap', () => {
    for (const k of ['Conv2D', 'Add', 'Cast', 'MaxPool', 'Conv2DBackpropFilter', 'Conv2DBackpropInput', 'BatchMatMul', 'MaxPoolGrad', 'Sum', 'Identity']) {
      expect((tf.getKernel(k, 'wasm') as unknown as { edgeCompress?: boolean }).edgeCompress, k).toBe(true);
    }
    expect(heapLoopsActive()).toBe(true);
    const was = useHeapLoops(false);
    expect(heapLoopsActive()).toBe(false);
    useHeapLoops(was);
  });

  it('does not leak tensors or data buffers (counted outside tf.tidy)', () => {
    const before = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    const x = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 1);
    const k = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2);
    const bias = tf.ones([4]);
    // C = 3: the direct conv forward and filter gradient; the bias add's heap loop
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.maxPool(tf.add(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), bias) as tf.Tensor4D, 2, 2, 'valid')))([
      x,
      k,
    ]);
    const x2 = tf.reshape(x, [18, 27]) as tf.Tensor2D;
    const ones = tf.ones([4, 27]) as tf.Tensor2D;
    const m = tf.matMul(x2, ones, false, true);
    const big = tf.ones([64, 300]) as tf.Tensor2D;
    const l1 = tf.ones([8, 64]) as tf.Tensor2D,
      l2 = tf.ones([8, 300]) as tf.Tensor2D;
    const viaT = [tf.matMul(l1, big), tf.matMul(l2, big, false, true)]; // both run transposed (large right operand)
    expect(Array.from(viaT[0]!.dataSync().slice(0, 2))).toEqual([64, 64]);
    expect(Array.from(viaT[1]!.dataSync().slice(0, 2))).toEqual([300, 300]);
    const data = tf.ones([6, 2]);
    const ids = tf.tensor1d([0, 1, 0, 2, 1, 0], 'int32');
    const seg = tf.unsortedSegmentSum(data, ids, 3);
    expect(Array.from(seg.dataSync())).toEqual([3, 3, 2, 2, 1, 1]);
    tf.dispose([x, k, bias, ...g, x2, ones, m, big, l1, l2, ...viaT, data, ids, seg]);
    const after = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
  });
});
