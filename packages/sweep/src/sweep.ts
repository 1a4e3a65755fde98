import { mkdir, rm } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { initBackend, trainBaseline, type BackendName, type Registry, writeFileAtomic } from '@edge-compress/core';
import { buildCatalogue, paretoFront, type Arm } from './catalogue.js';
import { runEmbedded, type JobOutcome, type RetryPolicy } from './embedded.js';
import type { SweepEventHandler } from './events.js';
import { expandSweep, loadSweepRecipes, resolveModels, type ModelRef, type SweepJob } from './expand.js';
import { type Executor, inProcessExecutor, processExecutor } from './executor.js';
import { checkRedis, runOnQueue } from './redis.js';
import type { JobModuleRef, JobRunner, SerializedError } from './runner.js';
import { parseSweepSpec, readSweepSpec, type SweepSpec } from './spec.js';
import { cleanTmp, readCommits, readResult, sweepDir, type VariantResult } from './store.js';

export interface RunSweepOptions {
  /** The spec file, or the spec object with `baseDir` for relative paths. */
  spec: string | { value: unknown; baseDir: string; name?: string };
  out: string;
  /** The app's compressors: every job is planned against its model before anything runs. */
  registry: Registry;
  /** The job module worker processes import (required unless `runner` is given with `inProcess`). */
  jobModule?: JobModuleRef;
  /** Embedded queue: jobs at a time, each in its own job process. Default 1. */
  concurrency?: number;
  /** Run jobs in this process with this runner (or the job module), one at a time. */
  inProcess?: boolean | JobRunner;
  /** BullMQ over Redis instead of the embedded queue; workers run the jobs. */
  queue?: { url: string; name?: string; pollMs?: number };
  /** Retries; `attempts` defaults to the spec's. */
  retry?: Partial<RetryPolicy>;
  /** Backend for training baselines in this process. Default 'wasm'. */
  backend?: BackendName;
  /**
   * The model.json a job starts from. Default: a file model as is; a built-in arch trained with core's
   * trainBaseline (cached in OUT/.cache, shared by every job of that model).
   */
  prepareModel?: (ref: ModelRef, ctx: { out: string; onEvent: SweepEventHandler; name: string }) => Promise<string>;
  labelOf?: Parameters<typeof expandSweep>[3]['labelOf'];
  onEvent?: SweepEventHandler;
  /** Expand and validate only. */
  dryRun?: boolean;
  /**
   * Write OUT/catalogue.json, OUT/pareto.json and OUT/sweep.json (default true). A caller that runs several
   * sweeps into one directory (e.g. the reference pipeline, whose chains continue from earlier variants) turns
   * this off and writes its own catalogue from the reports.
   */
  writeSummary?: boolean;
}

export interface SweepReport {
  out: string;
  spec: string;
  mode: 'embedded' | 'queue' | 'in-process' | 'dry-run';
  total: number;
  done: number;
  /** Jobs whose variant existed before this run (by id). */
  existing: number;
  failed: number;
  jobs: Array<Pick<SweepJob, 'id' | 'label' | 'index' | 'recipeId' | 'overrides' | 'seed'> & { model: string } & Partial<JobOutcome>>;
  failures: Array<{ id: string; label: string; attempts: number; error: SerializedError }>;
  /** Labels of the Pareto-optimal variants, in job order. */
  pareto: string[];
  objectives: SweepSpec['pareto'];
  catalogue: string;
  /** Variants committed more than once (by the audit log); always 0 unless the filesystem lies. */
  committedTwice: number;
  wallSeconds: number;
}

async function defaultPrepare(ref: ModelRef, ctx: { out: string; onEvent: SweepEventHandler; name: string }, backend: BackendName): Promise<string> {
  if (ref.kind === 'file') return ref.path;
  await initBackend(backend);
  const b = await trainBaseline({
    arch: ref.arch,
    epochs: ref.epochs,
    seed: ref.seed,
    cacheDir: join(ctx.out, '.cache'),
    onProgress: (p) => ctx.onEvent({ type: 'baseline', model: ctx.name, progress: p }),
  });
  return b.modelJson!;
}

/** Expands and validates a spec (nothing runs): the jobs in order. */
export async function planSweep(o: Pick<RunSweepOptions, 'spec' | 'registry' | 'labelOf'>): Promise<{ spec: SweepSpec; jobs: SweepJob[]; specFile: string }> {
  let spec: SweepSpec, baseDir: string, specFile: string;
  if (typeof o.spec === 'string') {
    specFile = resolve(o.spec);
    spec = await readSweepSpec(specFile);
    baseDir = dirname(specFile);
  } else {
    specFile = o.spec.name ?? 'sweep spec';
    spec = parseSweepSpec(o.spec.value, specFile);
    baseDir = o.spec.baseDir;
  }
  const models = await resolveModels(spec, baseDir, specFile);
  const recipes = await loadSweepRecipes(spec, baseDir, specFile);
  const jobs = expandSweep(spec, models, recipes, { baseDir, specFile, registry: o.registry, labelOf: o.labelOf });
  return { spec, jobs, specFile };
}

/**
 * Runs a sweep: validate every job, skip those whose variant exists, prepare the models, run the rest on the
 * embedded queue (job processes) or on BullMQ, then write OUT/catalogue.json, OUT/pareto.json and
 * OUT/sweep.json. Catalogue and front depend only on the variants, listed in job order, so they are the same
 * whatever ran where.
 */
export async function runSweep(o: RunSweepOptions): Promise<SweepReport> {
  const t0 = performance.now();
  const out = resolve(o.out);
  const onEvent = o.onEvent ?? (() => {});
  const { spec, jobs, specFile } = await planSweep(o);
  const mode: SweepReport['mode'] = o.dryRun ? 'dry-run' : o.queue ? 'queue' : o.inProcess ? 'in-process' : 'embedded';
  // A queue that cannot be reached fails now, not after training baselines.
  if (o.queue && !o.dryRun) await checkRedis(o.queue.url);
  const retry: RetryPolicy = { attempts: o.retry?.attempts ?? spec.attempts, backoffMs: o.retry?.backoffMs ?? 1000 };
  await mkdir(sweepDir(out), { recursive: true });
  const existing = new Set<string>();
  for (const j of jobs) if (await readResult(out, j)) existing.add(j.id);
  const pending = jobs.filter((j) => !existing.has(j.id));
  onEvent({ type: 'planned', total: jobs.length, existing: existing.size, pending: pending.length, mode: o.queue ? 'queue' : 'embedded' });
  let outcomes: JobOutcome[] = [];
  if (!o.dryRun && pending.length) {
    // Models: each trained baseline once, here, before any job starts from it.
    const modelJson = new Map<string, string>();
    for (const j of pending) {
      if (modelJson.has(j.model.identity)) continue;
      const ctx = { out, onEvent, name: j.model.name };
      modelJson.set(j.model.identity, resolve(await (o.prepareModel ? o.prepareModel(j.model.ref, ctx) : defaultPrepare(j.model.ref, ctx, o.backend ?? 'wasm'))));
    }
    const work = pending.map((job) => ({ job, modelJson: modelJson.get(job.model.identity)! }));
    if (o.queue) {
      outcomes = await runOnQueue(out, work, { url: o.queue.url, name: o.queue.name, pollMs: o.queue.pollMs, retry, onEvent });
    } else {
      let exec: Executor;
      if (o.inProcess) exec = inProcessExecutor(typeof o.inProcess === 'object' ? o.inProcess : need(o.jobModule));
      else exec = processExecutor({ size: o.concurrency ?? 1, module: need(o.jobModule) });
      try {
        outcomes = await runEmbedded(out, work, exec, retry, onEvent);
      } finally {
        await exec.close();
      }
    }
    // This process's job directories (embedded queue), and old ones of killed workers.
    await cleanTmp(out);
  }
  const byId = new Map(outcomes.map((x) => [x.id, x]));
  const results: VariantResult[] = [];
  for (const j of jobs) {
    const r = await readResult(out, j);
    if (r) results.push(r);
  }
  const arms: Arm[] = results.map((r) => ({ id: r.label, features: r.features }));
  const catalogue = buildCatalogue(arms);
  const front = paretoFront(catalogue.arms, spec.pareto);
  const cataloguePath = join(out, 'catalogue.json');
  const write = !o.dryRun && o.writeSummary !== false;
  if (write) {
    await writeFileAtomic(cataloguePath, `${JSON.stringify(catalogue, null, 2)}\n`);
    await writeFileAtomic(join(out, 'pareto.json'), `${JSON.stringify({ objectives: spec.pareto, front: front.front, incomplete: front.incomplete }, null, 2)}\n`);
  }
  const commits = await readCommits(out);
  const counts = new Map<string, number>();
  for (const c of commits) if (c.outcome === 'committed') counts.set(c.id, (counts.get(c.id) ?? 0) + 1);
  const failures = outcomes.filter((x) => x.status === 'failed').map((x) => ({ id: x.id, label: x.label, attempts: x.attempts, error: x.error! }));
  const report: SweepReport = {
    out,
    spec: specFile,
    mode,
    total: jobs.length,
    done: results.length,
    existing: existing.size,
    failed: failures.length,
    jobs: jobs.map((j) => ({
      id: j.id,
      label: j.label,
      index: j.index,
      model: j.model.name,
      recipeId: j.recipeId,
      overrides: j.overrides,
      seed: j.seed,
      ...(existing.has(j.id) ? { status: 'done' as const, outcome: 'existing' as const } : byId.get(j.id)),
    })),
    failures,
    pareto: front.front,
    objectives: spec.pareto,
    catalogue: cataloguePath,
    committedTwice: [...counts.values()].filter((n) => n > 1).length,
    wallSeconds: (performance.now() - t0) / 1000,
  };
  if (write) await writeFileAtomic(join(out, 'sweep.json'), `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

function need(m: JobModuleRef | undefined): JobModuleRef {
  if (!m) throw new TypeError('runSweep: jobModule is required to run jobs in job processes');
  return m;
}

/** Removes a sweep's bookkeeping (not its variants). */
export async function resetSweepState(out: string): Promise<void> {
  await rm(sweepDir(resolve(out)), { recursive: true, force: true });
}
