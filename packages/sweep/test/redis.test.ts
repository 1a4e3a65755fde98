/**
 * The Redis path against a real redis-server (Debian's package), started here on a free loopback port.
 * Skips, saying why, when there is no redis-server binary or no ioredis package.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCommits, runSweep, type SweepEvent } from '../src/index.js';
import { fakePrepare, JOBS, registry, sweepDirWith, WORKER } from './helpers.js';

function which(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const redisBin = which('redis-server');
let hasIoredis = true;
try {
  createRequire(import.meta.url).resolve('ioredis');
} catch {
  hasIoredis = false;
}
const why = !redisBin ? 'no redis-server binary on PATH (apt-get install -y redis-server)' : !hasIoredis ? "the 'ioredis' package is not installed" : '';
if (why) console.warn(`sweep: SKIPPING the Redis queue tests: ${why}`);

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

let redis: ChildProcess | undefined;
let url = '';
const workers: ChildProcess[] = [];
const dirs: string[] = [];

beforeAll(async () => {
  if (why) return;
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redis = spawn(redisBin!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((res) => {
      const c = createServer();
      c.close();
      import('node:net').then(({ connect }) => {
        const s = connect(port, '127.0.0.1', () => (s.end(), res(true)));
        s.on('error', () => res(false));
      });
    });
    if (up) break;
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
});
afterAll(async () => {
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  redis?.kill('SIGTERM');
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

interface WorkerLine {
  type: string;
  worker: number;
  label?: string;
  pid?: number;
}
function startWorker(name: string, options: Record<string, unknown>, concurrency = 1): Promise<{ proc: ChildProcess; lines: WorkerLine[] }> {
  const proc = spawn(process.execPath, [WORKER, url, name, JOBS, JSON.stringify(options), String(concurrency)], { stdio: ['ignore', 'pipe', 'pipe'] });
  workers.push(proc);
  const lines: WorkerLine[] = [];
  let buf = '';
  let err = '';
  proc.stderr!.on('data', (d) => (err += String(d)));
  return new Promise((res, rej) => {
    proc.stdout!.on('data', (d) => {
      buf += String(d);
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = JSON.parse(buf.slice(0, i)) as WorkerLine;
        buf = buf.slice(i + 1);
        lines.push(l);
        if (l.type === 'ready') res({ proc, lines });
      }
    });
    proc.on('exit', (code) => rej(new Error(`worker exited (${code}): ${err}`)));
  });
}

const spec = { version: 1, models: ['lenet300100'], recipes: ['mag-quant.json'], grid: { sparse_ratio: [0.5, 0.9], quant_dtype: ['int8', 'int4'] }, seeds: [0, 1] };
const lines = async (f: string) =>
  existsSync(f)
    ? (await readFile(f, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { id: string; pid: number })
    : [];

describe.skipIf(Boolean(why))('BullMQ queue over a real redis-server', () => {
  it('two workers run every job once; catalogue and front equal the embedded run', async () => {
    const s = await sweepDirWith(spec);
    dirs.push(s.dir);
    const log = join(s.dir, 'log');
    await mkdir(log);
    const name = `t-${Date.now()}-a`;
    const [w1, w2] = await Promise.all([startWorker(name, { logDir: log }), startWorker(name, { logDir: log })]);
    const events: SweepEvent[] = [];
    const r = await runSweep({ spec: s.spec, out: join(s.dir, 'q'), registry, prepareModel: fakePrepare, queue: { url, name, pollMs: 50 }, onEvent: (e) => events.push(e) });
    expect([r.mode, r.total, r.done, r.failed]).toEqual(['queue', 9, 9, 0]);
    const finished = await lines(join(log, 'finished.ndjson'));
    expect(finished.map((f) => f.id).sort()).toEqual(r.jobs.map((j) => j.id).sort());
    const ran = (w: { lines: WorkerLine[] }) => w.lines.filter((l) => l.type === 'done').length;
    expect(ran(w1) + ran(w2)).toBe(9);
    expect(events.filter((e) => e.type === 'done')).toHaveLength(9);
    const e = await runSweep({ spec: s.spec, out: join(s.dir, 'e'), registry, prepareModel: fakePrepare, concurrency: 2, jobModule: { path: JOBS } });
    expect(e.done).toBe(9);
    for (const f of ['catalogue.json', 'pareto.json']) expect(await readFile(join(s.dir, 'q', f), 'utf8')).toBe(await readFile(join(s.dir, 'e', f), 'utf8'));
    // Re-run on the queue: everything exists, nothing is enqueued or run.
    const again = await runSweep({ spec: s.spec, out: join(s.dir, 'q'), registry, prepareModel: fakePrepare, queue: { url, name, pollMs: 50 } });
    expect(again.existing).toBe(9);
    expect((await lines(join(log, 'finished.ndjson'))).length).toBe(9);
    w1.proc.kill('SIGTERM');
    w2.proc.kill('SIGTERM');
  });

  it('a worker killed with SIGKILL mid-job: its job is picked up again, every job is done exactly once, no half-written variant', async () => {
    const s = await sweepDirWith(spec);
    dirs.push(s.dir);
    const log = join(s.dir, 'log');
    await mkdir(log);
    const name = `t-${Date.now()}-k`;
    const opts = { logDir: log, stepMs: 100, steps: 6 };
    const [w1, w2] = await Promise.all([startWorker(name, opts), startWorker(name, opts)]);
    const out = join(s.dir, 'q');
    let victim: { label: string; jobPid: number } | undefined;
    const killer = setInterval(() => {
      const st = w1.lines.find((l) => l.type === 'start');
      if (!st || victim) return;
      victim = { label: st.label!, jobPid: st.pid! };
      setTimeout(() => w1.proc.kill('SIGKILL'), 250); // mid-job: the toy job takes ≥ 700 ms
      clearInterval(killer);
    }, 20);
    const r = await runSweep({ spec: s.spec, out, registry, prepareModel: fakePrepare, queue: { url, name, pollMs: 50 }, retry: { attempts: 2, backoffMs: 50 } });
    clearInterval(killer);
    expect(victim).toBeDefined();
    expect(w1.proc.signalCode).toBe('SIGKILL');
    // The killed worker's job process went with it.
    expect(() => process.kill(victim!.jobPid, 0)).toThrow();
    expect([r.total, r.done, r.failed]).toEqual([9, 9, 0]);
    const victimId = r.jobs.find((j) => j.label === victim!.label)!.id;
    const started = await lines(join(log, 'started.ndjson'));
    const finished = await lines(join(log, 'finished.ndjson'));
    expect(started.filter((x) => x.id === victimId).length).toBe(2); // killed once, then run again
    // Every job finished exactly once, and was committed exactly once.
    expect(finished.map((f) => f.id).sort()).toEqual(r.jobs.map((j) => j.id).sort());
    const commits = await readCommits(out);
    expect(commits.map((c) => c.id).sort()).toEqual(r.jobs.map((j) => j.id).sort());
    expect(commits.every((c) => c.outcome === 'committed')).toBe(true);
    expect(r.committedTwice).toBe(0);
    for (const j of r.jobs) expect((await readdir(join(out, j.label))).sort()).toEqual(['model.json', 'result.json', 'run.json', 'weights.bin']);
    w2.proc.kill('SIGTERM');
  });

  it('an unreachable server is a typed error naming --queue', async () => {
    const s = await sweepDirWith(spec);
    dirs.push(s.dir);
    const port = await freePort();
    await expect(runSweep({ spec: s.spec, out: join(s.dir, 'o'), registry, prepareModel: fakePrepare, queue: { url: `redis://127.0.0.1:${port}` } })).rejects.toMatchObject({
      code: 'BAD_CONFIG',
      path: '--queue',
    });
  });
});
