import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCommits, runSweep, type SweepEvent } from '../src/index.js';
import { fakePrepare, JOBS, registry, sweepDirWith } from './helpers.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const spec = { version: 1, models: ['lenet300100'], recipes: ['mag-quant.json'], grid: { sparse_ratio: [0.5, 0.9], quant_dtype: ['int8', 'int4'] }, seeds: [0, 1] };
const lines = async (f: string) =>
  existsSync(f)
    ? (await readFile(f, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { id: string; pid: number })
    : [];

async function setup(extra: Record<string, unknown> = {}) {
  const s = await sweepDirWith({ ...spec, ...extra });
  dirs.push(s.dir);
  const log = join(s.dir, 'log');
  await mkdir(log);
  return { ...s, out: join(s.dir, 'out'), log };
}

describe('embedded queue (job processes)', () => {
  it('runs every job once at concurrency 2, in job order in the catalogue; a re-run skips them all', async () => {
    const s = await setup();
    const events: SweepEvent[] = [];
    const r = await runSweep({
      spec: s.spec,
      out: s.out,
      registry,
      prepareModel: fakePrepare,
      concurrency: 2,
      jobModule: { path: JOBS, options: { logDir: s.log } },
      onEvent: (e) => events.push(e),
    });
    expect(r.total).toBe(9);
    expect(r.done).toBe(9);
    expect(r.failed).toBe(0);
    const finished = await lines(join(s.log, 'finished.ndjson'));
    expect(finished.map((f) => f.id).sort()).toEqual(r.jobs.map((j) => j.id).sort());
    expect(new Set(finished.map((f) => f.pid)).size).toBe(2); // two job processes
    expect(finished.every((f) => f.pid !== process.pid)).toBe(true);
    const cat = JSON.parse(await readFile(join(s.out, 'catalogue.json'), 'utf8')) as { arms: Array<{ id: string; features: Record<string, number> }> };
    expect(cat.arms.map((a) => a.id)).toEqual(r.jobs.map((j) => j.label));
    // Features computed by the toy job from the grid values: sparse 0.9 int4 seed 1.
    const a = cat.arms.find((x) => x.id === 'lenet300100.mag-quant.sparse_ratio-0.9.quant_dtype-int4.s1')!;
    expect(a.features).toEqual({ acc: Math.round((0.99 - 0.2 * 0.9 ** 4 - 0.01 - 28 / 1000) * 1e6) / 1e6, bytes: 50, params: 1000 });
    // Pareto over acc ↑ bytes ↓: the fp32 baseline (acc 0.99 - 0, bytes 4000) and the smallest of each accuracy.
    expect(r.pareto).toContain('lenet300100.fp32');
    expect(r.pareto).toContain('lenet300100.mag-quant.sparse_ratio-0.9.quant_dtype-int4.s0');
    expect(r.pareto).not.toContain('lenet300100.mag-quant.sparse_ratio-0.9.quant_dtype-int4.s1');
    for (const j of r.jobs) {
      const files = (await readdir(join(s.out, j.label))).sort();
      expect(files).toEqual(['model.json', 'result.json', 'run.json', 'weights.bin']);
    }
    expect(events.filter((e) => e.type === 'done')).toHaveLength(9);
    expect(events.some((e) => e.type === 'progress')).toBe(true);
    expect(await readdir(join(s.out, '.sweep', 'tmp'))).toEqual([]);
    // Re-run: nothing executes, same catalogue bytes.
    const before = await readFile(join(s.out, 'catalogue.json'), 'utf8');
    const r2 = await runSweep({ spec: s.spec, out: s.out, registry, prepareModel: fakePrepare, concurrency: 2, jobModule: { path: JOBS, options: { logDir: s.log } } });
    expect(r2.existing).toBe(9);
    expect((await lines(join(s.log, 'finished.ndjson'))).length).toBe(9);
    expect(await readFile(join(s.out, 'catalogue.json'), 'utf8')).toBe(before);
    // Growing the grid runs only the new jobs.
    await writeFile(s.spec, JSON.stringify({ ...spec, grid: { ...spec.grid, sparse_ratio: [0.5, 0.9, 0.95] } }));
    const r3 = await runSweep({ spec: s.spec, out: s.out, registry, prepareModel: fakePrepare, concurrency: 2, jobModule: { path: JOBS, options: { logDir: s.log } } });
    expect([r3.total, r3.existing]).toEqual([13, 9]);
    expect((await lines(join(s.log, 'finished.ndjson'))).length).toBe(13);
    expect((await readCommits(s.out)).filter((c) => c.outcome === 'committed')).toHaveLength(13);
  });

  it('catalogue and front are the same at concurrency 1, 2 and in-process', async () => {
    const got: string[] = [];
    for (const o of [{ concurrency: 1 }, { concurrency: 2 }, { inProcess: true }]) {
      const s = await setup();
      await runSweep({ spec: s.spec, out: s.out, registry, prepareModel: fakePrepare, jobModule: { path: JOBS, options: { stepMs: 1 } }, ...o });
      got.push((await readFile(join(s.out, 'catalogue.json'), 'utf8')) + (await readFile(join(s.out, 'pareto.json'), 'utf8')));
    }
    expect(got[1]).toBe(got[0]);
    expect(got[2]).toBe(got[0]);
  });

  it('retries a transient failure with backoff; reports bad input at once with its typed error', async () => {
    const s = await setup({ seeds: [0] });
    await writeFile(
      join(s.log, 'faults.json'),
      JSON.stringify({
        'lenet300100.mag-quant.sparse_ratio-0.5.quant_dtype-int8.s0': { transient: 2 },
        'lenet300100.mag-quant.sparse_ratio-0.9.quant_dtype-int8.s0': { permanent: true },
        'lenet300100.mag-quant.sparse_ratio-0.9.quant_dtype-int4.s0': { transient: 5 },
      }),
    );
    const events: SweepEvent[] = [];
    const r = await runSweep({
      spec: s.spec,
      out: s.out,
      registry,
      prepareModel: fakePrepare,
      concurrency: 2,
      retry: { attempts: 3, backoffMs: 20 },
      jobModule: { path: JOBS, options: { faultDir: s.log, logDir: s.log } },
      onEvent: (e) => events.push(e),
    });
    expect([r.total, r.done, r.failed]).toEqual([5, 3, 2]);
    const byLabel = Object.fromEntries(r.jobs.map((j) => [j.label, j]));
    expect(byLabel['lenet300100.mag-quant.sparse_ratio-0.5.quant_dtype-int8.s0']).toMatchObject({ status: 'done', attempts: 3 });
    const perm = r.failures.find((f) => f.label.includes('0.9.quant_dtype-int8'))!;
    expect(perm.attempts).toBe(1);
    expect(perm.error).toMatchObject({ name: 'CompressionError', code: 'RECIPE_INVALID', path: 'lenet300100.mag-quant.sparse_ratio-0.9.quant_dtype-int8.s0: config_list[0]' });
    const tr = r.failures.find((f) => f.label.includes('0.9.quant_dtype-int4'))!;
    expect(tr.attempts).toBe(3);
    expect(tr.error.message).toContain('transient failure');
    const retries = events.filter((e): e is Extract<SweepEvent, { type: 'retry' }> => e.type === 'retry' && e.label.includes('0.9.quant_dtype-int4'));
    expect(retries.map((e) => e.delayMs)).toEqual([20, 40]);
    expect(existsSync(join(s.out, perm.label))).toBe(false);
    expect(JSON.parse(await readFile(join(s.out, 'catalogue.json'), 'utf8')).arms).toHaveLength(3);
    const rep = JSON.parse(await readFile(join(s.out, 'sweep.json'), 'utf8'));
    expect(rep.failures).toHaveLength(2);
    // Fixed input: the failed jobs run (and only they).
    await writeFile(join(s.log, 'faults.json'), '{}');
    const r2 = await runSweep({
      spec: s.spec,
      out: s.out,
      registry,
      prepareModel: fakePrepare,
      concurrency: 2,
      retry: { backoffMs: 20 },
      jobModule: { path: JOBS, options: { faultDir: s.log } },
    });
    expect([r2.existing, r2.done, r2.failed]).toEqual([3, 5, 0]);
  });

  it('a job process killed mid-job (SIGKILL) is replaced, its job retried, and no half-written variant appears', async () => {
    const s = await setup({ seeds: [0], grid: { sparse_ratio: [0.5, 0.9] } });
    let killed: number | undefined;
    let killedLabel = '';
    const r = await runSweep({
      spec: s.spec,
      out: s.out,
      registry,
      prepareModel: fakePrepare,
      concurrency: 2,
      retry: { backoffMs: 10 },
      jobModule: { path: JOBS, options: { stepMs: 60, steps: 5, logDir: s.log } },
      onEvent: (e) => {
        if (e.type === 'start' && killed === undefined && e.pid && e.label.includes('0.9')) {
          killed = e.pid;
          killedLabel = e.label;
          setTimeout(() => process.kill(e.pid!, 'SIGKILL'), 150);
        }
      },
    });
    expect(killed).toBeDefined();
    expect([r.done, r.failed]).toEqual([3, 0]);
    expect(r.jobs.find((j) => j.label === killedLabel)!.attempts).toBe(2);
    const started = await lines(join(s.log, 'started.ndjson'));
    const finished = await lines(join(s.log, 'finished.ndjson'));
    const killedId = r.jobs.find((j) => j.label === killedLabel)!.id;
    expect(started.filter((x) => x.id === killedId).map((x) => x.pid)).toEqual([killed, expect.any(Number)]);
    expect(finished.filter((x) => x.id === killedId).map((x) => x.pid)).not.toContain(killed);
    expect(finished.map((f) => f.id).sort()).toEqual(r.jobs.map((j) => j.id).sort()); // each finished once
    const commits = await readCommits(s.out);
    expect(commits.map((c) => c.id).sort()).toEqual(r.jobs.map((j) => j.id).sort());
    expect(r.committedTwice).toBe(0);
  });

  it('dry run validates and lists jobs without running anything', async () => {
    const s = await setup();
    const r = await runSweep({ spec: s.spec, out: s.out, registry, prepareModel: fakePrepare, dryRun: true });
    expect([r.mode, r.total, r.done]).toEqual(['dry-run', 9, 0]);
    expect(existsSync(join(s.out, 'catalogue.json'))).toBe(false);
  });
});
