// Benchmark of @edge-compress/quantize on the shared LeNet-5 baseline (core's trainBaseline, 20 epochs, seed 0,
// the deterministic 8,000 / 2,000 MNIST split). Build first:
//   npx turbo run build --filter=@edge-compress/quantize && npm run bench -w @edge-compress/quantize
// Writes <repo>/bench-results/quantize.json (flat object of figures) and prints a table.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, initBackend, loadMnist, loadWithStockTfjs, predict, saveModel, sizeReport, subset, trainBaseline } from '@edge-compress/core';
import { exportQuantized, quantize } from '@edge-compress/quantize';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const outDir = join(root, 'bench-results');
const work = join(outDir, '.quantize-work');
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s]`, ...a);

await initBackend('wasm');
const base = await trainBaseline({
  arch: 'lenet5',
  epochs: 20,
  seed: 0,
  cacheDir: join(outDir, '.cache'),
  onProgress: (p) => p.done && log(`baseline epoch ${p.epoch + 1}/${p.epochs} test ${p.testAccuracy}`),
});
const { train, test } = loadMnist();
const ctx = { train, test, seed: 0, rng: createRng(0) };
log(`baseline accuracy ${base.testAccuracy} (${base.cached ? 'cached' : 'trained'})`);

const ALL = { op_types: ['conv2d', 'dense'] };
const results = {};
async function run(name, configList, options) {
  const s = Date.now();
  const r = await quantize.compress(base.model, ctx, quantize.plan(base.model.ir, configList, options));
  const m = r.report.metrics;
  log(
    `${name}: weight-only ${m.accuracyWeightOnly}, weight+act ${m.accuracyWeightAct ?? '-'}, size ratio ${m.sizeRatioTotal.toFixed(2)}× (${((Date.now() - s) / 1000).toFixed(0)} s)`,
  );
  return r;
}
const drop = (acc) => +(base.testAccuracy - acc).toFixed(4);
const argmax = (p, k) =>
  Int32Array.from({ length: p.length / k }, (_, i) => {
    let b = 0;
    for (let c = 1; c < k; c++) if (p[i * k + c] > p[i * k + b]) b = c;
    return b;
  });

/** Predictions of a model.json loaded by stock tf.loadLayersModel through its real http loader (files served from disk). */
async function stockPredictions(modelJson, data) {
  const m = await loadWithStockTfjs(modelJson);
  try {
    return tf.tidy(() => m.predict(tf.tensor(data.images, [data.count, 28, 28, 1])).dataSync());
  } finally {
    m.dispose();
  }
}

await rm(work, { recursive: true, force: true });
await mkdir(work, { recursive: true });
results.baseline_acc = base.testAccuracy;

// 1. int8 PTQ, per output channel (symmetric) and per tensor; activations calibrated at 8 bits on 4 batches.
const pc = await run('int8 per-channel PTQ', [{ ...ALL, quant_dtype: 'int8', quant_scheme: 'symmetric', granularity: 'out_channel' }], { mode: 'ptq', activations: { bits: 8 } });
results.int8_per_channel_ptq_acc_drop = drop(pc.report.metrics.valAccuracyWeightOnly);
results.int8_per_channel_ptq_w8a8_acc_drop = drop(pc.report.metrics.valAccuracyWeightAct);
const pt = await run('int8 per-tensor PTQ', [{ ...ALL, quant_dtype: 'int8', quant_scheme: 'symmetric' }], { mode: 'ptq', activations: { bits: 8 } });
results.int8_per_tensor_ptq_acc_drop = drop(pt.report.metrics.valAccuracyWeightOnly);
results.int8_per_tensor_ptq_w8a8_acc_drop = drop(pt.report.metrics.valAccuracyWeightAct);

// 2. QAT (clipped STE, EMA activation ranges frozen for the last epoch), 3 epochs, Adam 1e-4 cosine.
const q4 = await run('int4 per-channel QAT', [{ ...ALL, quant_dtype: 'int4', granularity: 'out_channel' }], { mode: 'qat', qat_epochs: 3, lr: 1e-4, activations: { bits: 8 } });
results.int4_qat_acc_drop = drop(q4.report.metrics.valAccuracyWeightOnly);
results.int4_qat_w4a8_acc_drop = drop(q4.report.metrics.valAccuracyWeightAct);
const p2 = await run('pow2 4-bit per-channel QAT', [{ ...ALL, quant_dtype: 'int4', quant_scheme: 'pow2', granularity: 'out_channel' }], {
  mode: 'qat',
  qat_epochs: 3,
  lr: 1e-4,
  activations: { bits: 8 },
});
results.pow2_4bit_qat_acc_drop = drop(p2.report.metrics.valAccuracyWeightOnly);
results.pow2_4bit_qat_w4a8_acc_drop = drop(p2.report.metrics.valAccuracyWeightAct);

// 3. Mixed precision: sensitivity on 2,000 training digits, greedy under the size budget, then 2 epochs of QAT.
const BUDGET = 10;
const mp = await run('mixed precision', [{ ...ALL, quant_dtype: 'int8', granularity: 'out_channel' }], {
  mode: 'qat',
  qat_epochs: 2,
  lr: 1e-4,
  activations: { bits: 8 },
  mixed_precision: { size_budget_ratio: BUDGET, candidate_bits: [8, 6, 4, 3, 2], max_acc_drop: 0.005 },
});
const mpDrop = drop(mp.report.metrics.valAccuracyWeightOnly);
results.mixed_precision_size_ratio = +mp.report.metrics.sizeRatioTotal.toFixed(3);
results.mixed_precision_acc_drop = mpDrop;
results.mixed_precision_weight_only_ratio = +mp.report.metrics.sizeRatioWeights.toFixed(3);
results.mixed_precision_budget = BUDGET;
const table = mp.report.mixedPrecision.layers.map((l) => `${l.layer}:${l.chosenBits}`).join(' ');
log(`mixed precision table ${table}; est. drop ${mp.report.mixedPrecision.estimatedAccDrop}`);
for (const l of mp.report.mixedPrecision.layers)
  log(`  ${l.layer.padEnd(6)} ${l.sensitivity.map((s) => `${s.bits}b Δacc ${s.accDrop.toFixed(4)} Δloss ${s.lossRise.toFixed(4)}`).join(' | ')}`);

// 4. Stock export of the per-channel int8 model (widen 'auto' checked on 1,000 calibration digits), loaded with tf.loadLayersModel.
const calib = subset(
  train,
  createRng(1)
    .shuffle(Array.from({ length: train.count }, (_, i) => i))
    .slice(0, 1000),
);
const stockPc = await exportQuantized(pc.model, join(work, 'int8-pc-stock'), { stock: true, data: calib });
const ours = argmax(predict(pc.model, test.images, test.count), 10);
const theirs = argmax(await stockPredictions(stockPc.modelJson, test), 10);
results.stock_loader_prediction_match = ours.reduce((n, v, i) => n + (v === theirs[i] ? 1 : 0), 0) / test.count;
log(
  `stock export (per-channel int8): ${stockPc.lost.map((l) => `${l.weight} → ${l.widenedTo} (max err ${l.maxAbsError.toExponential(2)})`).join(', ')}; match ${results.stock_loader_prediction_match}`,
);
results.stock_per_channel_raw_bytes = stockPc.total.rawBytes;

// Per-tensor int8 exports as exact uint8: stock predictions vs ours, and the sizes.
const stockPt = await exportQuantized(pt.model, join(work, 'int8-pt-stock'), { stock: true });
const oursPt = argmax(predict(pt.model, test.images, test.count), 10);
const theirsPt = argmax(await stockPredictions(stockPt.modelJson, test), 10);
results.stock_loader_prediction_match_per_tensor = oursPt.reduce((n, v, i) => n + (v === theirsPt[i] ? 1 : 0), 0) / test.count;
const fp32 = await saveModel(base.model, join(work, 'fp32'), { format: 'stock' });
const fp32Size = await sizeReport(fp32.files, base.model.ir);
results.fp32_raw_bytes = fp32Size.rawBytes;
results.fp32_gzip_bytes = fp32Size.gzipBytes;
results.uint8_raw_bytes = stockPt.total.rawBytes;
results.uint8_gzip_bytes = stockPt.total.gzipBytes;
results.gzip_ratio_uint8 = +(fp32Size.rawBytes / stockPt.total.gzipBytes).toFixed(3);
results.raw_ratio_uint8 = +(fp32Size.rawBytes / stockPt.total.rawBytes).toFixed(3);
results.stock_in_memory_bytes = stockPt.total.stockInMemoryBytes;
const extMp = await exportQuantized(mp.model, join(work, 'mixed-extended'));
results.mixed_precision_extended_raw_bytes = extMp.total.rawBytes;
results.mixed_precision_extended_gzip_bytes = extMp.total.gzipBytes;
results.seconds = Math.round((Date.now() - t0) / 1000);

const pad = (s, n) => String(s).padEnd(n);
console.log('\nper-layer size report, stock uint8 export of the int8 per-tensor model:');
console.log(`${pad('weight', 14)}${pad('dtype', 10)}${pad('raw B', 9)}${pad('gzip B', 9)}in-memory B after stock load`);
for (const l of stockPt.layers) console.log(`${pad(l.weight, 14)}${pad(l.dtype, 10)}${pad(l.rawBytes, 9)}${pad(l.gzipBytes, 9)}${l.stockInMemoryBytes}`);
console.log(`${pad('total files', 24)}${pad(stockPt.total.rawBytes, 9)}${pad(stockPt.total.gzipBytes, 9)}${stockPt.total.stockInMemoryBytes}   (${stockPt.inMemoryNote})`);
console.log('\nfigure                                      value');
for (const [k, v] of Object.entries(results)) console.log(`${pad(k, 44)}${v}`);
await writeFile(join(outDir, 'quantize.json'), `${JSON.stringify(results, null, 2)}\n`);
await rm(work, { recursive: true, force: true });
log(`wrote ${join(outDir, 'quantize.json')}`);
