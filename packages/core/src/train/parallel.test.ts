import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import '../node/workers.js'; // registers worker_threads (what the Node entry does)
import { isCompressionError } from '../errors.js';
import { maskedEncoding, toDense } from '../encodings/index.js';
import type { ModelIR } from '../ir/types.js';
import { initModel, type Model } from '../model/model.js';
import { topkMask } from '../tensor/prune.js';
import { createRng } from '../tensor/rng.js';
import { expectClose, toyConvIR, toyData, toyMlpIR } from '../testing/index.js';
import {
  abortControl,
  adamKernel,
  allocateUpdateMemory,
  blockUntil,
  combineBnStats,
  controlBlock,
  gradsWord,
  packLayout,
  portableLayerForward,
  reduceAndUpdate,
  resolveWorkers,
  shardCoefs,
  shardSizes,
  signal,
  updateRange,
  updateViews,
} from './parallel.js';
import { trainThroughEncodings } from './through.js';
import { Trainer, type FitOptions } from './trainer.js';

const FC = { seed: 20261202, numRuns: 50 };

/** toyConvIR with a batch-norm layer (its moving statistics come from every shard). */
function bnConvIR(): ModelIR {
  const ir = toyConvIR();
  return {
    ...ir,
    name: 'toyconvbn',
    layers: [ir.layers[0]!, { kind: 'batchNorm', name: 'bn1', axis: -1, momentum: 0.9, epsilon: 1e-3, center: true, scale: true }, ...ir.layers.slice(1)],
  } as ModelIR;
}

/** Trains a copy of `model` with `opts` and returns its parameters and statistics after `fit`. */
async function trainedValues(model: Model, data: ReturnType<typeof toyData>, opts: FitOptions): Promise<{ values: Record<string, Float32Array>; workers: number }> {
  const t = new Trainer(model);
  try {
    const h = await t.fit(data, opts);
    const values: Record<string, Float32Array> = {};
    for (const n of [...Object.keys(t.params), ...Object.keys(t.stats)]) values[n] = t.read(n);
    return { values, workers: h[0]!.workers };
  } finally {
    await t.closeWorkers();
    t.dispose();
  }
}

function expectSameValues(a: Record<string, Float32Array>, b: Record<string, Float32Array>, tol: number): void {
  expect(Object.keys(a).sort()).toEqual(Object.keys(b).sort());
  for (const k of Object.keys(a)) expectClose(a[k]!, b[k]!, tol);
}

/** The same fit in-process and with 2 workers ends at the same parameters. */
async function expectParallelMatches(ir: ModelIR, seed: number, data: ReturnType<typeof toyData>, opts: FitOptions): Promise<void> {
  const base = await trainedValues(initModel(ir, seed), data, opts);
  const par = await trainedValues(initModel(ir, seed), data, { ...opts, workers: 2 });
  expectSameValues(par.values, base.values, 5e-5);
}

describe('the fused update', () => {
  it('the SIMD Adam kernel on the shared wasm memory gives the JS update (two shards, weight decay on kernels, a slot split across ranges)', () => {
    const slots = packLayout([
      ['a/kernel', [37, 5]],
      ['a/bias', [5]],
      ['b/kernel', [3, 7]],
    ]);
    const total = slots.total;
    slots.slots.forEach((s) => (s.weightOffset = s.offset));
    const mem = allocateUpdateMemory(total, 2 * total, 2 * total);
    const kernel = mem.memory && adamKernel(mem.memory);
    expect(kernel, 'Node has shared wasm memory and SIMD: the kernel must load').toBeTypeOf('function');
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 40 }), (seed, t, n0) => {
        const rng = createRng(seed);
        const v = updateViews(mem);
        for (const a of [v.weights, v.grads]) for (let i = 0; i < a.length; i++) a[i] = rng.normal();
        for (let i = 0; i < v.state.length; i++) v.state[i] = i < total ? 0.1 * rng.normal() : Math.abs(0.01 * rng.normal());
        const plain = { weights: v.weights.slice(), grads: v.grads.slice(), state: v.state.slice() };
        const spec = { kind: 'adam' as const, lr: 0.01, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, momentum: 0, nesterov: false, t, weightDecay: 0.05 };
        const coefs = shardCoefs([n0, 40 - n0 + 1]);
        // two threads' ranges: the first splits a/kernel
        for (const [from, to] of [updateRange(total, 2, 0), updateRange(total, 2, 1)]) {
          reduceAndUpdate(spec, slots.slots, total, from!, to!, coefs, v.grads, v.weights, v.state, kernel);
          reduceAndUpdate(spec, slots.slots, total, from!, to!, coefs, plain.grads, plain.weights, plain.state);
        }
        for (const [x, y] of [
          [v.weights, plain.weights],
          [v.state, plain.state],
        ] as const)
          for (let i = 0; i < x.length; i++) expect(Math.abs(x[i]! - y[i]!)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(y[i]!)));
      }),
      { numRuns: 30, seed: 7 },
    );
  });
});

describe('shards', () => {
  it('cover the batch exactly, differ by at most one, shard 0 (the calling thread) is never the larger', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 512 }), fc.integer({ min: 1, max: 16 }), (n, k) => {
        fc.pre(k <= n);
        const s = shardSizes(n, k);
        expect(s).toHaveLength(k);
        expect(s.reduce((a, b) => a + b, 0)).toBe(n);
        expect(Math.max(...s) - Math.min(...s)).toBeLessThanOrEqual(1);
        expect(s[0]).toBe(Math.min(...s));
      }),
      FC,
    );
  });

  it('batch-norm statistics combined from shards equal those of the whole batch', () => {
    fc.assert(
      fc.property(fc.array(fc.array(fc.float({ min: -10, max: 10, noNaN: true }), { minLength: 1, maxLength: 9 }), { minLength: 1, maxLength: 5 }), (parts) => {
        const all = parts.flat();
        const mean = all.reduce((a, b) => a + b, 0) / all.length;
        const variance = all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length;
        const shard = (xs: number[]): { count: number; bn: Array<{ layer: string; mean: Float32Array; variance: Float32Array }> } => {
          const m = xs.reduce((a, b) => a + b, 0) / xs.length;
          return { count: xs.length, bn: [{ layer: 'bn', mean: Float32Array.of(m), variance: Float32Array.of(xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length) }] };
        };
        const [c] = combineBnStats(parts.map(shard));
        expect(c!.mean[0]).toBeCloseTo(mean, 3);
        expect(c!.variance[0]).toBeCloseTo(variance, 2);
      }),
      FC,
    );
  });
});

describe('the meeting points', () => {
  it('a control word wakes a thread blocked on it; a budget runs out; an abort releases every waiter', async () => {
    const ctl = controlBlock(2);
    expect(blockUntil(ctl, gradsWord(1), 1, 5)).toBe(false);
    signal(ctl, gradsWord(1), 1);
    expect(blockUntil(ctl, gradsWord(1), 1, 5)).toBe(true);
    expect(blockUntil(ctl, gradsWord(1), 2, 5)).toBe(false);
    // another thread sets the word while this one is blocked (a plain worker: no tfjs)
    const { Worker } = await import('node:worker_threads');
    const w = new Worker(`const { workerData: c } = require('node:worker_threads'); setTimeout(() => { Atomics.store(c, 3, 7); Atomics.notify(c, 3); }, 30);`, {
      eval: true,
      workerData: ctl,
    });
    try {
      expect(blockUntil(ctl, gradsWord(1), 7, 10_000)).toBe(true);
    } finally {
      await w.terminate();
    }
    abortControl(ctl);
    expect(() => blockUntil(ctl, gradsWord(0), 1, 10_000)).toThrow(/abandoned/);
  });
});

describe('data-parallel fit (worker_threads)', () => {
  const data = toyData(96, [8, 8, 1], 3);
  const sgd: FitOptions = { epochs: 1, batchSize: 32, seed: 7, optimizer: { kind: 'sgd', lr: 0.1 } };

  it('2 and 3 workers take the same steps as in-process training (same gradients, summed over shards)', async () => {
    const base = await trainedValues(initModel(toyConvIR(), 1), data, sgd);
    expect(base.workers).toBe(1);
    for (const workers of [2, 3]) {
      const par = await trainedValues(initModel(toyConvIR(), 1), data, { ...sgd, workers });
      expect(par.workers).toBe(workers);
      expectSameValues(par.values, base.values, 2e-5);
    }
    // and the parameters did move (the comparison is not between two untouched models)
    expect(Math.abs(base.values['fc2/bias']![0]! - toDense(initModel(toyConvIR(), 1).weights['fc2/bias']!)[0]!)).toBeGreaterThan(1e-4);
  });

  it('Adam, weight decay and an extraLoss hook (some steps without a penalty): the same steps as in-process', async () => {
    const opts: FitOptions = {
      epochs: 2,
      batchSize: 32,
      seed: 3,
      optimizer: { kind: 'adam', lr: 1e-2 },
      weightDecay: 1e-3,
      // a penalty on every other step: the steps without one take the summed gradient as it is
      hooks: { extraLoss: (p, i) => (i.globalStep % 2 ? undefined : (tf.mul(0.01, tf.sum(tf.abs(p['fc1/kernel']!))) as tf.Scalar)) },
    };
    await expectParallelMatches(toyConvIR(), 2, data, opts);
  });

  it('the fused update (no transform, no extraLoss) matches tfjs: Adam with weight decay and a schedule, Nesterov momentum, an afterStep hook', async () => {
    const cases: FitOptions[] = [
      { epochs: 2, batchSize: 32, seed: 5, optimizer: { kind: 'adam', lr: 1e-2 }, weightDecay: 1e-3, lrSchedule: (i) => 1e-2 / (1 + i.globalStep) },
      { epochs: 2, batchSize: 32, seed: 6, optimizer: { kind: 'sgd', lr: 0.05, momentum: 0.9, nesterov: true } },
      // afterStep changes the variables (a clip): the next step must start from the clipped values
      {
        epochs: 1,
        batchSize: 32,
        seed: 8,
        optimizer: { kind: 'sgd', lr: 0.5 },
        hooks: { afterStep: (p) => tf.tidy(() => void p['fc1/kernel']!.assign(tf.clipByValue(p['fc1/kernel']!, -0.05, 0.05))) },
      },
    ];
    for (const opts of cases) await expectParallelMatches(toyConvIR(), 3, data, opts);
  });

  it('a last batch smaller than the worker count (shard 0 empty): the same steps as in-process', async () => {
    // 66 examples in batches of 32: the last batch of 2 splits 0 / 1 / 1 over 3 threads
    const d = toyData(66, [8, 8, 1], 4);
    const penalty: FitOptions['hooks'] = { extraLoss: (p) => tf.mul(0.01, tf.sum(tf.square(p['fc1/kernel']!))) as tf.Scalar };
    for (const opts of [sgd, { ...sgd, optimizer: { kind: 'adam', lr: 1e-2 } } as FitOptions, { ...sgd, optimizer: { kind: 'adam', lr: 1e-2 }, hooks: penalty } as FitOptions]) {
      const base = await trainedValues(initModel(toyConvIR(), 6), d, opts);
      const par = await trainedValues(initModel(toyConvIR(), 6), d, { ...opts, workers: 3 });
      expect(par.workers).toBe(3);
      expectSameValues(par.values, base.values, 5e-5);
    }
  });

  it("a Trainer's next fit reuses its buffers and workers, and starts from fresh optimizer moments as in-process", async () => {
    const fits: FitOptions[] = [
      { epochs: 1, batchSize: 32, seed: 1, optimizer: { kind: 'adam', lr: 1e-2 } },
      { epochs: 1, batchSize: 32, seed: 2, optimizer: { kind: 'adam', lr: 3e-3 } },
    ];
    const run = async (workers: number): Promise<Record<string, Float32Array>> => {
      const t = new Trainer(initModel(toyConvIR(), 7));
      try {
        const buffers: unknown[] = [];
        for (const f of fits) {
          await t.fit(data, { ...f, workers });
          buffers.push((t as unknown as { parallel?: { weights: unknown } }).parallel?.weights);
        }
        if (workers > 1) expect(buffers[1]).toBe(buffers[0]);
        return Object.fromEntries(Object.keys(t.params).map((n) => [n, t.read(n)]));
      } finally {
        await t.closeWorkers();
        t.dispose();
      }
    };
    expectSameValues(await run(2), await run(1), 5e-5);
  });

  it('batch-norm moving statistics are those of the whole batch', async () => {
    const opts: FitOptions = { epochs: 1, batchSize: 48, seed: 3, optimizer: { kind: 'sgd', lr: 0.1 } };
    const model = initModel(bnConvIR(), 2);
    // one step: the shards normalise with their own statistics afterwards, so only the first step is exact
    const one = { ...opts, epochs: 1 };
    const small = toyData(48, [8, 8, 1], 5);
    const base = await trainedValues(model, small, one);
    const par = await trainedValues(model, small, { ...one, workers: 2 });
    expectClose(par.values['bn1/moving_mean']!, base.values['bn1/moving_mean']!, 1e-5);
    expectClose(par.values['bn1/moving_variance']!, base.values['bn1/moving_variance']!, 1e-5);
    expect(Math.abs(base.values['bn1/moving_mean']![0]!)).toBeGreaterThan(1e-4);
  });

  it('trains through encodings: the transform hook runs here, pruned weights stay 0, same step as in-process', async () => {
    const model = initModel(toyConvIR(), 4);
    const k = model.weights['fc1/kernel']!;
    const kv = toDense(k);
    const mask = topkMask(kv.map(Math.abs), Math.round(kv.length * 0.25));
    const masked: Model = { ...model, weights: { ...model.weights, 'fc1/kernel': maskedEncoding(k, mask) } };
    const run = async (workers: number): Promise<Float32Array> => {
      const tt = trainThroughEncodings(masked, ['fc1/kernel']);
      try {
        const h = await tt.fit(data, { ...sgd, workers });
        expect(h[0]!.workers).toBe(workers);
        const w = tf.tidy(() => tt.effective('fc1/kernel').dataSync() as Float32Array);
        await tt.trainer.closeWorkers();
        return w;
      } finally {
        tt.dispose();
      }
    };
    const a = await run(1),
      b = await run(2);
    expectClose(b, a, 2e-5);
    expect(Array.from(b).filter((v, i) => !mask[i] && v !== 0)).toHaveLength(0);
  });

  it('is deterministic for a seed and a worker count (dropout and augmentation included)', async () => {
    const ir = toyMlpIR();
    const withDropout: ModelIR = { ...ir, layers: [ir.layers[0]!, { kind: 'dropout', name: 'drop', rate: 0.3 }, ir.layers[1]!] } as ModelIR;
    const d = toyData(64, [16], 1);
    const opts: FitOptions = { epochs: 2, batchSize: 16, seed: 9, workers: 2, augment: { maxShift: 1, imageShape: [4, 4, 1] } };
    const a = await trainedValues(initModel(withDropout, 0), d, opts);
    const b = await trainedValues(initModel(withDropout, 0), d, opts);
    expectSameValues(a.values, b.values, 0);
  });

  it('reaches the accuracy of in-process training; tensors flat across epochs; workers reused across fits', async () => {
    const train = toyData(256, [8, 8, 1], 11),
      test = toyData(128, [8, 8, 1], 12);
    const t = new Trainer(initModel(toyConvIR(), 5));
    try {
      const counts: number[] = [];
      const h = await t.fit(train, {
        epochs: 4,
        batchSize: 32,
        seed: 1,
        workers: 2,
        test,
        optimizer: { kind: 'adam', lr: 1e-2 },
        hooks: { afterEpoch: () => void counts.push(tf.memory().numTensors) },
      });
      expect(new Set(counts).size).toBe(1);
      const h2 = await t.fit(train, { epochs: 1, batchSize: 32, seed: 2, workers: 2, test });
      expect(h2[0]!.workers).toBe(2);
      const ref = new Trainer(initModel(toyConvIR(), 5));
      const r = await ref.fit(train, { epochs: 4, batchSize: 32, seed: 1, test, optimizer: { kind: 'adam', lr: 1e-2 } });
      ref.dispose();
      expect(r[3]!.testAccuracy!).toBeGreaterThan(0.9);
      expect(Math.abs(h[3]!.testAccuracy! - r[3]!.testAccuracy!)).toBeLessThanOrEqual(0.05);
    } finally {
      await t.closeWorkers();
      t.dispose();
    }
  });

  it('a portable layerForward runs in the workers too: the same steps as in-process; a module workers cannot load falls back to in-process', async () => {
    const fixture = new URL('../../test/fixtures/scaledDense.mjs', import.meta.url).href;
    const { scaledDense } = (await import(fixture)) as { scaledDense: (a: unknown) => NonNullable<FitOptions['hooks']>['layerForward'] };
    const args = { layers: ['fc1'], scale: 0.5 };
    const hooks = (module: string) => ({ layerForward: portableLayerForward(scaledDense(args)!, { module, export: 'scaledDense', args }) });
    const opts: FitOptions = { epochs: 1, batchSize: 32, seed: 4, optimizer: { kind: 'adam', lr: 1e-2 } };
    const base = await trainedValues(initModel(toyConvIR(), 8), data, { ...opts, hooks: hooks(fixture) });
    const par = await trainedValues(initModel(toyConvIR(), 8), data, { ...opts, hooks: hooks(fixture), workers: 2 });
    expect(par.workers).toBe(2);
    expectSameValues(par.values, base.values, 5e-5);
    // the hook really changes the step (a worker without it would compute other gradients)
    const plain = await trainedValues(initModel(toyConvIR(), 8), data, opts);
    expect(Math.max(...plain.values['fc1/kernel']!.map((v, i) => Math.abs(v - base.values['fc1/kernel']![i]!)))).toBeGreaterThan(1e-3);
    const missing = await trainedValues(initModel(toyConvIR(), 8), data, { ...opts, hooks: hooks(new URL('./no-such-module.mjs', fixture).href), workers: 2 });
    expect(missing.workers).toBe(1);
    expectSameValues(missing.values, base.values, 5e-5);
  });

  it('a layerForward hook (a closure over this thread) runs in-process, and says so', async () => {
    const h = await trainedValues(initModel(toyMlpIR(), 0), toyData(32, [16], 0), { epochs: 1, batchSize: 16, workers: 2, hooks: { layerForward: () => undefined } });
    expect(h.workers).toBe(1);
  });

  it.skipIf(!existsSync('/proc/self/task'))('leaves no thread behind: one per worker while the pool lives, none after closeWorkers or an abort', async () => {
    const threads = (): number => readdirSync('/proc/self/task').length;
    const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 100));
    const before = threads();
    const t = new Trainer(initModel(toyConvIR(), 0));
    try {
      await t.fit(data, { epochs: 1, batchSize: 32, workers: 3 });
      expect(threads()).toBe(before + 2);
      await t.closeWorkers();
      await settle();
      expect(threads()).toBe(before);
      const ac = new AbortController();
      await expect(t.fit(data, { epochs: 2, batchSize: 32, workers: 3, signal: ac.signal, hooks: { afterStep: () => ac.abort() } })).rejects.toThrow(/aborted/);
      await settle();
      expect(threads()).toBe(before);
    } finally {
      t.dispose();
    }
  });

  it('abort stops the workers; the next fit starts new ones', async () => {
    const t = new Trainer(initModel(toyConvIR(), 0));
    try {
      const ac = new AbortController();
      let err: unknown;
      try {
        await t.fit(data, { epochs: 3, batchSize: 16, workers: 2, signal: ac.signal, hooks: { afterStep: (_, i) => void (i.globalStep === 2 && ac.abort()) } });
      } catch (e) {
        err = e;
      }
      expect(isCompressionError(err, 'ABORTED'), String(err)).toBe(true);
      expect((t as unknown as { pool?: unknown }).pool).toBeUndefined();
      const h = await t.fit(data, { epochs: 1, batchSize: 16, workers: 2 });
      expect(h[0]!.workers).toBe(2);
    } finally {
      await t.closeWorkers();
      t.dispose();
    }
  });

  it('bad worker counts are typed errors naming the field', async () => {
    for (const w of [0, -1, 1.5, 'two' as unknown as number]) {
      let err: unknown;
      try {
        resolveWorkers(w, 64);
      } catch (e) {
        err = e;
      }
      expect(isCompressionError(err, 'BAD_CONFIG'), String(w)).toBe(true);
      expect((err as { path?: string }).path).toBe('workers');
    }
    const t = new Trainer(initModel(toyMlpIR(), 0));
    try {
      await expect(t.fit(toyData(32, [16], 0), { epochs: 1, batchSize: 4, workers: 8 })).rejects.toThrow(/workers \(8\) is more than the batch size \(4\)/);
    } finally {
      t.dispose();
    }
  });
});
