// Validation-split tuning of the svd bench settings, as used for the README tables:
//   node bench/tune.mjs '<jobs JSON>' [lenet300100|lenet5] [small|full] > log   (after `npm run build`; one JSON line per job and seed)
// A job: { S, F, ls, target, seeds?, lr?, flr?, reg?, mult?, fo?, resvd?, alloc?, lo?, D?, scratch?, dw?, dT?, ramp?, G?, truncEpochs?,
// trunc?: [{ lr, mult?, dw?, dT? }] } — S / F = sparsity / fine-tuning epochs, ls = λ_s (Hoyer by default), target = FLOP
// reduction, dw / dT = distillation weight / temperature (teacher: the dense network); every `trunc` entry runs the
// truncated-SVD baseline at the same ranks with S + F fine-tuning epochs and that lr (and distillation).
// Data: `small` = core's loadMnist split (7,000 / 1,000 / 2,000), `full` = loadMnistFull (55,000 / 5,000 / official 10,000).
// Both methods are chosen on `val`; test is printed, never used to choose.
import { createRng, createRunner, initBackend, initModel } from '@edge-compress/core';
import { denseBaseline } from './baseline.mjs';
import { lowRankKernel, svdTrain } from '@edge-compress/svd-train';

await initBackend('wasm');
const AUG = { max_shift: 2, image_shape: [28, 28, 1] };
const arch = process.argv[3] ?? 'lenet300100';
const ops = arch === 'lenet5' ? ['conv2d', 'dense'] : ['dense'];
const base = await denseBaseline(arch, process.argv[4] ?? 'small');
const { train, val, test } = base.data;
const acc = (m, d) => {
  const r = createRunner(m, { kernels: [lowRankKernel] });
  try {
    return r.evaluate(d).accuracy;
  } finally {
    r.dispose();
  }
};
console.log(JSON.stringify({ dense: { val: acc(base.model, val), test: acc(base.model, test) } }));
for (const c of JSON.parse(process.argv[2])) {
  for (const seed of c.seeds ?? [0]) {
    const ctx = { train, val, seed, rng: createRng(seed) };
    const t0 = Date.now();
    const rules = [{ op_types: ops, sparsity_weight: c.ls, sparsity_regularizer: c.reg ?? 'hoyer', ortho_weight: c.lo ?? 1 }];
    const opts = {
      decomposed_epochs: c.D ?? 0,
      sparsity_epochs: c.S,
      finetune_epochs: c.F,
      lr: c.lr ?? 1e-3,
      finetune_lr: c.flr,
      ortho_every: 8,
      s_lr_mult: c.mult ?? 50,
      augment: AUG,
      distill_weight: c.dw ?? 0,
      distill_temperature: c.dT ?? 1,
      sparsity_ramp: c.ramp ?? 0,
      gradual_steps: c.G ?? 0,
    };
    // scratch: SVD training starts from the seed's random init (decomposed at full rank) instead of the dense baseline.
    const start = c.scratch ? initModel(base.model.ir, seed) : base.model;
    const svd = await svdTrain.compress(
      start,
      ctx,
      svdTrain.plan(base.model.ir, rules, { ...opts, flops_reduction: c.target, allocation: c.alloc ?? 'greedy', finetune_ortho: c.fo ?? true, resvd: c.resvd ?? false }),
    );
    const m = svd.report.metrics;
    const line = {
      job: { ...c, trunc: undefined },
      seed,
      ranks: svd.report.layers.map((l) => (l.storedAs === 'lowRank' ? l.rank : 'dense')).join('/'),
      flopsReduction: +m.flopsReduction.toFixed(2),
      energyKept: svd.report.layers.map((l) => l.energyKept.toFixed(3)).join('/'),
      svd: {
        valBeforePruning: m.valAccuracyBeforePruning,
        valAfterPruning: m.valAccuracyAfterPruning,
        val: m.valAccuracyAfter,
        valLoss: +m.valLossAfter.toFixed(4),
        test: acc(svd.model, test),
      },
      svdTrainAcc: m.trainAccuracy,
      svdSeconds: Math.round((Date.now() - t0) / 1000),
    };
    const same = svd.report.layers.map((l) => ({ op_names: [l.layer], rank: l.storedAs === 'lowRank' ? l.rank : l.fullRank }));
    for (const t of c.trunc ?? []) {
      const tr = await svdTrain.compress(
        base.model,
        ctx,
        svdTrain.plan(base.model.ir, same, {
          mode: 'truncated',
          finetune_epochs: c.truncEpochs ?? (c.D ?? 0) + c.S + c.F,
          lr: t.lr,
          s_lr_mult: t.mult ?? 10,
          augment: AUG,
          distill_weight: t.dw ?? 0,
          distill_temperature: t.dT ?? 1,
        }),
      );
      line[`truncated_lr${t.lr}${t.dw ? `_dw${t.dw}` : ''}${t.dT ? `_T${t.dT}` : ''}`] = {
        val: tr.report.metrics.valAccuracyAfter,
        valLoss: +tr.report.metrics.valLossAfter.toFixed(4),
        test: acc(tr.model, test),
      };
    }
    console.log(JSON.stringify(line));
  }
}
