// FLOP-target sweep on the validation split (LeNet-300-100 or LeNet-5, core's 7,000 / 1,000 / 2,000 split or the full MNIST):
//   node bench/sweep.mjs '<job JSON>' [lenet300100|lenet5] [small|full] > log     (after `npm run build`)
// Job: { targets: [8, 10, ...], seeds?: [0], scratch?: bool, S, F, ls, lr?, flrs: [..], truncLrs: [..], truncEpochs?, own?: bool,
//        dw?, dT?, G?, resvd?, fsm?, tsm?, variants?: [{ fo?, resvd? }] } — dw / dT: distillation weight / temperature from the dense network, for both sides (svd-train in
//        every phase, its teacher passed as svdTrainStages' `extras.teacher` when it starts from random init); G: gradual_steps (one
//        sparsity phase per target then)
// Per seed, one SVD-training sparsity phase (svdTrainStages.train: from the seed's random init when `scratch`, else from
// the dense network), then for every target: pruning + F fine-tuning epochs at every lr of `flrs`
// (svdTrainStages.finish); the truncated-SVD baseline of the dense network at the same ranks, fine-tuned for
// `truncEpochs` (default S + F) at every lr of `truncLrs`; with `own`, also the baseline with its own greedy allocation
// on the dense spectrum at the same target. One JSON line per (seed, target): val accuracy right after pruning, val
// accuracy / loss after fine-tuning, and test accuracy (printed, never used to choose).
import { createRng, createRunner, initBackend, initModel } from '@edge-compress/core';
import { denseBaseline } from './baseline.mjs';
import { lowRankKernel, svdTrain, svdTrainStages } from '@edge-compress/svd-train';

await initBackend('wasm');
const AUG = { max_shift: 2, image_shape: [28, 28, 1] };
const job = JSON.parse(process.argv[2]);
const arch = process.argv[3] ?? 'lenet300100';
const ops = arch === 'lenet5' ? ['conv2d', 'dense'] : ['dense'];
const base = await denseBaseline(arch, process.argv[4] ?? 'small');
const { train, val, test } = base.data;
const ir = base.model.ir;
const evalOf = (m, d) => {
  const r = createRunner(m, { kernels: [lowRankKernel] });
  try {
    return r.evaluate(d);
  } finally {
    r.dispose();
  }
};
const dv = evalOf(base.model, val);
console.log(JSON.stringify({ dense: { val: dv.accuracy, valLoss: +dv.loss.toFixed(4), test: evalOf(base.model, test).accuracy } }));
const ranksOf = (rep) => rep.layers.map((l) => (l.storedAs === 'lowRank' ? l.rank : 'dense')).join('/');
const fig = (r) => ({ val: r.report.metrics.valAccuracyAfter, valLoss: +r.report.metrics.valLossAfter.toFixed(4), test: evalOf(r.model, test).accuracy });
const rules = [{ op_types: ops, sparsity_weight: job.ls, sparsity_regularizer: job.reg ?? 'hoyer' }];
const distill = { distill_weight: job.dw ?? 0, distill_temperature: job.dT ?? 1 };
const extras = { teacher: base.model };
const opts = {
  decomposed_epochs: 0,
  sparsity_epochs: job.S,
  finetune_epochs: job.F,
  lr: job.lr ?? 1e-3,
  ortho_every: 8,
  s_lr_mult: 50,
  augment: AUG,
  gradual_steps: job.G ?? 0,
  resvd: job.resvd ?? false,
  ...(job.fsm ? { finetune_s_lr_mult: job.fsm } : {}),
  ...distill,
};
const truncEpochs = job.truncEpochs ?? job.S + job.F;
for (const seed of job.seeds ?? [0]) {
  const ctx = { train, val, seed, rng: createRng(seed) };
  const start = job.scratch ? initModel(ir, seed) : base.model;
  // With gradual pruning (job.G > 0) the target is part of the training: one sparsity phase per target.
  const trainAt = async (target) => {
    const t0 = Date.now();
    const stage = await svdTrainStages.train(start, ctx, svdTrain.plan(ir, rules, { ...opts, ...(job.G ? { flops_reduction: target } : {}) }), extras);
    console.log(
      JSON.stringify({ seed, target: job.G ? target : undefined, stage: { valBeforePruning: stage.valAccuracyBeforePruning, seconds: Math.round((Date.now() - t0) / 1000) } }),
    );
    return stage;
  };
  let stage = job.G ? undefined : await trainAt(undefined);
  for (const target of job.targets) {
    if (job.G) stage = await trainAt(target);
    const t1 = Date.now();
    const line = { seed, target };
    for (const flr of job.flrs) {
      const r = await svdTrainStages.finish(start, ctx, svdTrain.plan(ir, rules, { ...opts, finetune_lr: flr, flops_reduction: target }), stage, extras);
      line.ranks = ranksOf(r.report);
      line.flops = +r.report.metrics.flopsReduction.toFixed(2);
      line.svdAfterPruning = r.report.metrics.valAccuracyAfterPruning;
      line[`svd_flr${flr}`] = fig(r);
      // Finishing variants of the same stage (job.variants: [{ fo?, resvd? }]): fine-tuning without the orthogonality
      // term (fo false) and / or an exact re-SVD of the trained product before pruning (resvd).
      for (const v of job.variants ?? []) {
        const rv = await svdTrainStages.finish(
          start,
          ctx,
          svdTrain.plan(ir, rules, { ...opts, finetune_lr: flr, flops_reduction: target, finetune_ortho: v.fo ?? true, resvd: v.resvd ?? opts.resvd }),
          stage,
          extras,
        );
        line[`svd_flr${flr}_fo${v.fo ?? true}_resvd${v.resvd ?? opts.resvd}`] = { ...fig(rv), ranks: ranksOf(rv.report), afterPruning: rv.report.metrics.valAccuracyAfterPruning };
      }
      line.same = r.report.layers.map((l) => ({ op_names: [l.layer], rank: l.storedAs === 'lowRank' ? l.rank : l.fullRank }));
    }
    const same = line.same;
    delete line.same;
    for (const lr of job.truncLrs) {
      const r = await svdTrain.compress(
        base.model,
        ctx,
        svdTrain.plan(ir, same, { mode: 'truncated', finetune_epochs: truncEpochs, lr, augment: AUG, s_lr_mult: job.tsm ?? 10, ...distill }),
      );
      line.truncAfterPruning = r.report.metrics.valAccuracyAfterPruning;
      line.truncFlops = +r.report.metrics.flopsReduction.toFixed(2);
      line[`trunc_lr${lr}`] = fig(r);
    }
    if (job.own)
      for (const lr of job.truncLrs) {
        const r = await svdTrain.compress(
          base.model,
          ctx,
          svdTrain.plan(ir, [{ op_types: ops }], { mode: 'truncated', finetune_epochs: truncEpochs, lr, augment: AUG, flops_reduction: target, s_lr_mult: 10, ...distill }),
        );
        line.ownRanks = ranksOf(r.report);
        line.ownFlops = +r.report.metrics.flopsReduction.toFixed(2);
        line.ownAfterPruning = r.report.metrics.valAccuracyAfterPruning;
        line[`own_lr${lr}`] = fig(r);
      }
    line.seconds = Math.round((Date.now() - t1) / 1000);
    console.log(JSON.stringify(line));
  }
}
