#!/usr/bin/env node
/**
 * Reference pipeline bench (issue 12) → bench-results/reference.json (--quick: reference-quick.json; flat) and a table.
 *
 *   node bench/bench.mjs                  run the default pipeline cold (fresh output directory) and time it
 *   node bench/bench.mjs --from DIR       use a finished pipeline output (its own measured wall time)
 *   node bench/bench.mjs --quick          the --quick pipeline instead of the default one
 *   node bench/bench.mjs --screenshot     also write docs/report.png (the README's screenshot)
 *
 * Figures: pipeline wall time (with the load average it ran under), variants, Pareto variants, best accuracy
 * at ≥ 10× smaller weights, best storage ratio within 0.5 pp, the selection's oracle and policy gains over the
 * best single variant (95 % intervals), charts rendered in headless Chromium, and ONNX top-1 agreement with our
 * forward (dense and int8 QDQ export of the pipeline's baseline, run in onnxruntime-node).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const APP = fileURLToPath(new URL('..', import.meta.url));
const ROOT = resolve(APP, '../..');
const args = process.argv.slice(2);
const flag = (n) => args.includes(n);
const value = (n) => (args.includes(n) ? args[args.indexOf(n) + 1] : undefined);
const quick = flag('--quick');
const from = value('--from');
const out = resolve(from ?? join(APP, 'out', quick ? 'bench-quick' : 'bench-default'));

function chromiumPath() {
  if (process.env.CHROMIUM_PATH && existsSync(process.env.CHROMIUM_PATH)) return process.env.CHROMIUM_PATH;
  for (const bin of ['chromium', 'chromium-browser', 'google-chrome']) {
    try {
      const p = execFileSync('sh', ['-c', `command -v ${bin}`], { encoding: 'utf8' }).trim();
      if (p) return p;
    } catch {}
  }
  return undefined;
}

let wall;
let loadDuring;
if (!from) {
  await rm(out, { recursive: true, force: true });
  const load0 = loadavg()[0];
  const t0 = performance.now();
  await new Promise((res, rej) => {
    const p = spawn(process.execPath, [join(APP, 'dist/cli.js'), 'pipeline', ...(quick ? ['--quick'] : []), '--out', out], { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`pipeline exited ${code}`))));
  });
  wall = (performance.now() - t0) / 1000;
  loadDuring = [load0, loadavg()[0]];
}
const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
wall ??= report.timing?.wallSeconds;
const isQuick = quick || report.quick;

// Charts in headless Chromium.
const { REPORT_CHARTS } = await import(join(APP, 'dist/index.js'));
let charts = null;
const chromium = chromiumPath();
if (chromium) {
  const { chromium: pw } = await import('playwright-core');
  const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1240, height: 900 } });
    await page.goto(`file://${join(out, 'report.html')}`);
    await page.waitForFunction(() => window.__chartsReady === true, undefined, { timeout: 60_000 });
    const rendered = await page.evaluate(
      (ids) =>
        ids.filter((id) => {
          const c = window.__charts[id];
          const canvas = document.getElementById(id)?.querySelector('canvas');
          const pts = (c?.getOption().series ?? []).reduce((s, x) => s + (x.data ?? []).filter((d) => d !== null).length, 0);
          return canvas && canvas.width > 0 && pts > 0;
        }).length,
      [...REPORT_CHARTS],
    );
    charts = rendered / REPORT_CHARTS.length;
    if (flag('--screenshot')) {
      await mkdir(join(APP, 'docs'), { recursive: true });
      await page.screenshot({ path: join(APP, 'docs', 'report.png'), fullPage: true });
    }
  } finally {
    await browser.close();
  }
} else console.warn('reference bench: no chromium binary (install Debian chromium or set CHROMIUM_PATH): report_charts_rendered not measured');

// ONNX: export the pipeline's baseline (dense and int8 QDQ) with the CLI, run in onnxruntime-node, compare top-1.
const core = await import('@edge-compress/core');
await core.initBackend('wasm');
const { run } = await import(join(APP, 'dist/index.js'));
const ort = (await import('onnxruntime-node')).default ?? (await import('onnxruntime-node'));
const base = report.variants[0];
const { model } = await core.loadModel(base.modelJson);
const test = core.loadMnist({ shape: model.ir.inputShape }).test;
const n = 1000;
const per = model.ir.inputShape.reduce((a, b) => a * b, 1);
const images = test.images.subarray(0, n * per);
const top1 = (p, k) =>
  Array.from({ length: p.length / k }, (_, i) => {
    let b = 0;
    for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + b]) b = c;
    return b;
  });
const ours = top1(core.predict(model, images, n), 10);
const onnx = {};
const sink = { write() {}, isTTY: false };
for (const quant of ['none', 'int8']) {
  const file = join(out, '.onnx', `baseline-${quant}.onnx`);
  await mkdir(dirname(file), { recursive: true });
  const code = await run(['export', '--model', base.modelJson, '--format', 'onnx', '--quant', quant, '--out', file, '--json'], { stdout: sink, stderr: process.stderr });
  if (code !== 0) throw new Error(`export --quant ${quant} exited ${code}`);
  const s = await ort.InferenceSession.create(await readFile(file), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', images, [n, ...model.ir.inputShape]) });
  const theirs = top1(Float32Array.from(r[s.outputNames[0]].data), 10);
  await s.release();
  onnx[quant] = theirs.filter((v, i) => v === ours[i]).length / n;
}

const sel = report.selection;
const lin = sel.policies.find((p) => p.name === sel.headlinePolicy);
const best = [...sel.policies].sort((a, b) => b.meanQoe - a.meanQoe)[0];
const h = report.headline;
const result = {
  pipeline_default_wall_s: isQuick ? null : Number(wall?.toFixed(1)),
  pipeline_quick_wall_s: isQuick ? Number(wall?.toFixed(1)) : undefined,
  pipeline_variants_wall_s: Number(report.timing?.variantsWallSeconds?.toFixed(1)),
  pipeline_concurrency: report.timing?.concurrency,
  load_average_during_run: loadDuring ? loadDuring.map((x) => Number(x.toFixed(2))) : null,
  baseline_cached: report.baseline.cached,
  variants: h.variants,
  pareto_variants: h.paretoVariants,
  best_acc_at_10x_smaller: h.bestAccAt10xSmaller?.accuracy ?? null,
  best_acc_at_10x_smaller_variant: h.bestAccAt10xSmaller?.variant ?? null,
  best_size_ratio_at_0_5pt_drop: h.bestSizeRatioAt05ptDrop?.storageRatio ?? null,
  best_size_ratio_at_0_5pt_drop_variant: h.bestSizeRatioAt05ptDrop?.variant ?? null,
  selection_oracle_gain_vs_best_fixed: sel.oracleGainVsBestFixed.mean,
  selection_oracle_gain_ci95_lo: sel.oracleGainVsBestFixed.ci95[0],
  selection_oracle_gain_ci95_hi: sel.oracleGainVsBestFixed.ci95[1],
  selection_policy: lin.name,
  selection_policy_gain_vs_best_fixed: lin.gainVsBestFixed.mean,
  selection_policy_gain_ci95_lo: lin.gainVsBestFixed.ci95[0],
  selection_policy_gain_ci95_hi: lin.gainVsBestFixed.ci95[1],
  selection_best_policy: best.name,
  selection_best_policy_gain_vs_best_fixed: best.gainVsBestFixed.mean,
  selection_best_fixed_variant: sel.bestFixedArm,
  selection_replications: sel.replications,
  selection_rounds: sel.rounds,
  report_charts_rendered: charts,
  onnx_prediction_match: onnx.none,
  onnx_int8_prediction_match: onnx.int8,
  quick: isQuick,
  source: from ? resolve(from) : out,
};
await mkdir(join(ROOT, 'bench-results'), { recursive: true });
await writeFile(join(ROOT, 'bench-results', isQuick ? 'reference-quick.json' : 'reference.json'), `${JSON.stringify(result, null, 2)}\n`);
const fmt = (v) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toFixed(4)) : JSON.stringify(v));
console.log('| figure | value |\n|---|---|');
for (const [k, v] of Object.entries(result)) if (v !== undefined) console.log(`| ${k} | ${fmt(v)} |`);
console.log(`\n${sel.verdict}`);
