import * as tf from '@tensorflow/tfjs-core';
import { z } from 'zod';
import { defineCompressor, layerReport, type Plan } from '../compressor.js';
import { CompressionError } from '../errors.js';
import { denseEncoding, maskedEncoding, toDense } from '../encodings/ops.js';
import type { Encoding } from '../encodings/types.js';
import { optionsSchema, ruleSchema } from '../recipe/schema.js';
import { globalTopkMasks } from '../tensor/prune.js';
import { cosineDecay, evaluateModel, Trainer, type TrainHooks } from '../train/trainer.js';

export const magnitudeConfig = ruleSchema({});
export type MagnitudeConfig = z.output<typeof magnitudeConfig>;
export const magnitudeOptions = optionsSchema({
  finetune_epochs: z.number().int().min(0).max(200).default(3),
  lr: z.number().positive().max(1).default(5e-4),
  batch_size: z.number().int().positive().default(64),
});
export type MagnitudeOptions = z.output<typeof magnitudeOptions>;

/**
 * Reference compressor: global magnitude pruning (layers that share a sparse_ratio are pruned with one
 * threshold) followed by masked fine-tuning. The smallest complete method; copy it to start a new one.
 */
export const magnitudePrune = defineCompressor({
  name: 'magnitude',
  description: 'global magnitude pruning with masked fine-tuning (reference method)',
  config: magnitudeConfig,
  options: magnitudeOptions,
  checkTarget(t, _ir, path) {
    if (t.config.sparseRatio === undefined) throw new CompressionError({ code: 'RECIPE_INVALID', method: 'magnitude', layer: t.layer, path, message: `${path}: no sparse_ratio is set for this layer`, hint: 'add "sparse_ratio": 0.9 to a rule that selects it' });
    if (t.config.granularity !== undefined && t.config.granularity !== 'default') throw new CompressionError({ code: 'RECIPE_INVALID', method: 'magnitude', layer: t.layer, path, message: `${path}: granularity ${JSON.stringify(t.config.granularity)} is not supported by 'magnitude' (unstructured only)`, hint: "use 'default', or the bcr method for blocks" });
  },
  async compress(model, ctx, plan: Plan<MagnitudeConfig, MagnitudeOptions>) {
    const before = evaluateModel(model, ctx.test);
    const groups = new Map<number, string[]>();
    for (const t of plan.targets) groups.set(t.config.sparseRatio!, [...(groups.get(t.config.sparseRatio!) ?? []), t.weight]);
    const masks = new Map<string, Uint8Array>();
    for (const [ratio, names] of groups) {
      const ms = globalTopkMasks(names.map((n) => toDense(model.weights[n]!)), ratio);
      names.forEach((n, i) => masks.set(n, ms[i]!));
    }
    const trainer = new Trainer(model);
    const maskT = new Map([...masks].map(([n, m]) => [n, tf.keep(tf.tensor(Float32Array.from(m), model.weights[n]!.shape, 'float32'))]));
    const hooks: TrainHooks = {
      transform: (p) => Object.fromEntries(Object.entries(p).map(([n, v]) => [n, maskT.has(n) ? tf.mul(v, maskT.get(n)!) : v])),
      // Adam's moments would move pruned weights: re-apply the masks after every step.
      afterStep: (p) => tf.tidy(() => maskT.forEach((m, n) => p[n]!.assign(tf.mul(p[n]!, m)))),
    };
    hooks.afterStep!(trainer.params, { epoch: 0, step: 0, globalStep: 0, stepsPerEpoch: 1 });
    try {
      const o = plan.options;
      // Only the targeted layers train, so every other weight stays bit-identical (the contract).
      const layers = new Set(plan.targets.map((t) => t.layer));
      await trainer.fit(ctx.train, { trainable: (n) => layers.has(n.split('/')[0]!), epochs: o.finetuneEpochs, batchSize: o.batchSize, optimizer: { kind: 'adam', lr: o.lr }, lrSchedule: cosineDecay(o.lr, o.finetuneEpochs), seed: ctx.seed, hooks, phase: 'finetune', signal: ctx.signal, onProgress: ctx.onProgress && ((p) => ctx.onProgress!({ ...p, method: 'magnitude' })) });
      const tuned = trainer.toModel(hooks);
      const weights: Record<string, Encoding> = { ...model.weights };
      const rows = plan.targets.map((t) => {
        const m = masks.get(t.weight)!;
        const after = maskedEncoding(denseEncoding(t.shape, toDense(tuned.weights[t.weight]!)), m);
        weights[t.weight] = after;
        return layerReport(t.layer, t.weight, model.weights[t.weight]!, after, { sparseRatio: t.config.sparseRatio });
      });
      for (const [n, e] of Object.entries(tuned.weights)) if (!masks.has(n)) weights[n] = e;
      const out = { ir: model.ir, weights };
      const after = evaluateModel(out, ctx.test);
      const total = rows.reduce((a, l) => a + l.before.elements, 0);
      const kept = rows.reduce((a, l) => a + l.after.nonZeros, 0);
      return { model: out, report: { method: 'magnitude', layers: rows, metrics: { accuracyBefore: before.accuracy, accuracyAfter: after.accuracy, sparsity: 1 - kept / total, pruningRatio: total / Math.max(1, kept) }, warnings: [] } };
    } finally {
      trainer.dispose();
      maskT.forEach((t) => t.dispose());
    }
  },
});
