import { readdir, readFile, mkdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CompressionError,
  loadMnist,
  lenet5,
  planRecipe,
  recipeJsonSchema,
  trainBaseline,
  writeFileAtomic,
  ARCHITECTURES,
  type ArchitectureName,
  type BackendName,
} from '@edge-compress/core';
import type { SweepEvent } from '@edge-compress/sweep';
import { registry } from './methods.js';
import type { Progress } from './progress.js';
import { analyseVariants } from './analysis.js';
import { writeHtmlReport } from './html.js';
import { summaryTable, type PipelineReport } from './report.js';
import { runSelection } from './selection.js';
import { runPipelineVariants } from './sweepCli.js';

/** --quick: methods train on this many of the 7,000 training digits (a smoke run; val and test stay whole). */
export const QUICK_TRAIN_DIGITS = 1000;

/** The recipes shipped with the app (apps/reference/recipes/*.json). */
export const RECIPES_DIR = fileURLToPath(new URL('../recipes/', import.meta.url));

const isLoopKey = (k: string) => k.endsWith('_epochs') || k.endsWith('_iterations') || k.endsWith('_per_iteration');

/** Per method: the defaults of its epoch / iteration options (from the registered methods' option schemas). */
function loopDefaults(): Map<string, Record<string, number>> {
  const schema = recipeJsonSchema(registry.list()) as {
    properties?: { stages?: { items?: { anyOf?: Array<{ properties?: Record<string, { const?: string; properties?: Record<string, { default?: unknown }> }> }> } } };
  };
  const out = new Map<string, Record<string, number>>();
  for (const alt of schema.properties?.stages?.items?.anyOf ?? []) {
    const method = alt.properties?.method?.const;
    if (!method) continue;
    const opts = alt.properties?.options?.properties ?? {};
    out.set(method, Object.fromEntries(Object.entries(opts).flatMap(([k, v]) => (isLoopKey(k) && typeof v.default === 'number' ? [[k, v.default]] : []))));
  }
  return out;
}

/** Epochs and iterations a recipe runs (its options over the method defaults): a rough cost, for scheduling. */
export function loopCount(recipe: Record<string, unknown>): number {
  const defaults = loopDefaults();
  let n = 0;
  for (const s of (recipe.stages as Array<Record<string, unknown>>) ?? []) {
    const merged: Record<string, unknown> = { ...(defaults.get(String(s.method)) ?? {}), ...((s.options as Record<string, unknown>) ?? {}) };
    for (const [k, v] of Object.entries(merged)) if (isLoopKey(k) && typeof v === 'number') n += v;
  }
  return n;
}

/**
 * --quick: every epoch / iteration count of every stage — the recipe's own and the method's defaults it relies on —
 * is capped at 1 (a count of 0 stays 0).
 */
export function quicken(recipe: Record<string, unknown>): Record<string, unknown> {
  return mapLoops(recipe, (k, v) => (isLoopKey(k) ? Math.min(v, 1) : v));
}

/** --full: epoch and iteration counts ×3 (ADMM: 3× the iterations, each of the same length). */
export const FULL_FACTOR = 3;

/**
 * --full, a paper-scale budget: every `*_epochs` and `*_iterations` count of every stage — the recipe's own and
 * the method defaults it relies on — is multiplied by FULL_FACTOR (epochs per ADMM iteration stay as they are).
 */
export function fullen(recipe: Record<string, unknown>): Record<string, unknown> {
  return mapLoops(recipe, (k, v) => (k.endsWith('_epochs') || k.endsWith('_iterations') ? v * FULL_FACTOR : v));
}

/** The recipe with every numeric option of every stage (given or a loop default) passed through `f`. */
function mapLoops(recipe: Record<string, unknown>, f: (key: string, value: number) => number): Record<string, unknown> {
  const defaults = loopDefaults();
  const stages = (recipe.stages as Array<Record<string, unknown>>).map((s) => {
    const given = (s.options as Record<string, unknown>) ?? {};
    const merged: Record<string, unknown> = { ...(defaults.get(String(s.method)) ?? {}), ...given };
    const options = Object.fromEntries(Object.entries(merged).map(([k, v]) => [k, typeof v === 'number' ? f(k, v) : v]));
    return { ...s, options };
  });
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
      throw new CompressionError({ code: 'RECIPE_INVALID', path: file, message: `${file} is not valid JSON`, hint: 'fix the JSON syntax of this recipe', cause });
    }
    const methods = Array.isArray(recipe.stages) ? (recipe.stages as Array<{ method?: string }>).map((s) => String(s.method)) : [];
    if (methods.every((m) => registry.has(m))) out.push({ id: basename(f, '.json'), file, recipe });
  }
  return out;
}

export interface PipelineOptions {
  outDir: string;
  quick: boolean;
  /** Paper-scale budget: the baseline and every epoch / iteration count ×FULL_FACTOR. */
  full?: boolean;
  seed: number;
  progress: Progress;
  /** Sweep events of the variant jobs (progress bars of the embedded queue); default: lines via `progress`. */
  onSweepEvent?: (e: SweepEvent) => void;
  /** Called when the variant jobs are done (e.g. to stop their progress bars). */
  onSweepEnd?: () => void;
  /** Jobs at a time on the embedded queue (one job process each; tfjs-wasm is single-threaded). Default 2. */
  concurrency?: number;
  backend?: BackendName;
  /** The job module (default: this app's built dist/sweepCli.js). */
  jobModule?: string;
  /** Recipes directory (default: the shipped recipes). */
  recipesDir?: string;
  /** Baseline architecture and epochs (default LeNet-5, 20 epochs; --quick 3; --full 60). */
  arch?: ArchitectureName;
  baselineEpochs?: number;
  /** Selection: rounds per replication and replications (default 10,000 × 8; --quick 3,000 × 4). */
  rounds?: number;
  replications?: number;
  /** Write report.html (default true). */
  html?: boolean;
  /** Training threads of the baseline, which trains before any job runs (default: one per job process). */
  baselineWorkers?: number | 'auto';
}

/**
 * The reference pipeline: train (or reuse the cached) baseline, run every shipped recipe whose methods are
 * registered as a small sweep on the embedded queue (chains continue from the variant of their prefix recipe),
 * cost every variant on every hw-cost device, build the catalogue and its Pareto fronts, simulate per-device
 * selection, and write out/: one directory per variant, report.json, summary.md, catalogue.json, report.html.
 */
export async function runPipeline(o: PipelineOptions): Promise<PipelineReport> {
  const t0 = performance.now();
  const arch = o.arch ?? 'lenet5';
  if (o.quick && o.full) throw new CompressionError({ code: 'BAD_CONFIG', message: 'quick and full exclude each other', hint: 'pass one of them' });
  const recipes = (await loadRecipes(o.recipesDir)).map((r) => (o.quick ? { ...r, recipe: quicken(r.recipe) } : o.full ? { ...r, recipe: fullen(r.recipe) } : r));
  const epochs = o.baselineEpochs ?? (o.quick ? 3 : o.full ? 20 * FULL_FACTOR : 20);
  // Pre-flight every recipe before any training: a bad recipe stops here with its file and JSON path.
  const ir = arch === 'lenet5' ? lenet5() : ARCHITECTURES[arch]();
  for (const r of recipes) planRecipe(ir, r.recipe, registry, r.file);
  await mkdir(o.outDir, { recursive: true });
  o.progress.log(`baseline: ${arch}, ${epochs} epochs (cached in ${join(o.outDir, '.cache')})`);
  const base = await trainBaseline({
    arch,
    epochs,
    seed: o.seed,
    workers: o.baselineWorkers ?? o.concurrency ?? 2,
    cacheDir: join(o.outDir, '.cache'),
    onProgress: (p) => o.progress.onTrain(p),
  });
  o.progress.stop();
  const baselineSeconds = (performance.now() - t0) / 1000;
  const ran = await runPipelineVariants({
    outDir: o.outDir,
    arch,
    baselineModelJson: base.modelJson!,
    baselineAccuracy: base.testAccuracy,
    recipes,
    seed: o.seed,
    progress: o.progress,
    onSweepEvent: o.onSweepEvent,
    concurrency: o.concurrency ?? 2,
    backend: o.backend,
    jobModule: o.jobModule,
    costOf: (r) => loopCount(r.recipe),
    trainLimit: o.quick ? QUICK_TRAIN_DIGITS : undefined,
  });
  o.onSweepEnd?.();
  ran.variants[0]!.seconds = baselineSeconds;
  const variantsWall = ran.wallSeconds;
  o.progress.log(`costing ${ran.variants.length} variants on every hw-cost device; timing local inference`);
  const analysis = await analyseVariants({ variants: ran.variants, data: loadMnist({ shape: ir.inputShape }), progress: o.progress });
  o.progress.log('simulating per-device selection');
  const selection = runSelection({
    analysis,
    seed: o.seed,
    rounds: o.rounds ?? (o.quick ? 3000 : 10_000),
    replications: o.replications ?? (o.quick ? 4 : 8),
    onProgress: (done, total) => o.progress.onTrain({ phase: 'selection', epoch: 0, epochs: 1, step: done, stepsPerEpoch: total, loss: 0, done: done === total }),
  });
  o.progress.stop();
  const timing = { variantsWallSeconds: variantsWall, concurrency: o.concurrency ?? 2, wallSeconds: 0 };
  const report: PipelineReport = {
    outDir: o.outDir,
    quick: o.quick,
    full: Boolean(o.full),
    seed: o.seed,
    baseline: { arch, epochs, testAccuracy: base.testAccuracy, cached: base.cached },
    variants: analysis.variants,
    stages: ran.stages,
    chains: ran.chains,
    devices: analysis.devices,
    costs: analysis.costs,
    layers: analysis.layers,
    pareto: analysis.pareto,
    headline: analysis.headline,
    selection,
    timing,
  };
  await writeFileAtomic(join(o.outDir, 'catalogue.json'), JSON.stringify(selection.catalogue, null, 2));
  if (o.html !== false) await writeHtmlReport(join(o.outDir, 'report.html'), report);
  timing.wallSeconds = (performance.now() - t0) / 1000;
  await writeFileAtomic(join(o.outDir, 'report.json'), JSON.stringify(report, null, 2));
  await writeFileAtomic(join(o.outDir, 'summary.md'), `${summaryTable(report)}\n`);
  return report;
}
