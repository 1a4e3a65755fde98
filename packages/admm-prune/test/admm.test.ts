import * as tf from '@tensorflow/tfjs-core';
import {
  createRng,
  denseEncoding,
  initModel,
  isCompressionError,
  predict,
  serializeModel,
  sizeOf,
  toDense,
  Trainer,
  type CompressContext,
  type Encoding,
  type LowRankEncoding,
  type Model,
} from '@edge-compress/core';
import { runCompressorContract, toyConvIR, toyData, toyFixture } from '@edge-compress/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { admmPrune, type AdmmContext, type AdmmReport } from '../src/index.js';

const ir = toyConvIR();
const train = toyData(320, ir.inputShape, 1);
const test = toyData(64, ir.inputShape, 2);
let trained: Model;

beforeAll(async () => {
  const t = new Trainer(initModel(ir, 3));
  await t.fit(train, { epochs: 3, optimizer: { kind: 'adam', lr: 3e-3 }, seed: 1 });
  trained = t.toModel();
  t.dispose();
});

const ctxOf = (events?: unknown[]): CompressContext => ({
  train,
  val: test,
  seed: 7,
  rng: createRng(7),
  onProgress: events ? (p) => events.push(p) : undefined,
});

const FAST = { admm_iterations: 3, retrain_epochs: 1, quant_admm_iterations: 2, progressive_rounds: 2, progressive_epochs: 1, measure_files: true };

/** fc1 pruned to `sparse` with no ADMM iterations (hard projection + retraining only), with these options. */
const retrainOnly = (model: Model, sparse: number, options: Record<string, unknown>) =>
  admmPrune.compress(
    model,
    ctxOf(),
    admmPrune.plan(ir, [{ op_names: ['fc1'], sparse_ratio: sparse }], { admm_iterations: 0, measure_files: false, ...options } as never),
  ) as Promise<{ model: Model; report: AdmmReport }>;

/** Planning a dense rule with these options throws a typed CompressionError whose message matches `message`. */
function expectTypedPlanError(options: Record<string, unknown>, message: RegExp): void {
  let err: unknown;
  try {
    admmPrune.plan(ir, [{ op_types: ['dense'], sparse_ratio: 0.5 }], options as never);
  } catch (e) {
    err = e;
  }
  expect(isCompressionError(err)).toBe(true);
  expect(String((err as Error).message)).toMatch(message);
}

const kindsOf = (e: Encoding): string => (e.kind === 'masked' ? `masked(${kindsOf(e.base)})` : e.kind);

describe('admm: prune + quantize on a toy conv net', () => {
  let result: { model: Model; report: AdmmReport };
  const events: Array<Record<string, unknown>> = [];
  let before = 0;
  beforeAll(async () => {
    const plan = admmPrune.plan(
      ir,
      [
        { op_types: ['conv2d', 'dense'], sparse_ratio: 0.75 },
        { op_names: ['fc1'], sparse_ratio: 0.9, quant_dtype: 'int2' },
        { op_names: ['conv1'], quant_dtype: 'int3', granularity: 'out_channel', sparse_ratio: 0.5 },
      ],
      FAST,
    );
    before = tf.memory().numTensors;
    result = (await admmPrune.compress(trained, ctxOf(events), plan)) as { model: Model; report: AdmmReport };
  });

  it('leaks no tensors', () => {
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps exactly round((1−s)·n) weights per layer (whole rows for out_channel)', () => {
    const nz = (n: string) => Array.from(toDense(result.model.weights[n]!)).filter((v) => v !== 0).length;
    expect(nz('fc1/kernel')).toBe(Math.round(0.1 * 64 * 16));
    expect(nz('fc2/kernel')).toBe(Math.round(0.25 * 16 * 4));
    // conv1 [3,3,1,4]: out_channel keeps round(0.5·4) = 2 filters of 9 weights each
    const w = toDense(result.model.weights['conv1/kernel']!);
    const perFilter = [0, 1, 2, 3].map((c) => Array.from(w).filter((v, i) => i % 4 === c && v !== 0).length);
    expect(perFilter.filter((c) => c > 0).length).toBe(2);
    for (const c of perFilter) expect([0, 9]).toContain(c);
  });

  it('stores quantized layers as masked over quantized, values on ±q·{1..2^(b−1)}, zero not a level', () => {
    for (const [name, bits] of [
      ['fc1/kernel', 2],
      ['conv1/kernel', 3],
    ] as const) {
      const e = result.model.weights[name]!;
      expect(kindsOf(e)).toBe('masked(quantized)');
      const base = (e as { base: Extract<Encoding, { kind: 'quantized' }> }).base;
      const q = base.scales[0]!;
      const mask = (e as { mask: Uint8Array }).mask;
      const v = toDense(e);
      for (let i = 0; i < v.length; i++) {
        if (!mask[i]) continue;
        const k = v[i]! / q;
        expect(Number.isInteger(Math.round(k))).toBe(true);
        expect(Math.abs(k - Math.round(k))).toBeLessThan(1e-5);
        expect(Math.abs(Math.round(k))).toBeGreaterThanOrEqual(1);
        expect(Math.abs(Math.round(k))).toBeLessThanOrEqual(2 ** (bits - 1));
      }
    }
    expect(kindsOf(result.model.weights['fc2/kernel']!)).toBe('masked(dense)');
  });

  it("reports storage three ways and counts the paper's data bits", () => {
    const m = result.report.metrics;
    const fc1 = result.report.admm.storage.layers.find((l) => l.layer === 'fc1')!;
    expect(fc1.dataBits).toBe(Math.round(0.1 * 1024) * 2);
    const expectedData = Math.round(0.1 * 1024) * 2 + 2 * 9 * 3 + Math.round(0.25 * 64) * 32;
    expect(m.dataBits).toBe(expectedData);
    expect(m.dataOnlyRatio).toBeCloseTo((32 * (36 + 1024 + 64)) / expectedData, 9);
    expect(m.withIndicesRatio).toBeLessThan(m.dataOnlyRatio!);
    // The real bytes of the files core writes (serialized in memory, not guessed).
    expect(m.fileBytesInput).toBe(serializeModel(trained).bytes);
    expect(m.fileBytesOutput).toBe(serializeModel(result.model).bytes);
    expect(m.fileBytesRatio).toBeCloseTo(m.fileBytesInput! / m.fileBytesOutput!, 9);
  });

  it('reports validation accuracy after ADMM (before the hard projection), after the projection and after retraining', () => {
    const m = result.report.metrics;
    for (const k of ['valAccuracyBefore', 'valAccuracyAfterAdmm', 'valAccuracyHardPruned', 'valAccuracyPruned'] as const) {
      expect(m[k]).toBeGreaterThanOrEqual(0);
      expect(m[k]).toBeLessThanOrEqual(1);
    }
  });

  it('emits one progress event per ADMM iteration with loss, residual, ρ and validation accuracy; ρ grows', () => {
    const it = events.filter((e) => e.phase === 'admm-prune' && 'iteration' in e);
    expect(it.map((e) => e.iteration)).toEqual([1, 2, 3]);
    for (const e of it) {
      expect(typeof e.loss).toBe('number');
      expect(typeof e.valAccuracy).toBe('number');
      expect(Object.keys(e.residual as object).sort()).toEqual(['conv1/kernel', 'fc1/kernel', 'fc2/kernel']);
    }
    const rho = it.map((e) => (e.rho as Record<string, number>)['fc1/kernel']!);
    expect(rho[1]).toBeGreaterThan(rho[0]!);
    expect(events.filter((e) => e.phase === 'admm-quant' && 'iteration' in e).length).toBe(2);
  });

  it('leaves untargeted weights as the same objects (none here) and the input model unchanged', () => {
    const exclude = admmPrune.plan(ir, [{ op_names: ['fc1'], sparse_ratio: 0.5 }], FAST);
    expect(exclude.targets.map((t) => t.weight)).toEqual(['fc1/kernel']);
    expect(result.model.weights['fc1/kernel']).not.toBe(trained.weights['fc1/kernel']);
  });
});

describe('admm: defaults and the validation search', () => {
  it("{op_types: ['conv2d','dense']} alone searches per-layer ratios on validation to the global target and keeps every weight not targeted identical", async () => {
    const plan = admmPrune.plan(ir, [{ op_types: ['dense'] }], { admm_iterations: 2, retrain_epochs: 1, measure_files: false, global_sparse_ratio: 0.8 });
    const r = (await admmPrune.compress(trained, ctxOf(), plan)) as { model: Model; report: AdmmReport };
    const ch = r.report.admm.choices;
    expect(ch.every((c) => c.source === 'search')).toBe(true);
    const sizes = { fc1: 64 * 16, fc2: 16 * 4 } as Record<string, number>;
    const total = ch.reduce((a, c) => a + c.sparseRatio * sizes[c.layer]!, 0) / (64 * 16 + 64);
    expect(total).toBeCloseTo(0.8, 6);
    expect(r.model.weights['conv1/kernel']).toBe(trained.weights['conv1/kernel']);
    expect(r.model.weights['conv1/bias']).toBe(trained.weights['conv1/bias']);
    expect(r.report.admm.validation).toBe('context');
  });

  it("global_sparse_ratio 'auto' (the default) bisects the candidates with masked-training probes on validation and prunes at the largest that passed", async () => {
    const plan = admmPrune.plan(ir, [{ op_types: ['dense'] }], { admm_iterations: 1, retrain_epochs: 1, measure_files: false, auto_max_drop: 0.03 });
    expect(plan.options.globalSparseRatio).toBe('auto');
    const before = tf.memory().numTensors;
    const r = (await admmPrune.compress(trained, ctxOf(), plan)) as { model: Model; report: AdmmReport };
    expect(tf.memory().numTensors).toBe(before);
    const auto = r.report.admm.auto!;
    expect(auto.maxDrop).toBe(0.03);
    expect(auto.valAccuracyInput).toBe(r.report.metrics.valAccuracyBefore);
    // Bisection over 8 candidates: the first probe is the middle one (0.7), at most 4 probes, none repeated.
    expect(auto.probes[0]!.target).toBe(0.7);
    expect(auto.probes.length).toBeLessThanOrEqual(4);
    expect(new Set(auto.probes.map((p) => p.target)).size).toBe(auto.probes.length);
    for (const p of auto.probes) expect(p.passed).toBe(p.valAccuracy >= auto.valAccuracyInput - 0.03);
    const passed = auto.probes.filter((p) => p.passed).map((p) => p.target);
    const failed = auto.probes.filter((p) => !p.passed).map((p) => p.target);
    expect(auto.chosen).toBe(passed.length ? Math.max(...passed) : 0.3);
    for (const f of failed) expect(f).toBeGreaterThan(auto.chosen);
    // The searched layers together are exactly `chosen` sparse.
    const sizes = { fc1: 64 * 16, fc2: 16 * 4 } as Record<string, number>;
    const total = r.report.admm.choices.reduce((a, c) => a + c.sparseRatio * sizes[c.layer]!, 0) / (64 * 16 + 64);
    expect(total).toBeCloseTo(auto.chosen, 6);
  });

  it("global_sparse_ratio 'auto' with auto_max_drop 1 passes every probe: 0.7, 0.9, 0.95, 0.97; a fixed ratio runs no probe", async () => {
    const plan = admmPrune.plan(ir, [{ op_types: ['dense'] }], { admm_iterations: 0, retrain_epochs: 0, measure_files: false, auto_max_drop: 1, auto_probe_epochs: 0 });
    const r = (await admmPrune.compress(trained, ctxOf(), plan)) as { model: Model; report: AdmmReport };
    expect(r.report.admm.auto!.probes.map((p) => p.target)).toEqual([0.7, 0.9, 0.95, 0.97]);
    expect(r.report.admm.auto!.chosen).toBe(0.97);
    const fixed = admmPrune.plan(ir, [{ op_types: ['dense'] }], { admm_iterations: 0, retrain_epochs: 0, measure_files: false, global_sparse_ratio: 0.5 });
    expect(((await admmPrune.compress(trained, ctxOf(), fixed)) as { model: Model; report: AdmmReport }).report.admm.auto).toBeUndefined();
  });

  it('hardware_aware keeps a conv layer dense when its ratio is below margin × break-even (cost from ctx.cost)', async () => {
    const plan = admmPrune.plan(ir, [{ op_types: ['conv2d', 'dense'], sparse_ratio: 0.5 }], {
      admm_iterations: 1,
      retrain_epochs: 0,
      measure_files: false,
      hardware_aware: { margin: 1.2 },
    });
    // A cost model where sparse needs ratio ≥ 4 to break even: latency = 0.25·dense + 0.75·dense·density·4.
    const cost: CompressContext['cost'] = (_l, _k, s, macs) => ({
      latencyMs: s.kinds[0] === 'masked' ? macs * (0.25 + 3 * s.density) : macs,
      energyMj: 0,
      storageBytes: s.storageBits / 8,
    });
    const withCost = ctxOf();
    withCost.cost = cost;
    const r = (await admmPrune.compress(trained, withCost, plan)) as { model: Model; report: AdmmReport };
    const conv = r.report.admm.choices.find((c) => c.layer === 'conv1')!;
    expect(conv.breakEvenRatio).toBe(4);
    expect(conv.sparseRatio).toBe(0);
    expect(conv.requestedSparseRatio).toBe(0.5);
    expect(r.report.admm.choices.find((c) => c.layer === 'fc1')!.sparseRatio).toBe(0.5);
    expect(r.model.weights['conv1/kernel']!.kind).toBe('dense');
    await expect(admmPrune.compress(trained, ctxOf(), plan)).rejects.toSatisfy((e: unknown) => isCompressionError(e, 'BAD_CONFIG'));
  });
});

describe("admm: the papers' penalty form (extraLoss)", () => {
  it("penalty 'loss' adds ρ/2‖W−Z+U‖² to the loss: a larger ρ ends the first W-step closer to Z; the result is exactly sparse", async () => {
    const firstResidual = async (rho: number) => {
      const events: Array<Record<string, unknown>> = [];
      const plan = admmPrune.plan(ir, [{ op_names: ['fc1'], sparse_ratio: 0.9 }], {
        penalty: 'loss',
        sparsity_ramp: 0,
        admm_iterations: 1,
        rho,
        retrain_epochs: 1,
        measure_files: false,
        lr: 0.01,
        batch_size: 16,
        epochs_per_iteration: 2,
      });
      const before = tf.memory().numTensors;
      const r = await admmPrune.compress(trained, ctxOf(events), plan);
      expect(tf.memory().numTensors).toBe(before);
      expect(Array.from(toDense(r.model.weights['fc1/kernel']!)).filter((v) => v !== 0).length).toBe(Math.round(0.1 * 1024));
      expect(r.model.weights['fc2/kernel']).toBe(trained.weights['fc2/kernel']);
      return (events.find((e) => 'iteration' in e)!.residual as Record<string, number>)['fc1/kernel']!;
    };
    expect(await firstResidual(2)).toBeLessThan(0.5 * (await firstResidual(1e-4)));
  });
});

describe('admm: masked retraining through core trainThroughEncodings', () => {
  it('moves the kept weights only (pruned ones stay exactly 0), with shifts, and leaks nothing', async () => {
    const plan = admmPrune.plan(ir, [{ op_types: ['conv2d', 'dense'], sparse_ratio: 0.7 }], {
      admm_iterations: 0,
      retrain_epochs: 1,
      augment: { max_shift: 1 },
      measure_files: false,
    });
    expect(plan.options.augment).toEqual({ maxShift: 1 });
    const before = tf.memory().numTensors;
    const r = await admmPrune.compress(trained, ctxOf(), plan);
    expect(tf.memory().numTensors).toBe(before);
    for (const name of ['conv1/kernel', 'fc1/kernel']) {
      const e = r.model.weights[name]!;
      expect(e.kind).toBe('masked');
      const mask = (e as { mask: Uint8Array }).mask;
      const w0 = toDense(trained.weights[name]!);
      const w = toDense(e);
      let moved = 0;
      for (let i = 0; i < w.length; i++) {
        if (!mask[i]) expect(w[i]).toBe(0);
        else if (w[i] !== w0[i]) moved++;
      }
      expect(mask.reduce((a, m) => a + m, 0)).toBe(Math.round(0.3 * w.length));
      expect(moved).toBeGreaterThan(0);
    }
  });
});

describe('admm: dynamic_mask (moving mask, straight-through, then the final mask retrained)', () => {
  // The kept set of top-k |w| by a plain sort (independent of the package's projection).
  const topK = (w: Float32Array, keep: number): Set<number> =>
    new Set(
      Array.from(w, (v, i) => [Math.abs(v), i] as const)
        .sort((a, b) => b[0] - a[0] || a[1] - b[1])
        .slice(0, keep)
        .map(([, i]) => i),
    );
  const keptSet = (e: Encoding): Set<number> => {
    const mask = (e as { mask: Uint8Array }).mask;
    return new Set(Array.from(mask).flatMap((m, i) => (m ? [i] : [])));
  };
  // The trained net with fc1's weights outside its top 10 % |w| set to exactly 0 (a dense encoding, so no input mask):
  // a pruned weight can only come back if the gradient reaches it, since its latent value starts at 0.
  let keep = 0,
    hard = new Set<number>(),
    zeroed: Model;
  beforeAll(() => {
    const w0 = toDense(trained.weights['fc1/kernel']!);
    keep = Math.round(0.1 * w0.length);
    hard = topK(w0, keep);
    zeroed = {
      ir: trained.ir,
      weights: {
        ...trained.weights,
        'fc1/kernel': denseEncoding(
          [...trained.weights['fc1/kernel']!.shape],
          w0.map((v, i) => (hard.has(i) ? v : 0)),
        ),
      },
    };
  });
  const run = (dynamic: unknown) => retrainOnly(zeroed, 0.9, { retrain_epochs: 4, lr: 3e-2, dynamic_mask: dynamic });

  it('without it the mask is the hard projection of the input; with it pruned weights (latent 0) get gradients and come back, the count stays exact', async () => {
    const fixed = await run(null);
    expect(keptSet(fixed.model.weights['fc1/kernel']!)).toEqual(hard);
    expect(fixed.report.admm.dynamicMask).toBeUndefined();

    const before = tf.memory().numTensors;
    const moving = await run({ fraction: 0.75, interval_steps: 2 });
    expect(tf.memory().numTensors).toBe(before);
    const e = moving.model.weights['fc1/kernel']!;
    const kept = keptSet(e);
    expect(kept.size).toBe(keep);
    const w = toDense(e);
    for (let i = 0; i < w.length; i++) if (!kept.has(i)) expect(w[i]).toBe(0);
    const regrown = [...kept].filter((i) => !hard.has(i)).length;
    expect(regrown).toBeGreaterThan(0);
    // 3 of 4 epochs move the mask: 320 examples / batch 64 = 5 steps each, an update every 2 steps → 7 updates.
    const d = moving.report.admm.dynamicMask!;
    expect(d.epochs).toBe(3);
    expect(d.maskUpdates).toBe(7);
    expect(d.layers).toHaveLength(1);
    expect(d.layers[0]!.droppedFromHardProjection).toBe(regrown);
    expect(d.layers[0]!.changedEntries).toBeGreaterThan(0);
  });

  it('parses defaults (fraction 0.5, every 100 steps, decay 0.05) and rejects a fraction outside (0, 1] with a typed error', () => {
    expect(admmPrune.plan(ir, [{ op_types: ['dense'], sparse_ratio: 0.5 }], { dynamic_mask: {} as never }).options.dynamicMask).toEqual({
      fraction: 0.5,
      intervalSteps: 100,
      prunedDecay: 0.05,
      allocation: 'layer',
    });
    expectTypedPlanError({ dynamic_mask: { fraction: 0 } }, /dynamic_mask/);
    expectTypedPlanError({ dynamic_mask: { allocation: 'per-model' } }, /allocation/);
  });

  it("allocation 'global': one budget across layers — the total non-zeros stay exact, the per-layer counts move (each keeps ≥ a quarter of its own)", async () => {
    const plan = (allocation: string) =>
      admmPrune.plan(ir, [{ op_types: ['conv2d', 'dense'], sparse_ratio: 0.8 }], {
        admm_iterations: 0,
        measure_files: false,
        retrain_epochs: 4,
        lr: 3e-2,
        dynamic_mask: { fraction: 0.75, interval_steps: 2, allocation },
      } as never);
    const nonZeros = (m: Model) =>
      Object.fromEntries(
        ['conv1/kernel', 'conv2/kernel', 'fc1/kernel', 'fc2/kernel'].filter((n) => m.weights[n]).map((n) => [n, Array.from(toDense(m.weights[n]!)).filter((v) => v !== 0).length]),
      );
    const perLayer = nonZeros(((await admmPrune.compress(trained, ctxOf(), plan('layer'))) as { model: Model }).model);
    const before = tf.memory().numTensors;
    const shared = (await admmPrune.compress(trained, ctxOf(), plan('global'))) as { model: Model; report: AdmmReport };
    expect(tf.memory().numTensors).toBe(before);
    const got = nonZeros(shared.model);
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    expect(Object.keys(got)).toEqual(Object.keys(perLayer));
    expect(sum(got)).toBe(sum(perLayer));
    expect(got).not.toEqual(perLayer);
    for (const n of Object.keys(got)) expect(got[n]).toBeGreaterThanOrEqual(Math.ceil(perLayer[n]! / 4));
    // The report's per-layer kept counts are the model's.
    expect(Object.fromEntries(shared.report.admm.dynamicMask!.layers.map((l) => [l.weight, l.kept]))).toEqual(got);
  });

  it("allocation 'global' with a structured granularity is refused before any training, naming the layer", async () => {
    const plan = admmPrune.plan(
      ir,
      [
        { op_types: ['dense'], sparse_ratio: 0.8 },
        { op_names: ['conv1'], sparse_ratio: 0.5, granularity: 'out_channel' },
      ],
      { dynamic_mask: { allocation: 'global' } } as never,
    );
    const err = await admmPrune.compress(trained, ctxOf(), plan).catch((e: unknown) => e);
    expect(isCompressionError(err)).toBe(true);
    expect(String((err as Error).message)).toMatch(/'conv1'.*out_channel/);
  });
});

describe('admm: weight_averaging (the mean of the last retraining epochs)', () => {
  // Constant lr (retrain_lr_floor 1), so a 2-epoch retraining follows the first 2 epochs of a 3-epoch one exactly.
  const run = (epochs: number, averaging: unknown) => retrainOnly(trained, 0.8, { retrain_epochs: epochs, retrain_lr_floor: 1, lr: 1e-2, weight_averaging: averaging });

  it('averages the weights after epochs 2 and 3 of 3 (each run alone gives one of them); pruned entries stay exactly 0', async () => {
    const w2 = await run(2, null);
    const w3 = await run(3, null);
    const before = tf.memory().numTensors;
    const avg = await run(3, { from: 0.5 });
    expect(tf.memory().numTensors).toBe(before);
    expect(avg.report.admm.averagedEpochs).toBe(2);
    expect(w3.report.admm.averagedEpochs).toBeUndefined();
    expect(avg.report.warnings.some((w) => /weight_averaging/.test(w))).toBe(false);
    // Too few fixed-mask epochs to average (1 of 1): the last epoch's weights, and a warning that says how to fix it.
    const one = await run(1, { from: 0.5 });
    expect(one.report.admm.averagedEpochs).toBe(1);
    expect(one.report.warnings.join('\n')).toMatch(/weight_averaging has 1 fixed-mask retraining epoch\(s\) to average.*raise retrain_epochs/);
    for (const name of ['fc1/kernel', 'fc1/bias', 'conv1/kernel']) {
      const a = toDense(w2.model.weights[name]!),
        b = toDense(w3.model.weights[name]!),
        m = toDense(avg.model.weights[name]!);
      let moved = 0;
      for (let i = 0; i < m.length; i++) {
        expect(m[i]).toBeCloseTo((a[i]! + b[i]!) / 2, 6);
        if (a[i] !== b[i]) moved++;
      }
      // conv1 is not a target: it does not train, so all three runs keep the input's values.
      if (name === 'conv1/kernel') expect(moved).toBe(0);
      else expect(moved).toBeGreaterThan(0);
    }
    const mask = (avg.model.weights['fc1/kernel'] as { mask: Uint8Array }).mask;
    expect(mask).toEqual((w3.model.weights['fc1/kernel'] as { mask: Uint8Array }).mask);
    const m = toDense(avg.model.weights['fc1/kernel']!);
    for (let i = 0; i < m.length; i++) if (!mask[i]) expect(m[i]).toBe(0);
  });

  it('parses the default (from 0.5) and rejects from ≥ 1 with a typed error', () => {
    expect(admmPrune.plan(ir, [{ op_types: ['dense'], sparse_ratio: 0.5 }], { weight_averaging: {} as never }).options.weightAveraging).toEqual({ from: 0.5 });
    expectTypedPlanError({ weight_averaging: { from: 1 } }, /weight_averaging/);
  });
});

describe('admm: knowledge distillation (options.distill, core fit distill)', () => {
  // A teacher that puts all its probability on class 0: fc2 kernel zero, a large bias on class 0.
  const classZeroTeacher = (): Model => {
    const b = new Float32Array(toDense(trained.weights['fc2/bias']!).length);
    b[0] = 30;
    return {
      ir,
      weights: {
        ...trained.weights,
        'fc2/kernel': { kind: 'dense', shape: [...trained.weights['fc2/kernel']!.shape], values: new Float32Array(sizeOf(trained.weights['fc2/kernel']!.shape)) },
        'fc2/bias': { kind: 'dense', shape: [b.length], values: b },
      },
    };
  };
  const share0 = (m: Model) => {
    const p = predict(m, test.images, test.count);
    const k = p.length / test.count;
    let n = 0;
    for (let i = 0; i < test.count; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (p[i * k + c]! > p[i * k + best]!) best = c;
      if (best === 0) n++;
    }
    return n / test.count;
  };
  const run = async (distill: unknown, teacher?: Model) => {
    const plan = admmPrune.plan(ir, [{ op_types: ['dense'], sparse_ratio: 0.5 }], {
      admm_iterations: 1,
      retrain_epochs: 2,
      lr: 0.01,
      batch_size: 16,
      measure_files: false,
      distill,
    });
    const before = tf.memory().numTensors;
    const r = (await admmPrune.compress(trained, { ...ctxOf(), ...(teacher ? { teacher } : {}) } as AdmmContext, plan)) as { model: Model; report: AdmmReport };
    expect(tf.memory().numTensors).toBe(before);
    return r;
  };

  it('parses weight and temperature (defaults 0.5 and 1) and reports what was used', () => {
    expect(admmPrune.plan(ir, [{ op_types: ['dense'] }], { distill: {} }).options.distill).toEqual({ weight: 0.5, temperature: 1 });
    expect(admmPrune.plan(ir, [{ op_types: ['dense'] }], { distill: { weight: 0.8, temperature: 4 } }).options.distill).toEqual({ weight: 0.8, temperature: 4 });
    expect(admmPrune.plan(ir, [{ op_types: ['dense'] }], {}).options.distill).toBeNull();
  });

  it("trains every phase against the teacher's probabilities: a teacher that always says class 0 pulls the student to class 0", async () => {
    const plain = await run(null);
    const distilled = await run({ weight: 1 }, classZeroTeacher());
    expect(plain.report.admm.distill).toBeNull();
    expect(distilled.report.admm.distill).toEqual({ weight: 1, temperature: 1, teacher: 'ctx.teacher' });
    expect(share0(plain.model)).toBeLessThan(0.6);
    expect(share0(distilled.model)).toBeGreaterThan(0.9);
    // still exactly as sparse
    expect(Array.from(toDense(distilled.model.weights['fc1/kernel']!)).filter((v) => v !== 0).length).toBe(Math.round(0.5 * 1024));
  });

  it('without ctx.teacher the input model is the teacher: trained on its probabilities alone, the pruned net agrees with it more', async () => {
    const argmax = (m: Model) => {
      const p = predict(m, test.images, test.count);
      const k = p.length / test.count;
      return Array.from({ length: test.count }, (_, i) => [...p.subarray(i * k, i * k + k)].reduce((b, v, c, a) => (v > a[b]! ? c : b), 0));
    };
    const agree = (m: Model) => {
      const a = argmax(m),
        t = argmax(trained);
      return a.filter((c, i) => c === t[i]).length / a.length;
    };
    const plain = await run(null);
    const r = await run({ weight: 1, temperature: 2 });
    expect(r.report.admm.distill).toEqual({ weight: 1, temperature: 2, teacher: 'input model' });
    expect(agree(r.model)).toBeGreaterThan(agree(plain.model));
  });

  it('a teacher of another input shape is a typed error before any training', async () => {
    const events: unknown[] = [];
    const other: Model = { ...trained, ir: { ...ir, inputShape: [5, 5, 1] } };
    const plan = admmPrune.plan(ir, [{ op_types: ['dense'], sparse_ratio: 0.5 }], { ...FAST, distill: { weight: 0.5 } });
    await expect(admmPrune.compress(trained, { ...ctxOf(events), teacher: other } as AdmmContext, plan)).rejects.toSatisfy(
      (e: unknown) => isCompressionError(e, 'BAD_CONFIG') && /ctx\.teacher takes inputs of shape \[5, 5, 1\], expected/.test((e as Error).message),
    );
    expect(events).toEqual([]);
  });
});

describe('admm: bad input is a typed error before any work', () => {
  const planErr = (cl: unknown[], opts?: unknown) => {
    try {
      admmPrune.plan(ir, cl, opts);
    } catch (e) {
      return e as Error & { code: string; path?: string };
    }
    throw new Error('no error');
  };
  it.each([
    [[{ op_types: ['dense'], sparse_ratio: 1 }], undefined, 'RECIPE_INVALID', /sparse_ratio (must be below 1|must be in \[0, 1\))/],
    [[{ op_types: ['dense'], sparse_ratio: -0.1 }], undefined, 'RECIPE_INVALID', /sparse_ratio/],
    [[{ op_types: ['dense'], rho: 0 }], undefined, 'RECIPE_INVALID', /rho/],
    [[{ op_types: ['dense'] }], { rho: -1 }, 'RECIPE_INVALID', /rho/],
    [[{ op_types: ['dense'], quant_dtype: 'int17' }], undefined, 'RECIPE_INVALID', /quant_dtype/],
    [[{ op_types: ['dense'], quant_bits: 0 }], undefined, 'RECIPE_INVALID', /quant_dtype/],
    [[{ op_types: ['dense'], quant_dtype: 'uint4' }], undefined, 'RECIPE_INVALID', /int1'…'int16'/],
    [[{ op_names: ['fc3'], sparse_ratio: 0.5 }], undefined, 'TARGET_NOT_FOUND', /did you mean 'fc1' or 'fc2'/],
    [[{ op_types: ['dense'] }], { augment: { max_shift: 0 } }, 'RECIPE_INVALID', /max_shift/],
    [[{ op_types: ['dense'] }], { retrain_lr_floor: 0 }, 'RECIPE_INVALID', /retrain_lr_floor/],
    [[{ op_types: ['dense'] }], { distill: { weight: 0 } }, 'RECIPE_INVALID', /distill.*weight/],
    [[{ op_types: ['dense'] }], { distill: { weight: 1.5 } }, 'RECIPE_INVALID', /distill.*weight/],
    [[{ op_types: ['dense'] }], { distill: { temperature: 0 } }, 'RECIPE_INVALID', /distill.*temperature/],
    [[{ op_types: ['dense'] }], { distill: { wieght: 0.5 } }, 'RECIPE_INVALID', /wieght/],
    [[{ op_types: ['dense'] }], { workers: 0 }, 'RECIPE_INVALID', /workers/],
    [[{ op_types: ['dense'] }], { global_sparse_ratio: 'max' }, 'RECIPE_INVALID', /global_sparse_ratio/],
    [[{ op_types: ['dense'] }], { global_sparse_ratio: 1 }, 'RECIPE_INVALID', /global_sparse_ratio/],
    [[{ op_types: ['dense'] }], { auto_max_drop: -0.01 }, 'RECIPE_INVALID', /auto_max_drop/],
  ])('%j %j → %s', (cl, opts, code, msg) => {
    const e = planErr(cl, opts);
    expect(isCompressionError(e, code as 'RECIPE_INVALID')).toBe(true);
    expect(e.message).toMatch(msg);
  });
  it('a chain admm cannot take (a lowRank weight from svd) fails before training', async () => {
    const lr: LowRankEncoding = {
      kind: 'lowRank',
      shape: [16, 4],
      rank: 1,
      u: { kind: 'dense', shape: [4, 1], values: new Float32Array(4) },
      s: Float32Array.of(1),
      v: { kind: 'dense', shape: [16, 1], values: new Float32Array(16) },
    };
    const m: Model = { ir, weights: { ...trained.weights, 'fc2/kernel': lr } };
    const plan = admmPrune.plan(ir, [{ op_types: ['dense'], sparse_ratio: 0.5 }], FAST);
    const events: unknown[] = [];
    await expect(admmPrune.compress(m, ctxOf(events), plan)).rejects.toSatisfy((e: unknown) => isCompressionError(e, 'CHAIN_INVALID') && /lowRank/.test((e as Error).message));
    expect(events).toEqual([]);
    // and at plan time, when the planner knows the kinds of the previous stage's output
    expect(() => admmPrune.plan(ir, [{ op_types: ['dense'], sparse_ratio: 0.5 }], FAST, undefined, { 'fc1/kernel': 'dense', 'fc2/kernel': 'lowRank' })).toThrow(
      expect.objectContaining({ code: 'CHAIN_INVALID' }),
    );
  });
});

runCompressorContract(admmPrune, () =>
  toyFixture(
    [{ op_types: ['conv2d', 'dense'], sparse_ratio: 0.8, quant_dtype: 'int3' }],
    (m) => {
      const w = toDense(m.weights['fc1/kernel']!);
      return { achieved: Array.from(w).filter((v) => v === 0).length / w.length, target: 0.8, tolerance: 1 / w.length };
    },
    { admm_iterations: 2, retrain_epochs: 1, quant_admm_iterations: 1, progressive_rounds: 1, measure_files: false },
  ).then((f) => ({
    ...f,
    badConfigs: [
      { configList: [{ op_types: ['dense'], sparse_ratio: 1 }], code: 'RECIPE_INVALID' as const, message: /sparse_ratio/ },
      { configList: [{ op_types: ['dense'], rho: -1 }], code: 'RECIPE_INVALID' as const, message: /rho/ },
      { configList: [{ op_types: ['dense'], quant_dtype: 'int17' }], code: 'RECIPE_INVALID' as const, message: /quant_dtype/ },
    ],
  })),
);
