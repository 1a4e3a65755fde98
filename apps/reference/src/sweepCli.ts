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
import { mkdir } from 'node:fs/promises';
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
import { registry } from './methods.js';
import type { Progress } from './progress.js';
import { armFeatures, modelFigures, type VariantRow } from './report.js';

/** The built module worker processes import (dist/sweepCli.js; from the sources, the built one). */
export function sweepJobModulePath(): string {
  const env = process.env.EDGE_COMPRESS_SWEEP_JOB_MODULE;
  if (env) return resolve(env);
  const here = fileURLToPath(import.meta.url);
  return here.endsWith('.ts') ? resolve(dirname(here), '../dist/sweepCli.js') : join(dirname(here), 'sweepCli.js');
}

const jobModule = (path?: string, backend: BackendName = 'wasm'): JobModuleRef => ({
  path: path ? resolve(path) : sweepJobModulePath(),
  export: 'createSweepJobRunner',
  options: { backend },
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
export async function createSweepJobRunner(options: { backend?: BackendName } = {}): Promise<JobRunner> {
  await initBackend(options.backend ?? 'wasm');
  const data = new Map<string, Mnist>();
  const mnist = (shape: readonly number[]): Mnist => {
    const k = shape.join('x');
    let d = data.get(k);
    if (!d) data.set(k, (d = loadMnist({ shape: [...shape] as never })));
    return d;
  };
  return {
    async run(job, io) {
      const loaded = await loadModel(job.modelJson);
      const d = mnist(loaded.model.ir.inputShape);
      assertFits(d.test, loaded.model.ir.inputShape, `${loaded.modelJson} input`);
      const base = evaluateModel(loaded.model, d.test);
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
            onProgress: (p) => io.onProgress({ phase: `${p.method}/${p.phase}`, epoch: p.epoch, epochs: p.epochs, step: p.step, stepsPerEpoch: p.stepsPerEpoch, loss: p.loss }),
          },
          job.recipeFile ?? job.label,
        );
        ({ model, plans, reports } = res);
      }
      const exported = await exportModel(model, io.dir, { data: subset(d.train, 1000) });
      const ev = evaluateModel(model, d.test);
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

/**
 * The reference pipeline's variants as a small sweep on the embedded queue: the cached baseline model and
 * each recipe (as given, e.g. quickened) become jobs, run by the same job runner as `sweep`. Variants land in
 * OUT/<recipe id>/ (the baseline in OUT/<arch>_fp32/); a variant whose job id is unchanged is not redone.
 */
export async function runPipelineVariants(o: {
  outDir: string;
  arch: string;
  baselineModelJson: string;
  recipes: Array<{ id: string; file: string; recipe: Record<string, unknown> }>;
  seed: number;
  progress: Progress;
  concurrency?: number;
  backend?: BackendName;
  jobModule?: string;
}): Promise<{ variants: VariantRow[]; arms: Array<{ id: string; features: Record<string, number> }>; stages: Record<string, unknown>; report: SweepReport }> {
  const recipeDir = join(o.outDir, '.sweep', 'recipes');
  await mkdir(recipeDir, { recursive: true });
  for (const r of o.recipes) await writeFileAtomic(join(recipeDir, `${r.id}.json`), JSON.stringify(r.recipe, null, 2));
  const spec = {
    version: 1,
    models: [{ path: o.baselineModelJson, name: o.arch }],
    recipes: o.recipes.map((r) => ({ path: join(recipeDir, `${r.id}.json`), name: r.id })),
    seeds: [o.seed],
    baseline: true,
  };
  const byId = new Map(o.recipes.map((r) => [r.id, r]));
  assertJobModule(jobModule(o.jobModule, o.backend));
  const report = await runSweep({
    spec: { value: spec, baseDir: o.outDir, name: 'pipeline' },
    out: o.outDir,
    registry,
    concurrency: o.concurrency ?? 1,
    backend: o.backend,
    jobModule: jobModule(o.jobModule, o.backend),
    labelOf: (j) => (j.recipeId ? j.recipeId : `${o.arch}_fp32`),
    onEvent: (e) => {
      if (e.type === 'start')
        o.progress.log(`${e.label}: ${byId.get(e.label) ? (byId.get(e.label)!.recipe.stages as Array<{ method: string }>).map((s) => s.method).join(' → ') : 'baseline'}`);
      else if (e.type === 'progress')
        o.progress.onTrain({
          phase: e.progress.phase,
          epoch: e.progress.epoch,
          epochs: e.progress.epochs,
          step: e.progress.step,
          stepsPerEpoch: e.progress.stepsPerEpoch,
          loss: e.progress.loss ?? 0,
          done: false,
        });
      else if (e.type === 'failed') o.progress.log(`${e.label} failed: ${e.error.message}`);
    },
  });
  failOn(report);
  const variants: VariantRow[] = [];
  const arms: Array<{ id: string; features: Record<string, number> }> = [];
  const stages: Record<string, unknown> = {};
  for (const j of report.jobs) {
    const r = (await readResult(o.outDir, j))!;
    const m = r.metrics as Record<string, number | string>;
    const row: VariantRow = {
      id: j.label,
      method: String(m.method),
      accuracy: Number(m.accuracy),
      accuracyDrop: Number(m.accuracyDrop),
      parameters: Number(m.parameters),
      nonZeros: Number(m.nonZeros),
      pruningRatio: Number(m.pruningRatio),
      storageBytes: Number(m.storageBytes),
      storageRatio: Number(m.storageRatio),
      fileBytes: Number(m.fileBytes),
      gzipBytes: Number(m.gzipBytes),
      stockFileBytes: Number(m.stockFileBytes),
      stockInMemoryBytes: Number(m.stockInMemoryBytes),
      modelJson: join(o.outDir, j.label, 'model.json'),
      seconds: j.seconds ?? 0,
    };
    const rec = j.recipeId ? byId.get(j.recipeId) : undefined;
    if (rec) {
      row.recipe = rec.file;
      stages[rec.id] = r.details;
    }
    variants.push(row);
    arms.push({ id: j.label, features: r.features });
  }
  return { variants, arms, stages, report };
}
