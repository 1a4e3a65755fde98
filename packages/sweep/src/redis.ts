import { CompressionError } from '@edge-compress/core';
import { type Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { sha256 } from './hash.js';
import type { SweepJob } from './expand.js';
import type { JobOutcome, RetryPolicy } from './embedded.js';
import type { SweepEventHandler } from './events.js';
import { attemptJob, type Executor, processExecutor } from './executor.js';
import { isPermanent } from './errors.js';
import { type JobModuleRef, type JobProgress, serializeError, type SerializedError } from './runner.js';
import { readFailure, readResult, writeFailure } from './store.js';

/** Queue name used by `sweep --queue` and `worker --queue` unless told otherwise. */
export const DEFAULT_QUEUE_NAME = 'edge-compress-sweep';

/** What travels through Redis for one job: where the sweep writes, the job, and the model it starts from. */
export interface QueuedJobData {
  out: string;
  job: SweepJob;
  modelJson: string;
}

// A minimal view of an ioredis client (ioredis is loaded at run time; see connectRedis).
interface RedisClient {
  ping(): Promise<string>;
  quit(): Promise<unknown>;
  disconnect(): void;
}

/** Parses redis://[user:pass@]host:port[/db]; anything else is BAD_CONFIG naming the option. */
export function parseRedisUrl(url: string, option = '--queue'): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CompressionError({ code: 'BAD_CONFIG', path: option, message: `${option} '${url}' is not a URL`, hint: 'expected redis://HOST:PORT, e.g. redis://127.0.0.1:6379' });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new CompressionError({ code: 'BAD_CONFIG', path: option, message: `${option} '${url}' must start with redis:// or rediss://`, hint: 'expected redis://HOST:PORT' });
  return u;
}

/** Checks that a Redis server answers at `url` (typed BAD_CONFIG naming --queue if not). */
export async function checkRedis(url: string): Promise<void> {
  const c = await connectRedis(url);
  c.disconnect();
}

/** An ioredis connection as BullMQ needs it (maxRetriesPerRequest null), after checking the server answers. */
export async function connectRedis(url: string): Promise<RedisClient> {
  parseRedisUrl(url);
  let IORedis: new (url: string, opts: Record<string, unknown>) => RedisClient & { on(ev: string, f: (e: Error) => void): void };
  try {
    const specifier = 'ioredis'; // not a static import: ioredis is optional until a queue is used
    const mod = (await import(specifier)) as unknown as { default?: unknown; Redis?: unknown };
    IORedis = (mod.Redis ?? mod.default ?? mod) as typeof IORedis;
  } catch (cause) {
    throw new CompressionError({
      code: 'BACKEND_NOT_READY',
      message: "the Redis queue needs the 'ioredis' package, which is not installed",
      hint: 'npm install ioredis (BullMQ declares it as an optional peer)',
      cause,
    });
  }
  const probe = new IORedis(url, { maxRetriesPerRequest: 1, connectTimeout: 3000, retryStrategy: () => null, lazyConnect: false, enableOfflineQueue: true });
  probe.on('error', () => {});
  try {
    await probe.ping();
  } catch (cause) {
    probe.disconnect();
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: '--queue',
      message: `cannot reach Redis at ${url}: ${(cause as Error).message}`,
      hint: 'start redis-server (or check host and port), or leave out --queue to run on the embedded queue',
      cause,
    });
  }
  probe.disconnect();
  const client = new IORedis(url, { maxRetriesPerRequest: null });
  client.on('error', () => {});
  return client;
}

const queueJobId = (out: string, id: string) => `${id}-${sha256(out).slice(0, 8)}`;

export interface QueueRunOptions {
  url: string;
  name?: string;
  retry: RetryPolicy;
  onEvent?: SweepEventHandler;
  /** How often job states are read. Default 200 ms. */
  pollMs?: number;
}

/**
 * Enqueues the jobs on BullMQ (job id = sweep job id + output directory, so enqueuing twice adds nothing)
 * and waits until every job is done or failed for good, reporting start / progress / retry / done / failed.
 * Workers (`startQueueWorker`, anywhere) run them and commit the variants into the shared `out`.
 */
export async function runOnQueue(out: string, work: ReadonlyArray<{ job: SweepJob; modelJson: string }>, o: QueueRunOptions): Promise<JobOutcome[]> {
  const name = o.name ?? DEFAULT_QUEUE_NAME;
  const onEvent = o.onEvent ?? (() => {});
  const connection = await connectRedis(o.url);
  const events = new QueueEvents(name, { connection: (await connectRedis(o.url)) as never });
  const queue = new Queue<QueuedJobData>(name, { connection: connection as never });
  const byQid = new Map(work.map((w) => [queueJobId(out, w.job.id), w]));
  events.on('progress', ({ jobId, data }) => {
    const w = byQid.get(jobId);
    if (w && data && typeof data === 'object') onEvent({ type: 'progress', id: w.job.id, label: w.job.label, progress: data as unknown as JobProgress });
  });
  try {
    await events.waitUntilReady();
    for (const w of work) {
      const qid = queueJobId(out, w.job.id);
      const old = await queue.getJob(qid);
      if (old) {
        const state = await old.getState();
        // A finished job whose variant is missing here (deleted, or another output tree): run it again.
        if (state === 'completed' || state === 'failed') await old.remove();
        else continue; // already queued or running (another sweep process of the same output)
      }
      await queue.add(
        'job',
        { out, job: w.job, modelJson: w.modelJson },
        {
          jobId: qid,
          attempts: o.retry.attempts,
          backoff: { type: 'exponential', delay: o.retry.backoffMs },
          removeOnComplete: { age: 24 * 3600 },
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      );
    }
    const outcomes = new Map<string, JobOutcome>();
    const seen = new Map<string, { attemptsMade: number; active: boolean }>();
    const pollMs = o.pollMs ?? 200;
    while (outcomes.size < work.length) {
      for (const w of work) {
        const { job } = w;
        if (outcomes.has(job.id)) continue;
        const qid = queueJobId(out, job.id);
        const bj: Job<QueuedJobData> | undefined = await queue.getJob(qid);
        const state = bj ? await bj.getState() : 'unknown';
        const prev = seen.get(job.id) ?? { attemptsMade: 0, active: false };
        const attemptsMade = bj?.attemptsMade ?? prev.attemptsMade;
        if (state === 'completed' || state === 'unknown') {
          const res = await readResult(out, job);
          if (res) {
            const rv = bj?.returnvalue as { outcome?: JobOutcome['outcome']; seconds?: number } | undefined;
            const outcome: JobOutcome = {
              id: job.id,
              label: job.label,
              status: 'done',
              outcome: rv?.outcome ?? 'existing',
              attempts: Math.max(1, attemptsMade),
              seconds: rv?.seconds,
            };
            outcomes.set(job.id, outcome);
            onEvent({ type: 'done', id: job.id, label: job.label, outcome: outcome.outcome!, seconds: outcome.seconds });
          } else if (state === 'completed') {
            const error: SerializedError = {
              name: 'CompressionError',
              code: 'BAD_CONFIG',
              message: `job ${job.label} completed on a worker but its variant is not in ${out}: the workers and this process do not share the output directory`,
              hint: 'give --out a directory every machine mounts at the same path',
            };
            outcomes.set(job.id, { id: job.id, label: job.label, status: 'failed', attempts: attemptsMade, error });
            onEvent({ type: 'failed', id: job.id, label: job.label, attempts: attemptsMade, error });
          } else {
            // Removed from the queue without a result (e.g. obliterated): enqueue again.
            await queue.add('job', { out, job, modelJson: w.modelJson }, { jobId: qid, attempts: o.retry.attempts, backoff: { type: 'exponential', delay: o.retry.backoffMs } });
          }
        } else if (state === 'failed') {
          const f = await readFailure(out, job.id);
          const error: SerializedError = f?.error ?? { name: 'Error', message: bj?.failedReason ?? 'failed' };
          outcomes.set(job.id, { id: job.id, label: job.label, status: 'failed', attempts: f?.attempts ?? attemptsMade, error });
          onEvent({ type: 'failed', id: job.id, label: job.label, attempts: f?.attempts ?? attemptsMade, error });
        } else {
          if (attemptsMade > prev.attemptsMade && bj?.failedReason) {
            onEvent({
              type: 'retry',
              id: job.id,
              label: job.label,
              attempt: attemptsMade,
              error: { name: 'Error', message: bj.failedReason },
              delayMs: o.retry.backoffMs * 2 ** (attemptsMade - 1),
            });
          }
          if (state === 'active' && (!prev.active || attemptsMade > prev.attemptsMade)) onEvent({ type: 'start', id: job.id, label: job.label, attempt: attemptsMade + 1 });
          seen.set(job.id, { attemptsMade, active: state === 'active' });
          continue;
        }
      }
      if (outcomes.size < work.length) await new Promise((r) => setTimeout(r, pollMs));
    }
    return work.map((w) => outcomes.get(w.job.id)!);
  } finally {
    await events.close();
    await queue.close();
  }
}

export interface QueueWorkerOptions {
  url: string;
  name?: string;
  /** Jobs at a time on this machine (one job process each). Default 1. */
  concurrency?: number;
  /** The app's job module (see JobModuleRef). */
  module: JobModuleRef;
  /** Lock of a running job; renewed every half of it while the worker lives. Default 30 s. */
  lockDurationMs?: number;
  /** How often this worker looks for jobs whose worker died. Default 30 s. */
  stalledIntervalMs?: number;
  /** A job whose worker died more often than this fails. Default 2. */
  maxStalledCount?: number;
  onEvent?: SweepEventHandler;
  /** Run jobs in this process instead of job processes (debugging). */
  executor?: Executor;
}

export interface QueueWorker {
  /** Waits for running jobs, then disconnects. */
  close(): Promise<void>;
  /** pids of the job processes. */
  pids(): number[];
}

/**
 * A BullMQ worker that runs sweep jobs in job processes that import the app's job module. The worker's own
 * event loop does no model work, so it keeps renewing job locks however long a job trains; if it is
 * killed, its locks expire and another worker's stalled-job check puts the jobs back in the queue.
 */
export async function startQueueWorker(o: QueueWorkerOptions): Promise<QueueWorker> {
  const name = o.name ?? DEFAULT_QUEUE_NAME;
  const concurrency = o.concurrency ?? 1;
  const exec = o.executor ?? processExecutor({ size: concurrency, module: o.module });
  const onEvent = o.onEvent ?? (() => {});
  const connection = await connectRedis(o.url);
  const worker = new Worker<QueuedJobData>(
    name,
    async (bj) => {
      const { out, job, modelJson } = bj.data;
      const attempt = bj.attemptsMade + 1;
      let last = 0;
      try {
        const r = await attemptJob(out, job, modelJson, exec, attempt, {
          onStart: (pid) => onEvent({ type: 'start', id: job.id, label: job.label, attempt, pid }),
          onProgress: (p) => {
            onEvent({ type: 'progress', id: job.id, label: job.label, progress: p });
            const now = Date.now();
            if (now - last < 500) return;
            last = now;
            void bj.updateProgress(p as unknown as object).catch(() => {});
          },
        });
        onEvent({ type: 'done', id: job.id, label: job.label, outcome: r.outcome, seconds: r.seconds });
        return r;
      } catch (e) {
        const error = serializeError(e);
        const final = isPermanent(e) || attempt >= (bj.opts.attempts ?? 1);
        if (final) {
          await writeFailure(out, job, error, attempt);
          onEvent({ type: 'failed', id: job.id, label: job.label, attempts: attempt, error });
        } else onEvent({ type: 'retry', id: job.id, label: job.label, attempt, error, delayMs: 0 });
        const msg = error.code ? `[${error.code}] ${error.message}` : error.message;
        throw isPermanent(e) ? new UnrecoverableError(msg) : new Error(msg);
      }
    },
    {
      connection: connection as never,
      concurrency,
      lockDuration: o.lockDurationMs ?? 30_000,
      stalledInterval: o.stalledIntervalMs ?? 30_000,
      maxStalledCount: o.maxStalledCount ?? 2,
    },
  );
  worker.on('error', () => {});
  await worker.waitUntilReady();
  return {
    async close() {
      await worker.close();
      await exec.close();
      await connection.quit().catch(() => undefined);
    },
    pids: () => exec.pids?.() ?? [],
  };
}
