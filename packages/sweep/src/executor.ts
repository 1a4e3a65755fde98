import { rm } from 'node:fs/promises';
import type { SweepJob } from './expand.js';
import { ProcessPool, type PoolOptions } from './pool.js';
import { loadJobRunner, type JobInput, type JobModuleRef, type JobOutput, type JobProgress, type JobRunner } from './runner.js';
import { commitVariant, makeJobDir, readResult } from './store.js';

/** Runs job attempts: in forked job processes (the default) or in this process. */
export interface Executor {
  readonly concurrency: number;
  run(job: JobInput, dir: string, onProgress?: (p: JobProgress) => void, onStart?: (pid: number) => void): Promise<JobOutput>;
  close(): Promise<void>;
  /** pids of live job processes (process executors only). */
  pids?(): number[];
}

export function processExecutor(opts: PoolOptions): Executor {
  const pool = new ProcessPool(opts);
  return {
    concurrency: opts.size,
    run: (job, dir, onProgress, onStart) => pool.run(job, dir, onProgress, onStart),
    close: () => pool.close(),
    pids: () => pool.pids(),
  };
}

/**
 * Runs jobs in this process, one at a time (tfjs-wasm is single-threaded, so more would only interleave).
 * For debugging and small runs; a job that crashes the process takes the sweep with it.
 */
export function inProcessExecutor(source: JobModuleRef | JobRunner): Executor {
  let runner: Promise<JobRunner> | undefined;
  let chain: Promise<unknown> = Promise.resolve();
  return {
    concurrency: 1,
    run(job, dir, onProgress, onStart) {
      const go = async () => {
        runner ??= 'run' in source ? Promise.resolve(source) : loadJobRunner(source);
        const r = await runner;
        onStart?.(process.pid);
        return r.run(job, { dir, onProgress: onProgress ?? (() => {}), signal: new AbortController().signal });
      };
      const p = chain.then(go, go);
      chain = p.catch(() => undefined);
      return p;
    },
    async close() {
      if (runner) await (await runner).close?.();
    },
  };
}

export function jobInput(job: SweepJob, modelJson: string): JobInput {
  return {
    id: job.id,
    label: job.label,
    modelJson,
    model: { name: job.model.name, ref: job.model.ref },
    recipeId: job.recipeId,
    recipeFile: job.recipeFile,
    recipe: job.recipe,
    overrides: job.overrides,
    seed: job.seed,
  };
}

/**
 * One attempt of a job: skip it if its variant exists; otherwise run it into a private directory and
 * commit that directory atomically.
 */
export async function attemptJob(
  out: string,
  job: SweepJob,
  modelJson: string,
  exec: Executor,
  attempt: number,
  hooks: { onProgress?: (p: JobProgress) => void; onStart?: (pid: number) => void } = {},
): Promise<{ outcome: 'committed' | 'duplicate' | 'existing'; seconds: number }> {
  if (await readResult(out, job)) return { outcome: 'existing', seconds: 0 };
  const dir = await makeJobDir(out, job.id);
  const t0 = performance.now();
  let output: JobOutput;
  try {
    output = await exec.run(jobInput(job, modelJson), dir, hooks.onProgress, hooks.onStart);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const seconds = (performance.now() - t0) / 1000;
  const outcome = await commitVariant(out, job, dir, output, { attempt, seconds });
  return { outcome, seconds };
}
