import { isCompressionError } from '@edge-compress/core';
import type { SweepJob } from './expand.js';
import type { SweepEventHandler } from './events.js';
import { attemptJob, type Executor } from './executor.js';
import { isPermanent } from './errors.js';
import { serializeError, type SerializedError } from './runner.js';
import { clearFailure, writeFailure } from './store.js';

export interface JobOutcome {
  id: string;
  label: string;
  status: 'done' | 'failed';
  outcome?: 'committed' | 'duplicate' | 'existing';
  attempts: number;
  seconds?: number;
  error?: SerializedError;
}

export interface RetryPolicy {
  /** Tries per job (runtime failures only; bad input fails at once). Default 3. */
  attempts: number;
  /** First retry delay; doubles each retry (BullMQ's exponential backoff). Default 1000 ms. */
  backoffMs: number;
}

/**
 * The embedded queue: `exec.concurrency` jobs at a time, in expansion order, failed attempts retried with
 * exponential backoff, no server. Returns one outcome per job, in the order given.
 */
export async function runEmbedded(
  out: string,
  work: ReadonlyArray<{ job: SweepJob; modelJson: string }>,
  exec: Executor,
  retry: RetryPolicy,
  onEvent: SweepEventHandler = () => {},
): Promise<JobOutcome[]> {
  const outcomes = new Map<string, JobOutcome>();
  const pending = work.map((w) => ({ ...w, attempt: 1, notBefore: 0 }));
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const lane = async () => {
    for (;;) {
      if (pending.length === 0) return;
      const now = Date.now();
      const i = pending.findIndex((p) => p.notBefore <= now);
      if (i < 0) {
        await sleep(Math.max(5, Math.min(...pending.map((p) => p.notBefore)) - now));
        continue;
      }
      const item = pending.splice(i, 1)[0]!;
      const { job } = item;
      await clearFailure(out, job.id);
      try {
        const r = await attemptJob(out, job, item.modelJson, exec, item.attempt, {
          onStart: (pid) => onEvent({ type: 'start', id: job.id, label: job.label, attempt: item.attempt, pid }),
          onProgress: (p) => onEvent({ type: 'progress', id: job.id, label: job.label, progress: p }),
        });
        outcomes.set(job.id, { id: job.id, label: job.label, status: 'done', outcome: r.outcome, attempts: item.attempt, seconds: r.seconds });
        onEvent({ type: 'done', id: job.id, label: job.label, outcome: r.outcome, seconds: r.seconds });
      } catch (e) {
        const error = serializeError(e);
        if (isPermanent(e) || item.attempt >= retry.attempts || (isCompressionError(e) && e.code === 'ABORTED')) {
          await writeFailure(out, job, error, item.attempt);
          outcomes.set(job.id, { id: job.id, label: job.label, status: 'failed', attempts: item.attempt, error });
          onEvent({ type: 'failed', id: job.id, label: job.label, attempts: item.attempt, error });
        } else {
          const delayMs = retry.backoffMs * 2 ** (item.attempt - 1);
          onEvent({ type: 'retry', id: job.id, label: job.label, attempt: item.attempt, error, delayMs });
          pending.push({ ...item, attempt: item.attempt + 1, notBefore: Date.now() + delayMs });
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, exec.concurrency) }, lane));
  return work.map((w) => outcomes.get(w.job.id)!);
}
