/**
 * `edge-compress sweep` and `edge-compress worker` (issue 14), the sweep job runner, and the adapter that runs
 * the reference pipeline's variants as a small sweep.
 *
 * This module is also the *job module* of the sweep: job processes (embedded queue) and queue workers import
 * it by path and call `createSweepJobRunner`, so the method registry stays in methods.ts. It must therefore
 * have no import-time side effects, and be built as its own entry (dist/sweepCli.js).
 */
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  assertFits,
  CompressionError,
  evaluateModel,
  exportModel,
  initBackend,
  loadMnist,
  loadModel,
  parameterCount,
  runRecipe,
  subset,
  writeFileAtomic,
  type BackendName,
  type Plan,
  type Report,
} from '@edge-compress/core';
import {
  canonicalJson,
  DEFAULT_QUEUE_NAME,
  readResult,
  runSweep,
  startQueueWorker,
  sweepJsonSchema,
  type JobModuleRef,
  type JobRunner,
  type SweepEvent,
  type SweepReport,
} from '@edge-compress/sweep';
import { createCostFn } from '@edge-compress/hw-cost';
import { COST_DEVICE, registry } from './methods.js';
import type { Progress } from './progress.js';
import { armFeatures, modelFigures, type VariantRow } from './report.js';

/** The built module worker processes import (dist/sweepCli.js; from the sources, the built one). */
export function sweepJobModulePath(): string {
  const env = process.env.EDGE_COMPRESS_SWEEP_JOB_MODULE;
  if (env) return resolve(env);
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts') ? resolve(dirname(here), '../dist/sweepCli.js') : join(dirname(here), 'sweepCli.js');
}

const jobModule = (path?: string, backend: BackendName = 'wasm', trainLimit?: number): JobModuleRef => ({
  path: path ? resolve(path) : sweepJobModulePath(),
  export: 'createSweepJobRunner',
  options: trainLimit ? { backend, trainLimit } : { backend },
});

/** Job processes import the job module by path: it must exist (a build of this app with its sweepCli entry). */
function assertJobModule(m: JobModuleRef): void {
  if (!existsSync(m.path)) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: m.path,
      message: `the sweep job module ${m.path} does not exist`,
      hint: "build the app with its 'sweepCli' tsup entry (apps/reference/tsup.config.ts), or run with --in-process",
    });
  }
}

type Mnist = ReturnType<typeof loadMnist>;

/**
 * One sweep job: load the model, run the recipe with the app's registry (nothing when the job is a baseline),
 * export the variant (exact format + smallest stock fallback), evaluate it on the test digits, and return
 * its catalogue features (armFeatures) and figures. Deterministic for a given job.
 */
export async function createSweepJobRunner(options: { backend?: BackendName; trainLimit?: number } = {}): Promise<JobRunner> {
  await initBackend(options.backend ?? 'wasm');
  const data = new Map<string, Mnist>();
  const mnist = (shape: readonly number[]): Mnist => {
    const k = shape.join('x');
    let d = data.get(k);
    if (!d) {
      d = loadMnist({ shape: [...shape] as never });
      // --quick: methods train on the first `trainLimit` training digits (val and test stay whole).
      if (options.trainLimit) d = { ...d, train: subset(d.train, options.trainLimit) };
      data.set(k, d);
    }
    return d;
  };
  // Test accuracy of each starting model, by file: the jobs of a sweep mostly start from the same baseline.
  const before = new Map<string, ReturnType<typeof evaluateModel>>();
  return {
    async run(job, io) {
      const loaded = await loadModel(job.modelJson);
      const d = mnist(loaded.model.ir.inputShape);
      assertFits(d.test, loaded.model.ir.inputShape, `${loaded.modelJson} input`);
      const st = await stat(loaded.modelJson);
      const key = `${resolve(loaded.modelJson)}:${st.size}:${st.mtimeMs}`;
      let base = before.get(key);
      if (!base) before.set(key, (base = evaluateModel(loaded.model, d.test)));
      let model = loaded.model;
      let plans: Plan[] = [];
      let reports: Report[] = [];
      if (job.recipe) {
        const res = await runRecipe(
          loaded.model,
          job.recipe,
          registry,
          {
            train: d.train,
            val: d.val,
            seed: job.seed,
            signal: io.signal,
            cost: createCostFn(COST_DEVICE),
            onProgress: (p) => io.onProgress({ phase: `${p.method}/${p.phase}`, epoch: p.epoch, epochs: p.epochs, step: p.step, stepsPerEpoch: p.stepsPerEpoch, loss: p.loss }),
          },
          job.recipeFile ?? job.label,
        );
        ({ model, plans, reports } = res);
      }
      const exported = await exportModel(model, io.dir, { data: subset(d.train, 1000) });
      const ev = model === loaded.model ? base : evaluateModel(model, d.test);
      const fig = modelFigures(model);
      const fp32 = modelFigures(loaded.model);
      const method = plans.length ? plans.map((p) => p.method).join('+') : 'none';
      await writeFileAtomic(join(io.dir, 'report.json'), JSON.stringify({ recipe: job.recipe, plans, reports }, null, 2));
      return {
        features: armFeatures(model, ev.accuracy),
        metrics: {
          method,
          accuracy: ev.accuracy,
          accuracyBefore: base.accuracy,
          accuracyDrop: base.accuracy - ev.accuracy,
          testLoss: ev.loss,
          parameters: parameterCount(model.ir),
          nonZeros: fig.nonZeros,
          pruningRatio: fig.elements / Math.max(1, fig.nonZeros),
          storageBytes: fig.storageBytes,
          storageRatio: fp32.storageBytes / fig.storageBytes,
          fileBytes: exported.total.rawBytes,
          gzipBytes: exported.total.gzipBytes,
          stockFileBytes: exported.total.stockRawBytes,
          stockInMemoryBytes: exported.total.stockInMemoryBytes,
        },
        details: { plans, reports },
      };
    },
  };
}

// ---------------------------------------------------------------------------------------------- progress

type Stream = NodeJS.WritableStream & { isTTY?: boolean };
const fmtS = (s: number) => (s >= 90 ? `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${s.toFixed(1)}s`);

/**
 * Progress of a sweep on stderr: on a terminal one bar for the sweep (done / running / failed, ETA) and one
 * per running job (epoch, step, loss); otherwise one line per job event. Silent with --json.
 */
export function sweepProgress(stderr: Stream, quiet: boolean): { onEvent: (e: SweepEvent) => void; stop: () => void } {
  if (quiet) return { onEvent: () => {}, stop: () => {} };
  const tty = Boolean(stderr.isTTY);
  let total = 0,
    done = 0,
    failed = 0;
  const running = new Set<string>();
  let multi: cliProgress.MultiBar | undefined;
  let main: cliProgress.SingleBar | undefined;
  const bars = new Map<string, cliProgress.SingleBar>();
  const t0 = Date.now();
  let base = 0; // jobs done before this run started counting time
  const eta = () => {
    const n = done + failed - base;
    if (n <= 0) return '–';
    return fmtS((((Date.now() - t0) / 1000) * (total - done - failed)) / n);
  };
  const refresh = () => main?.update(done + failed, { done, running: running.size, failed, eta: eta() });
  const line = (s: string) => (multi ? multi.log(`${s}\n`) : stderr.write(`${s}\n`));
  return {
    onEvent(e) {
      switch (e.type) {
        case 'planned':
          total = e.total;
          done = base = e.existing;
          line(`sweep: ${e.total} jobs, ${e.existing} already done, ${e.pending} to run (${e.mode === 'queue' ? 'on the Redis queue' : 'embedded queue'})`);
          if (tty && e.pending) {
            multi = new cliProgress.MultiBar(
              { stream: stderr, hideCursor: true, clearOnComplete: false, format: '{label} |{bar}| {value}/{total} {info}' },
              cliProgress.Presets.shades_classic,
            );
            main = multi.create(total, done, { label: 'sweep'.padEnd(44), info: '' });
            main.update(done, { info: `done ${done} · running 0 · failed 0 · ETA –` });
          }
          break;
        case 'baseline':
          if (!tty && e.progress.trainAccuracy !== undefined) line(`baseline ${e.model}: epoch ${e.progress.epoch + 1}/${e.progress.epochs} loss ${e.progress.loss.toFixed(4)}`);
          break;
        case 'start':
          running.add(e.id);
          if (multi) bars.set(e.id, multi.create(1, 0, { label: e.label.slice(0, 44).padEnd(44), info: `attempt ${e.attempt}` }));
          else line(`start  ${e.label}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`);
          break;
        case 'progress': {
          const b = bars.get(e.id);
          const p = e.progress;
          if (b) {
            b.setTotal(Math.max(1, p.epochs * p.stepsPerEpoch));
            b.update(p.epoch * p.stepsPerEpoch + p.step + 1, { info: `${p.phase} epoch ${p.epoch + 1}/${p.epochs}${p.loss !== undefined ? ` loss ${p.loss.toFixed(4)}` : ''}` });
          }
          break;
        }
        case 'retry':
          running.delete(e.id);
          (bars.get(e.id)?.stop(), multi?.remove(bars.get(e.id)!), bars.delete(e.id));
          line(`retry  ${e.label}: attempt ${e.attempt} failed (${e.error.message.split('\n')[0]})${e.delayMs ? `, again in ${e.delayMs} ms` : ''}`);
          break;
        case 'done':
        case 'failed': {
          running.delete(e.id);
          const b = bars.get(e.id);
          if (b && multi) (multi.remove(b), bars.delete(e.id));
          if (e.type === 'done') done++;
          else failed++;
          if (e.type === 'failed') line(`failed ${e.label} after ${e.attempts} attempt(s): ${e.error.code ? `[${e.error.code}] ` : ''}${e.error.message}`);
          else if (!multi) line(`done   ${e.label}${e.seconds ? ` (${fmtS(e.seconds)})` : ''} [${done + failed}/${total}, ETA ${eta()}]`);
          break;
        }
      }
      if (main) main.update(done + failed, { info: `done ${done} · running ${running.size} · failed ${failed} · ETA ${eta()}` });
      else refresh();
    },
    stop() {
      multi?.stop();
      multi = undefined;
    },
  };
}

// ---------------------------------------------------------------------------------------------- commands

const int =
  (name: string, min: number) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got '${v}'`);
    return n;
  };

export interface SweepIo {
  stdout: NodeJS.WritableStream;
  stderr: Stream;
}

function summary(r: SweepReport): string {
  const lines = [
    `sweep: ${r.done}/${r.total} variants in ${r.out} (${r.existing} already there), ${r.failed} failed, ${fmtS(r.wallSeconds)}`,
    `Pareto front (${[...r.objectives.maximize.map((k) => `${k} ↑`), ...r.objectives.minimize.map((k) => `${k} ↓`)].join(', ')}): ${r.pareto.join(', ') || '(none)'}`,
    ...r.failures.map((f) => `failed ${f.label} (${f.id}) after ${f.attempts} attempt(s): ${f.error.code ? `[${f.error.code}] ` : ''}${f.error.message}`),
    `wrote ${r.catalogue}, ${join(r.out, 'pareto.json')} and ${join(r.out, 'sweep.json')}`,
  ];
  return lines.join('\n');
}

/** After printing the report: a failed job makes the command fail (exit 2 if every failure is bad input, else 1). */
function failOn(r: SweepReport): void {
  if (!r.failed) return;
  const list = r.failures.map((f) => `${f.label}: ${f.error.code ? `[${f.error.code}] ` : ''}${f.error.message}`).join('; ');
  if (r.failures.every((f) => f.error.name === 'CompressionError' && f.error.code && f.error.code !== 'ABORTED' && f.error.code !== 'BACKEND_NOT_READY')) {
    const first = r.failures[0]!.error;
    throw new CompressionError({ code: first.code as 'RECIPE_INVALID', path: first.path, message: `${r.failed} of ${r.total} sweep jobs failed: ${list}` });
  }
  const e = new Error(`${r.failed} of ${r.total} sweep jobs failed: ${list}`);
  e.stack = e.message;
  throw e;
}

/**
 * Adds `sweep` and `worker` to the CLI. `io` defaults to the process streams; main.ts passes its own so
 * tests can capture output. Backend: the program's --backend option.
 */
export function registerSweepCommands(program: Command, io: SweepIo = { stdout: process.stdout, stderr: process.stderr }): void {
  const out = (s: string) => io.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
  const backendOf = (): BackendName => {
    const b = (program.opts().backend as string | undefined) ?? 'wasm';
    if (b !== 'wasm' && b !== 'cpu') throw new CompressionError({ code: 'BACKEND_NOT_READY', message: `--backend '${b}' is not supported`, hint: 'use wasm or cpu' });
    return b;
  };

  program
    .command('sweep')
    .description(
      'run a sweep (models × recipes × grid × seeds) as jobs: embedded queue of job processes, or BullMQ over Redis with --queue; writes DIR/<variant>/, catalogue.json, pareto.json, sweep.json',
    )
    .option('--spec <file>', 'sweep spec JSON (see packages/sweep/README.md; --schema prints its JSON Schema)')
    .option('--out <dir>', 'output directory (shared by every worker when --queue is used)')
    .option('--queue <url>', 'enqueue on BullMQ at redis://HOST:PORT; run `edge-compress worker --queue URL` on any number of machines')
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'embedded queue: jobs at a time, one job process each', int('--concurrency', 1), 1)
    .option('--attempts <n>', 'tries per job before it is reported failed (default: the spec, 3)', int('--attempts', 1))
    .option('--in-process', 'run jobs in this process, one at a time (debugging)')
    .option('--dry-run', 'validate and list the jobs; run nothing')
    .option('--schema', 'print the JSON Schema of sweep specs and exit')
    .addOption(new Option('--job-module <path>', 'module that exports createSweepJobRunner (default: this app)').hideHelp())
    .option('--json', 'print the report as one JSON object on stdout')
    .action(
      async (o: {
        spec?: string;
        out?: string;
        queue?: string;
        queueName: string;
        concurrency: number;
        attempts?: number;
        inProcess?: boolean;
        dryRun?: boolean;
        schema?: boolean;
        jobModule?: string;
        json?: boolean;
      }) => {
        if (o.schema) {
          out(JSON.stringify(sweepJsonSchema(), null, 2));
          return;
        }
        if (!o.spec || !o.out)
          throw new CompressionError({
            code: 'BAD_CONFIG',
            path: o.spec ? '--out' : '--spec',
            message: `sweep needs ${o.spec ? '--out DIR' : '--spec SWEEP.json'}`,
            hint: 'edge-compress sweep --spec SWEEP.json --out DIR [--queue redis://HOST:PORT] [--concurrency N]',
          });
        if (o.queue && (o.inProcess || o.concurrency !== 1))
          throw new CompressionError({
            code: 'BAD_CONFIG',
            path: '--queue',
            message: `--queue runs jobs on the workers; --${o.inProcess ? 'in-process' : 'concurrency'} applies to the embedded queue only`,
            hint: 'pass --concurrency to `edge-compress worker`',
          });
        const backend = backendOf();
        if (!o.queue && !o.inProcess && !o.dryRun) assertJobModule(jobModule(o.jobModule, backend));
        const progress = sweepProgress(io.stderr, Boolean(o.json));
        let report: SweepReport;
        try {
          report = await runSweep({
            spec: o.spec,
            out: o.out,
            registry,
            backend,
            jobModule: jobModule(o.jobModule, backend),
            concurrency: o.concurrency,
            inProcess: o.inProcess ? await createSweepJobRunner({ backend }) : undefined,
            queue: o.queue ? { url: o.queue, name: o.queueName } : undefined,
            retry: o.attempts ? { attempts: o.attempts } : undefined,
            dryRun: o.dryRun,
            onEvent: progress.onEvent,
          });
        } finally {
          progress.stop();
        }
        out(
          o.json
            ? JSON.stringify(report)
            : o.dryRun
              ? [`${report.total} jobs (dry run, nothing ran):`, ...report.jobs.map((j) => `  ${j.id}  ${j.label}`)].join('\n')
              : summary(report),
        );
        failOn(report);
      },
    );

  program
    .command('worker')
    .description('run sweep jobs from a BullMQ queue (any number of machines; the sweep output directory must be shared); stops on SIGINT/SIGTERM after its running jobs')
    .requiredOption('--queue <url>', 'redis://HOST:PORT')
    .option('--queue-name <name>', 'BullMQ queue name', DEFAULT_QUEUE_NAME)
    .option('--concurrency <n>', 'jobs at a time on this machine (one job process each)', int('--concurrency', 1), 1)
    .option('--lock-ms <ms>', "job lock; a killed worker's job is picked up again after this", int('--lock-ms', 1000), 30_000)
    .option('--stalled-ms <ms>', 'how often to look for jobs of dead workers', int('--stalled-ms', 100), 30_000)
    .addOption(new Option('--job-module <path>', 'module that exports createSweepJobRunner (default: this app)').hideHelp())
    .option('--json', 'one JSON line per job event on stdout')
    .action(async (o: { queue: string; queueName: string; concurrency: number; lockMs: number; stalledMs: number; jobModule?: string; json?: boolean }) => {
      const backend = backendOf();
      assertJobModule(jobModule(o.jobModule, backend));
      const progress = sweepProgress(io.stderr, Boolean(o.json));
      const w = await startQueueWorker({
        url: o.queue,
        name: o.queueName,
        concurrency: o.concurrency,
        module: jobModule(o.jobModule, backend),
        lockDurationMs: o.lockMs,
        stalledIntervalMs: o.stalledMs,
        onEvent: (e) => {
          if (o.json) {
            if (e.type !== 'progress') out(JSON.stringify({ ...e, worker: process.pid }));
          } else if (e.type === 'start' || e.type === 'done' || e.type === 'failed' || e.type === 'retry') {
            io.stderr.write(`worker ${process.pid}: ${e.type} ${e.label}${e.type === 'failed' || e.type === 'retry' ? `: ${e.error.message}` : ''}\n`);
          }
        },
      });
      if (o.json) out(JSON.stringify({ type: 'ready', worker: process.pid, queue: o.queue, name: o.queueName, concurrency: o.concurrency }));
      else io.stderr.write(`worker ${process.pid}: waiting for jobs on ${o.queue} (queue '${o.queueName}', ${o.concurrency} at a time)\n`);
      await new Promise<void>((res) => {
        const stop = () => res();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      await w.close();
      progress.stop();
    });
}

// ---------------------------------------------------------------------------------------------- pipeline adapter

/** Compute seconds of a committed variant (its run.json), for variants reused from an earlier run. */
async function runSeconds(dir: string): Promise<number> {
  try {
    return Number((JSON.parse(await readFile(join(dir, 'run.json'), 'utf8')) as { seconds?: number }).seconds ?? 0);
  } catch {
    return 0;
  }
}

type PipelineRecipe = { id: string; file: string; recipe: Record<string, unknown> };
const stagesOf = (r: PipelineRecipe) => (Array.isArray(r.recipe.stages) ? (r.recipe.stages as unknown[]) : []);

/**
 * The longest other recipe whose stages are a strict prefix of this recipe's stages (e.g. magnitude-90 for
 * magnitude-90-int8): the chain continues from that variant instead of recomputing its stages.
 */
export function chainPrefixes(recipes: readonly PipelineRecipe[]): Map<string, string> {
  const key = (s: unknown) => canonicalJson(s);
  const out = new Map<string, string>();
  for (const r of recipes) {
    const st = stagesOf(r);
    let best: PipelineRecipe | undefined;
    for (const q of recipes) {
      const qs = stagesOf(q);
      if (q === r || qs.length === 0 || qs.length >= st.length) continue;
      if (qs.every((s, i) => key(s) === key(st[i]))) if (!best || qs.length > stagesOf(best).length) best = q;
    }
    if (best) out.set(r.id, best.id);
  }
  return out;
}

/**
 * The reference pipeline's variants as a small sweep on the embedded queue, run by the same job runner as
 * `sweep`: the baseline model (its own job, `<arch>_fp32`) and each recipe (as given, e.g. quickened) become jobs.
 * A chain whose leading stages are another recipe (magnitude-90 → magnitude-90-int8) continues from that
 * variant's saved model (a second wave of jobs), so shared stages run once. Variants land in OUT/<recipe id>/;
 * a variant whose job id (model content + recipe + seed) is unchanged is not redone.
 */
export async function runPipelineVariants(o: {
  outDir: string;
  arch: string;
  baselineModelJson: string;
  /** Test accuracy of the baseline (accuracy drops are against it, also for chains). */
  baselineAccuracy?: number;
  recipes: PipelineRecipe[];
  seed: number;
  progress: Progress;
  onSweepEvent?: (e: SweepEvent) => void;
  concurrency?: number;
  backend?: BackendName;
  jobModule?: string;
  /** Estimated cost of a recipe (e.g. its epochs): jobs start longest first, so 2 job processes finish together. */
  costOf?: (r: PipelineRecipe) => number;
  /** Methods train on the first N training digits only (--quick); val and test stay whole. */
  trainLimit?: number;
}): Promise<{
  variants: VariantRow[];
  arms: Array<{ id: string; features: Record<string, number> }>;
  stages: Record<string, unknown>;
  chains: Record<string, string>;
  reports: SweepReport[];
  wallSeconds: number;
}> {
  const t0 = performance.now();
  const baseLabel = `${o.arch}_fp32`;
  if (o.recipes.some((r) => r.id === baseLabel))
    throw new CompressionError({
      code: 'RECIPE_INVALID',
      path: o.recipes.find((r) => r.id === baseLabel)!.file,
      message: `a recipe may not be named '${baseLabel}' (the baseline's label)`,
      hint: 'rename the recipe file',
    });
  const recipeDir = join(o.outDir, '.sweep', 'recipes');
  await mkdir(recipeDir, { recursive: true });
  const prefixOf = chainPrefixes(o.recipes);
  const byId = new Map(o.recipes.map((r) => [r.id, r]));
  // Waves: a chain runs after the variant it continues from.
  const depth = (id: string): number => (prefixOf.has(id) ? 1 + depth(prefixOf.get(id)!) : 0);
  const waves: PipelineRecipe[][] = [];
  const byCost = o.costOf ? [...o.recipes].sort((a, b) => o.costOf!(b) - o.costOf!(a)) : o.recipes;
  for (const r of byCost) (waves[depth(r.id)] ??= []).push(r);
  const module = jobModule(o.jobModule, o.backend, o.trainLimit);
  assertJobModule(module);
  const onEvent = (e: SweepEvent) => {
    if (o.onSweepEvent) return o.onSweepEvent(e);
    if (e.type === 'start')
      o.progress.log(
        `${e.label}: ${
          byId.get(e.label)
            ? stagesOf(byId.get(e.label)!)
                .map((s) => (s as { method: string }).method)
                .join(' → ')
            : 'baseline'
        }`,
      );
    else if (e.type === 'failed') o.progress.log(`${e.label} failed: ${e.error.message}`);
  };
  const reports: SweepReport[] = [];
  const results = new Map<string, { job: SweepReport['jobs'][number]; result: Awaited<ReturnType<typeof readResult>> & object }>();
  for (const [w, wave] of waves.entries()) {
    const files = new Map<string, string>();
    for (const r of wave) {
      const q = prefixOf.get(r.id);
      const recipe = q ? { ...r.recipe, stages: stagesOf(r).slice(stagesOf(byId.get(q)!).length) } : r.recipe;
      const f = join(recipeDir, `${r.id}.json`);
      await writeFileAtomic(f, JSON.stringify(recipe, null, 2));
      files.set(r.id, f);
    }
    const froms = [...new Set(wave.map((r) => prefixOf.get(r.id)).filter((x): x is string => Boolean(x)))];
    const spec = {
      version: 1,
      models: w === 0 ? [{ path: o.baselineModelJson, name: o.arch }] : froms.map((q) => ({ path: join(o.outDir, q, 'model.json'), name: q })),
      recipes: wave.map((r) => ({ path: files.get(r.id)!, name: r.id, ...(w > 0 ? { models: [prefixOf.get(r.id)!] } : {}) })),
      seeds: [o.seed],
      baseline: w === 0,
    };
    const report = await runSweep({
      spec: { value: spec, baseDir: o.outDir, name: `pipeline (wave ${w + 1})` },
      out: o.outDir,
      registry,
      concurrency: o.concurrency ?? 2,
      backend: o.backend,
      jobModule: module,
      labelOf: (j) => j.recipeId ?? baseLabel,
      writeSummary: false,
      onEvent,
    });
    failOn(report);
    reports.push(report);
    for (const j of report.jobs) results.set(j.label, { job: j, result: (await readResult(o.outDir, j))! });
  }
  const baseRes = results.get(baseLabel)!.result;
  const baseAcc = o.baselineAccuracy ?? Number((baseRes.metrics as Record<string, number>).accuracy);
  const baseStorage = Number((baseRes.metrics as Record<string, number>).storageBytes);
  const variants: VariantRow[] = [];
  const arms: Array<{ id: string; features: Record<string, number> }> = [];
  const stages: Record<string, unknown> = {};
  const details = (id: string): { plans: unknown[]; reports: unknown[] } => {
    const d = (results.get(id)?.result.details ?? {}) as { plans?: unknown[]; reports?: unknown[] };
    const q = prefixOf.get(id);
    const pre = q ? details(q) : { plans: [], reports: [] };
    return { plans: [...pre.plans, ...(d.plans ?? [])], reports: [...pre.reports, ...(d.reports ?? [])] };
  };
  for (const label of [baseLabel, ...o.recipes.map((r) => r.id)]) {
    const { job, result } = results.get(label)!;
    const m = result.metrics as Record<string, number | string>;
    const rec = byId.get(label);
    const d = details(label);
    const row: VariantRow = {
      id: label,
      method: rec ? (d.plans as Array<{ method: string }>).map((p) => p.method).join('+') : 'none',
      accuracy: Number(m.accuracy),
      accuracyDrop: baseAcc - Number(m.accuracy),
      parameters: Number(m.parameters),
      nonZeros: Number(m.nonZeros),
      pruningRatio: Number(m.pruningRatio),
      storageBytes: Number(m.storageBytes),
      storageRatio: baseStorage / Number(m.storageBytes),
      fileBytes: Number(m.fileBytes),
      gzipBytes: Number(m.gzipBytes),
      stockFileBytes: Number(m.stockFileBytes),
      stockInMemoryBytes: Number(m.stockInMemoryBytes),
      modelJson: join(o.outDir, label, 'model.json'),
      seconds: job.seconds ?? (await runSeconds(join(o.outDir, label))),
    };
    if (rec) {
      row.recipe = rec.file;
      stages[rec.id] = prefixOf.has(label) ? { ...d, continuedFrom: prefixOf.get(label) } : d;
    }
    variants.push(row);
    arms.push({ id: label, features: result.features });
  }
  return { variants, arms, stages, chains: Object.fromEntries(prefixOf), reports, wallSeconds: (performance.now() - t0) / 1000 };
}
