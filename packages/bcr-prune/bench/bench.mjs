// Benchmark of @edge-compress/bcr-prune on LeNet-5 (core's cached 20-epoch baseline, seed 0; core's MNIST split of
// 7,000 train / 1,000 validation / 2,000 test digits).
//   npm run build -w @edge-compress/bcr-prune && npm run bench -w @edge-compress/bcr-prune
// 1. accuracy: candidate BCR configurations, most compressed first; the first whose VALIDATION accuracy drop ≤ 0.005 is
//    chosen (validation = core's 1,000 validation digits; test is only read for the reported figure). Pruned candidates
//    are cached in bench-results/.cache; BCR_BENCH_ACCURACY_ONLY=1 stops after the accuracy part;
// 2. timing: bench/timing.mjs in PROCESSES separate processes (all engines interleaved in one loop, medians of REPS
//    calls after warm-up); figures are the median over processes of the per-process ratio, with the range.
// Writes <repo>/bench-results/bcr-prune.json (flat) and prints a table.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, denseEncoding, evaluateModel, initBackend, loadMnist, loadModel, maskedEncoding, saveModel, toDense, topkMask, trainBaseline } from '@edge-compress/core';
import { bcrPrune } from '@edge-compress/bcr-prune';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..', '..');
const outDir = join(root, 'bench-results');
const work = join(outDir, '.bcr-work');
const PROCESSES = Number(process.env.BCR_BENCH_PROCESSES ?? 3);
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s]`, ...a);
const loads = [loadavg()[0]];

await initBackend('wasm');
// core's split: 7,000 train / 1,000 validation (carved from the training digits) / 2,000 test; the shared 20-epoch
// baseline trains on the 7,000 only, so validation choices are honest.
const { train, val, test } = loadMnist();
const base = await trainBaseline({ arch: 'lenet5', epochs: 20, seed: 0, cacheDir: join(outDir, '.cache'), onProgress: (p) => p.done && log('baseline trained') });
const ctx = { train, val, seed: 0, rng: createRng(0), onProgress: (p) => p.done && log(`  ${p.phase} epoch ${p.epoch + 1}/${p.epochs} loss ${p.loss.toFixed(4)}`) };
const baseVal = evaluateModel(base.model, val).accuracy;
log(`baseline test ${base.testAccuracy}, val ${baseVal}`);

// Candidates, most compressed first (equal compression: the cheaper training first). Blocks over the GEMM view
// [out, fan-in]; row/col ratios are γ_r / γ_c. The first whose VALIDATION drop ≤ 0.005 is chosen.
const DEFAULTS = [
  { op_names: ['conv2'], granularity: [10, 50], row_ratio: 0.2, col_ratio: 0.7 },
  { op_names: ['fc1'], granularity: [20, 50], row_ratio: 0.5, col_ratio: 0.9 },
  { op_names: ['fc2'], granularity: [10, 50], row_ratio: 0, col_ratio: 0.6 },
];
// `sensitivity`: per-layer (γ_r, γ_c, block) from a one-shot validation sensitivity scan at about the same kept
// weights as the §2.3 defaults (fc1 prefers removing rows over columns and narrower blocks, conv2 columns only,
// fc2 wider blocks); see the README.
const SENSITIVITY = [
  { op_names: ['conv2'], granularity: [10, 50], row_ratio: 0, col_ratio: 0.7 },
  { op_names: ['fc1'], granularity: [20, 25], row_ratio: 0.9, col_ratio: 0.55 },
  { op_names: ['fc2'], granularity: [10, 100], row_ratio: 0, col_ratio: 0.6 },
];
// At equal compression the longer schedule comes first (it is the better default; the shorter one is the fallback).
const LONG = { prune_epochs: 4, finetune_epochs: 16, max_shift: 2 };
const SHORT = { prune_epochs: 3, finetune_epochs: 8, max_shift: 2 };
const CANDIDATES = JSON.parse(process.env.BCR_BENCH_CANDIDATES ?? 'null') ?? [
  { name: 'sensitivity_long', cfg: SENSITIVITY, options: LONG },
  { name: 'sensitivity_short', cfg: SENSITIVITY, options: SHORT },
  { name: 'defaults_long', cfg: DEFAULTS, options: LONG },
];
const QUICK = process.env.BCR_BENCH_QUICK === '1'; // smoke run of the harness: no training, no accuracy goal
const weightsOf = (m) =>
  Object.entries(m.weights)
    .filter(([n]) => n.endsWith('/kernel'))
    .reduce((a, [, e]) => a + toDense(e).length, 0);
const nonZerosOf = (m) =>
  Object.entries(m.weights)
    .filter(([n]) => n.endsWith('/kernel'))
    .reduce((a, [, e]) => a + toDense(e).filter((v) => v !== 0).length, 0);
// Pruned candidates are cached by (baseline, config, options) so that a re-run of the timing does not retrain.
const cacheKey = (c) =>
  createHash('sha256')
    .update(JSON.stringify([base.modelJson ?? 'fresh', c.cfg, c.options]))
    .digest('hex')
    .slice(0, 16);
let chosen, fallback;
const tried = {};
for (const cand of CANDIDATES) {
  const { name, cfg } = cand;
  const options = QUICK ? { ...cand.options, prune_epochs: 0, lasso_epochs: 0, admm_epochs: 0, finetune_epochs: 0 } : cand.options;
  log(`candidate ${name} ${JSON.stringify(options)}`);
  const dir = join(outDir, '.cache', `bcr-${name}-${cacheKey({ cfg, options })}`);
  let model, report;
  if (!QUICK && existsSync(join(dir, 'model.json'))) {
    model = (await loadModel(join(dir, 'model.json'))).model;
    report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    log('  (cached)');
  } else {
    ({ model, report } = await bcrPrune.compress(base.model, ctx, bcrPrune.plan(base.model.ir, cfg, options)));
    if (!QUICK) {
      await saveModel(model, join(dir, 'model.json'));
      await writeFile(join(dir, 'report.json'), JSON.stringify(report));
    }
  }
  const v = evaluateModel(model, val).accuracy;
  tried[name] = { valDrop: +(baseVal - v).toFixed(4), weightRatio: +(weightsOf(base.model) / nonZerosOf(model)).toFixed(2) };
  log(`  val drop ${tried[name].valDrop}, weight ratio ${tried[name].weightRatio}×`);
  // drops are compared in whole digits (0.99 − 0.985 is 0.0050000000000000044 in floating point)
  const c = { name, cfg, options, model, report, valDrop: Math.round((baseVal - v) * val.count) / val.count };
  if (c.valDrop <= 0.005 || QUICK) {
    chosen = c;
    break;
  }
  if (!fallback || c.valDrop < fallback.valDrop) fallback = c;
}
let metGoalOnVal = true;
if (!chosen) {
  chosen = fallback; // no candidate met the validation goal: report the best one on validation, flagged
  metGoalOnVal = false;
}
const testAcc = evaluateModel(chosen.model, test).accuracy;
const results = {
  baseline_test_acc: base.testAccuracy,
  chosen_config: chosen.name,
  chosen_options: JSON.stringify(chosen.options),
  chosen_met_val_goal: metGoalOnVal,
  val_split: 'core loadMnist: 1,000 validation digits carved from the training digits (baseline and fine-tuning never train on them)',
  lenet5_bcr_test_acc: testAcc,
  lenet5_bcr_acc_drop: +(base.testAccuracy - testAcc).toFixed(4),
  lenet5_bcr_weight_ratio: +(weightsOf(base.model) / nonZerosOf(chosen.model)).toFixed(2),
};
log(`chosen ${chosen.name}: test ${testAcc} (drop ${results.lenet5_bcr_acc_drop}), weight ratio ${results.lenet5_bcr_weight_ratio}×`);

// The same per-layer sparsity, unstructured (one-shot magnitude, for timing only).
const csrWeights = { ...base.model.weights };
for (const l of chosen.report.layers) {
  const e = base.model.weights[l.weight];
  const v = toDense(e);
  const m = topkMask(v, l.after.nonZeros);
  csrWeights[l.weight] = maskedEncoding(
    denseEncoding(
      e.shape,
      v.map((x, i) => (m[i] ? x : 0)),
    ),
    m,
  );
}
await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
await saveModel(base.model, join(work, 'dense'));
await saveModel(chosen.model, join(work, 'bcr'));
await saveModel({ ir: base.model.ir, weights: csrWeights }, join(work, 'csr'));
await writeFile(join(work, 'images.f32'), test.images.slice(0, 64 * 784));
await writeFile(join(work, 'meta.json'), JSON.stringify({ layers: chosen.report.layers.map((l) => l.layer) }));

const runs = [];
if (process.env.BCR_BENCH_ACCURACY_ONLY === '1') {
  console.log(JSON.stringify({ ...results, tried }));
  process.exit(0);
}
for (let p = 0; p < PROCESSES; p++) {
  log(`timing process ${p + 1}/${PROCESSES}`);
  const out = execFileSync(process.execPath, [join(here, 'timing.mjs'), work], { encoding: 'utf8', maxBuffer: 1 << 26 });
  runs.push(JSON.parse(out.trim().split('\n').pop()));
  loads.push(loadavg()[0]);
}
const med = (a) => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const ratio = (num, den) => {
  const r = runs.map((x) => x[num] / x[den]);
  return { median: +med(r).toFixed(2), min: +Math.min(...r).toFixed(2), max: +Math.max(...r).toFixed(2) };
};
// Headline = the smaller of the wall-clock and the CPU-time ratio (the machine is shared and heavily loaded: a call
// longer than a scheduler slice is inflated in wall time, which would flatter whichever side is faster).
const put = (key, num, den) => {
  const w = ratio(num, den);
  const c = ratio(num.replace(/_ms$/, '_cpu_ms'), den.replace(/_ms$/, '_cpu_ms'));
  const r = c.median < w.median ? c : w;
  results[key] = r.median;
  results[`${key}_range`] = [r.min, r.max];
  results[`${key}_wall`] = w.median;
  results[`${key}_wall_range`] = [w.min, w.max];
  results[`${key}_cpu`] = c.median;
  results[`${key}_cpu_range`] = [c.min, c.max];
};
put('speedup_vs_tfjs_wasm_dense_b1', 'lenet_tfjs_wasm_b1_ms', 'lenet_bcr_b1_ms');
put('speedup_vs_onnxruntime_node_dense_b1', 'lenet_ort_node_b1_ms', 'lenet_bcr_b1_ms');
put('speedup_vs_onnxruntime_web_dense_b1', 'lenet_ort_web_b1_ms', 'lenet_bcr_b1_ms');
put('speedup_vs_tfjs_wasm_dense_b32', 'lenet_tfjs_wasm_b32_ms', 'lenet_bcr_b32_ms');
put('speedup_vs_onnxruntime_node_dense_b32', 'lenet_ort_node_b32_ms', 'lenet_bcr_b32_ms');
put('speedup_vs_onnxruntime_web_dense_b32', 'lenet_ort_web_b32_ms', 'lenet_bcr_b32_ms');
put('lenet5_csr_speedup_vs_tfjs_wasm_dense_b1', 'lenet_tfjs_wasm_b1_ms', 'lenet_csr_b1_ms');
put('lenet5_csr_speedup_vs_tfjs_wasm_dense_b32', 'lenet_tfjs_wasm_b32_ms', 'lenet_csr_b32_ms');
put('our_wasm_dense_speedup_vs_tfjs_wasm_b1', 'lenet_tfjs_wasm_b1_ms', 'lenet_ours_dense_b1_ms');
put('our_wasm_dense_speedup_vs_tfjs_wasm_b32', 'lenet_tfjs_wasm_b32_ms', 'lenet_ours_dense_b32_ms');
for (const n of [1, 32]) {
  put(`matmul_800x500_90pct_speedup_vs_dense_b${n}`, `layer_tfjs_dense_b${n}_ms`, `layer_bcr_b16x64_s90_b${n}_ms`);
  put(`unstructured_csr_speedup_vs_dense_b${n}`, `layer_tfjs_dense_b${n}_ms`, `layer_csr_s90_b${n}_ms`);
}
results.matmul_800x500_90pct_speedup_vs_dense = results.matmul_800x500_90pct_speedup_vs_dense_b1;
results.unstructured_csr_speedup_vs_dense = results.unstructured_csr_speedup_vs_dense_b1;
for (const k of Object.keys(runs[0])) {
  if (k.endsWith('_ms')) results[k] = +med(runs.map((r) => r[k])).toFixed(4);
}
const sweep = [];
for (const b of ['4x16', '16x64', '50x100'])
  for (const s of [50, 75, 90, 95]) {
    const row = { block: b, sparsity: s, kept: +runs[0].layer_kept[`b${b}_s${s}`].toFixed(3) };
    for (const n of [1, 32]) {
      put(`sweep_blk${b}_s${s}_b${n}_speedup`, `layer_tfjs_dense_b${n}_ms`, `layer_bcr_b${b}_s${s}_b${n}_ms`);
      const k = `sweep_blk${b}_s${s}_b${n}_speedup`;
      row[`b${n}`] = { median: results[k], min: results[`${k}_range`][0], max: results[`${k}_range`][1] };
    }
    sweep.push(row);
  }
results.timing_processes = PROCESSES;
results.timing_reps_per_process = Number(process.env.BCR_BENCH_REPS ?? 60);
results.machine_load1_during_run = loads.map((l) => +l.toFixed(1));
results.max_abs_diff_ort_node_b1 = Math.max(...runs.map((r) => r.maxdiff_ort_node_b1));
results.max_abs_diff_ort_web_b1 = Math.max(...runs.map((r) => r.maxdiff_ort_web_b1));
for (const [k, v] of Object.entries(tried)) {
  results[`candidate_${k}_val_drop`] = v.valDrop;
  results[`candidate_${k}_weight_ratio`] = v.weightRatio;
}
results.onnx_graph = "core toOnnx(model, { format: 'dense' }) (fp32, NHWC input), one thread per onnxruntime session";

await mkdir(outDir, { recursive: true });
const tmp = join(outDir, `.bcr-prune.json.${process.pid}`);
await writeFile(tmp, `${JSON.stringify(results, null, 2)}\n`);
await (await import('node:fs/promises')).rename(tmp, join(outDir, 'bcr-prune.json'));

console.log('\n| figure | value | range over processes | goal |\n|---|---|---|---|');
const goals = { lenet5_bcr_acc_drop: '≤ 0.005', speedup_vs_tfjs_wasm_dense_b1: '≥ 3', speedup_vs_onnxruntime_node_dense_b1: '≥ 1', speedup_vs_onnxruntime_web_dense_b1: '≥ 1.5' };
for (const k of [
  'lenet5_bcr_acc_drop',
  'lenet5_bcr_weight_ratio',
  'speedup_vs_tfjs_wasm_dense_b1',
  'speedup_vs_onnxruntime_node_dense_b1',
  'speedup_vs_onnxruntime_web_dense_b1',
  'speedup_vs_tfjs_wasm_dense_b32',
  'speedup_vs_onnxruntime_node_dense_b32',
  'speedup_vs_onnxruntime_web_dense_b32',
  'matmul_800x500_90pct_speedup_vs_dense_b1',
  'matmul_800x500_90pct_speedup_vs_dense_b32',
  'unstructured_csr_speedup_vs_dense_b1',
  'unstructured_csr_speedup_vs_dense_b32',
  'lenet5_csr_speedup_vs_tfjs_wasm_dense_b1',
  'our_wasm_dense_speedup_vs_tfjs_wasm_b1',
  'our_wasm_dense_speedup_vs_tfjs_wasm_b32',
]) {
  console.log(`| ${k} | ${results[k]} | ${results[`${k}_range`] ? results[`${k}_range`].join(' – ') : ''} | ${goals[k] ?? ''} |`);
}
console.log('\nLatency sweep, 800×500 layer, speedup of BCR over tfjs-wasm dense matMul (median over processes, range):\n');
console.log('| block | sparsity | kept | batch 1 | batch 32 |\n|---|---|---|---|---|');
for (const r of sweep) console.log(`| ${r.block} | ${r.sparsity}% | ${r.kept} | ${r.b1.median} (${r.b1.min}–${r.b1.max}) | ${r.b32.median} (${r.b32.min}–${r.b32.max}) |`);
console.log('\nms medians:', Object.fromEntries(Object.entries(results).filter(([k]) => k.startsWith('lenet_') && k.endsWith('_ms'))));
console.log(`machine load (1-min average) during the run: ${results.machine_load1_during_run.join(', ')} on 2 cores`);
log('done');
