/// <reference lib="dom" />
/**
 * The reference pipeline end to end on tiny settings (LeNet-300-100, 1 baseline epoch, three small recipes of
 * which one is a chain): variants run as a sweep on the embedded queue (2 job processes), the chain continues
 * from its prefix variant, every variant is costed per device, the catalogue parses in bandit-select, and
 * report.html renders every chart in headless Chromium.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateModel, initBackend, isCompressionError, loadMnist, loadModel, nonZeros, summarize } from '@edge-compress/core';
import { FeatureSpace, parseCatalogue } from '@edge-compress/bandit-select';
import type { SweepEvent } from '@edge-compress/sweep';
import { runPipeline, type PipelineOptions } from '../src/pipeline.js';
import { REPORT_CHARTS } from '../src/html.js';
import type { PipelineReport } from '../src/report.js';

const APP = fileURLToPath(new URL('..', import.meta.url));
const TMP = join(APP, `.tmp-pipeline-test-${process.pid}`);
const BUNDLE = join(TMP, 'sweepCli.mjs');
const RECIPES = join(TMP, 'recipes');
const OUT = join(TMP, 'out');

/** Debian's chromium (or CHROMIUM_PATH); the browser test is skipped, loudly, only when there is none. */
function chromiumPath(): string | undefined {
  if (process.env.CHROMIUM_PATH && existsSync(process.env.CHROMIUM_PATH)) return process.env.CHROMIUM_PATH;
  for (const bin of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      const p = execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();
      if (p) return p;
    } catch {
      /* not on PATH */
    }
  }
  return undefined;
}
const chromium = chromiumPath();
if (!chromium) console.warn('reference: SKIPPING the report.html browser test: no chromium binary (install Debian chromium or set CHROMIUM_PATH)');

const magnitude = { method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.5 }], options: { finetune_epochs: 1 } };
const recipes: Record<string, unknown> = {
  'm50.json': { version: 1, seed: 3, stages: [magnitude] },
  'm50-int8.json': {
    version: 1,
    seed: 3,
    stages: [magnitude, { method: 'quantize', config_list: [{ op_types: ['dense'], quant_dtype: 'int8', granularity: 'out_channel' }], options: { mode: 'ptq' } }],
  },
  'int4.json': {
    version: 1,
    seed: 3,
    stages: [{ method: 'quantize', config_list: [{ op_types: ['dense'], quant_dtype: 'int4', granularity: 'out_channel' }], options: { mode: 'ptq' } }],
  },
};

const quiet = { onTrain() {}, log() {}, stop() {} };
const opts = (o: Partial<PipelineOptions> = {}): PipelineOptions => ({
  outDir: OUT,
  quick: true,
  seed: 0,
  progress: quiet,
  recipesDir: RECIPES,
  arch: 'lenet300100',
  baselineEpochs: 1,
  rounds: 400,
  replications: 2,
  jobModule: BUNDLE,
  concurrency: 2,
  ...o,
});

/** Job processes run @edge-compress/sweep's built child entry; under turbo its build may still be running. */
async function sweepBuilt(): Promise<void> {
  const need = ['dist/child.js', 'dist/index.js'].map((f) => join(APP, '../../packages/sweep', f));
  for (let waited = 0; !need.every((f) => existsSync(f)); waited += 500) {
    if (waited > 180_000) throw new Error(`${need.join(', ')} missing: run npm run build -w @edge-compress/sweep`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

let report: PipelineReport;
const events: SweepEvent[] = [];

beforeAll(async () => {
  await sweepBuilt();
  await initBackend('wasm');
  await mkdir(RECIPES, { recursive: true });
  await build({ entryPoints: [join(APP, 'src/sweepCli.ts')], bundle: true, platform: 'node', format: 'esm', packages: 'external', outfile: BUNDLE, logLevel: 'silent' });
  for (const [f, r] of Object.entries(recipes)) await writeFile(join(RECIPES, f), JSON.stringify(r));
  report = await runPipeline(opts({ onSweepEvent: (e) => events.push(e) }));
  // About 40 s on an idle 2-core machine (two job processes start, three short jobs, a chain); minutes under heavy load.
}, 600_000);
afterAll(async () => {
  await rm(TMP, { recursive: true, force: true });
});

describe('edge-compress pipeline (tiny settings)', () => {
  it('runs the variants as a sweep: baseline + recipes in one wave, the chain in a second from its prefix variant', async () => {
    expect(report.variants.map((v) => v.id)).toEqual(['lenet300100_fp32', 'int4', 'm50-int8', 'm50']);
    expect(report.chains).toEqual({ 'm50-int8': 'm50' });
    const planned = events.filter((e): e is Extract<SweepEvent, { type: 'planned' }> => e.type === 'planned');
    expect(planned.map((e) => [e.total, e.pending, e.mode])).toEqual([
      [3, 3, 'embedded'],
      [1, 1, 'embedded'],
    ]);
    expect(events.filter((e) => e.type === 'done').map((e) => (e as { label: string }).label)).toHaveLength(4);
    // The chain's model is the prefix variant's, quantized: same non-zeros, 8-bit kernels; evaluated as stored.
    const test = loadMnist({ shape: [784] }).test;
    const chain = (await loadModel(join(OUT, 'm50-int8', 'model.json'))).model;
    const prefix = (await loadModel(join(OUT, 'm50', 'model.json'))).model;
    for (const w of ['fc1/kernel', 'fc2/kernel', 'fc3/kernel']) {
      expect(nonZeros(chain.weights[w]!)).toBe(nonZeros(prefix.weights[w]!));
      expect(summarize(chain.weights[w]!).bits).toBe(8);
    }
    const byId = Object.fromEntries(report.variants.map((v) => [v.id, v]));
    expect(evaluateModel(chain, test).accuracy).toBe(byId['m50-int8']!.accuracy);
    expect(byId['m50-int8']!.accuracyDrop).toBeCloseTo(report.baseline.testAccuracy - byId['m50-int8']!.accuracy, 12);
    expect(byId['m50-int8']!.storageRatio).toBeGreaterThan(byId.m50!.storageRatio * 2);
    expect(byId['m50-int8']!.method).toBe('magnitude+quantize');
    const st = report.stages['m50-int8'] as { plans: Array<{ method: string }>; continuedFrom: string };
    expect(st.plans.map((p) => p.method)).toEqual(['magnitude', 'quantize']);
    expect(st.continuedFrom).toBe('m50');
    for (const v of report.variants) expect(v.accuracy, v.id).toBeGreaterThan(0.8);
  });

  it('costs every variant on every hw-cost device (MCU to accelerator), with Pareto fronts per class and measured local latency', () => {
    const classes = report.devices!.map((d) => d.cls);
    expect(classes).toEqual(expect.arrayContaining(['mcu', 'mobile_cpu', 'mobile_gpu', 'fpga']));
    expect(report.costs).toHaveLength(report.variants.length * classes.length);
    const mcu = report.costs!.filter((c) => c.cls === 'mcu');
    const gpu = report.costs!.filter((c) => c.cls === 'mobile_gpu');
    // The MCU is far slower than the phone GPU for every variant.
    for (const v of report.variants) expect(mcu.find((c) => c.variant === v.id)!.latencyMs).toBeGreaterThan(5 * gpu.find((c) => c.variant === v.id)!.latencyMs);
    expect(report.pareto).toHaveLength(classes.length);
    for (const p of report.pareto!) {
      expect(p.front.length).toBeGreaterThan(0);
      expect(p.front).not.toContain('lenet300100_fp32'); // int4 and the chain are smaller, cheaper and (here) no worse
    }
    for (const v of report.variants) expect(v.localLatencyMs!.batch1).toBeGreaterThan(0);
    expect(report.layers!.filter((l) => l.variant === 'int4').every((l) => l.ratio > 4)).toBe(true);
    expect(report.headline!.variants).toBe(4);
  });

  it('writes a catalogue bandit-select parses, with per-class latency/energy and the catalogue’s own accuracy range', async () => {
    const cat = parseCatalogue(JSON.parse(await readFile(join(OUT, 'catalogue.json'), 'utf8')));
    expect(cat.arms.map((a) => a.id)).toEqual(report.variants.map((v) => v.id));
    expect(Object.keys(cat.arms[0]!.features)).toEqual(expect.arrayContaining(['acc', 'lat_mcu', 'log_energy_mcu', 'lat_mobile_gpu']));
    const space = new FeatureSpace(cat);
    const accs = report.variants.map((v) => v.accuracy);
    expect(space.qoe!.accLo).toBeCloseTo(Math.min(...accs), 5);
    expect(space.qoe!.accHi).toBeCloseTo(Math.max(...accs), 5);
    const s = report.selection!;
    expect(s.policies.map((p) => p.name)).toEqual(['linucb', 'lints', 'egreedy', 'squarecb', 'uniform']);
    for (const p of s.policies) {
      expect(p.cumRegret).toHaveLength(s.checkpoints.length);
      expect(p.gainVsBestFixed.ci95[0]).toBeLessThanOrEqual(p.gainVsBestFixed.mean);
      expect(p.meanQoe).toBeLessThanOrEqual(s.oracleMeanQoe + 1e-12);
    }
    expect(s.oracleMeanQoe).toBeGreaterThanOrEqual(s.bestFixedMeanQoe);
    expect(s.verdict).toMatch(/oracle/);
    expect(JSON.parse(await readFile(join(OUT, 'report.json'), 'utf8')).variants).toHaveLength(4);
    expect(await readFile(join(OUT, 'summary.md'), 'utf8')).toContain('Per-device selection');
  });

  it('a re-run reuses every variant (nothing runs) and gives the same figures', async () => {
    const again: SweepEvent[] = [];
    const r2 = await runPipeline(opts({ onSweepEvent: (e) => again.push(e), html: false }));
    expect(again.filter((e) => e.type === 'start')).toHaveLength(0);
    expect(r2.variants.map((v) => [v.id, v.accuracy, v.storageBytes])).toEqual(report.variants.map((v) => [v.id, v.accuracy, v.storageBytes]));
    expect(r2.selection!.oracleMeanQoe).toBe(report.selection!.oracleMeanQoe);
  });

  it('a bad recipe stops before any training, naming its file and JSON path', async () => {
    const bad = join(TMP, 'bad-recipes');
    await mkdir(bad, { recursive: true });
    await writeFile(join(bad, 'ok.json'), JSON.stringify(recipes['m50.json']));
    await writeFile(join(bad, 'typo.json'), JSON.stringify({ version: 1, stages: [{ method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ration: 0.5 }] }] }));
    const out = join(TMP, 'bad-out');
    const e = await runPipeline(opts({ recipesDir: bad, outDir: out })).catch((x: unknown) => x);
    expect(isCompressionError(e)).toBe(true);
    expect((e as Error).message).toContain('sparse_ration');
    expect(`${(e as { path?: string }).path}`).toContain(join(bad, 'typo.json'));
    expect(existsSync(join(out, '.cache'))).toBe(false);
  });

  it.skipIf(!chromium)('report.html is self-contained and renders every chart with data in headless Chromium', async () => {
    const html = await readFile(join(OUT, 'report.html'), 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/); // nothing fetched at view time
    const { chromium: pw } = await import('playwright-core');
    const browser = await pw.launch({ executablePath: chromium!, args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      const requests: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) requests.push(r.url());
      });
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(err.message));
      await page.goto(`file://${join(OUT, 'report.html')}`);
      await page.waitForFunction(() => (window as unknown as { __chartsReady?: boolean }).__chartsReady === true, undefined, { timeout: 30_000 });
      const charts = await page.evaluate(
        (ids) => {
          const w = window as unknown as { __charts: Record<string, { getOption(): { series: Array<{ data: unknown[] }> } }> };
          return ids.map((id) => {
            const el = document.getElementById(id)!;
            const canvas = el.querySelector('canvas');
            const series = w.__charts[id]?.getOption().series ?? [];
            return {
              id,
              canvas: Boolean(canvas && canvas.width > 0 && canvas.height > 0),
              series: series.length,
              points: series.reduce((s, x) => s + (x.data?.filter((d) => d !== null).length ?? 0), 0),
            };
          });
        },
        [...REPORT_CHARTS],
      );
      expect(errors).toEqual([]);
      expect(requests).toEqual([]);
      for (const c of charts) {
        expect(c.canvas, c.id).toBe(true);
        expect(c.series, c.id).toBeGreaterThan(0);
        expect(c.points, c.id).toBeGreaterThan(0);
      }
      expect(await page.locator('#variants tbody tr').count()).toBe(4);
    } finally {
      await browser.close();
    }
  });
});
