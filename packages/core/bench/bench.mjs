#!/usr/bin/env node
// Core benchmark (runs the BUILT package), honest timing:
// - training speed of Caffe LeNet-5 (batch 64, Adam): stock tfjs cpu vs wasm with edge-compress's kernels, both
//   warmed up, cpu timed over ≥ 5 steps per block, cpu and wasm blocks alternated several times; the reported
//   ratio is the median of the per-pair ratios with its min–max;
// - the gain of the custom kernels alone: wasm with vs without them, alternated, on LeNet-300-100 (stock
//   tfjs-backend-wasm cannot train LeNet-5 at all: it has no Conv2DBackpropFilter kernel);
// - baseline accuracies (20 epochs);
// - data-parallel training (bench/parallel.mjs): 1 vs 2 workers, against PyTorch when it is installed.
// `--parallel-only` runs the last part alone and merges its figures into an existing bench-results/core.json.
// Writes bench-results/core.json at the repository root.
import { mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend, initModel, lenet5, lenet300100, loadMnist, registerFastWasmKernels, subset, trainBaseline, Trainer, unregisterFastWasmKernels } from '@edge-compress/core';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const quick = process.argv.includes('--quick');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const pairs = arg('--pairs', quick ? 2 : 5);
// --timing-only: the two speed figures alone (skips the 20-epoch baselines)
const timingOnly = process.argv.includes('--timing-only');
const parallelOnly = process.argv.includes('--parallel-only');
const { parallelFigures } = await import('./parallel.mjs');

/** Seconds per training step: one warm-up fit of 2 steps, then a timed fit of `steps` steps. */
async function stepSeconds(ir, shape, steps) {
  const { train } = loadMnist({ shape });
  const t = new Trainer(initModel(ir, 1));
  try {
    await t.fit(subset(train, 64 * 2), { epochs: 1, batchSize: 64 });
    const t0 = performance.now();
    await t.fit(subset(train, 64 * steps), { epochs: 1, batchSize: 64 });
    return (performance.now() - t0) / 1000 / steps;
  } finally {
    t.dispose();
  }
}

let figures = {};
if (!parallelOnly) {
  await initBackend('cpu');
  await initBackend('wasm');
  const cpuSteps = [],
    wasmSteps = [],
    speedups = [];
  for (let i = 0; i < pairs; i++) {
    await tf.setBackend('cpu');
    const c = await stepSeconds(lenet5(), [28, 28, 1], quick ? 5 : 5);
    await tf.setBackend('wasm');
    const w = await stepSeconds(lenet5(), [28, 28, 1], quick ? 10 : 30);
    (cpuSteps.push(c), wasmSteps.push(w), speedups.push(c / w));
    console.error(`pair ${i + 1}/${pairs}: cpu ${c.toFixed(2)} s/step, wasm ${(w * 1000).toFixed(1)} ms/step, ×${(c / w).toFixed(0)}`);
  }
  const kernelGain = [];
  const mlpWith = [],
    mlpWithout = [];
  for (let i = 0; i < pairs; i++) {
    unregisterFastWasmKernels();
    const a = await stepSeconds(lenet300100(), [784], 40);
    registerFastWasmKernels();
    const b = await stepSeconds(lenet300100(), [784], 40);
    (mlpWithout.push(a), mlpWith.push(b), kernelGain.push(a / b));
    console.error(`pair ${i + 1}/${pairs}: LeNet-300-100 stock wasm ${(a * 1000).toFixed(1)} ms/step, with our kernels ${(b * 1000).toFixed(1)} ms/step`);
  }

  const epochs = quick ? 2 : 20;
  const log = (arch) => (p) => p.testAccuracy !== undefined && console.error(`${arch} epoch ${p.epoch + 1}/${p.epochs}: val ${(100 * p.testAccuracy).toFixed(2)}%`);
  const none = { history: [{ seconds: NaN }], testAccuracy: NaN };
  const l5 = timingOnly ? none : await trainBaseline({ arch: 'lenet5', epochs, seed: 0, onProgress: log('lenet5') });
  const mlp = timingOnly ? none : await trainBaseline({ arch: 'lenet300100', epochs, seed: 0, onProgress: log('lenet300100') });
  const tensorsAfter = tf.memory().numTensors;

  figures = {
    train_speedup_vs_stock_cpu: median(speedups),
    train_speedup_vs_stock_cpu_min: Math.min(...speedups),
    train_speedup_vs_stock_cpu_max: Math.max(...speedups),
    lenet5_step_s_stock_cpu: median(cpuSteps),
    lenet5_step_ms_wasm: median(wasmSteps) * 1000,
    custom_kernels_speedup: median(kernelGain),
    custom_kernels_speedup_min: Math.min(...kernelGain),
    custom_kernels_speedup_max: Math.max(...kernelGain),
    lenet300100_step_ms_stock_wasm: median(mlpWithout) * 1000,
    lenet300100_step_ms_wasm: median(mlpWith) * 1000,
    lenet5_epoch_s_wasm: median(l5.history.map((h) => h.seconds)),
    lenet5_test_acc: l5.testAccuracy,
    lenet5_epochs: epochs,
    lenet300100_test_acc: mlp.testAccuracy,
    lenet300100_epoch_s_wasm: median(mlp.history.map((h) => h.seconds)),
    timing_pairs: pairs,
    load_average_1min: (await import('node:os')).loadavg()[0],
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    live_tensors_after: tensorsAfter,
  };
}
const dir0 = join(root, 'bench-results');
if (parallelOnly) figures = JSON.parse(await readFile(join(dir0, 'core.json'), 'utf8').catch(() => '{}'));
Object.assign(figures, await parallelFigures());
const goals = {
  train_speedup_vs_stock_cpu: '≥ 100',
  lenet5_test_acc: '≥ 0.98 (stretch 0.985)',
  lenet300100_test_acc: '≥ 0.96',
  parallel_speedup_2workers: '≥ 1.8',
  lenet5_test_acc_2workers: '≥ 0.98',
  step_vs_pytorch_2threads: '≤ 3 (same-run torch)',
  step_vs_pytorch213_2threads_recorded: '≤ 3',
};
console.log('| figure | value | goal |\n|---|---|---|');
for (const [k, v] of Object.entries(figures)) console.log(`| ${k} | ${Number.isInteger(v) ? v : v.toFixed(4)} | ${goals[k] ?? ''} |`);
const dir = join(root, 'bench-results');
await mkdir(dir, { recursive: true });
const tmp = join(dir, `.core.json.tmp-${process.pid}`);
await writeFile(tmp, `${JSON.stringify(Object.fromEntries(Object.entries(figures).filter(([, v]) => !Number.isNaN(v))), null, 2)}\n`);
await rename(tmp, join(dir, 'core.json'));
