// Seed spread of the LeNet-300-100 comparison in bench.mjs: the same settings with training seeds 1 and 2
// (shuffling, augmentation; the dense baseline stays core's seed-0 model). Writes
// <repo>/bench-results/svd-train-seeds.json. Run after bench.mjs (same build).
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, createRunner, initBackend, loadMnist, trainBaseline } from '@edge-compress/core';
import { lowRankKernel, svdTrain } from '@edge-compress/svd-train';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const outDir = join(root, 'bench-results');
const t0 = Date.now();
await initBackend('wasm');
const AUG = { max_shift: 2, image_shape: [28, 28, 1] };
const opts = { decomposed_epochs: 0, sparsity_epochs: 4, finetune_epochs: 6, lr: 1e-3, ortho_every: 8, s_lr_mult: 50, augment: AUG };
const base = await trainBaseline({ arch: 'lenet300100', epochs: 20, seed: 0, cacheDir: join(outDir, '.cache') });
const { train: tr, val, test } = loadMnist({ shape: [784] });
const acc = (m) => {
  const r = createRunner(m, { kernels: [lowRankKernel] });
  try {
    return r.evaluate(test).accuracy;
  } finally {
    r.dispose();
  }
};
const out = { seeds: [], svd_train_acc: [], truncated_acc: [], flops_reduction: [] };
for (const seed of [1, 2]) {
  const ctx = { train: tr, val, seed, rng: createRng(seed) };
  const svd = await svdTrain.compress(base.model, ctx, svdTrain.plan(base.model.ir, [{ op_types: ['dense'], sparsity_weight: 0.05 }], { ...opts, flops_reduction: 8 }));
  const rules = svd.report.layers.map((l) => ({ op_names: [l.layer], rank: l.storedAs === 'lowRank' ? l.rank : l.fullRank }));
  const trunc = await svdTrain.compress(base.model, ctx, svdTrain.plan(base.model.ir, rules, { mode: 'truncated', finetune_epochs: 10, lr: 1e-3, augment: AUG }));
  out.seeds.push(seed);
  out.svd_train_acc.push(acc(svd.model));
  out.truncated_acc.push(acc(trunc.model));
  out.flops_reduction.push(+svd.report.metrics.flopsReduction.toFixed(3));
  console.log(
    `seed ${seed}: svd-train ${out.svd_train_acc.at(-1)} truncated ${out.truncated_acc.at(-1)} FLOPs ÷${out.flops_reduction.at(-1)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
  );
}
out.wall_s = Math.round((Date.now() - t0) / 1000);
await mkdir(outDir, { recursive: true });
const tmp = join(outDir, `.svd-train-seeds.json.${process.pid}`);
await writeFile(tmp, `${JSON.stringify(out, null, 2)}\n`);
await rename(tmp, join(outDir, 'svd-train-seeds.json'));
