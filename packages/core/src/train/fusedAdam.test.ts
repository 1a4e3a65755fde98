import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { maxRelErr } from '../../test/numeric.js';
import { fusedAdamActive, registerFastWasmKernels, unregisterFastWasmKernels } from '../backend/wasmKernels.js';
import { FusedAdamOptimizer } from './fusedAdam.js';

/** Runs `steps` Adam updates with seeded gradients on fresh variables of `shapes`; returns every variable's and moment's values. */
async function run(make: () => tf.Optimizer, shapes: number[][], steps: number, seed: number, lr: (t: number) => number): Promise<Float32Array[]> {
  const vars = shapes.map((s, i) => tf.variable(tf.randomNormal(s, 0, 1, 'float32', seed + i), true, `fa_${seed}_${i}_${Math.random()}`));
  const opt = make();
  for (let t = 0; t < steps; t++) {
    (opt as unknown as { learningRate: number }).learningRate = lr(t);
    const grads = tf.tidy(() => Object.fromEntries(vars.map((v, i) => [v.name, tf.randomNormal(v.shape, 0, 1 + t, 'float32', seed * 100 + t * 10 + i)])));
    opt.applyGradients(grads);
    tf.dispose(Object.values(grads));
  }
  const weights = await opt.getWeights();
  const out = [...vars.map((v) => v.dataSync() as Float32Array), ...weights.slice(1).map((w) => w.tensor.dataSync() as Float32Array)];
  opt.dispose();
  tf.dispose(vars);
  return out;
}

describe('FusedAdamOptimizer', () => {
  afterAll(async () => {
    await tf.setBackend('wasm');
  });

  it('runs the fused wasm step and matches tf.train.adam (weights and both moments, 1e-6 relative) over seeded shapes, steps and rates', async () => {
    expect(tf.getBackend()).toBe('wasm');
    expect(fusedAdamActive()).toBe(true);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.constantFrom(1e-3, 0.05),
        async (shapes, steps, seed, lr0) => {
          const lr = (t: number) => lr0 / (1 + t); // a schedule, as the trainer's lrSchedule sets it
          const ours = await run(() => new FusedAdamOptimizer(lr0, 0.9, 0.999, 1e-7), shapes, steps, seed, lr);
          const ref = await run(() => tf.train.adam(lr0, 0.9, 0.999, 1e-7), shapes, steps, seed, lr);
          expect(ours.length).toBe(ref.length);
          ours.forEach((a, i) => expect(maxRelErr(a, ref[i]!, 1e-6), `array ${i}`).toBeLessThanOrEqual(1e-6));
        },
      ),
      { numRuns: 30, seed: 5 },
    );
  });

  it('is exactly tfjs Adam on the cpu backend', async () => {
    await tf.setBackend('cpu');
    try {
      const ours = await run(
        () => new FusedAdamOptimizer(0.01, 0.9, 0.999, 1e-7),
        [[5, 3], [7]],
        6,
        3,
        () => 0.01,
      );
      const ref = await run(
        () => tf.train.adam(0.01, 0.9, 0.999, 1e-7),
        [[5, 3], [7]],
        6,
        3,
        () => 0.01,
      );
      ours.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(ref[i]!)));
    } finally {
      await tf.setBackend('wasm');
    }
  });

  it('falls back to tfjs Adam, exactly, while the fast kernels are unregistered (the core bench measures that setting)', async () => {
    unregisterFastWasmKernels();
    try {
      expect(fusedAdamActive()).toBe(false);
      const ours = await run(
        () => new FusedAdamOptimizer(0.01, 0.9, 0.999, 1e-7),
        [[6, 2]],
        4,
        9,
        () => 0.01,
      );
      const ref = await run(
        () => tf.train.adam(0.01, 0.9, 0.999, 1e-7),
        [[6, 2]],
        4,
        9,
        () => 0.01,
      );
      ours.forEach((a, i) => expect(Array.from(a)).toEqual(Array.from(ref[i]!)));
    } finally {
      registerFastWasmKernels();
    }
    expect(fusedAdamActive()).toBe(true);
  });

  it('keeps the tensor count flat across steps (counted outside tf.tidy)', () => {
    const v = tf.variable(tf.ones([9, 4]), true, `fa_leak_${Math.random()}`);
    const opt = new FusedAdamOptimizer(0.01, 0.9, 0.999, 1e-7);
    const g = tf.ones([9, 4]);
    opt.applyGradients({ [v.name]: g }); // creates the two moments
    const before = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    for (let t = 0; t < 5; t++) opt.applyGradients({ [v.name]: g });
    const after = tf.memory() as tf.MemoryInfo & { numDataBuffers: number };
    expect(after.numTensors).toBe(before.numTensors);
    expect(after.numDataBuffers).toBe(before.numDataBuffers);
    // Six steps of a constant gradient 1: m̂ = v̂ = 1 exactly after bias correction, so each step moves lr·1/(1 + ε).
    expect(v.dataSync()[0]).toBeCloseTo(1 - 6 * 0.01, 5);
    opt.dispose();
    tf.dispose([v, g]);
  });
});
