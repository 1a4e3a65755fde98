import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { SweepJob } from './expand.js';
import type { JobOutput, SerializedError } from './runner.js';

/**
 * The sweep's output directory, shared by every process that runs its jobs:
 *   DIR/<label>/               one variant: its files + result.json (+ run.json)
 *   DIR/.sweep/tmp/            private directories of running jobs (renamed into place when done)
 *   DIR/.sweep/failed/<id>.json  the typed error of a job that failed for good
 *   DIR/.sweep/commits.ndjson  one line per committed variant (audit: nothing done twice)
 *   DIR/.cache/                trained baselines
 */
export const RESULT_FILE = 'result.json';

export interface VariantResult extends JobOutput {
  id: string;
  label: string;
  model: string;
  recipe: string | null;
  overrides: Record<string, unknown>;
  seed: number;
}

export interface CommitRecord {
  id: string;
  label: string;
  outcome: 'committed' | 'duplicate';
  host: string;
  pid: number;
  at: string;
}

export const sweepDir = (out: string) => join(out, '.sweep');
export const variantDir = (out: string, label: string) => join(out, label);
const failedFile = (out: string, id: string) => join(sweepDir(out), 'failed', `${id}.json`);
const commitsFile = (out: string) => join(sweepDir(out), 'commits.ndjson');

async function readJson<T>(p: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(p, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** The job's committed result, if its variant exists (same id). */
export async function readResult(out: string, job: Pick<SweepJob, 'id' | 'label'>): Promise<VariantResult | undefined> {
  const r = await readJson<VariantResult>(join(variantDir(out, job.label), RESULT_FILE));
  return r && r.id === job.id ? r : undefined;
}

/** A fresh private directory for one attempt of a job. */
export async function makeJobDir(out: string, id: string): Promise<string> {
  const d = join(sweepDir(out), 'tmp', `${id}.${hostname()}.${process.pid}.${randomBytes(4).toString('hex')}`);
  await mkdir(d, { recursive: true });
  return d;
}

/**
 * Writes result.json into the job's private directory and renames it into DIR/<label> in one step, so a
 * variant is either complete or absent. If the variant is already there with the same id (another
 * worker finished it), the new copy is discarded: 'duplicate'. A stale variant of an older job with the
 * same label is replaced.
 */
export async function commitVariant(out: string, job: SweepJob, tmp: string, output: JobOutput, run: Record<string, unknown>): Promise<'committed' | 'duplicate'> {
  const result: VariantResult = { id: job.id, label: job.label, model: job.model.name, recipe: job.recipeId, overrides: job.overrides, seed: job.seed, ...output };
  await writeFile(join(tmp, RESULT_FILE), JSON.stringify(result, null, 2));
  await writeFile(join(tmp, 'run.json'), JSON.stringify({ id: job.id, host: hostname(), pid: process.pid, ...run }, null, 2));
  const final = variantDir(out, job.label);
  for (let tries = 0; ; tries++) {
    try {
      await rename(tmp, final);
      await logCommit(out, job, 'committed');
      return 'committed';
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR' && code !== 'EISDIR') throw e;
      if (await readResult(out, job)) {
        await rm(tmp, { recursive: true, force: true });
        await logCommit(out, job, 'duplicate');
        return 'duplicate';
      }
      if (tries >= 3) throw e;
      // An older variant under this label (different id, or no result): move it aside, then retry.
      const trash = join(sweepDir(out), 'tmp', `replaced.${job.label}.${randomBytes(4).toString('hex')}`);
      await rename(final, trash).catch(() => undefined);
      await rm(trash, { recursive: true, force: true });
    }
  }
}

async function logCommit(out: string, job: SweepJob, outcome: CommitRecord['outcome']): Promise<void> {
  const rec: CommitRecord = { id: job.id, label: job.label, outcome, host: hostname(), pid: process.pid, at: new Date().toISOString() };
  await appendFile(commitsFile(out), `${JSON.stringify(rec)}\n`);
}

export async function readCommits(out: string): Promise<CommitRecord[]> {
  let text = '';
  try {
    text = await readFile(commitsFile(out), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as CommitRecord);
}

export async function writeFailure(out: string, job: Pick<SweepJob, 'id' | 'label'>, error: SerializedError, attempts: number): Promise<void> {
  const p = failedFile(out, job.id);
  await mkdir(join(sweepDir(out), 'failed'), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ id: job.id, label: job.label, attempts, error: { ...error, stack: undefined } }, null, 2));
  await rename(tmp, p);
}

export async function readFailure(out: string, id: string): Promise<{ attempts: number; error: SerializedError } | undefined> {
  return readJson(failedFile(out, id));
}

export async function clearFailure(out: string, id: string): Promise<void> {
  await rm(failedFile(out, id), { force: true });
}

/**
 * Removes private job directories of this process (its jobs are over) and any older than `olderThanMs`
 * (left by killed workers; a live job's directory is younger than its longest job).
 */
export async function cleanTmp(out: string, olderThanMs = 6 * 3600_000): Promise<number> {
  const mine = `.${hostname()}.${process.pid}.`;
  const d = join(sweepDir(out), 'tmp');
  let n = 0;
  let names: string[] = [];
  try {
    names = await readdir(d);
  } catch {
    return 0;
  }
  const now = Date.now();
  for (const name of names) {
    const p = join(d, name);
    const s = await stat(p).catch(() => undefined);
    if (s && (name.includes(mine) || now - s.mtimeMs >= olderThanMs)) {
      await rm(p, { recursive: true, force: true });
      n++;
    }
  }
  return n;
}
