// Benchmark of @edge-compress/admm-prune on Caffe LeNet-5 and LeNet-300-100 (core's builders), starting from
// core's cached dense baselines (trainBaseline: 20 epochs, seed 0, the deterministic MNIST split of loadMnist).
// Every choice is made on train/validation (the method holds out a stratified 10% of the training digits when
// the context has no validation split); test accuracy is read only here, for the reported figures.
//
//   npx turbo run build --filter=@edge-compress/admm-prune && npm run bench -w @edge-compress/admm-prune
//   ADMM_BENCH_SCALE=long npm run bench -w @edge-compress/admm-prune      # 20 retraining epochs instead of 8 (~25 min)
//   ADMM_BENCH_SCALE=paper npm run bench -w @edge-compress/admm-prune     # paper-scale schedule (hours)
//
// The six runs (ADMM, core's magnitude baseline and the dense model with the same extra training, for each model)
// are independent; the parent runs them as child processes in four lanes (ADMM_BENCH_PART=<arch>:<admm|magnitude|dense>) and merges their figures into
// <repo>/bench-results/admm-prune.json (admm-prune-paper.json at paper scale).
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const outDir = join(root, 'bench-results');
const cacheDir = join(outDir, '.cache');
const t0 = Date.now();
const SCALE = process.env.ADMM_BENCH_SCALE === 'paper' || process.env.ADMM_BENCH_SCALE === 'long' ? process.env.ADMM_BENCH_SCALE : 'default';
const PAPER = SCALE === 'paper';
const PART = process.env.ADMM_BENCH_PART;
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s]${PART ? ` ${PART}` : ''}`, ...a);

// Per-layer keep fractions, chosen on the validation split (README): LeNet-5 conv1 60%, conv2 10%, fc1 0.5%, fc2 5%
// (5,050 non-zeros, 85.2×; val 0.978 vs 0.976 for ALGORITHMS §1.5's 20/7/0.7/7% at 86.1×, same schedule);
// LeNet-300-100 4/8/30% (§1.5). Bits per non-zero: ALGORITHMS §1.5 (conv 4/3, fc 2/3); MLP 2/3/4.
// Training settings, chosen on the validation split (see README): Adam lr 3e-3 for the ADMM W-steps and the masked
// retraining (1e-3 learned too slowly: LeNet-300-100 magnitude retraining 0.954 → 0.968 val at 3e-3), lr 1e-3 for
// the quantization phase; no random shifts (with the ±2-pixel shifts the dense baseline was trained with, the
// pruned nets underfit: LeNet-5 0.974 vs 0.976 val, train accuracy stuck at 0.96; MLP 0.961 vs 0.969). The
// magnitude baseline and the dense model with the same extra training get the same settings and epochs.
const SCHEDULE = PAPER
  ? {
      prune: { admm_iterations: 20, epochs_per_iteration: 4, retrain_epochs: 40 },
      quant: { quant_admm_iterations: 6, quant_epochs_per_iteration: 2, progressive_rounds: 4, progressive_epochs: 2 },
    }
  : {
      // Default: 4 ADMM epochs + 8 masked-retraining epochs (fits the 20-minute budget). ADMM_BENCH_SCALE=long:
      // + 20 retraining epochs instead, chosen on val (LeNet-5 at 85.2×): with 8 the pruned net still underfits
      // (train accuracy 0.984, val 0.978); with 20 it fits the training digits (train 0.9986), val 0.982 — but the
      // bench then took 1,463 s at load 6–12. Every lane (ADMM, magnitude, dense) gets the same epochs.
      prune: { admm_iterations: 4, epochs_per_iteration: 1, retrain_epochs: SCALE === 'long' ? 20 : 8 },
      // Chosen on val: 3 progressive rounds freezing half of the still-free weights each (87.5% frozen before the
      // final snap) and 3 quantization-ADMM epochs. With 1 quantization-ADMM epoch the final snap cost LeNet-5
      // 3.3 pp of val accuracy (0.975 → 0.942); with 3 the joint val accuracy is 0.963.
      quant: { quant_admm_iterations: 3, quant_epochs_per_iteration: 1, progressive_rounds: 3, progressive_fraction: 0.5, progressive_epochs: 1 },
    };
const PENALTY = PAPER
  ? { penalty: 'decoupled', sparsity_ramp: 0.5, rho: 0.003, rho_growth: 1.3, rho_max: 0.1 }
  : { penalty: 'decoupled', sparsity_ramp: 0, rho: 0.003, rho_growth: 1.5, rho_max: 0.1 };
const SETUPS = {
  lenet5: {
    prefix: '',
    layers: { conv1: { sparse: 0.4, bits: 4 }, conv2: { sparse: 0.9, bits: 3 }, fc1: { sparse: 0.995, bits: 2 }, fc2: { sparse: 0.95, bits: 3 } },
    train: { lr: 3e-3, augment: null },
    quantTrain: { lr: 1e-3, augment: null },
  },
  lenet300100: {
    prefix: 'mlp_',
    layers: { fc1: { sparse: 0.96, bits: 2 }, fc2: { sparse: 0.92, bits: 3 }, fc3: { sparse: 0.7, bits: 4 } },
    train: { lr: 3e-3, augment: null },
    quantTrain: { lr: 1e-3, augment: null },
  },
};
const r4 = (x) => +x.toFixed(4);

async function runPart(arch, which) {
  const tf = await import('@tensorflow/tfjs-core');
  const { createRng, evaluateModel, initBackend, loadMnist, magnitudePrune, parameterCount, saveModel, trainBaseline } = await import('@edge-compress/core');
  const { admmPrune } = await import('@edge-compress/admm-prune');
  await initBackend('wasm');
  const s = SETUPS[arch];
  const p = s.prefix;
  const res = {};
  const { existsSync } = await import('node:fs');
  const { loadModel } = await import('@edge-compress/core');
  const data = loadMnist({ shape: arch === 'lenet5' ? [28, 28, 1] : [784] });
  // core's trainBaseline cache (key includes the training-set size). If only the cached baseline of the earlier
  // 8,000-digit split exists (it also trained on today's validation digits; the test digits are the same) and
  // ADMM_BENCH_TRAIN_BASELINE is unset, that one is used, and the figures say so.
  const v2 = join(cacheDir, `${arch}-e20-s0-lr0.001-sh2-b64-tr${data.train.count}`, 'model.json');
  const v1 = join(cacheDir, `${arch}-e20-s0-lr0.001-sh2-b64`, 'model.json');
  const useV1 = !existsSync(v2) && existsSync(v1) && !process.env.ADMM_BENCH_TRAIN_BASELINE;
  const base = useV1 ? { model: (await loadModel(v1)).model, cached: true } : await trainBaseline({ arch, epochs: 20, seed: 0, cacheDir });
  res[`${s.prefix}baseline`] = useV1
    ? 'cached 20-epoch baseline of the 8,000-digit train split (saw the validation digits; test digits unchanged)'
    : `trainBaseline 20 epochs on ${data.train.count} digits`;
  const ctx = { train: data.train, ...(data.val ? { val: data.val } : {}), test: data.test, seed: 0, rng: createRng(0) };
  const dense = evaluateModel(base.model, data.test).accuracy;
  log(`dense baseline test accuracy ${dense} (${base.cached ? 'cached' : 'trained'}), ${parameterCount(base.model.ir)} parameters`);
  const names = Object.keys(s.layers);
  const pruneRecipe = names.map((n) => ({ op_names: [n], sparse_ratio: s.layers[n].sparse }));
  const budget = SCHEDULE.prune.admm_iterations * SCHEDULE.prune.epochs_per_iteration + SCHEDULE.prune.retrain_epochs;
  const fileBytes = async (model) => {
    const dir = await mkdtemp(join(tmpdir(), 'admm-bench-'));
    try {
      return (await saveModel(model, dir)).bytes;
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };
  if (which === 'dense') {
    // The dense model with the same extra training as the pruned ones (same epochs, optimizer, lr, schedule,
    // augmentation, split; nothing pruned), so extra training is not credited to pruning.
    const zero = names.map((n) => ({ op_names: [n], sparse_ratio: 0 }));
    const D = await admmPrune.compress(base.model, ctx, admmPrune.plan(base.model.ir, zero, { admm_iterations: 0, retrain_epochs: budget, ...s.train, measure_files: false }));
    res[`${p}dense_acc_same_budget`] = evaluateModel(D.model, data.test).accuracy;
    res[`${p}dense_val_acc_same_budget`] = D.report.metrics.valAccuracyPruned;
    res[`${p}dense_extra_epochs`] = budget;
    log(`dense + ${budget} epochs: val ${D.report.metrics.valAccuracyPruned} test ${res[`${p}dense_acc_same_budget`]}`);
    return res;
  }
  if (which === 'magnitude') {
    // Core's magnitude pruning (its masks: per-layer top-|w| at the same ratios), then the same masked retraining as
    // ADMM's (same epochs in total, same optimizer, lr, schedule, augmentation, training split): an admm stage with
    // no ADMM iterations on the magnitude-masked model (its masks bound the projection, so they do not change).
    const M0 = await magnitudePrune.compress(base.model, ctx, magnitudePrune.plan(base.model.ir, pruneRecipe, { finetune_epochs: 0 }));
    const M = await admmPrune.compress(M0.model, ctx, admmPrune.plan(base.model.ir, pruneRecipe, { admm_iterations: 0, retrain_epochs: budget, ...s.train, measure_files: false }));
    res[`${p}magnitude_baseline_acc_at_same_ratio`] = evaluateModel(M.model, data.test).accuracy;
    res[`${p}magnitude_baseline_val_acc`] = M.report.metrics.valAccuracyPruned;
    res[`${p}magnitude_baseline_prune_ratio`] = r4(M.report.metrics.pruningRatio);
    res[`${p}magnitude_baseline_epochs`] = budget;
    log(`magnitude at the same ratios, ${budget} epochs: val ${M.report.metrics.valAccuracyPruned} test ${res[`${p}magnitude_baseline_acc_at_same_ratio`]}`);
    return res;
  }
  res[`${p}dense_acc`] = dense;
  res[`${p}params`] = parameterCount(base.model.ir);
  const progress = (ev) => {
    if (ev.iteration !== undefined)
      log(
        `${ev.phase} ${ev.iteration}/${ev.epochs}: loss ${ev.loss.toFixed(4)} val(hard) ${ev.valAccuracy.toFixed(4)} ρ ${Object.values(ev.rho)
          .map((r) => r.toExponential(1))
          .join('/')} residual ${Object.values(ev.residual)
          .map((r) => r.toFixed(3))
          .join('/')}`,
      );
    else if (ev.frozenShare !== undefined) log(`progressive round ${ev.epoch + 1}/${ev.epochs}: frozen ${(ev.frozenShare * 100).toFixed(0)}% val ${ev.valAccuracy.toFixed(4)}`);
  };
  // 1. ADMM pruning (stage 1): per-layer ratios from the recipe.
  const A = await admmPrune.compress(
    base.model,
    { ...ctx, onProgress: progress },
    admmPrune.plan(base.model.ir, pruneRecipe, { ...SCHEDULE.prune, ...PENALTY, ...s.train, measure_files: false }),
  );
  const mA = A.report.metrics;
  res[`${p}pruned_acc`] = evaluateModel(A.model, data.test).accuracy;
  res[`${p}pruned_acc_drop`] = r4(dense - res[`${p}pruned_acc`]);
  res[`${p}prune_ratio`] = r4(mA.pruningRatio);
  res[`${p}prune_ratio_incl_biases`] = r4(res[`${p}params`] / (A.report.admm.storage.nonZeros + A.report.admm.storage.biasBits / 32));
  res[`${p}per_layer_ratios`] = Object.fromEntries(A.report.admm.storage.layers.map((l) => [l.layer, r4(l.elements / l.nonZeros)]));
  res[`${p}pruned_val_acc`] = mA.valAccuracyPruned;
  // Where the accuracy goes (validation): the ADMM weights themselves, their hard projection, after retraining.
  res[`${p}after_admm_val_acc`] = mA.valAccuracyAfterAdmm;
  res[`${p}pruned_hard_projection_val_acc`] = mA.valAccuracyHardPruned;
  res[`${p}final_primal_residual`] = Object.fromEntries(A.report.layers.map((l) => [l.layer, r4(l.primalResidual)]));
  res[`${p}pruned_file_bytes`] = await fileBytes(A.model);
  log(`admm pruned ${mA.pruningRatio.toFixed(1)}×, val ${mA.valAccuracyPruned}, test ${res[`${p}pruned_acc`]}`);
  // 2. ADMM quantization (stage 2 on the pruned model: masks kept, interval scan, quantization ADMM, progressive).
  const quantRecipe = names.map((n) => ({ op_names: [n], sparse_ratio: s.layers[n].sparse, quant_dtype: `int${s.layers[n].bits}` }));
  const B = await admmPrune.compress(
    A.model,
    { ...ctx, onProgress: progress },
    admmPrune.plan(base.model.ir, quantRecipe, { admm_iterations: 0, retrain_epochs: 0, ...SCHEDULE.quant, ...s.quantTrain, penalty: 'decoupled', measure_files: false }),
  );
  const st = B.report.admm.storage;
  res[`${p}joint_acc`] = evaluateModel(B.model, data.test).accuracy;
  res[`${p}joint_acc_drop`] = r4(dense - res[`${p}joint_acc`]);
  res[`${p}joint_storage_ratio`] = r4(st.dataOnlyRatio);
  res[`${p}joint_storage_ratio_with_indices`] = r4(st.withIndicesRatio);
  res[`${p}joint_data_bits`] = st.dataBits;
  res[`${p}joint_index_bits`] = st.indexBits;
  res[`${p}joint_scale_bits`] = st.scaleBits;
  res[`${p}bias_bits`] = st.biasBits;
  res[`${p}bits_per_layer`] = Object.fromEntries(st.layers.map((l) => [l.layer, l.bits]));
  res[`${p}stored_scheme`] = B.report.layers.map((l) => `${l.layer}: ${l.storedScheme}`).join('; ');
  res[`${p}joint_val_acc`] = B.report.metrics.valAccuracyAfter;
  const denseBytes = await fileBytes(base.model);
  res[`${p}dense_file_bytes`] = denseBytes;
  res[`${p}joint_file_bytes`] = await fileBytes(B.model);
  res[`${p}file_bytes_ratio`] = r4(denseBytes / res[`${p}joint_file_bytes`]);
  res[`${p}pruned_file_bytes_ratio`] = r4(denseBytes / res[`${p}pruned_file_bytes`]);
  res[`${p}training_epochs_prune`] = budget;
  res[`${p}training_epochs_quant`] =
    SCHEDULE.quant.quant_admm_iterations * SCHEDULE.quant.quant_epochs_per_iteration + SCHEDULE.quant.progressive_rounds * SCHEDULE.quant.progressive_epochs;
  res[`${p}val_split`] = A.report.admm.validation;
  res[`${p}live_tensors_after`] = tf.memory().numTensors;
  log(`joint ${st.dataOnlyRatio.toFixed(0)}× data only, ${st.withIndicesRatio.toFixed(0)}× with indices, test ${res[`${p}joint_acc`]}`);
  return res;
}

if (PART) {
  const [arch, which] = PART.split(':');
  const res = await runPart(arch, which);
  await writeFile(process.env.ADMM_BENCH_OUT, JSON.stringify(res));
} else {
  // Warm the baseline cache first (trainBaseline trains only if no cached copy exists), then the four parts.
  const parts = ['lenet5:admm', 'lenet5:magnitude', 'lenet5:dense', 'lenet300100:admm', 'lenet300100:magnitude', 'lenet300100:dense'];
  const tmp = await mkdtemp(join(tmpdir(), 'admm-bench-parts-'));
  const self = fileURLToPath(import.meta.url);
  const run = (part) =>
    new Promise((resolve, reject) => {
      const out = join(tmp, `${part.replace(':', '-')}.json`);
      const child = spawn(process.execPath, [self], { env: { ...process.env, ADMM_BENCH_PART: part, ADMM_BENCH_OUT: out }, stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('exit', async (code) => (code === 0 ? resolve(JSON.parse(await readFile(out, 'utf8'))) : reject(new Error(`${part} exited with ${code}`))));
    });
  // Four lanes (two cores shared with other jobs): each LeNet-5 run in its own lane, the three MLP runs in the fourth.
  const lane = async (ps) => {
    const out = [];
    for (const part of ps) out.push(await run(part));
    return out;
  };
  const results = Object.assign({}, ...(await Promise.all([lane([parts[0]]), lane([parts[1]]), lane([parts[2]]), lane(parts.slice(3))])).flat());
  await rm(tmp, { recursive: true, force: true });
  const ordered = {};
  for (const p of ['', 'mlp_']) for (const [k, v] of Object.entries(results)) if (k.startsWith(p) && (p !== '' || !k.startsWith('mlp_'))) ordered[k] = v;
  // The issue's goals, checked against both dense references (the issue's dense_acc, and the dense model given the
  // same extra training); a goal is met only if it holds against the stricter one.
  for (const p of ['', 'mlp_']) {
    if (ordered[`${p}pruned_acc`] === undefined) continue;
    const ref = Math.max(ordered[`${p}dense_acc`], ordered[`${p}dense_acc_same_budget`] ?? 0);
    ordered[`${p}goal_pruned_acc_vs_dense`] =
      `${ordered[`${p}pruned_acc`]} vs ${r4(ref - 0.001)} (max dense − 0.001): ${ordered[`${p}pruned_acc`] >= ref - 0.001 - 1e-12 ? 'met' : 'not met'}`;
  }
  ordered.goal_prune_ratio = `${ordered.prune_ratio} vs 85 (stretch 167): ${ordered.prune_ratio >= 167 ? 'stretch met' : ordered.prune_ratio >= 85 ? 'met' : 'not met'}`;
  ordered.goal_joint_storage_ratio = `${ordered.joint_storage_ratio} vs 1000 (stretch 2000): ${ordered.joint_storage_ratio >= 2000 ? 'stretch met' : ordered.joint_storage_ratio >= 1000 ? 'met' : 'not met'}`;
  ordered.scale = SCALE;
  ordered.wall_s = Math.round((Date.now() - t0) / 1000);
  ordered.load_note = `six runs in child processes, four lanes at a time, on a ${cpus().length}-core machine shared with other jobs; load average at the end ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ')}`;
  const pad = (x, n) => String(x).padEnd(n);
  console.log('\nfigure                                           value');
  for (const [k, v] of Object.entries(ordered)) console.log(`${pad(k, 49)}${typeof v === 'object' ? JSON.stringify(v) : v}`);
  await mkdir(outDir, { recursive: true });
  const name = SCALE === 'default' ? 'admm-prune.json' : `admm-prune-${SCALE}.json`;
  await writeFile(join(outDir, `${name}.tmp`), `${JSON.stringify(ordered, null, 2)}\n`);
  await rename(join(outDir, `${name}.tmp`), join(outDir, name));
  log(`wrote ${join(outDir, name)}`);
}
