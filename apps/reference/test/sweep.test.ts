/**
 * `edge-compress sweep` end to end with real (small) training in job processes. The job module is this app's
 * src/sweepCli.ts, bundled for the job processes (they are plain Node, without the vitest transform).
 */
import { Command, CommanderError } from 'commander';
import { build } from 'esbuild';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sink } from './sink.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateModel, initBackend, isCompressionError, loadMnist, loadModel } from '@edge-compress/core';
import { parseCatalogue } from '@edge-compress/bandit-select';
import { registerSweepCommands } from '../src/sweepCli.js';

const APP = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(APP, `.tmp-sweep-test-${process.pid}`);
const BUNDLE = join(TMP, 'sweepCli.mjs');

function which(bin: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const redisBin = which('redis-server');
let ioredis = true;
try {
  createRequire(join(APP, '../../packages/sweep/package.json')).resolve('ioredis');
} catch {
  ioredis = false;
}
const noRedis = !redisBin ? 'no redis-server binary' : !ioredis ? "no 'ioredis' package" : '';
if (noRedis) console.warn(`reference: SKIPPING the sweep worker test: ${noRedis}`);
async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
}

/** The CLI with only the sweep commands, mapping errors to exit codes as main.ts does. */
async function cli(...argv: string[]) {
  const out = sink(),
    err = sink();
  const program = new Command('edge-compress')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.stream.write(s), writeErr: (s) => err.stream.write(s) })
    .option('--backend <name>', 'tfjs backend', 'wasm');
  registerSweepCommands(program, { stdout: out.stream, stderr: err.stream });
  let code = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else if (isCompressionError(e)) ((code = 2), err.stream.write(`error [${e.code}]: ${e.message}\n`));
    else ((code = 1), err.stream.write(`failed: ${(e as Error).message}\n`));
  }
  return { code, stdout: out.text, stderr: err.text };
}

const recipe = {
  version: 1,
  seed: 3,
  stages: [
    { method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.5, global_group_id: 0 }], options: { finetune_epochs: 1 } },
    { method: 'quantize', config_list: [{ op_types: ['dense'], quant_dtype: 'int8', granularity: 'out_channel' }], options: { mode: 'ptq' } },
  ],
};

/** Job processes run @edge-compress/sweep's built child entry; under turbo its build may still be running. */
async function sweepBuilt(): Promise<void> {
  const need = ['dist/child.js', 'dist/index.js'].map((f) => join(APP, '../../packages/sweep', f));
  for (let waited = 0; !need.every((f) => existsSync(f)); waited += 500) {
    if (waited > 180_000) throw new Error(`${need.join(', ')} missing: run npm run build -w @edge-compress/sweep`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  await sweepBuilt();
  await initBackend('wasm');
  await mkdir(TMP, { recursive: true });
  // Bare imports stay external and resolve from apps/reference/node_modules upwards (built packages).
  await build({ entryPoints: [join(APP, 'src/sweepCli.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: BUNDLE, logLevel: 'silent' });
  await writeFile(join(TMP, 'mq.json'), JSON.stringify(recipe));
  await writeFile(
    join(TMP, 'sweep.json'),
    JSON.stringify({ version: 1, models: [{ arch: 'lenet300100', epochs: 1 }], recipes: ['mq.json'], grid: { sparse_ratio: [0.8, 0.95] }, seeds: [0] }),
  );
}, 240_000);
afterAll(async () => {
  await rm(TMP, { recursive: true, force: true });
});

describe('edge-compress sweep', () => {
  it('runs the jobs in 2 job processes; variants evaluate as reported; the catalogue is a bandit catalogue; a re-run skips; in-process gives the same catalogue', async () => {
    const out = join(TMP, 'out');
    const r = await cli('sweep', '--spec', join(TMP, 'sweep.json'), '--out', out, '--concurrency', '2', '--job-module', BUNDLE, '--json');
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect([rep.total, rep.done, rep.failed, rep.existing]).toEqual([3, 3, 0, 0]);
    const labels = ['lenet300100.fp32', 'lenet300100.mq.sparse_ratio-0.8.s0', 'lenet300100.mq.sparse_ratio-0.95.s0'];
    expect(rep.jobs.map((j: { label: string }) => j.label)).toEqual(labels);
    const catalogue = JSON.parse(await readFile(join(out, 'catalogue.json'), 'utf8'));
    expect(parseCatalogue(catalogue).arms.map((a) => a.id)).toEqual(labels);
    const test = loadMnist({ shape: [784] }).test;
    const accs: string[] = [];
    for (const label of labels) {
      const res = JSON.parse(await readFile(join(out, label, 'result.json'), 'utf8'));
      const { model } = await loadModel(join(out, label, 'model.json'));
      expect(evaluateModel(model, test).accuracy).toBe(res.metrics.accuracy); // evaluated as stored
      accs.push(`${label} ${res.metrics.accuracy}`);
      expect(res.metrics.accuracy, accs.join(', ')).toBeGreaterThan(label.endsWith('fp32') ? 0.85 : 0.7);
      expect(res.features.acc).toBe(res.metrics.accuracy);
    }
    const f = (l: string) => catalogue.arms.find((a: { id: string }) => a.id === l).features;
    // Dense layers at 95% / 80% sparsity, biases dense: density well below 0.1 / 0.25; int8 → 8 bits.
    expect(f(labels[2]!).density).toBeLessThan(0.07);
    expect(f(labels[1]!).density).toBeLessThan(0.22);
    expect(f(labels[0]!).density).toBeGreaterThan(0.95);
    expect(f(labels[1]!).bits).toBe(8);
    expect(f(labels[2]!).bytes).toBeLessThan(f(labels[1]!).bytes);
    expect(rep.pareto).toContain(labels[2]);
    // Re-run: nothing runs.
    const again = await cli('sweep', '--spec', join(TMP, 'sweep.json'), '--out', out, '--job-module', BUNDLE, '--json');
    expect(JSON.parse(again.stdout).existing).toBe(3);
    // In this process, one at a time: the same catalogue, byte for byte (baseline training is deterministic too).
    const out2 = join(TMP, 'out-inproc');
    await cp(join(out, '.cache'), join(out2, '.cache'), { recursive: true }); // same baseline, not trained again
    const r2 = await cli('sweep', '--spec', join(TMP, 'sweep.json'), '--out', out2, '--in-process', '--json');
    expect(r2.code, r2.stderr).toBe(0);
    expect(await readFile(join(out2, 'catalogue.json'), 'utf8')).toBe(await readFile(join(out, 'catalogue.json'), 'utf8'));
    expect(await readFile(join(out2, 'pareto.json'), 'utf8')).toBe(await readFile(join(out, 'pareto.json'), 'utf8'));
  }, 300_000);

  it.skipIf(Boolean(noRedis))(
    '`worker` (the CLI command, in its own process) runs the jobs from Redis; the catalogue equals the embedded run',
    async () => {
      const out = join(TMP, 'out');
      const outQ = join(TMP, 'out-queue');
      await cp(join(out, '.cache'), join(outQ, '.cache'), { recursive: true });
      const port = await freePort();
      const url = `redis://127.0.0.1:${port}`;
      const redis = spawn(redisBin!, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      try {
        await new Promise((r) => setTimeout(r, 300));
        const script = join(TMP, 'worker.mjs');
        await writeFile(
          script,
          `import { Command } from 'commander';\nimport { registerSweepCommands } from ${JSON.stringify(BUNDLE)};\nconst p = new Command('edge-compress').option('--backend <name>', '', 'wasm');\nregisterSweepCommands(p);\nawait p.parseAsync(process.argv.slice(2), { from: 'user' });\nprocess.exit(0);\n`,
        );
        const worker = spawn(process.execPath, [script, 'worker', '--queue', url, '--queue-name', 'apptest', '--job-module', BUNDLE, '--json'], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let wout = '';
        worker.stdout!.on('data', (d) => (wout += String(d)));
        const r = await cli('sweep', '--spec', join(TMP, 'sweep.json'), '--out', outQ, '--queue', url, '--queue-name', 'apptest', '--json');
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ mode: 'queue', done: 3, failed: 0 });
        const exited = new Promise((res) => worker.once('exit', res));
        worker.kill('SIGTERM');
        expect(await exited).toBe(0);
        const events = wout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as { type: string });
        expect(events[0]!.type).toBe('ready');
        expect(events.filter((e) => e.type === 'done')).toHaveLength(3);
        expect(await readFile(join(outQ, 'catalogue.json'), 'utf8')).toBe(await readFile(join(out, 'catalogue.json'), 'utf8'));
      } finally {
        redis.kill('SIGTERM');
      }
    },
    300_000,
  );

  it('a bad grid key fails before anything runs: exit 2 with its JSON path', async () => {
    await writeFile(join(TMP, 'bad.json'), JSON.stringify({ version: 1, models: ['lenet300100'], recipes: ['mq.json'], grid: { sparse_ration: [0.8] } }));
    const r = await cli('sweep', '--spec', join(TMP, 'bad.json'), '--out', join(TMP, 'bad-out'), '--job-module', BUNDLE);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('RECIPE_INVALID');
    expect(r.stderr).toContain('grid.sparse_ration');
    expect(r.stderr).toContain("did you mean 'sparse_ratio'");
    await writeFile(join(TMP, 'bad2.json'), JSON.stringify({ version: 1, models: ['lenet300100'], recipes: ['mq.json'], grid: { quant_dtype: ['int8', 'int33'] } }));
    const r2 = await cli('sweep', '--spec', join(TMP, 'bad2.json'), '--out', join(TMP, 'bad-out'), '--job-module', BUNDLE);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('grid.quant_dtype[1]');
    const r3 = await cli('sweep', '--spec', join(TMP, 'sweep.json'), '--out', join(TMP, 'o'), '--queue', 'http://x:1');
    expect(r3.code).toBe(2);
    expect(r3.stderr).toContain('--queue');
  });

  it('the shipped sweep spec validates (dry run), and --schema prints the spec schema', async () => {
    const r = await cli('sweep', '--spec', join(APP, 'recipes/sweeps/lenet300100-magnitude-quantize.json'), '--out', join(TMP, 'dry'), '--dry-run', '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).total).toBe(13);
    const s = await cli('sweep', '--schema');
    expect(JSON.parse(s.stdout).title).toBe('edge-compress sweep spec');
  });
});
