import { readdir, readFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CompressionError,
  evaluateModel,
  exportModel,
  lenet5,
  loadMnist,
  parameterCount,
  planRecipe,
  runRecipe,
  subset,
  trainBaseline,
  writeFileAtomic,
  type Model,
} from '@edge-compress/core';
import { createCostFn } from '@edge-compress/hw-cost';
import { COST_DEVICE, registry } from './methods.js';
import type { Progress } from './progress.js';
import { armFeatures, modelFigures, summaryTable, type PipelineReport, type VariantRow } from './report.js';
import { parseCatalogue, runSimulation, simArmsFromCatalogue } from '@edge-compress/bandit-select';

/** The recipes shipped with the app (apps/reference/recipes/*.json). */
export const RECIPES_DIR = fileURLToPath(new URL('../recipes/', import.meta.url));

/** In --quick runs every `*_epochs` option is capped at 1. */
function quicken(recipe: Record<string, unknown>): Record<string, unknown> {
  const stages = (recipe.stages as Array<Record<string, unknown>>).map((s) => ({
    ...s,
    options: Object.fromEntries(
      Object.entries((s.options as Record<string, unknown>) ?? {}).map(([k, v]) => [k, k.endsWith('_epochs') && typeof v === 'number' ? Math.min(v, 1) : v]),
    ),
  }));
  return { ...recipe, stages };
}

export async function loadRecipes(dir = RECIPES_DIR): Promise<Array<{ id: string; file: string; recipe: Record<string, unknown> }>> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.json') && !f.startsWith('_')).sort();
  const out = [];
  for (const f of files) {
    const file = join(dir, f);
    let recipe: Record<string, unknown>;
    try {
      recipe = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new CompressionError({ code: 'RECIPE_INVALID', path: file, message: `${file} is not valid JSON`, cause });
    }
    const methods = Array.isArray(recipe.stages) ? (recipe.stages as Array<{ method?: string }>).map((s) => String(s.method)) : [];
    if (methods.every((m) => registry.has(m))) out.push({ id: basename(f, '.json'), file, recipe });
  }
  return out;
}

async function variantRow(
  id: string,
  method: string,
  model: Model,
  outDir: string,
  data: ReturnType<typeof loadMnist>,
  baseAcc: number,
  fp32Bytes: number,
  seconds: number,
  recipe?: string,
): Promise<VariantRow> {
  // Exact for our loader; the fallback stock loaders read is the smallest per weight that keeps predictions.
  const exported = await exportModel(model, join(outDir, id), { data: subset(data.train, 1000) });
  const ev = evaluateModel(model, data.test);
  const fig = modelFigures(model);
  const row: VariantRow = {
    id,
    method,
    accuracy: ev.accuracy,
    accuracyDrop: baseAcc - ev.accuracy,
    parameters: parameterCount(model.ir),
    nonZeros: fig.nonZeros,
    pruningRatio: fig.elements / Math.max(1, fig.nonZeros),
    storageBytes: fig.storageBytes,
    storageRatio: fp32Bytes / fig.storageBytes,
    fileBytes: exported.total.rawBytes,
    gzipBytes: exported.total.gzipBytes,
    stockFileBytes: exported.total.stockRawBytes,
    stockInMemoryBytes: exported.total.stockInMemoryBytes,
    modelJson: exported.modelJson,
    seconds,
  };
  if (recipe) row.recipe = recipe;
  return row;
}

/**
 * Train (or reuse the cached) LeNet-5 baseline, run every shipped recipe whose methods are registered,
 * and write out/: one directory per variant, report.json, summary.md and catalogue.json (bandit arms).
 */
export async function runPipeline(o: { outDir: string; quick: boolean; seed: number; progress: Progress }): Promise<PipelineReport> {
  const recipes = await loadRecipes();
  const epochs = o.quick ? 3 : 20;
  const data = loadMnist({ shape: [28, 28, 1] });
  // Pre-flight every recipe before any training.
  const ir = lenet5();
  for (const r of recipes) planRecipe(ir, o.quick ? quicken(r.recipe) : r.recipe, registry, r.file);
  await mkdir(o.outDir, { recursive: true });
  o.progress.log(`baseline: LeNet-5, ${epochs} epochs (cached in ${join(o.outDir, '.cache')})`);
  const t0 = performance.now();
  const base = await trainBaseline({ arch: 'lenet5', epochs, seed: o.seed, cacheDir: join(o.outDir, '.cache'), onProgress: (p) => o.progress.onTrain(p) });
  const fp32Bytes = modelFigures(base.model).storageBytes;
  const variants: VariantRow[] = [await variantRow('lenet5_fp32', 'none', base.model, o.outDir, data, base.testAccuracy, fp32Bytes, (performance.now() - t0) / 1000)];
  const arms = [{ id: 'lenet5_fp32', features: armFeatures(base.model, base.testAccuracy) }];
  const stages: Record<string, unknown> = {};
  for (const r of recipes) {
    o.progress.log(`${r.id}: ${(r.recipe.stages as Array<{ method: string }>).map((s) => s.method).join(' → ')}`);
    const t1 = performance.now();
    const recipe = o.quick ? quicken(r.recipe) : r.recipe;
    const res = await runRecipe(
      base.model,
      recipe,
      registry,
      { train: data.train, val: data.val, cost: createCostFn(COST_DEVICE), seed: o.seed, onProgress: (p) => o.progress.onTrain(p) },
      r.file,
    );
    const method = res.plans.map((p) => p.method).join('+');
    const row = await variantRow(r.id, method, res.model, o.outDir, data, base.testAccuracy, fp32Bytes, (performance.now() - t1) / 1000, r.file);
    variants.push(row);
    arms.push({ id: r.id, features: armFeatures(res.model, row.accuracy) });
    stages[r.id] = { plans: res.plans, reports: res.reports };
    await writeFileAtomic(join(o.outDir, r.id, 'report.json'), JSON.stringify({ recipe, plans: res.plans, reports: res.reports }, null, 2));
  }
  // The catalogue (bandit arms) and a per-device selection run on bandit-select's simulated population.
  const catalogue = { arms };
  const sim = runSimulation({ arms: simArmsFromCatalogue(parseCatalogue(catalogue)), rounds: o.quick ? 2000 : 10_000, seed: o.seed });
  const report: PipelineReport = {
    outDir: o.outDir,
    quick: o.quick,
    seed: o.seed,
    baseline: { arch: 'lenet5', epochs, testAccuracy: base.testAccuracy, cached: base.cached },
    variants,
    stages,
    selection: {
      rounds: sim.rounds,
      bestFixedArm: sim.bestFixedArm,
      oracleMeanQoe: sim.oracleMeanReward,
      policies: sim.policies.map((p) => ({ name: p.name, meanQoe: p.meanReward, regretShare: p.regretShare, optimalArmShare: p.optimalArmShare })),
    },
  };
  await writeFileAtomic(join(o.outDir, 'catalogue.json'), JSON.stringify(catalogue, null, 2));
  await writeFileAtomic(join(o.outDir, 'report.json'), JSON.stringify(report, null, 2));
  await writeFileAtomic(join(o.outDir, 'summary.md'), `${summaryTable(report)}\n`);
  return report;
}
