import { describe, expect, it } from 'vitest';
import { createRegistry, planRecipe, runRecipe } from '../compressor.js';
import { isCompressionError, type ErrorCode } from '../errors.js';
import { lenet5 } from '../ir/builders.js';
import { magnitudePrune } from '../methods/magnitude.js';
import { initModel } from '../model/model.js';
import { countNonZero } from '../tensor/prune.js';
import { toDense } from '../encodings/index.js';
import { Trainer } from '../train/trainer.js';
import { runCompressorContract, toyConvIR, toyData, toyFixture } from '../testing/index.js';
import { createRng } from '../tensor/rng.js';
import { recipeJsonSchema } from './schema.js';
import { translateLegacyRule } from './legacy.js';

const registry = createRegistry([magnitudePrune]);
const ir = lenet5();

function fails(f: () => unknown, code: ErrorCode, re: RegExp): void {
  let err: unknown;
  try {
    f();
  } catch (e) {
    err = e;
  }
  expect(isCompressionError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(re);
}

/** The toy conv net trained 15 epochs on its toy data, with its train and val splits. */
async function trainedToy() {
  const tir = toyConvIR();
  const train = toyData(256, tir.inputShape, 1);
  const val = toyData(128, tir.inputShape, 2);
  const t = new Trainer(initModel(tir, 2));
  await t.fit(train, { epochs: 15, optimizer: { kind: 'adam', lr: 3e-3 } });
  const model = t.toModel();
  t.dispose();
  return { model, train, val };
}

const recipe = (config_list: unknown[], extra: Record<string, unknown> = {}) => ({ version: 1, seed: 7, stages: [{ method: 'magnitude', config_list, ...extra }] });

describe('recipes', () => {
  it('select with NNI v3 keys; later entries override earlier ones and every override is listed', () => {
    const { plans } = planRecipe(
      ir,
      recipe([
        { op_types: ['conv2d', 'Linear'], sparse_ratio: 0.8 },
        { op_names: ['fc1'], sparse_ratio: 0.95 },
        { op_names_re: ['conv.*'], exclude_op_names: ['conv1'], sparse_ratio: 0.5 },
      ]),
      registry,
    );
    const p = plans[0]!;
    expect(p.targets.map((t) => [t.layer, (t.config as { sparseRatio?: number }).sparseRatio])).toEqual([
      ['conv1', 0.8],
      ['conv2', 0.5],
      ['fc1', 0.95],
      ['fc2', 0.8],
    ]);
    expect(p.overrides.map((o) => `${o.layer}:${o.key}:${o.from}->${o.to}`)).toEqual(['conv2:sparseRatio:0->2', 'fc1:sparseRatio:0->1']);
    expect(p.warnings.some((w) => w.includes('overrides') && w.includes('fc1'))).toBe(true);
  });

  it("NNI v1/v2 op_types 'default' selects every weighted layer (legacy sparsity_per_layer as written for NNI)", () => {
    const { plans } = planRecipe(ir, recipe([{ op_types: ['default'], sparsity_per_layer: 0.6 }]), registry);
    expect(plans[0]!.targets.map((t) => [t.layer, (t.config as { sparseRatio?: number }).sparseRatio])).toEqual([
      ['conv1', 0.6],
      ['conv2', 0.6],
      ['fc1', 0.6],
      ['fc2', 0.6],
    ]);
  });
  it('a bare NNI config_list and a bad granularity get errors that say what is expected', () => {
    fails(() => planRecipe(ir, [{ op_types: ['dense'], sparse_ratio: 0.5 }], registry, 'nni.json'), 'RECIPE_INVALID', /nni\.json: expected a recipe object, got an array/);
    let err: unknown;
    try {
      planRecipe(ir, [{ op_types: ['dense'] }], registry, 'nni.json');
    } catch (e) {
      err = e;
    }
    expect((err as { hint?: string }).hint).toMatch(/"method": "magnitude", "config_list"/);
    fails(
      () => planRecipe(ir, recipe([{ op_types: ['dense'], sparse_ratio: 0.5, granularity: 'fine-grained' }]), registry),
      'RECIPE_INVALID',
      /granularity: expected 'default', 'in_channel', 'out_channel', 'per_channel' or a block \[rows, cols\].*got "fine-grained"/,
    );
  });
  it("NNI v3 target_names / target_settings: the weight's settings apply, the rest is noted", () => {
    const t = translateLegacyRule(
      {
        op_types: ['Conv2d'],
        target_names: ['weight', '_input_', '_output_'],
        target_settings: { weight: { quant_dtype: 'int4', granularity: 'per_channel' }, _input_: { quant_dtype: 'int8' } },
      },
      'c[0]',
    );
    expect(t.rule).toEqual({ op_types: ['Conv2d'], quant_dtype: 'int4', granularity: 'per_channel' });
    expect(t.notes).toEqual([
      "c[0]: 'target_settings': the weight's quant_dtype, granularity apply to the rule; _input_ ignored (activation quantization is set by the method's options, biases stay full precision)",
      `c[0]: 'target_names' ["_input_","_output_"]: activations are quantized as the method's options say (quantize: options.activations), biases stay full precision`,
    ]);
    const { plans } = planRecipe(ir, recipe([{ op_types: ['Linear'], target_names: ['weight'], target_settings: { weight: { sparse_ratio: 0.7 } } }]), registry);
    expect(plans[0]!.targets.map((x) => [x.layer, (x.config as { sparseRatio?: number }).sparseRatio])).toEqual([
      ['fc1', 0.7],
      ['fc2', 0.7],
    ]);
  });

  it('translate legacy keys in one place', () => {
    expect(translateLegacyRule({ sparsity: 0.5, op_types: ['dense'] }, 'x').rule).toEqual({ sparse_ratio: 0.5, op_types: ['dense'] });
    expect(translateLegacyRule({ quant_bits: { weight: 4 } }, 'x').rule).toEqual({ quant_dtype: 'int4' });
    expect(translateLegacyRule({ exclude: true, op_names: ['fc2'] }, 'x').rule).toEqual({ exclude_op_names: ['fc2'] });
    const { plans } = planRecipe(
      ir,
      recipe([
        { op_types: ['dense'], sparsity_per_layer: 0.9 },
        { exclude: true, op_names: ['fc2'] },
      ]),
      registry,
    );
    expect(plans[0]!.targets.map((t) => t.layer)).toEqual(['fc1']);
    expect(plans[0]!.warnings[0]).toMatch(/legacy 'sparsity_per_layer' translated to 'sparse_ratio'/);
  });
  it('name unknown layers with a did-you-mean', () => {
    fails(
      () => planRecipe(ir, recipe([{ op_names: ['fc_1'], sparse_ratio: 0.5 }]), registry, 'r.json'),
      'TARGET_NOT_FOUND',
      /r\.json: stages\[0\]\.config_list\[0\]\.op_names\[0\]: layer 'fc_1' matches nothing.*did you mean 'fc1'/,
    );
    fails(() => planRecipe(ir, recipe([{ op_types: ['Conv3d'], sparse_ratio: 0.5 }]), registry), 'TARGET_NOT_FOUND', /op type 'Conv3d'.*did you mean/);
    fails(() => planRecipe(ir, recipe([{ op_names: ['pool1'], sparse_ratio: 0.5 }]), registry), 'TARGET_NOT_FOUND', /'pool1' has no weights/);
    fails(() => planRecipe(ir, recipe([{ op_names_re: ['dense.*'], sparse_ratio: 0.5 }]), registry), 'TARGET_NOT_FOUND', /pattern 'dense\.\*' matches nothing/);
  });
  it('reject bad values, unknown keys and methods with the JSON path', () => {
    fails(
      () => planRecipe(ir, recipe([{ op_types: ['dense'], sparse_ratio: 1.5 }]), registry, 'r.json'),
      'RECIPE_INVALID',
      /stages\[0\]\.config_list\[0\]\.sparse_ratio: .*1.*\(got 1\.5\)/,
    );
    fails(() => planRecipe(ir, recipe([{ op_types: ['dense'], sparse_ration: 0.5 }]), registry), 'RECIPE_INVALID', /sparse_ration.*did you mean 'sparse_ratio'/);
    fails(() => planRecipe(ir, { version: 2, stages: [] }, registry, 'r.json'), 'RECIPE_INVALID', /r\.json: version/);
    fails(
      () => planRecipe(ir, { version: 1, stages: [{ method: 'admn', config_list: [{}] }] }, registry),
      'METHOD_NOT_REGISTERED',
      /stages\[0\]\.method: no compressor named 'admn'/,
    );
    fails(() => planRecipe(ir, recipe([{ op_types: ['dense'] }]), registry), 'RECIPE_INVALID', /no sparse_ratio is set/);
    fails(() => planRecipe(ir, recipe([{ op_types: ['dense'], sparse_ratio: 0.5 }], { options: { finetune_epochs: -1 } }), registry), 'RECIPE_INVALID', /options\.finetune_epochs/);
    fails(() => planRecipe(ir, recipe([{ op_names_re: ['(('], sparse_ratio: 0.5 }]), registry), 'RECIPE_INVALID', /not a valid regular expression/);
  });
  it('accept the one-stage shorthand { method, config_list } and name its errors as written', () => {
    const { recipe: r, plans } = planRecipe(ir, { method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.5 }] }, registry, 'mine.json');
    expect(r.stages).toHaveLength(1);
    expect(r.seed).toBe(0);
    expect(plans[0]!.method).toBe('magnitude');
    expect(plans[0]!.targets.map((t) => t.weight).sort()).toEqual(['fc1/kernel', 'fc2/kernel']);
    fails(
      () => planRecipe(ir, { method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 1.5 }] }, registry, 'mine.json'),
      'RECIPE_INVALID',
      /mine\.json: config_list\[0\]\.sparse_ratio/,
    );
    fails(() => planRecipe(ir, { method: 'magnitude', config_lst: [] }, registry, 'mine.json'), 'RECIPE_INVALID', /mine\.json: .*config_lst/);
    fails(() => planRecipe(ir, { method: 'admn', config_list: [{}] }, registry, 'mine.json'), 'METHOD_NOT_REGISTERED', /mine\.json: method: no compressor named 'admn'/);
  });
  it('export a JSON Schema', () => {
    const s = recipeJsonSchema([magnitudePrune]) as { properties: Record<string, unknown>; required: string[] };
    expect(s.properties.stages).toBeDefined();
    expect(JSON.stringify(s)).toContain('sparse_ratio');
    expect(JSON.stringify(s)).toContain('finetune_epochs');
    expect(s.required).toContain('stages');
    expect(JSON.stringify(recipeJsonSchema())).not.toContain('quant_dtype');
  });
  it('registry rejects duplicates', () => {
    fails(() => createRegistry([magnitudePrune, magnitudePrune]), 'DUPLICATE_METHOD', /two compressors are named 'magnitude'/);
  });
});

describe('magnitude (reference compressor)', () => {
  runCompressorContract(magnitudePrune, async () => ({
    ...(await toyFixture(
      [{ op_types: ['dense'], sparse_ratio: 0.75 }],
      (m) => {
        const n = ['fc1/kernel', 'fc2/kernel'].map((k) => toDense(m.weights[k]!));
        const total = n.reduce((a, v) => a + v.length, 0);
        return { achieved: 1 - n.reduce((a, v) => a + countNonZero(v), 0) / total, target: 0.75, tolerance: 1 / total };
      },
      { finetune_epochs: 1 },
    )),
    badConfigs: [
      { configList: [{ op_types: ['dense'], sparse_ratio: 1 }], code: 'RECIPE_INVALID', message: /sparse_ratio/ },
      { configList: [{ op_types: ['dense'], sparse_ratio: 0.5, quant_dtype: 'int8' }], code: 'RECIPE_INVALID', message: /quant_dtype/ },
      { configList: [{ op_types: ['dense'], sparse_ratio: 0.5, granularity: [4, 4] }], code: 'RECIPE_INVALID', message: /granularity/ },
    ],
  }));

  it('runs a two-stage recipe end to end and keeps pruned weights at zero through fine-tuning', async () => {
    const { model, train, val } = await trainedToy();
    const r = await runRecipe(
      model,
      {
        version: 1,
        seed: 3,
        stages: [
          { method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.5, global_group_id: 0 }], options: { finetune_epochs: 2, lr: 2e-3 } },
          { method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.8, global_group_id: 0 }], options: { finetune_epochs: 6, lr: 2e-3 } },
        ],
      },
      registry,
      { train, val },
    );
    expect(r.reports).toHaveLength(2);
    const w = r.model.weights['fc1/kernel']!;
    expect(w.kind).toBe('masked');
    expect(countNonZero(toDense(w))).toBeLessThanOrEqual(Math.ceil(0.2 * 64 * 16) + 1);
    expect(r.reports[0]!.metrics.valAccuracyBefore).toBeGreaterThan(0.8);
    expect(r.reports[1]!.metrics.valAccuracyAfter).toBeGreaterThan(0.8);
  });

  it('a result that lost more than 1 pp of validation accuracy carries a warning naming sparse_ratio and the epochs, with their values', async () => {
    const { model, train, val } = await trainedToy();
    const run = (ratio: number, epochs: number) =>
      runRecipe(model, { method: 'magnitude', config_list: [{ op_types: ['conv2d', 'dense'], sparse_ratio: ratio }], options: { finetune_epochs: epochs } }, registry, {
        train,
        val,
      });
    const harsh = (await run(0.995, 0)).reports[0]!;
    const { valAccuracyBefore: b, valAccuracyAfter: a } = harsh.metrics;
    expect(b! - a!).toBeGreaterThan(0.01);
    const w = harsh.warnings.find((x) => x.includes('validation accuracy fell'));
    expect(w).toBe(
      `magnitude: validation accuracy fell ${(100 * b!).toFixed(1)}% → ${(100 * a!).toFixed(1)}% (−${(100 * (b! - a!)).toFixed(1)} pp); if that is more than you can accept, try a lower sparse_ratio (now 0.995) or more finetune_epochs (now 0)`,
    );
    const mild = (await run(0.2, 2)).reports[0]!;
    expect(mild.metrics.valAccuracyBefore! - mild.metrics.valAccuracyAfter!).toBeLessThanOrEqual(0.01);
    expect(mild.warnings.some((x) => x.includes('validation accuracy fell'))).toBe(false);
  });

  describe("magnitude: NNI's sparse_ratio is per layer; global_group_id shares one threshold", () => {
    const tir = toyConvIR();
    const train = toyData(64, tir.inputShape, 1);
    const val = toyData(32, tir.inputShape, 2);
    const model = initModel(tir, 4);
    const kernels = ['conv1/kernel', 'fc1/kernel', 'fc2/kernel'];
    const dense = (m: typeof model, n: string) => Array.from(toDense(m.weights[n]!));
    const run = (rule: Record<string, unknown>) =>
      runRecipe(model, { method: 'magnitude', config_list: [{ op_types: ['conv2d', 'dense'], sparse_ratio: 0.75, ...rule }], options: { finetune_epochs: 0 } }, registry, {
        train,
        val,
      });

    it('without a group each layer keeps exactly its own share, its largest |w|', async () => {
      const r = await run({});
      for (const n of kernels) {
        const before = dense(model, n),
          after = dense(r.model, n);
        const kept = after.filter((v) => v !== 0).length;
        expect(kept, n).toBe(before.length - Math.floor(0.75 * before.length));
        // every kept weight is at least as large as every removed one, within the layer
        const keptMin = Math.min(...before.filter((_, i) => after[i] !== 0).map(Math.abs));
        const goneMax = Math.max(...before.filter((_, i) => after[i] === 0).map(Math.abs));
        expect(keptMin, n).toBeGreaterThanOrEqual(goneMax);
      }
    });

    it('with a global_group_id the layers share one threshold and the 75% is over all of them together', async () => {
      const r = await run({ global_group_id: 'all' });
      const before = kernels.flatMap((n) => dense(model, n)),
        after = kernels.flatMap((n) => dense(r.model, n));
      expect(after.filter((v) => v !== 0).length).toBe(before.length - Math.floor(0.75 * before.length));
      const keptMin = Math.min(...before.filter((_, i) => after[i] !== 0).map(Math.abs));
      const goneMax = Math.max(...before.filter((_, i) => after[i] === 0).map(Math.abs));
      expect(keptMin).toBeGreaterThanOrEqual(goneMax);
      // the layers' init scales differ, so one threshold does not give each layer 75%
      const shares = kernels.map((n) => dense(r.model, n).filter((v) => v === 0).length / dense(model, n).length);
      expect(Math.max(...shares) - Math.min(...shares)).toBeGreaterThan(0.05);
    });

    it('a group whose rules ask for different ratios is a RECIPE_INVALID error', async () => {
      const err = await runRecipe(
        model,
        {
          method: 'magnitude',
          config_list: [
            { op_types: ['conv2d'], sparse_ratio: 0.5, global_group_id: 1 },
            { op_types: ['dense'], sparse_ratio: 0.8, global_group_id: 1 },
          ],
          options: { finetune_epochs: 0 },
        },
        registry,
        { train, val },
      ).catch((e: unknown) => e);
      expect(isCompressionError(err, 'RECIPE_INVALID')).toBe(true);
      expect((err as Error).message).toMatch(/global_group_id 1 joins layers with different sparse_ratio \(0.5 and 0.8/);
    });
  });
});

describe('compress checks its context before any work', () => {
  const tir = toyConvIR();
  const train = toyData(64, tir.inputShape, 1);
  const val = toyData(32, tir.inputShape, 2);
  const model = initModel(tir, 3);
  const plan = magnitudePrune.plan(tir, [{ op_types: ['dense'], sparse_ratio: 0.5 }], { finetune_epochs: 0 });
  const rejects = async (ctx: unknown, code: ErrorCode, path: string, message: RegExp, hint?: RegExp) => {
    let err: unknown;
    try {
      await magnitudePrune.compress(model, ctx as never, plan);
    } catch (e) {
      err = e;
    }
    expect(isCompressionError(err, code), String(err)).toBe(true);
    expect(err).toMatchObject({ method: 'magnitude', path });
    expect((err as Error).message).toMatch(message);
    if (hint) expect((err as { hint?: string }).hint).toMatch(hint);
  };

  it('test passed instead of val: a typed error that says to pass val, not a crash inside tfjs', async () => {
    await rejects(
      { train, test: val, seed: 0, rng: createRng(0) },
      'BAD_DATASET',
      'ctx.val',
      /magnitude\.compress: ctx\.val is undefined; expected a Dataset/,
      /has test but no val.*pass val/,
    );
  });

  it('a test set next to val is refused; train / val of the wrong size, a missing seed or rng are named', async () => {
    await rejects({ train, val, test: val, seed: 0, rng: createRng(0) }, 'TEST_DATA_ACCESSED', 'ctx.test', /the context has a test set/);
    const flat = { ...val, shape: [val.images.length / val.count - 1] };
    await rejects(
      { train, val: { ...flat, images: new Float32Array(flat.shape[0]! * val.count) }, seed: 0, rng: createRng(0) },
      'BAD_DATASET',
      'ctx.val',
      /do not fit the model input/,
    );
    await rejects({ train: { images: [0, 1] }, val, seed: 0, rng: createRng(0) }, 'BAD_DATASET', 'ctx.train', /ctx\.train is an object with keys images/);
    await rejects({ train, val, rng: createRng(0) }, 'BAD_CONFIG', 'ctx.seed', /ctx\.seed must be a finite number, got undefined/);
    await rejects({ train, val, seed: 0 }, 'BAD_CONFIG', 'ctx.rng', /ctx\.rng must be a generator from createRng/);
    await rejects(undefined, 'BAD_CONFIG', 'ctx', /expected a context object, got undefined/);
  });

  it('a guarded test getter (the contract suite) is not read, and a good context runs', async () => {
    const ctx = { train, val, seed: 0, rng: createRng(0) };
    Object.defineProperty(ctx, 'test', {
      get() {
        throw new Error('read');
      },
    });
    const r = await magnitudePrune.compress(model, ctx, plan);
    expect(r.report.metrics.sparsity).toBeCloseTo(0.5, 1);
  });
});
