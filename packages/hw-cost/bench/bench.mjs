// Benchmark of @edge-compress/hw-cost. Build first:
//   npx turbo run build --filter=@edge-compress/hw-cost && npm run bench -w @edge-compress/hw-cost
// 1. calibrates local-wasm on this machine (timing in 3 child processes, min over them);
// 2. measures >= 50 held-out whole models (seeds never used by calibration) at batch 1 and 32, twice (two
//    independent 3-process runs) -> predictor accuracy (share within +-10%, RMSPE) beside the protocol's own
//    repeatability (run A vs run B);
// 3. held-out single-layer models -> per-layer accuracy; predictor speed;
// 4. the seed paper's question: LeNet-5 and compressed variants on every device (latency, energy, GOP/s/W).
// Writes <repo>/bench-results/hw-cost.json (flat figures) and hw-cost-comparison.json (table data for reports).
// BENCH_QUICK=1 runs a small smoke version (figures not comparable).
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg, cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@edge-compress/core';
import { calibrate, layerConfigs, loadCalibration, measureInProcesses, modelSpecs, predictLocalIR, saveCalibration } from '@edge-compress/hw-cost';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const outDir = join(root, 'bench-results');
const quick = process.env.BENCH_QUICK === '1';
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] load ${loadavg()[0].toFixed(1)}`, ...a);
const loads = [];
const sampleLoad = () => loads.push(loadavg()[0]);
const timer = setInterval(sampleLoad, 5000);
sampleLoad();

await initBackend('wasm');
await mkdir(outDir, { recursive: true });
const r = {};

// ---------------------------------------------------------------------------------------------------------
// 1. Calibration
// BENCH_REUSE_CALIBRATION=1 reuses bench-results/.hw-cost-calibration.json (same protocol; calibrate_s from its stats).
let cal;
if (process.env.BENCH_REUSE_CALIBRATION === '1') {
  cal = await loadCalibration(join(outDir, '.hw-cost-calibration.json'));
  r.calibrate_s = +cal.stats.calibrateS.toFixed(1);
  r.calibration_reused_from = cal.createdAt;
} else {
  const tc = Date.now();
  cal = await calibrate({ processes: 3, quick, onProgress: (m) => log(m) });
  r.calibrate_s = +((Date.now() - tc) / 1000).toFixed(1);
  await saveCalibration(cal, join(outDir, '.hw-cost-calibration.json'));
}
r.calibration_load_avg = cal.deviceState.loadBefore?.[0];
log(
  `calibrated in ${r.calibrate_s} s: ${cal.protocol.configs} layer configs, ${cal.protocol.models} model timings; peak ${(cal.params.peakOps / 1e9).toFixed(1)} GOP/s, bw ${(cal.params.bandwidth / 1e9).toFixed(1)} GB/s, fixed ${cal.params.fixedMs.toFixed(4)} ms`,
);
r.calibration_layer_configs = cal.protocol.configs; // incl. 9 identity models
r.calibration_models = cal.protocol.models;
r.calibration_train_layer_within_10pct = +cal.stats.trainLayerWithin10pct.toFixed(3);

// ---------------------------------------------------------------------------------------------------------
// 2. Held-out whole models, two independent measurement runs
const HELD = quick ? 12 : 60;
const specs = modelSpecs(HELD, 9001);
const items = specs.flatMap((s, i) => [1, 32].map((batch) => ({ id: `h${i}-b${batch}`, ir: s.ir, batch, seed: 100 + i, density: s.density })));
log(`measuring ${specs.length} held-out models at batch 1 and 32: run A`);
// Ground truth: min over 3 processes, up to 5 while some item's two best processes differ by > 5% (adaptive repeats).
const GT = { processes: 3, maxProcesses: quick ? 3 : 5, agree: 0.05, rounds: 5 };
const A = await measureInProcesses(items, { ...GT, seed: 11, onProgress: (m) => log(`A: ${m}`) });
log('run B');
const B = await measureInProcesses(items, { ...GT, seed: 23, onProgress: (m) => log(`B: ${m}`) });
r.ground_truth_processes_a = A.processes + A.extraProcesses;
r.ground_truth_processes_b = B.processes + B.extraProcesses;
r.ground_truth_unstable_items_a = A.unstableItems;
r.ground_truth_unstable_items_b = B.unstableItems;

const within = (p, m, t = 0.1) => Math.abs(p - m) / m <= t;
const share = (xs, f) => (xs.length ? xs.filter(f).length / xs.length : NaN);
const rmspe = (pairs) => Math.sqrt(pairs.reduce((a, [p, m]) => a + ((p - m) / m) ** 2, 0) / pairs.length);
const rows = items.map((it, k) => {
  const s = specs[Math.floor(k / 2)];
  const pred = predictLocalIR(cal, it.ir, it.batch).latencyMs;
  return {
    id: it.id,
    family: s.family,
    batch: it.batch,
    density: s.density,
    bits: s.bits,
    rankFraction: s.rankFraction,
    layers: it.ir.layers.length,
    predMs: pred,
    rawMs: predictLocalIR(cal, it.ir, it.batch, { correct: false }).latencyMs,
    aMs: A.ms[it.id],
    bMs: B.ms[it.id],
    aProc: A.perProcess[it.id],
    bProc: B.perProcess[it.id],
  };
});
for (const b of [1, 32]) {
  const rs = rows.filter((x) => x.batch === b);
  const sfx = b === 1 ? '' : '_b32';
  r[`local_wasm_within_10pct${sfx}`] = +share(rs, (x) => within(x.predMs, x.aMs)).toFixed(3);
  r[`local_wasm_within_10pct${sfx}_vs_run_b`] = +share(rs, (x) => within(x.predMs, x.bMs)).toFixed(3);
  // Against the minimum over both runs' processes (the most repeated ground truth available; secondary figure).
  r[`local_wasm_within_10pct${sfx}_vs_min_ab`] = +share(rs, (x) => within(x.predMs, Math.min(x.aMs, x.bMs))).toFixed(3);
  r[`local_wasm_within_5pct${sfx}`] = +share(rs, (x) => within(x.predMs, x.aMs, 0.05)).toFixed(3);
  r[`local_wasm_within_15pct${sfx}`] = +share(rs, (x) => within(x.predMs, x.aMs, 0.15)).toFixed(3);
  r[`local_wasm_rmspe${sfx}`] = +rmspe(rs.map((x) => [x.predMs, x.aMs])).toFixed(3);
  r[`local_wasm_within_25pct${sfx}`] = +share(rs, (x) => within(x.predMs, x.aMs, 0.25)).toFixed(3);
  r[`local_wasm_uncorrected_within_10pct${sfx}`] = +share(rs, (x) => within(x.rawMs, x.aMs)).toFixed(3);
  r[`measurement_repeatability_within_25pct${sfx}`] = +share(rs, (x) => within(x.bMs, x.aMs, 0.25)).toFixed(3);
  r[`measurement_repeatability_within_10pct${sfx}`] = +share(rs, (x) => within(x.bMs, x.aMs)).toFixed(3);
  // Single-process figures for contrast: process 1 of run A vs process 1 of run B.
  r[`single_process_repeatability_within_10pct${sfx}`] = +share(rs, (x) => within(x.bProc[0], x.aProc[0])).toFixed(3);
  r[`heldout_models${sfx}`] = rs.length;
  for (const fam of ['mlp', 'cnn', 'lenet'])
    r[`local_wasm_within_10pct${sfx}_${fam}`] = +share(
      rs.filter((x) => x.family === fam),
      (x) => within(x.predMs, x.aMs),
    ).toFixed(3);
  const meds = rs.map((x) => x.aMs).sort((p, q) => p - q);
  r[`heldout_median_ms${sfx}`] = +meds[Math.floor(meds.length / 2)].toFixed(4);
}
r.local_wasm_within_10pct_pruned = +share(
  rows.filter((x) => x.batch === 1 && x.density < 1),
  (x) => within(x.predMs, x.aMs),
).toFixed(3);

// ---------------------------------------------------------------------------------------------------------
// 3. Held-out single-layer models (seed never used by calibration) and predictor speed
const layerItems = layerConfigs({ count: quick ? 20 : 60, seed: 8000 });
log(`measuring ${layerItems.length} held-out single-layer models`);
const L = await measureInProcesses(layerItems, { processes: 3, rounds: 5, seed: 31, onProgress: (m) => log(`layers: ${m}`) });
// A single-layer model's prediction is its layer prediction + the fixed predict cost (no model-level correction).
const layerPred = (it) => predictLocalIR(cal, it.ir, it.batch, { correct: false }).latencyMs;
r.per_layer_within_10pct = +share(layerItems, (it) => within(layerPred(it), L.ms[it.id])).toFixed(3);
r.per_layer_within_25pct = +share(layerItems, (it) => within(layerPred(it), L.ms[it.id], 0.25)).toFixed(3);
r.per_layer_rmspe = +rmspe(layerItems.map((it) => [layerPred(it), L.ms[it.id]])).toFixed(3);
r.per_layer_configs = layerItems.length;

// Predictor speed: wall time and CPU time (the machine is loaded: CPU time is what an idle machine would take).
for (const s of specs) predictLocalIR(cal, s.ir, 1); // warm-up
const tp = performance.now(),
  cp = process.cpuUsage();
let n = 0;
for (let rep = 0; rep < 20; rep++) for (const s of specs) (predictLocalIR(cal, s.ir, 1), n++);
const cpu = process.cpuUsage(cp);
r.predict_ms_per_model = +((performance.now() - tp) / n).toFixed(3);
r.predict_cpu_ms_per_model = +((cpu.user + cpu.system) / 1000 / n).toFixed(3);

// ---------------------------------------------------------------------------------------------------------
// 4. Mobile or FPGA? LeNet-5 and compressed variants on every device (bench/compare.mjs)
const { compareLenet } = await import('./compare.mjs');
const { cmp, cmp32, variants, figures } = compareLenet(cal);
Object.assign(r, figures);

clearInterval(timer);
sampleLoad();
r.load_avg_min = +Math.min(...loads).toFixed(1);
r.load_avg_median = +[...loads].sort((a, b) => a - b)[Math.floor(loads.length / 2)].toFixed(1);
r.load_avg_max = +Math.max(...loads).toFixed(1);
r.nproc = cpus().length;
r.bench_s = +((Date.now() - t0) / 1000).toFixed(0);

await writeFile(join(outDir, 'hw-cost.json'), `${JSON.stringify(r, null, 2)}\n`);
const { profileNotes } = await import('./compare.mjs');
const profiles = profileNotes();
await writeFile(
  join(outDir, 'hw-cost-comparison.json'),
  `${JSON.stringify({ model: 'lenet5 (Caffe, 431k params)', batch1: cmp, batch32: cmp32, profiles, heldout: rows }, null, 2)}\n`,
);

const pad = (s, n) => String(s).padEnd(n);
console.log('\nlocal-wasm predictor (held-out models; ground truth = min over 3 processes, run A)');
console.log(
  `  batch 1 : within ±10% ${r.local_wasm_within_10pct} (vs run B ${r.local_wasm_within_10pct_vs_run_b}), RMSPE ${r.local_wasm_rmspe}; measurement repeatability A vs B ${r.measurement_repeatability_within_10pct} (single process ${r.single_process_repeatability_within_10pct})`,
);
console.log(
  `  batch 32: within ±10% ${r.local_wasm_within_10pct_b32} (vs run B ${r.local_wasm_within_10pct_b32_vs_run_b}), RMSPE ${r.local_wasm_rmspe_b32}; repeatability ${r.measurement_repeatability_within_10pct_b32}`,
);
console.log(
  `  per layer: ${r.per_layer_within_10pct}; predict ${r.predict_ms_per_model} ms/model; calibrate ${r.calibrate_s} s; load average ${r.load_avg_min}–${r.load_avg_max} on ${r.nproc} cores`,
);
console.log('\nLeNet-5 on every device, batch 1 (latency ms / energy mJ / GOP/s/W)');
const devs = [...new Set(cmp.rows.map((x) => x.device))];
console.log(pad('variant', 20) + devs.map((d) => pad(d, 26)).join(''));
for (const v of variants)
  console.log(
    pad(v.name, 20) +
      devs
        .map((d) => {
          const x = cmp.rows.find((y) => y.variant === v.name && y.device === d);
          return pad(`${x.latencyMs.toPrecision(3)} / ${x.energyMj.toPrecision(3)} / ${x.gopsPerWatt.toPrecision(3)}`, 26);
        })
        .join(''),
  );
console.log('\n', JSON.stringify(r));
process.exit(0);
