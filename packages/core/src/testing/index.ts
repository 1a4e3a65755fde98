/**
 * Test helpers for compression methods (`@edge-compress/core/testing`): toy models and data, a stock tfjs
 * loader over files, closeness checks, and the contract suite every Compressor runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import type { Compressor, CompressContext, Plan } from '../compressor.js';
import { createDataset, type Dataset } from '../data/dataset.js';
import { denseEncoding, encodePayload, type Encoding, maskedEncoding, quantizedEncoding, storageBits, toDense } from '../encodings/index.js';
import { defOf } from '../encodings/registry.js';
import { CompressionError, type ErrorCode } from '../errors.js';
import { loadModel } from '../node/modelio.js';
import { validateModel } from '../model/model.js';
import { chooseQuantParams } from '../tensor/quant.js';
import { topkMask } from '../tensor/prune.js';
import { predict, Trainer } from '../train/trainer.js';
import type { ModelIR } from '../ir/types.js';
import { initModel, type Model } from '../model/model.js';
import { saveModel } from '../node/modelio.js';
import { createRng } from '../tensor/rng.js';
import { isCompressionError } from '../errors.js';
import { loadWithStockTfjs } from '../node/stockLoad.js';
import type { BaseRule } from '../recipe/schema.js';
import { sizeOf } from '../ir/shapes.js';

/** A tiny conv net on 8×8×1 inputs (conv 3×3×4 → maxpool → flatten → dense 16 → dense 4). */
export function toyConvIR(): ModelIR {
  return {
    format: 'edge-compress/ir',
    version: 1,
    name: 'toyconv',
    inputShape: [8, 8, 1],
    layers: [
      { kind: 'conv2d', name: 'conv1', filters: 4, kernelSize: [3, 3], strides: [1, 1], padding: 'same', activation: 'relu', useBias: true },
      { kind: 'maxPool2d', name: 'pool1', poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
      { kind: 'flatten', name: 'flatten' },
      { kind: 'dense', name: 'fc1', units: 16, activation: 'relu', useBias: true },
      { kind: 'dense', name: 'fc2', units: 4, activation: 'softmax', useBias: true },
    ],
  };
}

/** A tiny MLP on 16 inputs (16 → 32 → 4). */
export function toyMlpIR(): ModelIR {
  return {
    format: 'edge-compress/ir',
    version: 1,
    name: 'toymlp',
    inputShape: [16],
    layers: [
      { kind: 'dense', name: 'fc1', units: 32, activation: 'relu', useBias: true },
      { kind: 'dense', name: 'fc2', units: 4, activation: 'softmax', useBias: true },
    ],
  };
}

/**
 * A learnable synthetic task: each class has a random prototype; examples are prototype + noise. Seeded.
 */
export function toyData(count: number, shape: number[], seed = 0, numClasses = 4, noise = 0.35): Dataset {
  const rng = createRng(seed + 1000);
  const per = sizeOf(shape);
  const protoRng = createRng(4242);
  const protos = Array.from({ length: numClasses }, () => Float32Array.from({ length: per }, () => protoRng.next()));
  const images = new Float32Array(count * per);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const y = i % numClasses;
    labels[i] = y;
    for (let p = 0; p < per; p++) images[i * per + p] = protos[y]![p]! + noise * rng.normal();
  }
  return createDataset({ images, labels, shape, numClasses });
}

/** Loads a saved model with stock tfjs-layers through its own http loader (see loadWithStockTfjs). */
export const stockLoad = loadWithStockTfjs;

export function expectClose(a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5): void {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / Math.max(1, Math.abs(b[i]!)));
  expect(worst).toBeLessThanOrEqual(tol);
}

export interface ContractFixture {
  model: Model;
  train: Dataset;
  val: Dataset;
  /** A config_list that compresses at least one layer. */
  configList: unknown[];
  options?: unknown;
  seed?: number;
  /**
   * The achieved figure of the result against the plan (e.g. sparsity vs sparse_ratio, bits vs quant_dtype),
   * with a tolerance. Required: a pruner that prunes nothing must fail the suite.
   */
  check: (result: Model, plan: Plan) => { achieved: number; target: number; tolerance: number };
  /** The method's own bad-config cases: each must fail at plan time with `code` (and a message matching `message`). */
  badConfigs?: Array<{ configList: unknown[]; options?: unknown; code: ErrorCode; message?: RegExp }>;
}

/** A default fixture on the toy conv net (seeded data, lightly trained weights). */
export async function toyFixture(configList: unknown[], check: ContractFixture['check'], options?: unknown): Promise<ContractFixture> {
  const ir = toyConvIR();
  const train = toyData(256, ir.inputShape, 1);
  const val = toyData(96, ir.inputShape, 2);
  return { model: await toyTrained(ir, train), train, val, configList, options, check };
}

const trainedCache = new Map<string, Model>();
/** The toy model after 8 seeded epochs (cached per IR name). */
export async function toyTrained(ir: ModelIR, train: Dataset): Promise<Model> {
  const hit = trainedCache.get(ir.name);
  if (hit) return hit;
  const t = new Trainer(initModel(ir, 3));
  try {
    await t.fit(train, { epochs: 8, batchSize: 32, seed: 3, optimizer: { kind: 'adam', lr: 3e-3 } });
    const m = t.toModel();
    trainedCache.set(ir.name, m);
    return m;
  } finally {
    t.dispose();
  }
}

/** Every kernel of `model` as per-tensor symmetric int8 codes (an "already quantized" input, made with core only). */
export function int8Model(model: Model): Model {
  const weights = { ...model.weights };
  for (const [n, e] of Object.entries(model.weights)) {
    if (!n.endsWith('/kernel')) continue;
    const v = toDense(e);
    weights[n] = quantizedEncoding(e.shape, v, chooseQuantParams(v, e.shape, { scheme: 'symmetric', bits: 8, axis: null }));
  }
  return { ir: model.ir, weights };
}

/** Every kernel of `model` magnitude-masked at `ratio` per layer (an "already pruned" input). */
export function maskedModel(model: Model, ratio = 0.5): Model {
  const weights = { ...model.weights };
  for (const [n, e] of Object.entries(model.weights)) {
    if (!n.endsWith('/kernel')) continue;
    const v = toDense(e);
    weights[n] = maskedEncoding(denseEncoding(e.shape, v.slice()), topkMask(v, v.length - Math.floor(ratio * v.length)));
  }
  return { ir: model.ir, weights };
}

/** A context whose `test` (which methods never get) throws when read, so a method that peeks at test fails. */
function guardedContext(f: ContractFixture, extra: Partial<CompressContext> = {}): CompressContext {
  const ctx = { train: f.train, val: f.val, seed: f.seed ?? 7, rng: createRng(f.seed ?? 7), ...extra };
  Object.defineProperty(ctx, 'test', {
    enumerable: false,
    get() {
      throw new CompressionError({
        code: 'TEST_DATA_ACCESSED',
        message: 'a compressor read ctx.test',
        hint: 'choose ratios, epochs and tables on ctx.train / ctx.val; the app measures test accuracy',
      });
    },
  });
  return ctx as CompressContext;
}

function snapshot(m: Model): string {
  return JSON.stringify(Object.entries(m.weights).map(([n, e]) => [n, e.kind, Array.from(toDense(e)).slice(0, 64), toDense(e).reduce((a, b) => a + b, 0)]));
}

function leaves(e: Encoding): string[] {
  return defOf(e).elementwise ? [e.kind] : Object.values(defOf(e).children(e)).flatMap(leaves);
}

async function expectCode(fn: () => unknown, code: ErrorCode, message?: RegExp): Promise<void> {
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  expect(isCompressionError(err), `expected a CompressionError ${code}, got ${String(err)}`).toBe(true);
  expect((err as CompressionError).code).toBe(code);
  if (message) expect((err as Error).message).toMatch(message);
}

const argmax = (p: Float32Array, k: number): number[] =>
  Array.from({ length: p.length / k }, (_, i) => {
    let b = 0;
    for (let c = 1; c < k; c++) if (p[i * k + c]! > p[i * k + b]!) b = c;
    return b;
  });

/**
 * The contract every compressor passes (the tfjs shared-suite idea). It checks: plans deterministic and JSON
 * round-trips; untargeted weights come back as the identical objects (batch-norm moving statistics may be re-estimated); the input model is not mutated; no tensor
 * or data-buffer leaks; the achieved figure matches the plan; save → load gives identical encodings and
 * predictions (and stock tfjs loads the files); storageBits matches the written payload; chained inputs (already
 * int8, already masked) keep their encodings where the method accepts them; same seed → identical output; an
 * aborted signal stops it with ABORTED; the test split is never read; bad recipes raise the right codes.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function runCompressorContract(c: Compressor<any, any>, fixture: () => ContractFixture | Promise<ContractFixture>): void {
  describe(`Compressor contract: ${c.name}`, () => {
    beforeAll(async () => {
      await initBackend('wasm');
    });
    it('plan is deterministic and round-trips through JSON', async () => {
      const f = await fixture();
      const p1 = c.plan(f.model.ir, f.configList, f.options);
      const p2 = c.plan(f.model.ir, f.configList, f.options);
      expect(JSON.stringify(p1)).toBe(JSON.stringify(p2));
      expect(JSON.parse(JSON.stringify(p1))).toEqual(p1);
      expect(p1.method).toBe(c.name);
      expect(p1.targets.length).toBeGreaterThan(0);
    });
    it('compresses: achieved figure, untargeted weights identical, input untouched, no leaks, test never read', async () => {
      const f = await fixture();
      const plan = c.plan(f.model.ir, f.configList, f.options);
      const snap = snapshot(f.model);
      const before = tf.memory();
      const { model, report } = await c.compress(f.model, guardedContext(f), plan);
      const after = tf.memory();
      expect(after.numTensors).toBe(before.numTensors);
      expect((after as { numDataBuffers: number }).numDataBuffers).toBe((before as { numDataBuffers: number }).numDataBuffers);
      expect(report.method).toBe(c.name);
      expect(snapshot(f.model)).toBe(snap);
      const targetedLayers = new Set(plan.targets.map((t) => t.layer));
      // Batch-norm moving statistics after a changed layer are re-estimated (refreshBatchNormStats), not carried over.
      for (const [name, e] of Object.entries(f.model.weights))
        if (!targetedLayers.has(name.split('/')[0]!) && !/\/moving_(mean|variance)$/.test(name))
          expect(model.weights[name], `untargeted '${name}' must be the same object`).toBe(e);
      const r = f.check(model, plan as Plan);
      expect(Math.abs(r.achieved - r.target), `achieved ${r.achieved} vs planned ${r.target}`).toBeLessThanOrEqual(r.tolerance);
      validateModel(model);
    });
    it('save → load: identical encodings and predictions; stock tfjs loads it; storage matches the payload', async () => {
      const f = await fixture();
      const { model } = await c.compress(f.model, guardedContext(f), c.plan(f.model.ir, f.configList, f.options));
      await withTempDir(async (dir) => {
        const saved = await saveModel(model, dir);
        const back = (await loadModel(dir)).model;
        for (const [n, e] of Object.entries(model.weights)) expect(back.weights[n], `'${n}' after save → load`).toEqual(e);
        const x = f.val.images.subarray(0, 32 * sizeOf(f.val.shape));
        expect(Array.from(predict(back, x, 32))).toEqual(Array.from(predict(model, x, 32)));
        for (const w of saved.weights) {
          if (w.storedAs !== 'extension') continue;
          const bytes = encodePayload([[w.name, model.weights[w.name]!]]).data.byteLength;
          const bits = storageBits(model.weights[w.name]!);
          expect(bytes * 8).toBeGreaterThanOrEqual(bits);
          expect(bytes - bits / 8, `'${w.name}': payload ${bytes} B vs storageBits ${bits / 8} B`).toBeLessThan(8);
        }
        const stock = await loadWithStockTfjs(saved.modelJson);
        try {
          const ours = argmax(predict(model, x, 32), f.val.numClasses);
          const theirs = argmax(
            tf.tidy(() => stock.predict(tf.tensor(x, [32, ...model.ir.inputShape], 'float32')).dataSync() as Float32Array),
            f.val.numClasses,
          );
          expect(theirs.filter((v, i) => v === ours[i]).length).toBeGreaterThanOrEqual(29);
        } finally {
          stock.dispose();
        }
      });
    });
    it('same seed → identical output', async () => {
      const f = await fixture();
      const plan = c.plan(f.model.ir, f.configList, f.options);
      const a = await c.compress(f.model, guardedContext(f), plan);
      const b = await c.compress(f.model, guardedContext(f), plan);
      for (const n of Object.keys(a.model.weights)) expect(b.model.weights[n]).toEqual(a.model.weights[n]);
    });
    it('chained: after int8 and after a mask, the encodings of earlier stages are kept (or the chain is refused at plan time)', async () => {
      const f = await fixture();
      for (const [label, input] of [
        ['int8', int8Model(f.model)],
        ['masked', maskedModel(f.model, 0.5)],
      ] as const) {
        const kinds = Object.fromEntries(Object.entries(input.weights).map(([n, e]) => [n, e.kind]));
        let plan: Plan;
        try {
          plan = c.plan(input.ir, f.configList, f.options, undefined, kinds) as Plan;
        } catch (e) {
          expect(isCompressionError(e, 'CHAIN_INVALID'), `${label}: a refused chain must be CHAIN_INVALID, got ${String(e)}`).toBe(true);
          continue;
        }
        const { model } = await c.compress(input, guardedContext(f), plan);
        for (const [n, e] of Object.entries(input.weights)) {
          const out = model.weights[n]!;
          if (!n.endsWith('/kernel')) continue;
          if (label === 'int8') expect(leaves(out), `${label}: '${n}' lost its int8 codes`).toContain('quantized');
          if (label === 'masked' && e.kind === 'masked') {
            const v = toDense(out);
            e.mask.forEach((m, i) => {
              if (!m && v[i] !== 0) throw new Error(`${label}: '${n}' revived pruned entry ${i}`);
            });
          }
        }
        const r = f.check(model, plan);
        expect(Math.abs(r.achieved - r.target)).toBeLessThanOrEqual(r.tolerance);
      }
    });
    it('honours an aborted signal with ABORTED and leaks nothing', async () => {
      const f = await fixture();
      const plan = c.plan(f.model.ir, f.configList, f.options);
      const ac = new AbortController();
      ac.abort();
      const before = tf.memory().numTensors;
      await expectCode(() => c.compress(f.model, guardedContext(f, { signal: ac.signal }), plan), 'ABORTED');
      expect(tf.memory().numTensors).toBe(before);
    });
    it('rejects an unknown layer name with TARGET_NOT_FOUND and a did-you-mean', async () => {
      const f = await fixture();
      const real = f.model.ir.layers.find((l) => l.kind === 'dense' || l.kind === 'conv2d')!.name;
      await expectCode(() => c.plan(f.model.ir, [{ ...(f.configList[0] as object), op_names: [`${real}x`], op_types: undefined }], f.options), 'TARGET_NOT_FOUND', /did you mean/);
    });
    it("rejects another method's key and an unknown key with RECIPE_INVALID naming the path", async () => {
      const f = await fixture();
      await expectCode(() => c.plan(f.model.ir, [{ ...(f.configList[0] as object), no_such_key: 1 }], f.options), 'RECIPE_INVALID', /config_list\[0\]/);
      await expectCode(() => c.plan(f.model.ir, [{ ...(f.configList[0] as object), rho_for_another_method: 1e-3 }], f.options), 'RECIPE_INVALID', /rho_for_another_method/);
    });
    it("rejects the method's own bad configs at plan time", async () => {
      const f = await fixture();
      for (const b of f.badConfigs ?? []) await expectCode(() => c.plan(f.model.ir, b.configList, b.options ?? f.options), b.code, b.message);
    });
  });
}

export type { BaseRule };
export { isCompressionError };

/** Creates a temp directory and removes it after `fn`. */
export async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ec-test-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export { storageBits };
