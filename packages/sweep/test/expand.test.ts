import { isCompressionError, lenet300100 } from '@edge-compress/core';
import { describe, expect, it } from 'vitest';
import { canonicalJson, parseSweepSpec, planSweep, sweepJsonSchema } from '../src/index.js';
import { magQuant, registry, sweepDirWith } from './helpers.js';

async function caught(p: Promise<unknown>): Promise<{ code?: string; path?: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (!isCompressionError(e)) throw e;
    return { code: e.code, path: e.path, message: e.message };
  }
  throw new Error('expected a typed error');
}

describe('sweep spec', () => {
  it('applies defaults and rejects unknown keys with the JSON path', () => {
    const s = parseSweepSpec({ version: 1, models: ['lenet5'], recipes: ['r.json'] });
    expect(s.seeds).toEqual([0]);
    expect(s.grid).toEqual({});
    expect(s.baseline).toBe(true);
    expect(s.pareto).toEqual({ maximize: ['acc'], minimize: ['bytes'] });
    let err: unknown;
    try {
      parseSweepSpec({ version: 1, models: [{ arch: 'lenet5', epoch: 3 }], recipes: ['r.json'] }, 'my.json');
    } catch (e) {
      err = e;
    }
    expect(isCompressionError(err, 'BAD_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('my.json');
    expect((err as Error).message).toMatch(/models\[0\]/);
    expect(() => parseSweepSpec({ version: 1, models: [], recipes: ['r.json'] })).toThrow(/models/);
    expect(() => parseSweepSpec({ version: 1, models: ['lenet5'], recipes: ['r.json'], seeds: [-1] })).toThrow(/seeds\[0\]/);
  });

  it('has a JSON Schema', () => {
    const js = sweepJsonSchema() as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(js.properties)).toEqual(expect.arrayContaining(['models', 'recipes', 'grid', 'seeds', 'pareto']));
    expect(js.required).toEqual(expect.arrayContaining(['version', 'models', 'recipes']));
  });
});

describe('expansion', () => {
  it('a recipe entry with `models` runs only on the models it names (a chain continuing from one variant); an unknown name is a typed error', async () => {
    const { spec } = await sweepDirWith(
      {
        version: 1,
        models: [
          { arch: 'lenet300100', name: 'a' },
          { arch: 'lenet300100', name: 'b', seed: 1 },
        ],
        recipes: ['mag-quant.json', { path: 'other.json', name: 'only-b', models: ['b'] }],
      },
      { 'mag-quant.json': magQuant, 'other.json': { ...magQuant, stages: [magQuant.stages[1]] } },
    );
    const { jobs } = await planSweep({ spec, registry });
    expect(jobs.map((j) => j.label)).toEqual(['a.fp32', 'a.mag-quant.s0', 'b.fp32', 'b.mag-quant.s0', 'b.only-b.s0']);
    const bad = await sweepDirWith({ version: 1, models: [{ arch: 'lenet300100', name: 'a' }], recipes: [{ path: 'mag-quant.json', models: ['c'] }] });
    const e = await caught(planSweep({ spec: bad.spec, registry }));
    expect(e.code).toBe('RECIPE_INVALID');
    expect(e.path).toContain('recipes[0].models');
    expect(e.message).toContain("'c'");
  });

  it('is models × recipes × grid × seeds plus one baseline per model, in a fixed order with stable ids', async () => {
    const { spec } = await sweepDirWith({
      version: 1,
      models: ['lenet300100'],
      recipes: ['mag-quant.json'],
      grid: { sparse_ratio: [0.8, 0.9, 0.95], quant_dtype: ['int8', 'int4'] },
      seeds: [0, 1],
    });
    const { jobs } = await planSweep({ spec, registry });
    expect(jobs).toHaveLength(1 + 3 * 2 * 2);
    expect(jobs[0]!.label).toBe('lenet300100.fp32');
    expect(jobs[0]!.recipe).toBeNull();
    expect(jobs.slice(1, 5).map((j) => j.label)).toEqual([
      'lenet300100.mag-quant.sparse_ratio-0.8.quant_dtype-int8.s0',
      'lenet300100.mag-quant.sparse_ratio-0.8.quant_dtype-int8.s1',
      'lenet300100.mag-quant.sparse_ratio-0.8.quant_dtype-int4.s0',
      'lenet300100.mag-quant.sparse_ratio-0.8.quant_dtype-int4.s1',
    ]);
    const j = jobs.find((x) => x.label === 'lenet300100.mag-quant.sparse_ratio-0.95.quant_dtype-int4.s1')!;
    const stages = j.recipe!.stages as Array<{ config_list: Array<Record<string, unknown>> }>;
    expect(stages[0]!.config_list[0]!.sparse_ratio).toBe(0.95);
    expect(stages[1]!.config_list[0]!.quant_dtype).toBe('int4');
    expect(new Set(jobs.map((x) => x.id)).size).toBe(jobs.length);
    for (const x of jobs) expect(x.id).toMatch(/^[0-9a-f]{16}$/);
    // Same content with keys in another order and another file name: same ids.
    const reordered = JSON.parse(canonicalJson(magQuant).replace('"config_list"', '"config_list"'));
    const { spec: spec2 } = await sweepDirWith(
      {
        seeds: [0, 1],
        grid: { quant_dtype: ['int8', 'int4'], sparse_ratio: [0.8, 0.9, 0.95] },
        recipes: [{ path: 'other.json', name: 'mag-quant' }],
        models: ['lenet300100'],
        version: 1,
      },
      { 'other.json': reordered },
    );
    const again = await planSweep({ spec: spec2, registry });
    expect(new Set(again.jobs.map((x) => x.id))).toEqual(new Set(jobs.map((x) => x.id)));
    // A different baseline setting changes every id.
    const { spec: spec3 } = await sweepDirWith({
      version: 1,
      models: [{ arch: 'lenet300100', epochs: 5 }],
      recipes: ['mag-quant.json'],
      grid: { sparse_ratio: [0.8, 0.9, 0.95], quant_dtype: ['int8', 'int4'] },
      seeds: [0, 1],
    });
    const other = await planSweep({ spec: spec3, registry });
    expect(other.jobs.filter((x) => jobs.some((y) => y.id === x.id))).toEqual([]);
  });

  it('a grid key applies only to recipes that have it (no duplicate jobs)', async () => {
    const magOnly = { version: 1, stages: [{ method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.5 }] }] };
    const { spec } = await sweepDirWith(
      { version: 1, models: ['lenet300100'], recipes: ['mag-quant.json', 'mag.json'], grid: { sparse_ratio: [0.8, 0.9], quant_dtype: ['int8', 'int4'] }, baseline: false },
      { 'mag-quant.json': magQuant, 'mag.json': magOnly },
    );
    const { jobs } = await planSweep({ spec, registry });
    expect(jobs.map((j) => j.label)).toEqual([
      'lenet300100.mag-quant.sparse_ratio-0.8.quant_dtype-int8.s0',
      'lenet300100.mag-quant.sparse_ratio-0.8.quant_dtype-int4.s0',
      'lenet300100.mag-quant.sparse_ratio-0.9.quant_dtype-int8.s0',
      'lenet300100.mag-quant.sparse_ratio-0.9.quant_dtype-int4.s0',
      'lenet300100.mag.sparse_ratio-0.8.s0',
      'lenet300100.mag.sparse_ratio-0.9.s0',
    ]);
  });

  it('path keys set one place; options keys are grid keys too', async () => {
    const { spec } = await sweepDirWith({
      version: 1,
      models: ['lenet300100'],
      recipes: ['mag-quant.json'],
      grid: { 'stages[1].config_list[0].quant_scheme': ['affine', 'symmetric'], finetune_epochs: [0, 2] },
      baseline: false,
    });
    const { jobs } = await planSweep({ spec, registry });
    expect(jobs).toHaveLength(4);
    const r = jobs[3]!.recipe as { stages: Array<{ config_list: Array<Record<string, unknown>>; options?: Record<string, unknown> }> };
    expect(r.stages[1]!.config_list[0]!.quant_scheme).toBe('symmetric');
    expect(r.stages[0]!.config_list[0]!.quant_scheme).toBeUndefined();
    expect(r.stages[0]!.options!.finetune_epochs).toBe(2);
    expect(jobs[3]!.label).toBe('lenet300100.mag-quant.stages_1_config_list_0_quant_scheme-symmetric.finetune_epochs-2.s0');
  });

  it('a grid key that applies nowhere is RECIPE_INVALID at grid.<key> with a did-you-mean', async () => {
    const { spec } = await sweepDirWith({ version: 1, models: ['lenet300100'], recipes: ['mag-quant.json'], grid: { sparse_ration: [0.8] } });
    const e = await caught(planSweep({ spec, registry }));
    expect(e.code).toBe('RECIPE_INVALID');
    expect(e.path).toBe(`${spec}: grid.sparse_ration`);
    expect(e.message).toContain("did you mean 'sparse_ratio'");
    const { spec: s2 } = await sweepDirWith({ version: 1, models: ['lenet300100'], recipes: ['mag-quant.json'], grid: { 'stages[4].options.x': [1] } });
    expect((await caught(planSweep({ spec: s2, registry }))).path).toBe(`${s2}: grid.stages[4].options.x`);
  });

  it('a grid value a method rejects is an error naming the grid entry, before anything runs', async () => {
    const { spec } = await sweepDirWith({ version: 1, models: ['lenet300100'], recipes: ['mag-quant.json'], grid: { sparse_ratio: [0.8, 1.5] } });
    const e = await caught(planSweep({ spec, registry }));
    expect(e.code).toBe('RECIPE_INVALID');
    expect(e.path).toContain(`${spec}: grid.sparse_ratio[1]`);
    expect(e.path).toContain('stages[0].config_list[0]');
    expect(e.message).toContain('1.5');
    const { spec: s2 } = await sweepDirWith({ version: 1, models: ['lenet300100'], recipes: ['mag-quant.json'], grid: { quant_dtype: ['int8', 'int99'] } });
    expect((await caught(planSweep({ spec: s2, registry }))).path).toContain('grid.quant_dtype[1]');
  });

  it('recipe and model errors name the spec entry', async () => {
    const { spec } = await sweepDirWith({ version: 1, models: ['lenet300100'], recipes: ['missing.json'] });
    const e = await caught(planSweep({ spec, registry }));
    expect(e.path).toBe(`${spec}: recipes[0]`);
    const { spec: s2 } = await sweepDirWith({ version: 1, models: ['nope/model.json'], recipes: ['mag-quant.json'] });
    const e2 = await caught(planSweep({ spec: s2, registry }));
    expect(e2.code).toBe('BAD_MODEL_FILE');
    expect(e2.path).toBe(`${s2}: models[0]`);
    const { spec: s3 } = await sweepDirWith(
      { version: 1, models: ['lenet300100'], recipes: ['bad.json'] },
      { 'bad.json': { version: 1, stages: [{ method: 'magnitude', config_list: [{ op_names: ['fc9'], sparse_ratio: 0.5 }] }] } },
    );
    const e3 = await caught(planSweep({ spec: s3, registry }));
    expect(e3.code).toBe('TARGET_NOT_FOUND');
    expect(e3.message).toContain('bad.json');
  });

  it('plans against the model: lenet300100 IR has dense layers only', () => {
    expect(lenet300100().layers.some((l) => l.kind === 'conv2d')).toBe(false);
  });
});
