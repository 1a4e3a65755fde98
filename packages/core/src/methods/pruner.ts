import { z } from 'zod';
import { type CompressContext, type CompressResult, type Compressor, type KindMap, defineCompressor, layerReport, type Plan } from '../compressor.js';
import { CompressionError, throwIfAborted } from '../errors.js';
import type { EncodingDef } from '../encodings/define.js';
import { maskedEncoding } from '../encodings/kinds/masked.js';
import { toDense } from '../encodings/ops.js';
import type { Encoding, EncodingBase } from '../encodings/types.js';
import type { ModelIR } from '../ir/types.js';
import type { Model } from '../model/model.js';
import type { LayerKernel } from '../model/runner.js';
import { type Camelize, optionsSchema, pruningRuleShape, ruleSchema } from '../recipe/schema.js';
import type { Target } from '../recipe/targets.js';
import { countNonZero } from '../tensor/prune.js';
import { composeHooks, trainThroughEncodings } from '../train/through.js';
import { cosineDecay, evaluateModel, type TrainHooks } from '../train/trainer.js';
import { z as zod } from 'zod';

export const pruningRule = ruleSchema({
  ...pruningRuleShape,
  global_group_id: z
    .union([z.number().int(), z.string().min(1)])
    .optional()
    .describe(
      "NNI's global_group_id: the targets of every rule with this id are pruned together to their sparse_ratio with one threshold (a shared ratio across layers); without it each layer is pruned to its own sparse_ratio",
    ),
});
export type PruningRule = z.output<typeof pruningRule>;

export const prunerOptionsShape = {
  finetune_epochs: zod.number().int().min(0).max(200).default(3).describe('masked fine-tuning epochs'),
  lr: zod.number().positive().max(1).default(5e-4),
  batch_size: zod.number().int().positive().default(64),
} as const;
export const prunerOptions = optionsSchema(prunerOptionsShape);
export type PrunerOptions = Camelize<z.output<zod.ZodObject<typeof prunerOptionsShape>>>;

export interface MaskContext<C, O> {
  ctx: CompressContext;
  plan: Plan<C, O>;
  model: Model;
  /** Masks of targets an earlier stage already pruned (their pruned entries stay pruned: the masks intersect). */
  prior: Map<string, Uint8Array>;
}

export interface PrunerDefinition<C extends PruningRule, O extends PrunerOptions> {
  name: string;
  description: string;
  /** Rule schema (default: the selection keys + sparse_ratio + granularity). */
  config?: z.ZodType<C>;
  /** Options schema (default: finetune_epochs, lr, batch_size); must keep those three keys. */
  options?: z.ZodType<O>;
  /** Granularity values the method supports (default only 'default', i.e. unstructured). */
  granularity?: (g: NonNullable<PruningRule['granularity']>) => boolean;
  /** Require sparse_ratio on every target (default true). */
  requireRatio?: boolean;
  accepts?: readonly string[] | '*';
  produces?: KindMap;
  encodings?: ReadonlyArray<EncodingDef<EncodingBase>>;
  kernels?: readonly LayerKernel[];
  checkTarget?: (t: Target<C>, ir: ModelIR, path: string) => void;
  /**
   * The masks (1 = kept) of every target, from the targets' current dense values (pruned entries of an earlier
   * stage are 0, and `prior` has their masks). `sparse_ratio` is the weight's final sparsity, earlier-pruned
   * entries included. Use ctx.val / ctx.train for any choice; never test data.
   */
  masks(values: Map<string, Float32Array>, targets: Array<Target<C>>, m: MaskContext<C, O>): Map<string, Uint8Array> | Promise<Map<string, Uint8Array>>;
  /** Extra hooks during fine-tuning (regularisers, projections), composed after the mask hooks. */
  hooks?: (m: MaskContext<C, O>) => TrainHooks | undefined;
  /** Final encoding of a fine-tuned target (default: the masked encoding, e.g. turn it into blockSparse). */
  encode?: (t: Target<C>, masked: Encoding, mask: Uint8Array) => Encoding;
}

/**
 * A pruning method from one function: `masks(values, targets)`. The factory owns the sparse_ratio and
 * granularity checks, masking over whatever leaf the weight has (fp32 or quantized codes; an earlier mask is
 * intersected), masked fine-tuning through `trainThroughEncodings`, the report and cleanup.
 */
export function definePruner<C extends PruningRule = PruningRule, O extends PrunerOptions = PrunerOptions>(def: PrunerDefinition<C, O>): Compressor<C, O> {
  const allowed = def.granularity ?? ((g) => g === 'default');
  return defineCompressor<C, O>({
    name: def.name,
    description: def.description,
    config: (def.config ?? pruningRule) as z.ZodType<C>,
    options: (def.options ?? prunerOptions) as z.ZodType<O>,
    accepts: def.accepts ?? ['dense', 'quantized', 'masked'],
    produces: def.produces ?? ((k) => (k === 'dense' || k === 'quantized' ? 'masked' : k)),
    encodings: def.encodings,
    kernels: def.kernels,
    checkTarget(t, ir, path) {
      const c = t.config as unknown as PruningRule;
      if ((def.requireRatio ?? true) && c.sparseRatio === undefined)
        throw new CompressionError({
          code: 'RECIPE_INVALID',
          method: def.name,
          layer: t.layer,
          path,
          message: `${path}: no sparse_ratio is set for this layer`,
          hint: 'add "sparse_ratio" (the share of its weights to remove, e.g. 0.5) to a rule that selects it: large layers such as LeNet-5\'s dense ones keep their accuracy at 0.9, small models lose it there',
        });
      if (c.granularity !== undefined && !allowed(c.granularity))
        throw new CompressionError({
          code: 'RECIPE_INVALID',
          method: def.name,
          layer: t.layer,
          path,
          message: `${path}: granularity ${JSON.stringify(c.granularity)} is not supported by '${def.name}'`,
          hint: def.granularity ? 'see the method README for its granularities' : "use 'default' (unstructured), or the bcr method for blocks",
        });
      def.checkTarget?.(t, ir, path);
    },
    async compress(model, ctx, plan): Promise<CompressResult> {
      throwIfAborted(ctx.signal, def.name);
      const prior = new Map(
        plan.targets.flatMap((t) => {
          const e = model.weights[t.weight]!;
          return e.kind === 'masked' ? [[t.weight, e.mask] as const] : [];
        }),
      );
      const m: MaskContext<C, O> = { ctx, plan, model, prior };
      const before = evaluateModel(model, ctx.val);
      const values = new Map(plan.targets.map((t) => [t.weight, toDense(model.weights[t.weight]!)]));
      const masks = await def.masks(values, plan.targets, m);
      const start: Record<string, Encoding> = { ...model.weights };
      for (const t of plan.targets) {
        const e = model.weights[t.weight]!;
        const mask = masks.get(t.weight);
        if (!mask || mask.length !== values.get(t.weight)!.length)
          throw new CompressionError({
            code: 'SHAPE_MISMATCH',
            method: def.name,
            layer: t.layer,
            message: `${def.name}: masks() returned no mask of ${values.get(t.weight)!.length} entries for '${t.weight}'`,
          });
        if (e.kind === 'masked') {
          const both = Uint8Array.from(mask, (v, i) => (v && e.mask[i] ? 1 : 0));
          masks.set(t.weight, both);
          start[t.weight] = maskedEncoding(e.base, both);
        } else start[t.weight] = maskedEncoding(e, mask);
      }
      const o = plan.options as PrunerOptions;
      const tt = trainThroughEncodings(
        { ir: model.ir, weights: start },
        plan.targets.map((t) => t.weight),
      );
      try {
        await tt.fit(ctx.train, {
          epochs: o.finetuneEpochs,
          batchSize: o.batchSize,
          optimizer: { kind: 'adam', lr: o.lr },
          lrSchedule: cosineDecay(o.lr, o.finetuneEpochs),
          seed: ctx.seed,
          hooks: composeHooks(def.hooks?.(m)),
          phase: 'finetune',
          signal: ctx.signal,
          onProgress: ctx.onProgress && ((p) => ctx.onProgress!({ ...p, method: def.name })),
        });
        const tuned = tt.toModel();
        const weights = { ...tuned.weights };
        const rows = plan.targets.map((t) => {
          const mask = masks.get(t.weight)!;
          if (def.encode) weights[t.weight] = def.encode(t, weights[t.weight]!, mask);
          const kept = countNonZero(mask);
          return layerReport(t.layer, t.weight, model.weights[t.weight]!, weights[t.weight]!, {
            sparseRatio: (t.config as unknown as PruningRule).sparseRatio,
            achievedSparsity: 1 - kept / mask.length,
          });
        });
        const out: Model = { ir: model.ir, weights };
        const after = evaluateModel(out, ctx.val);
        const total = rows.reduce((a, l) => a + l.before.elements, 0);
        const kept = plan.targets.reduce((a, t) => a + countNonZero(masks.get(t.weight)!), 0);
        return {
          model: out,
          report: {
            method: def.name,
            layers: rows,
            metrics: { valAccuracyBefore: before.accuracy, valAccuracyAfter: after.accuracy, sparsity: 1 - kept / total, pruningRatio: total / Math.max(1, kept) },
            warnings: [],
          },
        };
      } finally {
        tt.dispose();
      }
    },
  });
}
