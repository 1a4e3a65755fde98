/**
 * Test helpers for compression methods (`@edge-compress/core/testing`): toy models and data, a stock tfjs
 * loader over files, closeness checks, and the contract suite every Compressor runs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Compressor, CompressContext } from '../compressor.js';
import { createDataset, type Dataset } from '../data/dataset.js';
import { storageBits, toDense } from '../encodings/ops.js';
import type { ModelIR } from '../ir/types.js';
import { initModel, type Model } from '../model/model.js';
import { saveModel } from '../io/modelio.js';
import { createRng } from '../tensor/rng.js';
import { isCompressionError } from '../errors.js';
import { loadWithStockTfjs } from '../io/stockLoad.js';
import type { BaseRule } from '../recipe/schema.js';
import { sizeOf } from '../ir/shapes.js';

/** A tiny conv net on 8×8×1 inputs (conv 3×3×4 → maxpool → flatten → dense 16 → dense 4). */
export function toyConvIR(): ModelIR {
  return {
    format: 'edge-compress/ir', version: 1, name: 'toyconv', inputShape: [8, 8, 1],
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
    format: 'edge-compress/ir', version: 1, name: 'toymlp', inputShape: [16],
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
  ctx: CompressContext;
  /** A config_list that compresses at least one layer. */
  configList: unknown[];
  options?: unknown;
  /** Achieved ratio check: returns the achieved and target figure (e.g. sparsity) and tolerance. */
  ratio?: (result: Model) => { achieved: number; target: number; tolerance: number };
}

/** A default fixture on the toy conv net: trained a little, data seeded. */
export function toyFixture(configList: unknown[], options?: unknown): ContractFixture {
  const ir = toyConvIR();
  const train = toyData(256, ir.inputShape, 1);
  const test = toyData(128, ir.inputShape, 2);
  return { model: initModel(ir, 3), ctx: { train, test, seed: 7, rng: createRng(7) }, configList, options };
}

/**
 * The contract every compressor passes (the tfjs shared-suite idea): plans are deterministic and JSON
 * round-trip; untargeted weights are bit-identical; storageBits agrees with saved bytes; no tensor leaks;
 * bad recipes raise the right codes.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function runCompressorContract(c: Compressor<any, any>, fixture: () => ContractFixture | Promise<ContractFixture>): void {
  describe(`Compressor contract: ${c.name}`, () => {
    it('plan is deterministic and round-trips through JSON', async () => {
      const f = await fixture();
      const p1 = c.plan(f.model.ir, f.configList, f.options);
      const p2 = c.plan(f.model.ir, f.configList, f.options);
      expect(JSON.stringify(p1)).toBe(JSON.stringify(p2));
      expect(JSON.parse(JSON.stringify(p1))).toEqual(p1);
      expect(p1.method).toBe(c.name);
      expect(p1.targets.length).toBeGreaterThan(0);
    });
    it('compresses: untargeted kernels untouched, storage matches saved bytes, no tensor leaks', async () => {
      const f = await fixture();
      const plan = c.plan(f.model.ir, f.configList, f.options);
      const before = tf.memory().numTensors;
      const { model, report } = await c.compress(f.model, f.ctx, plan);
      expect(tf.memory().numTensors).toBe(before);
      expect(report.method).toBe(c.name);
      const targeted = new Set(plan.targets.map((t) => t.weight));
      for (const [name, e] of Object.entries(f.model.weights)) {
        if (name.endsWith('/kernel') && !targeted.has(name)) expect(Array.from(toDense(model.weights[name]!))).toEqual(Array.from(toDense(e)));
      }
      if (f.ratio) {
        const r = f.ratio(model);
        expect(Math.abs(r.achieved - r.target)).toBeLessThanOrEqual(r.tolerance);
      }
      const dir = await mkdtemp(join(tmpdir(), 'ec-contract-'));
      try {
        const saved = await saveModel(model, dir);
        for (const w of saved.weights) {
          if (w.storedAs === 'extension') expect(Math.abs((w.extensionBytes ?? 0) - storageBits(model.weights[w.name]!) / 8)).toBeLessThan(1);
        }
        const extBytes = saved.weights.reduce((a, w) => a + (w.storedAs === 'extension' ? storageBits(model.weights[w.name]!) / 8 : 0), 0);
        if (extBytes > 0) {
          const payload = saved.files.find((p) => p.endsWith('.ec.bin'))!;
          const size = (await readFile(payload)).byteLength;
          // Each stored array is rounded up to whole bytes.
          expect(size).toBeGreaterThanOrEqual(Math.floor(extBytes));
          expect(size - extBytes).toBeLessThan(16 * saved.weights.length);
        }
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
    it('rejects an unknown layer name with TARGET_NOT_FOUND and a did-you-mean', async () => {
      const f = await fixture();
      const ir = f.model.ir;
      const real = ir.layers.find((l) => l.kind === 'dense' || l.kind === 'conv2d')!.name;
      const bad = [{ ...(f.configList[0] as object), op_names: [`${real}x`], op_types: undefined }];
      let err: unknown;
      try {
        c.plan(ir, bad, f.options);
      } catch (e) {
        err = e;
      }
      expect(isCompressionError(err, 'TARGET_NOT_FOUND')).toBe(true);
      expect((err as Error).message).toMatch(/did you mean/);
    });
    it('rejects an unknown config key with RECIPE_INVALID naming the path', async () => {
      const f = await fixture();
      let err: unknown;
      try {
        c.plan(f.model.ir, [{ ...(f.configList[0] as object), no_such_key: 1 }], f.options);
      } catch (e) {
        err = e;
      }
      expect(isCompressionError(err, 'RECIPE_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/config_list\[0\]/);
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
