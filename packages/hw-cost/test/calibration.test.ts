import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { conv2dLayer, createRng, initModel, isCompressionError, lenet5, predict, type ModelIR } from '@edge-compress/core';
import { RandomForestRegression } from 'ml-random-forest';
import {
  buildStockModel,
  compileForest,
  estimateCost,
  modelFeatures,
  fitCalibration,
  identityConfigs,
  irMacs,
  nnls,
  fitKernelModel,
  irFeatures,
  layerMs,
  layerVector,
  layerConfigs,
  loadCalibration,
  measureInProcesses,
  modelSpecs,
  predictLocalIR,
  saveCalibration,
  type Calibration,
  type TimingItem,
} from '../src/index.js';

const dir = await mkdtemp(join(tmpdir(), 'hwcost-cal-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A synthetic "machine": 20 µs per call + 15 µs per layer + 2·MACs at 10 GFLOP/s (independent of the predictor's formulas). */
const synthetic = (it: TimingItem) => 0.02 + 0.015 * it.ir.layers.length + ((2 * irMacs(it.ir, it.batch)) / 1e10) * 1e3;

function fitted(): Calibration {
  const layerItems = layerConfigs({ count: 40, seed: 3 });
  const identityItems = identityConfigs(3);
  const modelItems = modelSpecs(12, 77).map((s, i) => ({ id: `m${i}`, ir: s.ir, batch: 1 + (i % 2) * 7 }));
  const ms = Object.fromEntries([...layerItems, ...identityItems, ...modelItems].map((it) => [it.id, synthetic(it)]));
  const fit = fitCalibration({ layerItems, identityItems, modelItems, ms }, { nEstimators: 10, seed: 1 });
  return { ...fit, createdAt: 'test', deviceState: {}, protocol: { processes: 0, rounds: 0, configs: 43, models: 12 } };
}

describe('local-wasm calibration', () => {
  const cal = fitted();

  it('generators are seeded, deduplicated and disjoint between calibration and validation seeds', () => {
    const a = layerConfigs({ count: 30, seed: 5 }),
      b = layerConfigs({ count: 30, seed: 5 });
    expect(a.map((x) => JSON.stringify(x.ir))).toEqual(b.map((x) => JSON.stringify(x.ir)));
    expect(new Set(a.map((x) => JSON.stringify([x.ir.inputShape, x.ir.layers, x.batch]))).size).toBe(30);
    const cal = new Set(modelSpecs(36, 5001).map((s) => JSON.stringify([s.ir.inputShape, s.ir.layers])));
    const held = modelSpecs(60, 9001).map((s) => JSON.stringify([s.ir.inputShape, s.ir.layers]));
    expect(held.filter((h) => cal.has(h))).toEqual([]);
  });

  it('fits the synthetic machine: the learned model follows MACs (larger models predicted slower)', () => {
    const small = predictLocalIR(cal, modelSpecs(1, 123)[0]!.ir, 1).latencyMs;
    const lenetB1 = predictLocalIR(cal, lenet5(), 1).latencyMs,
      lenetB32 = predictLocalIR(cal, lenet5(), 32).latencyMs;
    expect(small).toBeGreaterThan(0);
    expect(lenetB32).toBeGreaterThan(lenetB1);
    // Roofline recovered from the synthetic data within a factor of 2 of 10 GFLOP/s.
    expect(cal.params.peakOps).toBeGreaterThan(5e9);
    expect(cal.params.peakOps).toBeLessThan(2e10);
  });

  it('the additive per-kernel model recovers the synthetic machine on models it never saw (per-call + per-layer + MAC cost)', () => {
    for (const s of modelSpecs(10, 4242))
      for (const b of [1, 32]) {
        const it = { id: 'x', ir: s.ir, batch: b };
        const p = predictLocalIR(cal, s.ir, b);
        expect(Math.abs(p.latencyMs / synthetic(it) - 1)).toBeLessThan(0.05);
        // Layer rows are non-negative and, with the per-call cost, add up to the total.
        for (const l of p.layers) expect(l.latencyMs).toBeGreaterThanOrEqual(0);
        expect(p.layers.reduce((a, l) => a + l.latencyMs, 0)).toBeLessThan(p.latencyMs);
      }
    expect(cal.kernel.theta.every((t) => t >= 0)).toBe(true);
    expect(cal.modelForest).toBeNull(); // 12 calibration models < 20
  });

  it('nnls: exact on a consistent system, clamps a coefficient that least squares would make negative', () => {
    const rng = createRng(8);
    const X = Array.from({ length: 40 }, () => [1, rng.next() * 5, rng.next() * 3]);
    const exact = nnls(
      X,
      X.map((r) => 0.5 + 2 * r[1]! + 0.25 * r[2]!),
    );
    [0.5, 2, 0.25].forEach((v, i) => expect(exact[i]!).toBeCloseTo(v, 6));
    const clamped = nnls(
      X,
      X.map((r) => 1 + r[1]! - 0.5 * r[2]!),
    );
    expect(clamped[2]).toBe(0);
    expect(clamped[1]!).toBeGreaterThan(0);
  });

  it('with ≥ 20 calibration model timings a model-level forest corrects a non-additive machine', () => {
    // Machine whose whole models cost 1.3× the sum of their layers at batch 32 (cache pressure), 1× at batch 1.
    const layerItems = layerConfigs({ count: 40, seed: 3 });
    const identityItems = identityConfigs(3);
    const specs = modelSpecs(20, 77);
    const modelItems = specs.flatMap((s, i) => [1, 32].map((batch) => ({ id: `m${i}-${batch}`, ir: s.ir, batch })));
    const nonAdditive = (it: TimingItem) => synthetic(it) * (it.batch === 32 && it.ir.layers.length > 1 ? 1.3 : 1);
    const ms = Object.fromEntries([...layerItems, ...identityItems, ...modelItems].map((it) => [it.id, nonAdditive(it)]));
    const fit = fitCalibration({ layerItems, identityItems, modelItems, ms }, { nEstimators: 30, seed: 2 });
    const c: Calibration = { ...fit, createdAt: 'test', deviceState: {}, protocol: { processes: 0, rounds: 0, configs: 49, models: 40 } };
    expect(c.modelForest).not.toBeNull();
    const held = modelSpecs(8, 4343).map((s) => ({ id: 'h', ir: s.ir, batch: 32 }));
    const err = (correct: boolean) => held.reduce((a, it) => a + Math.abs(Math.log(predictLocalIR(c, it.ir, it.batch, { correct }).latencyMs / nonAdditive(it))), 0) / held.length;
    expect(err(true)).toBeLessThan(err(false));
    expect(err(true)).toBeLessThan(0.1);
  });

  it('layerMs equals the dot product of the layer vector with the coefficients', () => {
    for (const f of irFeatures(lenet5(), 4)) {
      const dot = layerVector(f).reduce((a, x, i) => a + x * cal.kernel.theta[i]!, 0);
      expect(layerMs(f, cal.kernel.theta)).toBeCloseTo(dot, 12);
    }
  });

  it('adaptive repeats: more processes only while the two best processes of an item disagree, at most maxProcesses', async () => {
    // A fake timing worker: 'steady' always 1 ms; 'noisy' 2, 1.5, 1.2, 1.19, 1.18 … ms in processes 0, 1, 2, 3, 4.
    const worker = join(dir, 'fakeWorker.mjs');
    await writeFile(
      worker,
      `const c = []; for await (const x of process.stdin) c.push(x);
const job = JSON.parse(Buffer.concat(c).toString());
const p = Math.floor(job.options.seed / 7919);
const noisy = [2, 1.5, 1.2, 1.19, 1.18, 1.17][p];
process.stdout.write(JSON.stringify({ timings: job.items.map((it) => ({ id: it.id, minMs: it.id === 'noisy' ? noisy : 1 })) }));`,
    );
    const items = identityConfigs(1, [1])
      .slice(0, 2)
      .map((it, i) => ({ ...it, id: i ? 'noisy' : 'steady' }));
    const adaptive = await measureInProcesses(items, { processes: 3, maxProcesses: 6, agree: 0.05, workerPath: worker, seed: 0 });
    expect(adaptive.extraProcesses).toBe(1); // 1.2 and 1.19 agree within 5 %: stop after process 4
    expect(adaptive.perProcess.noisy).toEqual([2, 1.5, 1.2, 1.19]);
    expect(adaptive.unstableItems).toBe(0);
    const capped = await measureInProcesses(items, { processes: 1, maxProcesses: 2, agree: 0.05, workerPath: worker, seed: 0 });
    expect(capped.extraProcesses).toBe(1); // 2 vs 1.5 still unstable, but the cap is 2 processes
    expect(capped.unstableItems).toBe(1);
    expect(capped.ms.noisy).toBe(1.5);
  });

  it('a typed error inside a timing worker reaches the caller whole (code, message, hint) and is not retried', async () => {
    // A fake worker that answers as the real one does when timing fails with a CompressionError.
    const worker = join(dir, 'failingWorker.mjs');
    await writeFile(
      worker,
      `for await (const x of process.stdin);
process.stdout.write(JSON.stringify({ error: { code: 'BAD_CONFIG', message: 'layer kind foo cannot be timed', hint: 'remove it' } }));
process.exitCode = 3;`,
    );
    const progress: string[] = [];
    const err = await measureInProcesses(identityConfigs(1, [1]).slice(0, 1), { processes: 2, workerPath: worker, onProgress: (m) => progress.push(m) }).catch((e: unknown) => e);
    expect(isCompressionError(err, 'BAD_CONFIG'), String(err)).toBe(true);
    expect((err as Error).message).toBe('layer kind foo cannot be timed. remove it');
    expect(progress.filter((m) => m.includes('retrying'))).toEqual([]);
  });

  it('fitKernelModel ignores zero / NaN timings', () => {
    const f = irFeatures(modelSpecs(1, 5)[0]!.ir, 1);
    const th = fitKernelModel([
      { features: f, ms: 0.1 },
      { features: f, ms: Number.NaN },
      { features: f, ms: 0 },
    ]);
    expect(th.every((t) => Number.isFinite(t) && t >= 0)).toBe(true);
  });

  it('round-trips through JSON: identical predictions after save and load', async () => {
    const path = join(dir, 'cal.json');
    await saveCalibration(cal, path);
    const back = await loadCalibration(path);
    for (const s of modelSpecs(5, 42)) for (const b of [1, 32]) expect(predictLocalIR(back, s.ir, b).latencyMs).toBe(predictLocalIR(cal, s.ir, b).latencyMs);
    const m = initModel(lenet5(), 0);
    const [e] = estimateCost(m, { devices: ['local-wasm'], calibration: back });
    expect(e!.method).toBe('calibrated');
    expect(e!.latencyMs).toBeCloseTo(predictLocalIR(cal, lenet5(), 1).latencyMs, 9);
    expect(e!.layers.map((l) => l.name)).toEqual(lenet5().layers.map((l) => l.name));
  });

  it('the flat forest evaluator agrees with ml-random-forest predict', () => {
    const rng = createRng(4);
    const X = Array.from({ length: 80 }, () => Array.from({ length: 6 }, () => rng.next() * 10));
    const y = X.map((r) => Math.sin(r[0]!) + r[1]! * r[2]! - (r[5]! > 5 ? 3 : 0));
    const rf = new RandomForestRegression({ nEstimators: 12, maxFeatures: 0.7, replacement: false, seed: 3, useSampleBagging: true, noOOB: true, treeOptions: { maxDepth: 8 } });
    rf.train(X, y);
    const json = JSON.parse(JSON.stringify(rf.toJSON()));
    const Q = Array.from({ length: 30 }, () => Array.from({ length: 6 }, () => rng.next() * 10));
    const ref = rf.predict(Q);
    const fast = compileForest(json);
    Q.forEach((q, i) => expect(fast(q)).toBeCloseTo(ref[i]!, 12));
    expect(new Set(ref.map((v) => v.toFixed(6))).size).toBeGreaterThan(5);
  });

  it('a missing or corrupt calibration is a typed error naming the file', async () => {
    await expect(loadCalibration(join(dir, 'none.json'))).rejects.toThrow(/does not exist.*run `edge-compress calibrate`.*saveCalibration\(await calibrate\(\{ quick: true \}\)\)/);
    const bad = join(dir, 'bad.json');
    const raw = JSON.parse(await readFile(join(dir, 'cal.json'), 'utf8'));
    delete raw.params;
    await writeFile(bad, JSON.stringify(raw));
    const err = await loadCalibration(bad).catch((e: unknown) => e);
    expect(isCompressionError(err, 'BAD_CONFIG')).toBe(true);
    expect(String((err as Error).message)).toContain(`${bad}: field 'params'`);
    await writeFile(bad, JSON.stringify({ ...JSON.parse(await readFile(join(dir, 'cal.json'), 'utf8')), version: 1 }));
    await expect(loadCalibration(bad)).rejects.toThrow(/older hw-cost \(version 1, expected 3\).*calibrate/);
  });

  it('times stock model.predict in-process (protocol plumbing; no timing assertions) without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const items = identityConfigs(1, [1])
      .slice(0, 1)
      .concat(layerConfigs({ count: 2, seed: 9, batches: [1] }));
    const r = await measureInProcesses(items, { processes: 0, rounds: 2, blockMs: 0.5 });
    expect(Object.keys(r.ms).sort()).toEqual(items.map((i) => i.id).sort());
    for (const v of Object.values(r.ms)) expect(Number.isFinite(v) && v > 0).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('graphs (forks, residual adds, concatenations) and zero padding', () => {
  const ir: ModelIR = {
    format: 'edge-compress/ir',
    version: 1,
    name: 'res',
    inputShape: [8, 8, 2],
    layers: [
      conv2dLayer('a', 4),
      conv2dLayer('b', 4, { activation: 'linear' }),
      { kind: 'add', name: 'skip', inputs: ['a', 'b'] },
      conv2dLayer('side', 3, { kernelSize: [1, 1], padding: 'valid', useBias: false, inputs: ['@input'] }),
      { kind: 'concatenate', name: 'cat', inputs: ['skip', 'side'] },
      {
        kind: 'zeroPad2d',
        name: 'pad',
        padding: [
          [1, 0],
          [0, 2],
        ],
      },
      { kind: 'flatten', name: 'flat' },
      { kind: 'dense', name: 'out', units: 3, activation: 'softmax', useBias: true },
    ],
  };

  it('prices the joins: an add reads both inputs, a concatenation copies its channels; every device gets a finite cost', () => {
    const m = initModel(ir, 2);
    const f = modelFeatures(m, 1);
    const skip = f.find((l) => l.name === 'skip')!,
      cat = f.find((l) => l.name === 'cat')!;
    expect([skip.op, skip.actInElems, skip.actOutElems, skip.ops]).toEqual(['add', 2 * 8 * 8 * 4, 8 * 8 * 4, 8 * 8 * 4]);
    expect([cat.op, cat.actInElems, cat.actOutElems, cat.Cout]).toEqual(['concatenate', 8 * 8 * 7, 8 * 8 * 7, 7]);
    const pad = f.find((l) => l.name === 'pad')!;
    expect([pad.op, pad.Ho, pad.Wo, pad.actOutElems]).toEqual(['zeroPad2d', 9, 10, 9 * 10 * 7]);
    const all = estimateCost(m, { calibration: fitted() });
    expect(all.length).toBeGreaterThan(4);
    for (const e of all) expect(Number.isFinite(e.latencyMs) && e.latencyMs > 0, e.device).toBe(true);
  });

  it('builds the stock tfjs-layers functional model of a graph, predicting what core predicts', async () => {
    const stock = await buildStockModel(ir, 2);
    const m = initModel(ir, 2);
    const x = Float32Array.from({ length: 4 * 128 }, (_, i) => Math.sin(i));
    const theirs = tf.tidy(() => (stock.predict(tf.tensor(x, [4, 8, 8, 2])) as tf.Tensor).dataSync().slice());
    const ours = predict(m, x, 4);
    expect(ours.length).toBe(12);
    for (let i = 0; i < ours.length; i++) expect(Math.abs(ours[i]! - theirs[i]!)).toBeLessThan(1e-5);
    stock.dispose();
  });
});
