// Benchmark of @edge-compress/admm-prune on Caffe LeNet-5 and LeNet-300-100 (core's builders), starting from
// core's cached dense baselines (trainBaseline: 20 epochs, seed 0, the deterministic 8,000 / 2,000 MNIST split).
// Every choice is made on train/validation (the method holds out a stratified 10% of the training digits when
// the context has no validation split); test accuracy is only read here, for the reported figures.
//
//   npx turbo run build --filter=@edge-compress/admm-prune && npm run bench -w @edge-compress/admm-prune
//   ADMM_BENCH_SCALE=paper npm run bench -w @edge-compress/admm-prune     # paper-scale schedule (hours)
//   ADMM_BENCH_ONLY=lenet5|lenet300100                                     # one model only
//
// Writes <repo>/bench-results/admm-prune.json (flat figures) and prints a table.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { createRng, evaluateModel, initBackend, loadMnist, magnitudePrune, parameterCount, saveModel, trainBaseline } from '@edge-compress/core';
import { admmPrune, splitValidation } from '@edge-compress/admm-prune';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const outDir = join(root, 'bench-results');
const cacheDir = join(outDir, '.cache');
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s]`, ...a);
const PAPER = process.env.ADMM_BENCH_SCALE === 'paper';
const ONLY = process.env.ADMM_BENCH_ONLY;

// Per-layer keep fractions: ALGORITHMS §1.5 project defaults (ECCV split tightened on fc1/conv2), and the
// LeNet-300-100 default 4/8/30%. Bits per non-zero: ALGORITHMS §1.5 (conv1 4, conv2 3, fc1 2, fc2 3).
const SETUPS = {
  lenet5: {
    prefix: '',
    layers: { conv1: { sparse: 0.8, bits: 4 }, conv2: { sparse: 0.93, bits: 3 }, fc1: { sparse: 0.993, bits: 2 }, fc2: { sparse: 0.93, bits: 3 } },
    prune: PAPER
      ? { admm_iterations: 20, epochs_per_iteration: 4, rho: 1e-3, rho_growth: 1.3, rho_max: 0.05, retrain_epochs: 20 }
      : { admm_iterations: 6, epochs_per_iteration: 1, rho: 2e-3, rho_growth: 1.6, rho_max: 0.05, retrain_epochs: 4 },
    quant: PAPER ? { quant_admm_iterations: 6, quant_epochs_per_iteration: 2, quant_rho: 1e-2, progressive_rounds: 4, progressive_epochs: 2 } : { quant_admm_iterations: 2, quant_epochs_per_iteration: 1, quant_rho: 1e-2, progressive_rounds: 3, progressive_epochs: 1 },
  },
  lenet300100: {
    prefix: 'mlp_',
    layers: { fc1: { sparse: 0.96, bits: 2 }, fc2: { sparse: 0.92, bits: 3 }, fc3: { sparse: 0.7, bits: 4 } },
    prune: PAPER
      ? { admm_iterations: 20, epochs_per_iteration: 4, rho: 1e-3, rho_growth: 1.3, rho_max: 0.05, retrain_epochs: 20 }
      : { admm_iterations: 8, epochs_per_iteration: 1, rho: 2e-3, rho_growth: 1.5, rho_max: 0.05, retrain_epochs: 4 },
    quant: PAPER ? { quant_admm_iterations: 6, quant_epochs_per_iteration: 2, quant_rho: 1e-2, progressive_rounds: 4, progressive_epochs: 2 } : { quant_admm_iterations: 2, quant_epochs_per_iteration: 1, quant_rho: 1e-2, progressive_rounds: 3, progressive_epochs: 1 },
  },
};

async function fileBytes(model) {
  const dir = await mkdtemp(join(tmpdir(), 'admm-bench-'));
  try {
    return (await saveModel(model, dir)).bytes;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const r4 = (x) => +x.toFixed(4);
const results = {};
await initBackend('wasm');
for (const [arch, s] of Object.entries(SETUPS)) {
  if (ONLY && ONLY !== arch) continue;
  const p = s.prefix;
  const base = await trainBaseline({ arch, epochs: 20, seed: 0, cacheDir });
  const data = loadMnist({ shape: base.model.ir.inputShape });
  log(`${arch}: dense baseline test accuracy ${base.testAccuracy} (${base.cached ? 'cached' : 'trained'}), ${parameterCount(base.model.ir)} parameters`);
  const ctx = { train: data.train, ...(data.val ? { val: data.val } : {}), test: data.test, seed: 0, rng: createRng(0) };
  const progress = (ev) => {
    if (ev.iteration !== undefined) log(`  ${ev.phase} ${ev.iteration}/${ev.epochs}: loss ${ev.loss.toFixed(4)} val ${ev.valAccuracy.toFixed(4)} ρ ${Object.values(ev.rho).map((r) => r.toExponential(1)).join('/')} residual ${Object.values(ev.residual).map((r) => r.toFixed(3)).join('/')}`);
    else if (ev.phase === 'progressive') log(`  progressive round ${ev.epoch + 1}/${ev.epochs}: frozen ${(ev.frozenShare * 100).toFixed(0)}% val ${ev.valAccuracy.toFixed(4)}`);
  };
  const names = Object.keys(s.layers);
  const dense = evaluateModel(base.model, data.test).accuracy;
  results[`${p}dense_acc`] = dense;
  results[`${p}params`] = parameterCount(base.model.ir);

  // 1. ADMM pruning (stage 1): per-layer ratios from the recipe.
  const pruneRecipe = names.map((n) => ({ op_names: [n], sparse_ratio: s.layers[n].sparse }));
  const tA = Date.now();
  const A = await admmPrune.compress(base.model, { ...ctx, onProgress: progress }, admmPrune.plan(base.model.ir, pruneRecipe, { ...s.prune, measure_files: false }));
  const prunedAcc = evaluateModel(A.model, data.test).accuracy;
  const mA = A.report.metrics;
  log(`${arch}: admm pruned ${mA.pruningRatio.toFixed(1)}×, val ${mA.valAccuracyPruned}, test ${prunedAcc} (${((Date.now() - tA) / 1000).toFixed(0)} s)`);
  results[`${p}pruned_acc`] = prunedAcc;
  results[`${p}prune_ratio`] = r4(mA.pruningRatio);
  results[`${p}prune_ratio_incl_biases`] = r4((results[`${p}params`]) / (A.report.admm.storage.nonZeros + A.report.admm.storage.biasBits / 32));
  results[`${p}per_layer_ratios`] = Object.fromEntries(A.report.admm.storage.layers.map((l) => [l.layer, r4(l.elements / l.nonZeros)]));
  results[`${p}pruned_acc_drop`] = r4(dense - prunedAcc);

  // 2. ADMM quantization (stage 2 on the pruned model: masks kept, interval scan, quantization ADMM, progressive).
  const quantRecipe = names.map((n) => ({ op_names: [n], sparse_ratio: s.layers[n].sparse, quant_dtype: `int${s.layers[n].bits}` }));
  const tB = Date.now();
  const B = await admmPrune.compress(A.model, { ...ctx, onProgress: progress }, admmPrune.plan(base.model.ir, quantRecipe, { admm_iterations: 0, retrain_epochs: 0, ...s.quant, measure_files: false }));
  const jointAcc = evaluateModel(B.model, data.test).accuracy;
  const st = B.report.admm.storage;
  log(`${arch}: joint ${st.dataOnlyRatio.toFixed(0)}× data only, ${st.withIndicesRatio.toFixed(0)}× with indices, val ${B.report.metrics.valAccuracyAfter}, test ${jointAcc} (${((Date.now() - tB) / 1000).toFixed(0)} s)`);
  results[`${p}joint_acc`] = jointAcc;
  results[`${p}joint_acc_drop`] = r4(dense - jointAcc);
  results[`${p}joint_storage_ratio`] = r4(st.dataOnlyRatio);
  results[`${p}joint_storage_ratio_with_indices`] = r4(st.withIndicesRatio);
  results[`${p}joint_data_bits`] = st.dataBits;
  results[`${p}joint_index_bits`] = st.indexBits;
  results[`${p}joint_scale_bits`] = st.scaleBits;
  results[`${p}bits_per_layer`] = Object.fromEntries(st.layers.map((l) => [l.layer, l.bits]));
  results[`${p}stored_scheme`] = B.report.layers.map((l) => `${l.layer}: ${l.storedScheme}`).join('; ');
  const denseBytes = await fileBytes(base.model);
  const ourBytes = await fileBytes(B.model);
  results[`${p}dense_file_bytes`] = denseBytes;
  results[`${p}joint_file_bytes`] = ourBytes;
  results[`${p}file_bytes_ratio`] = r4(denseBytes / ourBytes);
  results[`${p}pruned_file_bytes_ratio`] = r4(denseBytes / (await fileBytes(A.model)));

  // 3. Core's magnitude pruning at the same per-layer ratios, same training budget (epochs), same lr.
  const budget = s.prune.admm_iterations * s.prune.epochs_per_iteration + s.prune.retrain_epochs;
  const { train } = splitValidation(ctx, 0.1, 0);
  const tM = Date.now();
  const M = await magnitudePrune.compress(base.model, { ...ctx, train }, magnitudePrune.plan(base.model.ir, pruneRecipe, { finetune_epochs: budget, lr: 1e-3 }));
  const magAcc = evaluateModel(M.model, data.test).accuracy;
  log(`${arch}: magnitude at the same ratios, ${budget} epochs: test ${magAcc} (${((Date.now() - tM) / 1000).toFixed(0)} s)`);
  results[`${p}magnitude_baseline_acc_at_same_ratio`] = magAcc;
  results[`${p}training_epochs_prune`] = budget;
  results[`${p}training_epochs_quant`] = s.quant.quant_admm_iterations * s.quant.quant_epochs_per_iteration + s.quant.progressive_rounds * s.quant.progressive_epochs;
  results[`${p}val_split`] = A.report.admm.validation;
  results[`${p}live_tensors_after`] = tf.memory().numTensors;
}
results.scale = PAPER ? 'paper' : 'default';
results.wall_s = Math.round((Date.now() - t0) / 1000);
results.load_note = `machine shared with other jobs; load average at end ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' / ')} on ${(await import('node:os')).cpus().length} cores`;

const pad = (x, n) => String(x).padEnd(n);
console.log('\nfigure                                           value');
for (const [k, v] of Object.entries(results)) console.log(`${pad(k, 49)}${typeof v === 'object' ? JSON.stringify(v) : v}`);
await mkdir(outDir, { recursive: true });
const name = PAPER ? 'admm-prune-paper.json' : ONLY ? `admm-prune-${ONLY}.json` : 'admm-prune.json';
await writeFile(join(outDir, `${name}.tmp`), `${JSON.stringify(results, null, 2)}\n`);
await (await import('node:fs/promises')).rename(join(outDir, `${name}.tmp`), join(outDir, name));
log(`wrote ${join(outDir, name)}`);
