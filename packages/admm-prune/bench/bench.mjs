// Benchmark of @edge-compress/admm-prune on Caffe LeNet-5 and LeNet-300-100 (core's builders), on the full MNIST
// (core's loadMnistFull: 55,000 training digits, 5,000 stratified validation digits, the official 10,000 test digits;
// seed 0), starting from dense baselines trained on those 55,000 digits (bench/baselines.mjs: core trainBaseline,
// 10 epochs, Adam cosine 1e-3, ±2-pixel shifts, seed 0, 2 workers; cached in bench-results/.cache).
// Every choice is made on train/validation; test accuracy is read only here, for the reported figures.
//
//   npx turbo run build --filter=@edge-compress/admm-prune && npm run bench -w @edge-compress/admm-prune
//   ADMM_BENCH_SCALE=paper npm run bench -w @edge-compress/admm-prune     # paper-scale schedule (hours)
//
// The six runs (ADMM, core's magnitude baseline and the dense model with the same extra training, for each model)
// are independent; the parent runs them as child processes in four lanes (ADMM_BENCH_PART=<arch>:<admm|magnitude|dense>)
// and merges their figures into <repo>/bench-results/admm-prune.json (admm-prune-paper.json at paper scale).
// Exploration on the validation split: ADMM_BENCH_PARTS=lenet5:admm,lenet5:magnitude limits the parts,
// ADMM_BENCH_OPTS='{"distill":null}' overrides the training options of every lane, ADMM_BENCH_SCHEDULE='{"retrain_epochs":6}'
// the pruning schedule (every lane gets the same total epochs), ADMM_BENCH_LAYERS='{"lenet5":{"fc1":{"sparse":0.993,"bits":2}}}'
// per-layer keep / bits of a model (merged over the defaults below), ADMM_BENCH_TAG=x writes admm-prune-explore-x.json
// instead.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const outDir = join(root, 'bench-results');
const t0 = Date.now();
const SCALE = process.env.ADMM_BENCH_SCALE === 'paper' ? 'paper' : 'default';
const PAPER = SCALE === 'paper';
const PART = process.env.ADMM_BENCH_PART;
const TAG = process.env.ADMM_BENCH_TAG;
const OVERRIDES = process.env.ADMM_BENCH_OPTS ? JSON.parse(process.env.ADMM_BENCH_OPTS) : {};
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)}s]${PART ? ` ${PART}` : ''}`, ...a);

// Per-layer keep fractions, chosen on the validation split of the 7,000-digit runs (README): LeNet-5 conv1 60%,
// conv2 10%, fc1 0.5%, fc2 5% (5,050 non-zeros, 85.2×); LeNet-300-100 4/8/30% (§1.5). Bits per non-zero:
// ALGORITHMS §1.5 (conv 4/3, fc 2/3); MLP 2/3/4.
// Training (every lane: ADMM, magnitude, dense + the same epochs): Adam 1e-2 for LeNet-5, 3e-3 for LeNet-300-100 (step
// decay in the ADMM W-steps, cosine in the masked retraining to lr/100 for LeNet-5, lr/10 for LeNet-300-100), knowledge
// distillation from the dense model (the teacher of every lane, also of the quantization stage): target = 0.5·one-hot
// + 0.5·teacher probabilities at temperature 2, and for LeNet-5 ±1-pixel random shifts. Chosen on val (LeNet-5 ADMM
// lane, 2 × 1 + 4 epochs of 55,000 digits): no distillation 0.9842, distillation T 1 0.9836, distillation T 2 with ±1
// shifts 0.9856. LeNet-300-100: no shifts (on 7,000 digits the shifts cost it 0.8 pp of val accuracy).
const DISTILL = { weight: 0.5, temperature: 2 };
const SCHEDULE = PAPER
  ? {
      prune: { admm_iterations: 10, epochs_per_iteration: 2, retrain_epochs: 20 },
      quant: { quant_admm_iterations: 6, quant_epochs_per_iteration: 1, progressive_rounds: 4, progressive_epochs: 1, progressive_fraction: 0.5 },
      quantTrainCount: 55000,
    }
  : {
      // Default: epochs of the 55,000 training digits (an ADMM or retraining epoch of LeNet-5 took 50–60 s alone on
      // 2026-12-04 15:20, when core's LeNet-5 step took 50 ms (machine_lenet5_step_ms), about half that on 2026-12-03).
      // 3 ADMM epochs + masked-retraining epochs. 20 were chosen over 7 on val with the wide interval scan
      // (2026-12-03; README): pruned val 0.9882 → 0.9902 (LeNet-5), 0.9834 → 0.985 (MLP); joint val 0.9792 → 0.9806,
      // 0.980 → 0.9794. 40 retraining epochs (pruned val 0.9926) do not fit the 20 minutes beside the other lanes.
      // LeNet-5 retrains 16 since 2026-12-04 18:30 (the MLP keeps 20, SETUPS below): with the machine's LeNet-5 step at 47–50 ms (machine_lenet5_step_ms) the bench took
      // 1,267–1,517 s at 20; the largest count that fits, chosen on val with weight decay 3e-4 (ADMM lane alone, pruned
      // / joint val): 12 0.9932 / 0.9928, 16 0.9946 / 0.9916, 20 0.9952 / 0.9944.
      prune: { admm_iterations: 3, epochs_per_iteration: 1, retrain_epochs: 16 },
      // The quantization stage trains on a stratified 11,000-digit subset of the same training digits: 3
      // quantization-ADMM epochs (chosen on val on 7,000 digits) + 5 progressive rounds of one epoch, each freezing
      // half of the still-free weights per level (97% frozen before the final snap; with 3 rounds, 88%, the final
      // snap cost 2–4 pp of val accuracy).
      quant: { quant_admm_iterations: 3, quant_epochs_per_iteration: 1, progressive_rounds: 5, progressive_fraction: 0.5, progressive_epochs: 1 },
      quantTrainCount: 11000,
    };
const SCHEDULE_OVERRIDE = process.env.ADMM_BENCH_SCHEDULE ? JSON.parse(process.env.ADMM_BENCH_SCHEDULE) : {};
const PENALTY = PAPER
  ? { penalty: 'decoupled', sparsity_ramp: 0.5, rho: 0.003, rho_growth: 1.3, rho_max: 0.1 }
  : { penalty: 'decoupled', sparsity_ramp: 0, rho: 0.003, rho_growth: 1.5, rho_max: 0.1 };
const SETUPS = {
  lenet5: {
    prefix: '',
    layers: { conv1: { sparse: 0.4, bits: 4 }, conv2: { sparse: 0.9, bits: 3 }, fc1: { sparse: 0.995, bits: 2 }, fc2: { sparse: 0.95, bits: 3 } },
    // lr 1e-2 for LeNet-5 (ADMM W-steps and masked retraining; every LeNet-5 lane), chosen on val 2026-12-03/04: 3 + 7
    // epochs 0.9882 / 0.99 / 0.9888 at 3e-3 / 1e-2 / 2e-2; 3 + 20 epochs 0.9902 → 0.9914 (joint val 0.9806 → 0.9876).
    // LeNet-300-100 keeps 3e-3 (3 + 20 epochs at 1e-2: val 0.9834 against 0.985). The retraining's cosine ends at lr/100
    // (retrain_lr_floor 0.01), chosen on the pruned val at 3 + 20: 0.9914 → 0.9934 (the joint val fell, 0.9876 → 0.9828;
    // ±2-pixel shifts instead of ±1: 0.991).
    // The retraining moves the mask for its first half (dynamic_mask: fraction 0.5, pruned latents decay 0.05 per
    // step, a mask update every 100 steps), chosen on val 2026-12-04 at 3 + 20 (pruned / joint val): fixed mask
    // 0.9934 / 0.9828; decay 0.05 0.9938 / 0.9908; decay 0.01 0.9922 / 0.9916; decay 0.01 over the first quarter
    // 0.9922 / 0.9904; without the decay and with the latent not reset to the hard projection 0.9696. The MLP keeps the
    // fixed mask (pruned val 0.985 against 0.9846 / 0.984 with decay 0.05 / 0.01; joint val 0.9794 / 0.9808 / 0.9834).
    // L2 on the kernels (weight_decay 3e-4) in the ADMM and retraining phases (not the quantization stage), chosen on
    // val 2026-12-04 at 3 + 20 (pruned / joint val): 0 0.9938 / 0.9908; 1e-5 0.994 / 0.994; 1e-4 0.9946 / 0.9934;
    // 3e-4 0.9952 / 0.9944 (the hard projection after ADMM: 0.43 / 0.47 / 0.85 / 0.94 val). The MLP keeps 0 (pruned
    // val 0.985 against 0.9846 / 0.9838 at 1e-5 / 1e-4).
    train: {
      lr: 1e-2,
      retrain_lr_floor: 0.01,
      augment: { max_shift: 1 },
      distill: DISTILL,
      dynamic_mask: { fraction: 0.5, pruned_decay: 0.05 },
      weight_decay: 3e-4,
    },
    quantTrain: { lr: 1e-3, augment: null, distill: DISTILL },
  },
  lenet300100: {
    prefix: 'mlp_',
    layers: { fc1: { sparse: 0.96, bits: 2 }, fc2: { sparse: 0.92, bits: 3 }, fc3: { sparse: 0.7, bits: 4 } },
    train: { lr: 3e-3, augment: null, distill: DISTILL },
    quantTrain: { lr: 1e-3, augment: null, distill: DISTILL },
    // The MLP keeps 20 retraining epochs in the default run (pruned val 0.985 against 0.9844 at 16; its lane is short,
    // so the 20 minutes are set by the LeNet-5 lanes).
    prune: PAPER ? {} : { retrain_epochs: 20 },
  },
};
if (process.env.ADMM_BENCH_LAYERS)
  for (const [arch, layers] of Object.entries(JSON.parse(process.env.ADMM_BENCH_LAYERS)))
    for (const [name, v] of Object.entries(layers)) SETUPS[arch].layers[name] = { ...SETUPS[arch].layers[name], ...v };
const r4 = (x) => +x.toFixed(4);

async function runPart(arch, which) {
  const tf = await import('@tensorflow/tfjs-core');
  const { createRng, evaluateModel, initBackend, magnitudePrune, parameterCount, saveModel } = await import('@edge-compress/core');
  const { admmPrune } = await import('@edge-compress/admm-prune');
  const { fullBaseline, fullData, BASELINE } = await import('./baselines.mjs');
  await initBackend('wasm');
  const s = SETUPS[arch];
  const p = s.prefix;
  const res = {};
  const data = fullData(arch);
  const base = await fullBaseline(arch, data, log);
  res[`${p}baseline`] =
    `core trainBaseline ${BASELINE.epochs} epochs on the ${data.train.count} training digits of loadMnistFull (seed ${BASELINE.seed}, ${BASELINE.workers} workers)`;
  res[`${p}split`] = `${data.train.count} train / ${data.val.count} val / ${data.test.count} test`;
  const train = { ...s.train, ...OVERRIDES };
  const ctx = { train: data.train, val: data.val, test: data.test, seed: 0, rng: createRng(0), teacher: base.model };
  const dense = evaluateModel(base.model, data.test).accuracy;
  log(`dense baseline test accuracy ${dense} (${base.cached ? 'cached' : 'trained'}), ${parameterCount(base.model.ir)} parameters; options ${JSON.stringify(train)}`);
  const names = Object.keys(s.layers);
  const pruneRecipe = names.map((n) => ({ op_names: [n], sparse_ratio: s.layers[n].sparse }));
  const prune = { ...SCHEDULE.prune, ...s.prune, ...SCHEDULE_OVERRIDE };
  const budget = prune.admm_iterations * prune.epochs_per_iteration + prune.retrain_epochs;
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
    const D = await admmPrune.compress(base.model, ctx, admmPrune.plan(base.model.ir, zero, { admm_iterations: 0, retrain_epochs: budget, ...train, measure_files: false }));
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
    // The stage starts from the dense model: with admm_iterations 0 its hard projection is the per-layer top-|w| of the
    // dense weights, i.e. core's magnitude masks (checked below), and with dynamic_mask the baseline's latent is the
    // dense model (its pruned weights can come back, as ADMM's can).
    const M0 = await magnitudePrune.compress(base.model, ctx, magnitudePrune.plan(base.model.ir, pruneRecipe, { finetune_epochs: 0 }));
    const M = await admmPrune.compress(base.model, ctx, admmPrune.plan(base.model.ir, pruneRecipe, { admm_iterations: 0, retrain_epochs: budget, ...train, measure_files: false }));
    const kept = (e) => e.mask.reduce((a, m, i) => (m ? a + ',' + i : a), '');
    const same = names.every((n) => kept(M0.model.weights[`${n}/kernel`]) === kept(M.model.weights[`${n}/kernel`]));
    if (!train.dynamic_mask && !same) throw new Error('the magnitude lane: admm_iterations 0 did not keep the masks of core magnitude pruning');
    const dm = M.report.admm.dynamicMask;
    if (dm) res[`${p}magnitude_baseline_regrown`] = Object.fromEntries(dm.layers.map((l) => [l.weight, l.droppedFromHardProjection]));
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
    admmPrune.plan(base.model.ir, pruneRecipe, { ...prune, ...PENALTY, ...train, measure_files: false }),
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
  const dyn = A.report.admm.dynamicMask;
  if (dyn) {
    res[`${p}dynamic_mask_epochs`] = dyn.epochs;
    res[`${p}dynamic_mask_updates`] = dyn.maskUpdates;
    res[`${p}dynamic_mask_regrown`] = Object.fromEntries(dyn.layers.map((l) => [l.weight, l.droppedFromHardProjection]));
  }
  res[`${p}pruned_file_bytes`] = await fileBytes(A.model);
  log(`admm pruned ${mA.pruningRatio.toFixed(1)}×, val ${mA.valAccuracyPruned}, test ${res[`${p}pruned_acc`]}`);
  // 2. ADMM quantization (stage 2 on the pruned model: masks kept, interval scan, quantization ADMM, progressive).
  const quantRecipe = names.map((n) => ({ op_names: [n], sparse_ratio: s.layers[n].sparse, quant_dtype: `int${s.layers[n].bits}` }));
  const quantData = SCHEDULE.quantTrainCount < data.train.count ? fullData(arch, SCHEDULE.quantTrainCount) : data;
  const B = await admmPrune.compress(
    A.model,
    { ...ctx, train: quantData.train, onProgress: progress },
    admmPrune.plan(base.model.ir, quantRecipe, {
      admm_iterations: 0,
      retrain_epochs: 0,
      ...SCHEDULE.quant,
      ...s.quantTrain,
      ...(OVERRIDES.distill !== undefined ? { distill: OVERRIDES.distill } : {}),
      ...(OVERRIDES.interval_scan !== undefined ? { interval_scan: OVERRIDES.interval_scan } : {}),
      penalty: 'decoupled',
      measure_files: false,
    }),
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
  res[`${p}schedule_prune`] = prune;
  res[`${p}training_epochs_quant`] = `${
    SCHEDULE.quant.quant_admm_iterations * SCHEDULE.quant.quant_epochs_per_iteration + SCHEDULE.quant.progressive_rounds * SCHEDULE.quant.progressive_epochs
  } epochs of ${quantData.train.count} digits`;
  res[`${p}distill`] = A.report.admm.distill;
  res[`${p}val_split`] = A.report.admm.validation;
  res[`${p}live_tensors_after`] = tf.memory().numTensors;
  log(`joint ${st.dataOnlyRatio.toFixed(0)}× data only, ${st.withIndicesRatio.toFixed(0)}× with indices, test ${res[`${p}joint_acc`]}`);
  return res;
}

/**
 * The machine's speed at the time of the run: ms per LeNet-5 training step (core's Trainer, batch 64, Adam, one
 * thread, a fresh model) — one warm-up block, then the median of 3 blocks of 30 steps. wall_s is proportional to it:
 * the same code ran at 21–26 ms per step on 2026-12-03 (core's README) and at 47–53 ms on 2026-12-04 afternoon.
 */
async function machineStepMs() {
  const { initBackend, initModel, lenet5, loadMnist, subset, Trainer } = await import('@edge-compress/core');
  await initBackend('wasm');
  const data = subset(loadMnist({ shape: [28, 28, 1] }).train, 64 * 30);
  const t = new Trainer(initModel(lenet5(), 1));
  try {
    const block = async () => {
      const t1 = performance.now();
      await t.fit(data, { epochs: 1, batchSize: 64, seed: 1 });
      return (performance.now() - t1) / 30;
    };
    await block();
    const ms = [await block(), await block(), await block()].sort((a, b) => a - b);
    return { median: +ms[1].toFixed(1), min: +ms[0].toFixed(1), max: +ms[2].toFixed(1) };
  } finally {
    t.dispose();
  }
}

if (PART === 'probe') await writeFile(process.env.ADMM_BENCH_OUT, JSON.stringify(await machineStepMs()));
else if (PART) {
  const [arch, which] = PART.split(':');
  const res = await runPart(arch, which);
  await writeFile(process.env.ADMM_BENCH_OUT, JSON.stringify(res));
} else {
  // The dense baselines (cached), then the parts in four lanes.
  const ALL = ['lenet5:admm', 'lenet5:magnitude', 'lenet5:dense', 'lenet300100:admm', 'lenet300100:magnitude', 'lenet300100:dense'];
  // The dense model with the same extra training (the ':dense' parts) runs at paper scale or with ADMM_BENCH_DENSE=1:
  // in the default run it would be a third LeNet-5 lane, and the bench would no longer fit its 20 minutes.
  const withDense = PAPER || process.env.ADMM_BENCH_DENSE === '1';
  const only = process.env.ADMM_BENCH_PARTS ? process.env.ADMM_BENCH_PARTS.split(',') : withDense ? null : ALL.filter((x) => !x.endsWith(':dense'));
  const parts = ALL.map((x) => (only && !only.includes(x) ? null : x));
  const tmp = await mkdtemp(join(tmpdir(), 'admm-bench-parts-'));
  const self = fileURLToPath(import.meta.url);
  // Warm the dense-baseline cache in one child first: otherwise every lane of an architecture would train the same
  // baseline at once (trainBaseline returns the cached copy when one exists).
  const archs = [...new Set(parts.filter(Boolean).map((x) => x.split(':')[0]))];
  await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(dirname(self), 'baselines.mjs'), ...archs], { stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`baselines.mjs exited with ${code}`))));
  });
  const run = (part) =>
    new Promise((resolve, reject) => {
      const out = join(tmp, `${part.replace(':', '-')}-${Date.now()}.json`);
      const child = spawn(process.execPath, [self], { env: { ...process.env, ADMM_BENCH_PART: part, ADMM_BENCH_OUT: out }, stdio: ['ignore', 'inherit', 'inherit'] });
      child.on('exit', async (code) => (code === 0 ? resolve(JSON.parse(await readFile(out, 'utf8'))) : reject(new Error(`${part} exited with ${code}`))));
    });
  // Four lanes (two cores shared with other jobs): each LeNet-5 run in its own lane, the three MLP runs in the fourth.
  const lane = async (ps) => {
    const out = [];
    for (const part of ps) if (part) out.push(await run(part));
    return out;
  };
  // The machine's speed before the lanes start and after they end (the child runs alone both times).
  const before = await run('probe');
  const results = Object.assign({}, ...(await Promise.all([lane([parts[0]]), lane([parts[1]]), lane([parts[2]]), lane(parts.slice(3))])).flat());
  const after = await run('probe');
  await rm(tmp, { recursive: true, force: true });
  const ordered = {};
  for (const p of ['', 'mlp_']) for (const [k, v] of Object.entries(results)) if (k.startsWith(p) && (p !== '' || !k.startsWith('mlp_'))) ordered[k] = v;
  // The issue's goals, checked against both dense references (the issue's dense_acc, and the dense model given the
  // same extra training); a goal is met only if it holds against the stricter one.
  for (const p of ['', 'mlp_']) {
    if (ordered[`${p}pruned_acc`] === undefined) continue;
    const ref = Math.max(ordered[`${p}dense_acc`], ordered[`${p}dense_acc_same_budget`] ?? 0);
    ordered[`${p}goal_pruned_acc_vs_dense`] =
      `${ordered[`${p}pruned_acc`]} vs ${r4(ref - 0.001)} (${ordered[`${p}dense_acc_same_budget`] === undefined ? 'dense_acc' : 'max of dense_acc, dense_acc_same_budget'} − 0.001): ${ordered[`${p}pruned_acc`] >= ref - 0.001 - 1e-12 ? 'met' : 'not met'}`;
  }
  ordered.goal_prune_ratio = `${ordered.prune_ratio} vs 85 (stretch 167): ${ordered.prune_ratio >= 167 ? 'stretch met' : ordered.prune_ratio >= 85 ? 'met' : 'not met'}`;
  ordered.goal_joint_storage_ratio = `${ordered.joint_storage_ratio} vs 1000 (stretch 2000): ${ordered.joint_storage_ratio >= 2000 ? 'stretch met' : ordered.joint_storage_ratio >= 1000 ? 'met' : 'not met'}`;
  ordered.scale = SCALE;
  ordered.overrides = OVERRIDES;
  if (process.env.ADMM_BENCH_LAYERS) ordered.layer_overrides = JSON.parse(process.env.ADMM_BENCH_LAYERS);
  ordered.schedule = { ...SCHEDULE, prune: { ...SCHEDULE.prune, ...SCHEDULE_OVERRIDE } };
  ordered.wall_s = Math.round((Date.now() - t0) / 1000);
  // wall_s scales with this machine's speed, which changes from hour to hour here (a VM on a shared host).
  ordered.machine_lenet5_step_ms_before = before.median;
  ordered.machine_lenet5_step_ms_after = after.median;
  ordered.machine_lenet5_step_ms_range = `${Math.min(before.min, after.min)}–${Math.max(before.max, after.max)}`;
  if (SCALE === 'default' && !TAG)
    ordered.goal_wall_s = `${ordered.wall_s} vs 1200 (machine step ${ordered.machine_lenet5_step_ms_before} / ${ordered.machine_lenet5_step_ms_after} ms): ${ordered.wall_s <= 1200 ? 'met' : 'not met'}`;
  ordered.load_note = `${parts.filter(Boolean).length} runs in child processes, up to four lanes at a time, on a ${cpus().length}-core machine shared with other jobs; load average at the end ${loadavg()
    .map((x) => x.toFixed(1))
    .join(' / ')}`;
  const pad = (x, n) => String(x).padEnd(n);
  console.log('\nfigure                                           value');
  for (const [k, v] of Object.entries(ordered)) console.log(`${pad(k, 49)}${typeof v === 'object' ? JSON.stringify(v) : v}`);
  await mkdir(outDir, { recursive: true });
  const name = TAG ? `admm-prune-explore-${TAG}.json` : SCALE === 'default' ? 'admm-prune.json' : `admm-prune-${SCALE}.json`;
  await writeFile(join(outDir, `${name}.tmp`), `${JSON.stringify(ordered, null, 2)}\n`);
  await rename(join(outDir, `${name}.tmp`), join(outDir, name));
  log(`wrote ${join(outDir, name)}`);
}
