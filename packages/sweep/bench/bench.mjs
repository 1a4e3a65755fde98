// npm run bench -w @edge-compress/sweep → bench-results/sweep.json
// A 12-job sweep (LeNet-300-100, magnitude 0.8/0.9/0.95 × int8/int4 PTQ × 2 seeds, 1 epoch of fine-tuning each)
// run by the reference app's job runner: embedded queue at concurrency 1 and 2, BullMQ with 2 local workers,
// and BullMQ with one of 2 workers killed with SIGKILL mid-job. Queue overhead per job: no-op jobs, embedded vs
// one BullMQ worker, alternated, 3 rounds.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createRegistry, initBackend, magnitudePrune, trainBaseline } from '@edge-compress/core';
import { readCommits, runSweep } from '@edge-compress/sweep';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '../../..');
const APP = join(ROOT, 'apps/reference');
const TOY = join(HERE, '../test/fixtures/jobs.mjs');
const WORKER = join(HERE, 'worker.mjs');
const quick = process.argv.includes('--quick');

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const which = (b) => {
  try {
    return execFileSync('sh', ['-c', `command -v ${b}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
};
async function freePort() {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => res(p));
    });
  });
}

// The app's job module: its build if there is one, else bundled from source (bare imports stay external).
const tmpMod = join(APP, '.tmp-sweep-bench'); // inside the app, so its own dependencies (commander 14) resolve
await mkdir(tmpMod, { recursive: true });
let jobModule = join(APP, 'dist/sweepCli.js');
if (!existsSync(jobModule)) {
  jobModule = join(tmpMod, 'sweepCli.mjs');
  await build({ entryPoints: [join(APP, 'src/sweepCli.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: jobModule, logLevel: 'silent' });
}
const appModule = { path: jobModule, export: 'createSweepJobRunner', options: { backend: 'wasm' } };

// The app's registry, for the pre-flight (magnitude + quantize).
const quantize = (await import('@edge-compress/quantize')).quantize;
const registry = createRegistry([magnitudePrune, quantize]);

const dir = await mkdtemp(join(tmpdir(), 'ec-sweep-bench-'));
await initBackend('wasm');
console.error(`training the LeNet-300-100 baseline (5 epochs) once for every run …`);
const base = await trainBaseline({ arch: 'lenet300100', epochs: 5, seed: 0, cacheDir: join(dir, '.cache') });
const recipe = JSON.parse(await (await import('node:fs/promises')).readFile(join(APP, 'recipes/sweeps/magnitude-quantize-1ep.recipe.json'), 'utf8'));
await writeFile(join(dir, 'mq.json'), JSON.stringify(recipe));
const spec = {
  version: 1,
  models: [{ path: base.modelJson, name: 'lenet300100' }],
  recipes: [{ path: 'mq.json', name: 'mq' }],
  grid: { sparse_ratio: [0.8, 0.9, 0.95], quant_dtype: ['int8', 'int4'] },
  seeds: quick ? [0] : [0, 1],
  baseline: false,
};
await writeFile(join(dir, 'sweep.json'), JSON.stringify(spec));
const specFile = join(dir, 'sweep.json');
let run = 0;
const nextOut = () => join(dir, `out${run++}`);

const redisBin = which('redis-server');
let redis,
  url = '';
const workers = [];
function startWorker(name, mod) {
  const proc = spawn(process.execPath, [WORKER, url, name, mod.path, mod.export ?? 'createJobRunner', JSON.stringify(mod.options ?? {})], { stdio: ['ignore', 'pipe', 'inherit'] });
  workers.push(proc);
  const lines = [];
  let buf = '';
  return new Promise((res, rej) => {
    proc.stdout.on('data', (d) => {
      buf += String(d);
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        lines.push(l);
        if (l.type === 'ready') res({ proc, lines });
      }
    });
    proc.on('exit', (c) => rej(new Error(`worker exited ${c}`)));
  });
}
const stopWorkers = async (ws) => {
  for (const w of ws)
    if (w.proc.exitCode === null && w.proc.signalCode === null) {
      w.proc.kill('SIGTERM');
      await new Promise((r) => w.proc.once('exit', r));
    }
};

const results = { jobs: 0 };
const load = [];
const note = () => load.push(loadavg()[0]);

// 1) embedded, concurrency 1 and 2 (--embedded-wall C1,C2 reuses figures measured earlier in the same session)
const given = process.argv.find((a) => a.startsWith('--embedded-wall='));
if (given) {
  const [c1, c2] = given.split('=')[1].split(',').map(Number);
  Object.assign(results, { embedded_wall_s_c1: c1, embedded_wall_s_c2: c2, jobs: quick ? 6 : 12 });
}
for (const c of given ? [] : [1, 2]) {
  note();
  const r = await runSweep({ spec: specFile, out: nextOut(), registry, concurrency: c, jobModule: appModule });
  if (r.failed) throw new Error(`embedded c=${c}: ${JSON.stringify(r.failures)}`);
  results[`embedded_wall_s_c${c}`] = +r.wallSeconds.toFixed(1);
  results.jobs = r.total;
  console.error(`embedded c=${c}: ${r.wallSeconds.toFixed(1)} s for ${r.total} jobs`);
}

if (redisBin) {
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redis = spawn(redisBin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await sleep(500);
  // 2) BullMQ, 2 local workers
  {
    const name = `bench-${Date.now()}`;
    const ws = await Promise.all([startWorker(name, appModule), startWorker(name, appModule)]);
    note();
    const r = await runSweep({ spec: specFile, out: nextOut(), registry, queue: { url, name, pollMs: 100 } });
    if (r.failed) throw new Error(`redis: ${JSON.stringify(r.failures)}`);
    results.redis_wall_s = +r.wallSeconds.toFixed(1);
    console.error(`redis, 2 workers: ${r.wallSeconds.toFixed(1)} s`);
    await stopWorkers(ws);
  }
  // 3) BullMQ, 2 workers, one killed with SIGKILL mid-job
  {
    const name = `bench-kill-${Date.now()}`;
    const out = nextOut();
    const ws = await Promise.all([startWorker(name, appModule), startWorker(name, appModule)]);
    let killedAt = 0,
      victim = '';
    const killer = setInterval(() => {
      const st = ws[0].lines.find((l) => l.type === 'start');
      if (!st || killedAt) return;
      victim = st.label;
      killedAt = Date.now() + 3000;
      setTimeout(() => ws[0].proc.kill('SIGKILL'), 3000); // a few seconds into its job
      clearInterval(killer);
    }, 50);
    note();
    const r = await runSweep({ spec: specFile, out, registry, queue: { url, name, pollMs: 100 } });
    clearInterval(killer);
    const commits = await readCommits(out);
    const perId = new Map();
    for (const c of commits) if (c.outcome === 'committed') perId.set(c.id, (perId.get(c.id) ?? 0) + 1);
    results.jobs_lost_after_worker_kill9 = r.total - r.done;
    results.jobs_run_twice = [...perId.values()].filter((n) => n > 1).length;
    results.duplicate_executions_discarded = commits.filter((c) => c.outcome === 'duplicate').length;
    results.killed_worker_job = victim;
    results.redis_wall_s_with_kill9 = +r.wallSeconds.toFixed(1);
    console.error(`redis, 2 workers, one SIGKILLed mid-job (${victim}): ${r.done}/${r.total} done, ${results.jobs_run_twice} committed twice, ${r.wallSeconds.toFixed(1)} s`);
    await stopWorkers(ws);
  }
  // 4) queue overhead per job: no-op jobs, embedded (1 job process) vs BullMQ (1 worker, 1 job process). The marginal
  //    cost per job (wall of N2 jobs − wall of N1 jobs, over N2 − N1) cancels each side's fixed start-up cost
  //    (the embedded queue starts its job process in every run; a worker's is already running). Alternated, 3 rounds.
  {
    const [n1, n2] = quick ? [10, 30] : [20, 80];
    for (const n of [n1, n2])
      await writeFile(
        join(dir, `noop${n}.json`),
        JSON.stringify({
          version: 1,
          models: [{ path: base.modelJson, name: 'm' }],
          recipes: [{ path: 'mq.json', name: 'mq' }],
          grid: { sparse_ratio: Array.from({ length: n }, (_, i) => +(0.3 + (0.6 * i) / n).toFixed(4)) },
          baseline: false,
        }),
      );
    const toy = { path: TOY, options: { steps: 1, stepMs: 0 } };
    const name = `bench-noop-${Date.now()}`;
    const ws = [await startWorker(name, toy)];
    const wall = async (side, n) => {
      const r =
        side === 'queue'
          ? await runSweep({ spec: join(dir, `noop${n}.json`), out: nextOut(), registry, queue: { url, name, pollMs: 20 } })
          : await runSweep({ spec: join(dir, `noop${n}.json`), out: nextOut(), registry, concurrency: 1, jobModule: toy });
      if (r.done !== n) throw new Error(`${side}: ${r.done}/${n}`);
      return r.wallSeconds * 1000;
    };
    await wall('embedded', n1);
    await wall('queue', n1); // warm-up of both sides
    const per = { embedded: [], queue: [] };
    for (let rep = 0; rep < 3; rep++) {
      for (const side of rep % 2 ? ['queue', 'embedded'] : ['embedded', 'queue']) {
        const a = await wall(side, n1);
        const b = await wall(side, n2);
        per[side].push((b - a) / (n2 - n1));
      }
    }
    const diffs = per.queue.map((q, i) => q - per.embedded[i]);
    results.redis_overhead_per_job_ms = +median(diffs).toFixed(1);
    results.redis_overhead_per_job_ms_range = [+Math.min(...diffs).toFixed(1), +Math.max(...diffs).toFixed(1)];
    results.noop_job_marginal_ms_embedded = +median(per.embedded).toFixed(1);
    results.noop_job_marginal_ms_queue = +median(per.queue).toFixed(1);
    await stopWorkers(ws);
  }
  // the same 12 jobs: queue vs embedded at the same parallelism
  results.redis_minus_embedded_c2_per_job_ms = +(((results.redis_wall_s - results.embedded_wall_s_c2) * 1000) / results.jobs).toFixed(0);
} else {
  console.error('no redis-server binary: the Redis figures are skipped (apt-get install -y redis-server)');
  Object.assign(results, { redis_wall_s: null, redis_overhead_per_job_ms: null, jobs_lost_after_worker_kill9: null, jobs_run_twice: null });
}
redis?.kill('SIGTERM');
results.machine = `${cpus().length} cores, shared; 1-min load average during the runs ${Math.min(...load).toFixed(1)}–${Math.max(...load).toFixed(1)} (timings are single runs on a loaded machine, except the overhead: median of 3 alternated rounds)`;
await rm(dir, { recursive: true, force: true });
await rm(tmpMod, { recursive: true, force: true });

const outFile = join(ROOT, 'bench-results/sweep.json');
await mkdir(dirname(outFile), { recursive: true });
await writeFile(outFile, `${JSON.stringify(results, null, 2)}\n`);
const rows = Object.entries(results).map(([k, v]) => `| ${k} | ${Array.isArray(v) ? v.join('–') : v} |`);
console.log(['| figure | value |', '|---|---|', ...rows].join('\n'));
console.log(`wrote ${outFile}`);
