import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { lenet300100, lenet5, parseRecipe } from '@edge-compress/core';
import { bcrPrune } from '../src/index.js';

// The recipes this package ships in the reference app: every bcr stage plans on both reference models.
const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'apps', 'reference', 'recipes');
const files = readdirSync(dir).filter((f) => f.startsWith('bcr') && f.endsWith('.json'));

describe('shipped bcr recipes', () => {
  it('exist', () => expect(files.length).toBeGreaterThanOrEqual(3));
  // a recipe named for one model (bcr-lenet5.json: per-layer names) plans on that model; the others on both
  it.each(files)('%s plans on lenet5 (and lenet300100 unless named for one model)', (f) => {
    const recipe = parseRecipe(JSON.parse(readFileSync(join(dir, f), 'utf8')), f);
    const stages = recipe.stages.filter((s) => s.method === 'bcr');
    expect(stages.length).toBe(1);
    for (const ir of f.includes('lenet5') ? [lenet5()] : [lenet5(), lenet300100()]) {
      const plan = bcrPrune.plan(ir, stages[0]!.config_list, stages[0]!.options ?? {});
      expect(plan.targets.length).toBeGreaterThan(0);
    }
  });
});
