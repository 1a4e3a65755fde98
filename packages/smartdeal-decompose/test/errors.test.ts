import { lenet5 } from '@edge-compress/core';
import { isCompressionError } from '@edge-compress/core/testing';
import { describe, expect, it } from 'vitest';
import { smartDeal } from '../src/index.js';

function planError(configList: unknown[], options?: unknown): Error & { code?: string; path?: string; layer?: string } {
  try {
    smartDeal.plan(lenet5(), configList, options);
  } catch (e) {
    expect(isCompressionError(e), String(e)).toBe(true);
    return e as Error;
  }
  throw new Error('plan did not throw');
}

describe('plan-time errors (typed, before any work)', () => {
  it('basis size larger than the layer block width', () => {
    const e = planError([{ op_names: ['conv2'], basis_size: 6 }]);
    expect(e.code).toBe('RECIPE_INVALID');
    expect(e.layer).toBe('conv2');
    expect(e.message).toMatch(/basis_size: basis size 6 is larger than the layer's block width.*\[100×5\].*\[1, 5\]/);
  });
  it('basis size below 1', () => {
    const e = planError([{ op_names: ['fc1'], basis_size: 0 }]);
    expect(e.code).toBe('RECIPE_INVALID');
    expect(e.message).toMatch(/basis size 0 is below 1.*\[1, 3\]/);
  });
  it('an empty exponent range', () => {
    const e = planError([{ op_types: ['dense'], exponent_range: [2, -3] }]);
    expect(e.code).toBe('RECIPE_INVALID');
    expect(e.message).toMatch(/exponent_range: the exponent range \[2, -3\] is empty/);
  });
  it('a sparsity of 1 or outside [0, 1]', () => {
    expect(planError([{ op_types: ['dense'], sparse_ratio: 1 }]).message).toMatch(/sparse_ratio: sparsity 1 is outside \[0, 1\)/);
    const neg = planError([{ op_types: ['dense'], sparse_ratio: -0.2 }]);
    expect(neg.code).toBe('RECIPE_INVALID');
    expect(neg.message).toMatch(/sparse_ratio/);
    expect(planError([{ op_types: ['dense'], sparse_ratio: 1.5 }]).message).toMatch(/sparse_ratio/);
  });
  it('an unknown key gets a did-you-mean, a quant key is refused with the fix', () => {
    const e = planError([{ op_types: ['dense'], basis_sise: 2 }]);
    expect(e.message).toMatch(/basis_sise/);
    expect(e.message).toMatch(/basis_size/);
    expect(planError([{ op_types: ['dense'], quant_dtype: 'int8' }]).message).toMatch(/quant_dtype/);
  });
  it('bad options are typed errors too', () => {
    expect(planError([{ op_types: ['dense'] }], { basis_bits: 1 }).message).toMatch(/basis_bits/);
  });
  it('defaults plan on LeNet-5 with every weighted layer', () => {
    const p = smartDeal.plan(lenet5(), [{ op_types: ['conv2d', 'dense'] }]);
    expect(p.targets.map((t) => t.layer)).toEqual(['conv1', 'conv2', 'fc1', 'fc2']);
    expect(p.options).toMatchObject({ sdEpochs: 4, finetuneEpochs: 2, basisBits: null });
  });
});

describe('shipped recipes', () => {
  it('every apps/reference/recipes/smartdeal-*.json smartdeal stage plans on LeNet-5', async () => {
    const { readdir, readFile } = await import('node:fs/promises');
    const dir = new URL('../../../apps/reference/recipes/', import.meta.url);
    const files = (await readdir(dir)).filter((f) => f.startsWith('smartdeal-') && f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) {
      const recipe = JSON.parse(await readFile(new URL(f, dir), 'utf8')) as { stages: Array<{ method: string; config_list: unknown[]; options?: unknown }> };
      const stages = recipe.stages.filter((s) => s.method === 'smartdeal');
      expect(stages.length, f).toBeGreaterThan(0);
      for (const s of stages) expect(smartDeal.plan(lenet5(), s.config_list, s.options).targets.length, f).toBeGreaterThan(0);
    }
  });
});
