#!/usr/bin/env node
// Core benchmark: training speed (wasm with the fast kernels vs stock tfjs cpu, same batch, same run) and
// baseline accuracy. Writes bench-results/core.json at the repository root. Runs the BUILT package.
import { mkdir, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, initModel, lenet5, loadMnist, subset, trainBaseline, Trainer } from '@edge-compress/core';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quick = process.argv.includes('--quick');

/** Seconds per training step of Caffe LeNet-5 (batch 64, Adam) on the active backend: one fit of `steps` steps, after an optional warm-up fit. */
async function stepSeconds(steps, warmup) {
  const { train } = loadMnist();
  const t = new Trainer(initModel(lenet5(), 1));
  if (warmup) await t.fit(subset(train, 64 * 3), { epochs: 1, batchSize: 64 });
  const t0 = performance.now();
  await t.fit(subset(train, 64 * steps), { epochs: 1, batchSize: 64 });
  const s = (performance.now() - t0) / 1000 / steps;
  t.dispose();
  return s;
}

await initBackend('cpu');
const cpuStep = await stepSeconds(quick ? 1 : 2, false);
console.error(`stock tfjs cpu: ${cpuStep.toFixed(2)} s/step`);
await initBackend('wasm');
const wasmStep = await stepSeconds(quick ? 10 : 60, true);
console.error(`wasm + fast kernels: ${(wasmStep * 1000).toFixed(1)} ms/step`);

const epochs = quick ? 2 : 20;
const log = (arch) => (p) => p.testAccuracy !== undefined && console.error(`${arch} epoch ${p.epoch + 1}/${p.epochs}: test ${(100 * p.testAccuracy).toFixed(2)}%`);
const l5 = await trainBaseline({ arch: 'lenet5', epochs, seed: 0, onProgress: log('lenet5') });
const mlp = await trainBaseline({ arch: 'lenet300100', epochs, seed: 0, onProgress: log('lenet300100') });
const tensorsAfter = tf.memory().numTensors;

const figures = {
  lenet5_epoch_s_wasm: median(l5.history.map((h) => h.seconds)),
  lenet5_step_s_wasm: wasmStep,
  lenet5_step_s_stock_cpu: cpuStep,
  train_speedup_vs_stock_cpu: cpuStep / wasmStep,
  lenet5_test_acc: l5.testAccuracy,
  lenet5_best_epoch_test_acc: Math.max(...l5.history.map((h) => h.testAccuracy ?? 0)),
  lenet5_epochs: epochs,
  lenet300100_test_acc: mlp.testAccuracy,
  lenet300100_epoch_s_wasm: median(mlp.history.map((h) => h.seconds)),
  peak_rss_mb: process.resourceUsage().maxRSS / 1024,
  live_tensors_after: tensorsAfter,
};
const goals = { train_speedup_vs_stock_cpu: '≥ 100', lenet5_test_acc: '≥ 0.98 (stretch 0.985)', lenet300100_test_acc: '≥ 0.96' };
console.log('| figure | value | goal |\n|---|---|---|');
for (const [k, v] of Object.entries(figures)) console.log(`| ${k} | ${Number.isInteger(v) ? v : v.toFixed(4)} | ${goals[k] ?? ''} |`);
const dir = join(root, 'bench-results');
await mkdir(dir, { recursive: true });
const tmp = join(dir, `.core.json.tmp-${process.pid}`);
await writeFile(tmp, `${JSON.stringify(figures, null, 2)}\n`);
await rename(tmp, join(dir, 'core.json'));
