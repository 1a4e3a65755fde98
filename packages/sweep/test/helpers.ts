import { createRegistry, defineCompressor, magnitudePrune, ruleSchema, optionsSchema, quantRuleShape } from '@edge-compress/core';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

/** A stand-in quantizer (plan only) so grids can sweep quant_dtype with core's registry. */
export const toyQuant = defineCompressor({
  name: 'toyquant',
  description: 'plan-only stand-in',
  accepts: '*',
  config: ruleSchema(quantRuleShape),
  options: optionsSchema({ finetune_epochs: z.number().int().min(0).optional() }),
  compress: async (model) => ({ model, report: { method: 'toyquant', layers: [], metrics: {}, warnings: [] } }),
});
export const registry = createRegistry([magnitudePrune, toyQuant]);
export const JOBS = fileURLToPath(new URL('./fixtures/jobs.mjs', import.meta.url));
export const WORKER = fileURLToPath(new URL('./fixtures/worker.mjs', import.meta.url));

export const magQuant = {
  version: 1,
  seed: 0,
  stages: [
    { method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.5 }], options: { finetune_epochs: 1 } },
    { method: 'toyquant', config_list: [{ op_types: ['dense'], quant_dtype: 'int8' }] },
  ],
};

/** A temp dir with recipe files and a spec. */
export async function sweepDirWith(spec: Record<string, unknown>, recipes: Record<string, unknown> = { 'mag-quant.json': magQuant }): Promise<{ dir: string; spec: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ec-sweep-'));
  for (const [f, r] of Object.entries(recipes)) await writeFile(join(dir, f), JSON.stringify(r));
  await writeFile(join(dir, 'sweep.json'), JSON.stringify(spec));
  return { dir, spec: join(dir, 'sweep.json') };
}

/** Jobs skip training: every model "is" this path (the toy job never reads it). */
export const fakePrepare = async () => '/nonexistent/model.json';
