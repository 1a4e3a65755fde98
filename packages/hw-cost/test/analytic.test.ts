import {
  blockSparseFromMask,
  CompressionError,
  denseEncoding,
  initModel,
  isCompressionError,
  lenet5,
  maskedEncoding,
  nmFromMask,
  summarize,
  toDense,
  type Encoding,
  type Model,
} from '@edge-compress/core';
import { toyConvIR } from '@edge-compress/core/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  breakEven,
  builtinProfiles,
  createCostFn,
  factsFromSummary,
  estimateCost,
  estimateLayer,
  findProfile,
  irFeatures,
  maskStructure,
  modelFeatures,
  type LayerFeatures,
} from '../src/index.js';
import { blockMask, blockPruned, quantizedModel, randomMask, unstructuredPruned, vggSmall } from './helpers.js';

const SEED = 20261202;
const energy = (m: Model, device: string) => estimateCost(m, { devices: [device] })[0]!;

describe('analytic device models reproduce the seed paper orderings (HWCOST §4)', () => {
  const lenet = initModel(lenet5(), 0);
  const big = initModel(vggSmall(64, 1), 0); // ≈ 0.4 G MACs

  it('(1) fp32 baseline: the mobile GPU uses less energy per inference than the FPGA (LeNet-5 and a VGG-style CNN)', () => {
    for (const m of [lenet, big]) expect(energy(m, 'mobile-gpu').energyMj).toBeLessThan(energy(m, 'edge-fpga').energyMj);
  });

  it('(2) the FPGA overtakes the mobile GPU only at very low precision, on a large model', () => {
    const ratio = (m: Model) => {
      const [f, g] = estimateCost(m, { devices: ['edge-fpga', 'mobile-gpu'] });
      return f!.energyMj / g!.energyMj;
    };
    const r = [32, 16, 8, 4, 2].map((b) => ratio(b === 32 ? big : quantizedModel(big, b)));
    expect(r[0]).toBeGreaterThan(1);
    for (let i = 1; i < r.length; i++) expect(r[i]).toBeLessThan(r[i - 1]!);
    expect(r[r.length - 1]).toBeLessThan(1);
  });

  it('(3) block pruning cuts latency and energy on both the mobile GPU and the FPGA; unstructured pruning does not help the FPGA', () => {
    const dense2 = estimateCost(big, { devices: ['mobile-gpu', 'edge-fpga'] }),
      block2 = estimateCost(blockPruned(big, 0.25), { devices: ['mobile-gpu', 'edge-fpga'] });
    for (const i of [0, 1]) {
      const dense = dense2[i]!,
        block = block2[i]!;
      expect(block.latencyMs).toBeLessThan(0.6 * dense.latencyMs);
      expect(block.energyMj).toBeLessThan(0.6 * dense.energyMj);
    }
    const u = energy(unstructuredPruned(big, 0.25), 'edge-fpga');
    expect(u.macsExecuted).toBe(dense2[1]!.macsExecuted);
  });

  it('a Cortex-M7 takes tens of milliseconds for LeNet-5 (int8 CMSIS-NN and fp32)', () => {
    const int8 = energy(quantizedModel(lenet, 8), 'cortex-m7').latencyMs,
      fp32 = energy(lenet, 'cortex-m7').latencyMs;
    expect(int8).toBeGreaterThan(10);
    expect(fp32).toBeLessThan(100);
    expect(int8).toBeLessThan(fp32);
  });

  it('totals are the sums of the layer rows plus the per-inference overhead', () => {
    const p = findProfile(builtinProfiles(), 'mobile-cpu');
    const e = energy(lenet, 'mobile-cpu');
    const rows = e.layers.reduce((a, l) => a + l.latencyMs, 0);
    expect(e.latencyMs).toBeCloseTo(rows + p.inferenceOverheadS.value * 1e3, 9);
    // LeNet-5 (Caffe): 2.29 M MACs per example; its stored weights are 431,080 fp32 values.
    expect(e.macs).toBe(2293000);
    expect(e.storageBytes).toBe(431080 * 4);
  });

  it('a depthwise conv counts its window MACs and stores its kernel; a wider multiplier costs more on every device', () => {
    const dw = (m: number): Model =>
      initModel(
        {
          format: 'edge-compress/ir',
          version: 1,
          name: 'dw',
          inputShape: [16, 16, 8],
          layers: [
            { kind: 'depthwiseConv2d', name: 'dw', kernelSize: [3, 3], strides: [1, 1], padding: 'same', depthMultiplier: m, activation: 'relu6', useBias: true },
            { kind: 'flatten', name: 'f' },
            { kind: 'dense', name: 'fc', units: 10, activation: 'softmax', useBias: true },
          ],
        },
        1,
      );
    const one = estimateCost(dw(1), { devices: ['mobile-cpu'] })[0]!;
    const row = one.layers.find((l) => l.name === 'dw')!;
    // 16·16 outputs × 8 channels × 3·3 window; 3·3·8 kernel + 8 biases stored as fp32
    expect(row.macs).toBe(16 * 16 * 8 * 9);
    expect(one.storageBytes).toBe(4 * (3 * 3 * 8 + 8 + 16 * 16 * 8 * 10 + 10));
    for (const d of builtinProfiles()
      .map((p) => p.id)
      .filter((id) => id !== 'local-wasm')) {
      const [a, b] = [dw(1), dw(3)].map((m) => estimateCost(m, { devices: [d] })[0]!.layers.find((l) => l.name === 'dw')!);
      expect(b!.latencyMs, d).toBeGreaterThan(a!.latencyMs);
      expect(b!.energyMj, d).toBeGreaterThan(a!.energyMj);
    }
  });

  it('batch scales MACs exactly and never lowers latency', () => {
    const b1 = estimateCost(lenet, { devices: ['mobile-gpu'], batch: 1 })[0]!;
    const b8 = estimateCost(lenet, { devices: ['mobile-gpu'], batch: 8 })[0]!;
    expect(b8.macs).toBe(8 * b1.macs);
    expect(b8.latencyMs).toBeGreaterThanOrEqual(b1.latencyMs);
  });
});

describe('monotonicity (fast-check, fixed seed)', () => {
  const devices = builtinProfiles().filter((p) => p.kind !== 'local-wasm');
  const layer = fc.record({
    conv: fc.boolean(),
    cin: fc.integer({ min: 1, max: 256 }),
    cout: fc.integer({ min: 1, max: 256 }),
    extra: fc.integer({ min: 1, max: 64 }),
    h: fc.constantFrom(4, 8, 16, 32),
    k: fc.constantFrom(1, 3, 5),
    batch: fc.integer({ min: 1, max: 16 }),
    dev: fc.integer({ min: 0, max: devices.length - 1 }),
  });
  const feats = (conv: boolean, h: number, k: number, cin: number, cout: number, batch: number): LayerFeatures => {
    const ir = conv
      ? {
          format: 'edge-compress/ir' as const,
          version: 1 as const,
          name: 'x',
          inputShape: [h, h, cin],
          layers: [
            {
              kind: 'conv2d' as const,
              name: 'l',
              filters: cout,
              kernelSize: [k, k] as [number, number],
              strides: [1, 1] as [number, number],
              padding: 'same' as const,
              activation: 'relu' as const,
              useBias: true,
            },
          ],
        }
      : {
          format: 'edge-compress/ir' as const,
          version: 1 as const,
          name: 'x',
          inputShape: [cin * h],
          layers: [{ kind: 'dense' as const, name: 'l', units: cout, activation: 'relu' as const, useBias: true }],
        };
    return irFeatures(ir, batch)[0]!;
  };

  it('more input channels (more MACs, more bytes) never make a layer faster or cheaper', () => {
    fc.assert(
      fc.property(layer, ({ conv, cin, cout, extra, h, k, batch, dev }) => {
        const p = devices[dev]!;
        const a = estimateLayer(p, feats(conv, h, k, cin, cout, batch)),
          b = estimateLayer(p, feats(conv, h, k, cin + extra, cout, batch));
        return b.macs > a.macs && b.latencyMs >= a.latencyMs - 1e-12 && b.energyMj >= a.energyMj - 1e-12;
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('on a compute-bound layer, more MACs are never cheaper (batch grows)', () => {
    fc.assert(
      fc.property(layer, fc.integer({ min: 2, max: 8 }), ({ conv, cin, cout, h, k, batch, dev }, mul) => {
        const p = devices[dev]!;
        const a = estimateLayer(p, feats(conv, h, k, cin, cout, batch));
        fc.pre(a.bottleneck === 'compute');
        const b = estimateLayer(p, feats(conv, h, k, cin, cout, batch * mul));
        return b.latencyMs >= a.latencyMs && b.computeMs >= a.computeMs * mul * (1 - 1e-9);
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  it('lower density never raises latency on a device that exploits the pattern', () => {
    const gpu = findProfile(builtinProfiles(), 'mobile-gpu');
    const base = feats(true, 16, 3, 64, 64, 4);
    fc.assert(
      fc.property(fc.double({ min: 0.01, max: 1, noNaN: true }), fc.double({ min: 0.01, max: 1, noNaN: true }), (d1, d2) => {
        const [lo, hi] = d1 < d2 ? [d1, d2] : [d2, d1];
        const at = (d: number) => estimateLayer(gpu, { ...base, pattern: 'block', density: d, macsEff: base.macs * d, weightBytes: base.weightBytes * d }).latencyMs;
        return at(lo) <= at(hi) + 1e-12;
      }),
      { seed: SEED, numRuns: 200 },
    );
  });
});

describe('features from encodings', () => {
  it('detects block, N:M, channel and unstructured masks', () => {
    expect(maskStructure(blockMask([3, 3, 16, 32], 4, 4, 0.5, 1), [3, 3, 16, 32])).toMatchObject({ pattern: 'block', block: [4, 4] });
    const nm = new Uint8Array(8 * 16);
    for (let r = 0; r < 16; r++) for (let c = 0; c < 8; c += 4) ((nm[(c + (r % 2)) * 16 + r] = 1), (nm[(c + 2 + (r % 2)) * 16 + r] = 1));
    expect(maskStructure(nm, [8, 16])).toMatchObject({ pattern: 'nm', nm: [2, 4] });
    const ch = new Uint8Array(8 * 16);
    for (let c = 0; c < 8; c++) for (let r = 0; r < 16; r += 2) ch[c * 16 + r] = 1;
    expect(maskStructure(ch, [8, 16]).pattern).toBe('channel');
    expect(maskStructure(randomMask(8 * 16, 0.5, 3), [8, 16]).pattern).toBe('unstructured');
  });

  it('core v2 blockSparse and N:M encodings: pattern, executed MACs and index bits from the summary tree', () => {
    const m = initModel(toyConvIR(), 0);
    const w = m.weights['fc1/kernel']!;
    const bmask = blockMask([64, 16], 4, 4, 0.5, 7);
    const bs = blockSparseFromMask([64, 16], bmask, toDense(w), [4, 4]);
    const nmMask = new Uint8Array(64 * 16);
    for (let r = 0; r < 16; r++) for (let c = 0; c < 64; c += 4) ((nmMask[(c + (r % 4)) * 16 + r] = 1), (nmMask[(c + ((r + 1) % 4)) * 16 + r] = 1));
    const nm = nmFromMask([64, 16], nmMask, toDense(w), 2, 4);
    const at = (e: Encoding) => modelFeatures({ ir: m.ir, weights: { ...m.weights, 'fc1/kernel': e } }, 1).find((x) => x.name === 'fc1')!;
    const fb = at(bs),
      fn = at(nm);
    const kept = bmask.reduce((a, b) => a + b, 0);
    expect(fb).toMatchObject({ pattern: 'block', block: [4, 4], macs: 1024, macsEff: kept });
    expect(fn).toMatchObject({ pattern: 'nm', nm: [2, 4], macsEff: 512 });
    expect(fb.indexBytes).toBe(summarize(bs).tree.ownBits / 8);
    const gpu = findProfile(builtinProfiles(), 'mobile-gpu'),
      fpga = findProfile(builtinProfiles(), 'edge-fpga');
    expect(estimateLayer(fpga, fb).macsExecuted).toBe(kept);
    expect(estimateLayer(fpga, fn).macsExecuted).toBe(1024); // the DPU has no N:M support
    expect(estimateLayer(gpu, fn).macsExecuted).toBe(512);
  });

  it('a low-rank weight executes rank·(rows+cols) MACs per output pixel', () => {
    const m = initModel(toyConvIR(), 0);
    const rank = 2;
    const u = denseEncoding([16, rank], new Float32Array(16 * rank).fill(0.1));
    const v = denseEncoding([64, rank], new Float32Array(64 * rank).fill(0.2));
    const lr: Model = { ir: m.ir, weights: { ...m.weights, 'fc1/kernel': { kind: 'lowRank', shape: [64, 16], rank, u, s: Float32Array.of(1, 0.5), v } } };
    const f = modelFeatures(lr, 3).find((x) => x.name === 'fc1')!;
    expect(f.pattern).toBe('lowRank');
    expect(f.macs).toBe(3 * 64 * 16);
    expect(f.macsEff).toBeCloseTo(3 * rank * (64 + 16), 6);
  });

  it('storage is the exact encoded size (values + mask index), per layer', () => {
    const m = initModel(toyConvIR(), 0);
    const mask = randomMask(64 * 16, 0.3, 5);
    const pruned: Model = { ir: m.ir, weights: { ...m.weights, 'fc1/kernel': maskedEncoding(m.weights['fc1/kernel']!, mask) } };
    const f = modelFeatures(pruned, 1).find((x) => x.name === 'fc1')!;
    expect(f.storageBits).toBe(summarize(pruned.weights['fc1/kernel']!).storageBits + 16 * 32);
    expect(f.density).toBeCloseTo(mask.reduce((a, b) => a + b, 0) / mask.length, 9);
  });
});

describe('break-even ratios and the CostFn for methods', () => {
  const cpu = findProfile(builtinProfiles(), 'mobile-cpu');
  const fpga = findProfile(builtinProfiles(), 'edge-fpga');
  const bigConv = modelFeatures(initModel(vggSmall(32, 2), 0), 1).find((f) => f.name === 'c4')!;

  it('compute-bound layer on the mobile CPU: unstructured break-even 1 − 1/kpat, block much lower', () => {
    const u = breakEven(bigConv, 'unstructured', cpu);
    expect(u.sparsity).toBeCloseTo(1 - 1 / cpu.patterns.unstructured.kpat.value, 2);
    const b = breakEven(bigConv, 'block', cpu);
    expect(b.sparsity!).toBeLessThan(0.2);
    expect(b.dLatencyDDensity).toBeGreaterThan(0);
  });

  it('a device that computes the zeros has no break-even', () => {
    expect(breakEven(bigConv, 'unstructured', fpga).sparsity).toBeNull();
    expect(breakEven(bigConv, 'block', fpga).sparsity).not.toBeNull();
  });

  it('CostFn reads core v2 summaries: structure block with the block shape from the tree', () => {
    const f = factsFromSummary({
      shape: [64, 64],
      kinds: ['blockSparse', 'dense'],
      density: 0.25,
      bits: 32,
      structure: 'block',
      storageBits: 1024 * 32 + 256,
      tree: { block: [4, 4] },
    });
    expect(f).toMatchObject({ pattern: 'block', block: [4, 4], macFraction: 0.25, valueBits: 1024 * 32, indexBits: 256 });
    // Zero codes of a quantized weight (no mask) are not pruning.
    expect(factsFromSummary({ shape: [64, 64], kinds: ['quantized'], density: 0.9, bits: 4, structure: 'unstructured', storageBits: 4096 * 4 + 32 }).pattern).toBe('dense');
  });

  it('CostFn prices a 90%-pruned weight below the dense one on the mobile GPU and reports exact storage', () => {
    const cost = createCostFn('mobile-gpu');
    const dense = denseEncoding([3, 3, 128, 128], new Float32Array(9 * 128 * 128).fill(1));
    const pruned = maskedEncoding(dense, blockMask([3, 3, 128, 128], 4, 4, 0.1, 2));
    const macs = 16 * 16 * 9 * 128 * 128;
    const a = cost('c', 'conv2d', summarize(dense), macs),
      b = cost('c', 'conv2d', summarize(pruned), macs);
    expect(b.latencyMs).toBeLessThan(a.latencyMs);
    expect(b.energyMj).toBeLessThan(a.energyMj);
    expect(a.storageBytes).toBe(9 * 128 * 128 * 4);
    expect(b.storageBytes).toBe(summarize(pruned).storageBits / 8);
  });
});

describe('bad input', () => {
  const m = initModel(lenet5(), 0);
  const code = (fn: () => unknown): string => {
    try {
      fn();
    } catch (e) {
      if (isCompressionError(e)) return `${e.code}: ${e.message}`;
      throw e;
    }
    return 'no error';
  };
  it('batch < 1', () => expect(code(() => estimateCost(m, { batch: 0 }))).toMatch(/^BAD_CONFIG: batch must be an integer ≥ 1, got 0/));
  it('an unsupported layer', () => {
    const bad = { ...m, ir: { ...m.ir, layers: [...m.ir.layers, { kind: 'lstm', name: 'rnn' }] } } as unknown as Model;
    expect(code(() => estimateCost(bad, { devices: ['mobile-cpu'] }))).toMatch(/^UNSUPPORTED_LAYER: .*'rnn'.*'lstm'/);
  });
  it('local-wasm without a calibration says to run calibrate', () => {
    expect(code(() => estimateCost(m, { devices: ['local-wasm'] }))).toMatch(/^BAD_CONFIG: .*local-wasm.*calibrate/);
  });
  it('an unknown device', () => expect(code(() => estimateCost(m, { devices: ['fpga'] }))).toMatch(/unknown device 'fpga'/));
  it('the typed error is a CompressionError', () => {
    try {
      estimateCost(m, { batch: -1 });
    } catch (e) {
      expect(e).toBeInstanceOf(CompressionError);
    }
    expect.assertions(1);
  });
});
