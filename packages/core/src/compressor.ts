import type { z } from 'zod';
import { assertFits, type Dataset } from './data/dataset.js';
import { CompressionError, didYouMeanHint, isCompressionError } from './errors.js';
import type { EncodingDef } from './encodings/define.js';
import { summarize } from './encodings/index.js';
import { registerEncodings } from './encodings/registry.js';
import type { Encoding, EncodingBase, EncodingSummary } from './encodings/types.js';
import { type LayerKernel, registerKernels } from './model/runner.js';
import type { ModelIR } from './ir/types.js';
import type { Model } from './model/model.js';
import { translateLegacyRule } from './recipe/legacy.js';
import { type BaseRule, parseRecipe, pruningRuleShape, quantRuleShape, type Recipe, zodToRecipeError } from './recipe/schema.js';
import { type Override, resolveTargets, type Target } from './recipe/targets.js';
import { createRng, type Rng } from './tensor/rng.js';
import { refreshBatchNormStats } from './train/batchNorm.js';
import { evaluateModel, type TrainProgress } from './train/trainer.js';

/** What a cost model (hw-cost) answers for one layer's weight under an encoding. */
export interface LayerCost {
  latencyMs: number;
  energyMj: number;
  storageBytes: number;
}
/** Optional cost function the app injects into the compress context (ROADMAP: hw-cost). */
export type CostFn = (layer: string, kind: string, encoding: EncodingSummary, macs: number) => LayerCost;

/**
 * What a compressor gets besides the model. There is no test split: every choice a method makes (ratios,
 * tables, epochs, early stopping, widening) uses `train` or `val`; the app measures test accuracy itself.
 */
export interface CompressContext {
  train: Dataset;
  /** Validation split (carved from the training digits by loadMnist), for every choice a method makes. */
  val: Dataset;
  seed: number;
  rng: Rng;
  /** Training progress of the method's phases. */
  onProgress?: (p: TrainProgress & { method: string }) => void;
  signal?: AbortSignal;
  cost?: CostFn;
}

export interface Plan<C = BaseRule, O = unknown> {
  method: string;
  version: 1;
  targets: Target<C>[];
  options: O;
  overrides: Override[];
  warnings: string[];
}

export interface LayerReport {
  layer: string;
  weight: string;
  before: EncodingSummary;
  after: EncodingSummary;
  /** Method-specific per-layer figures (kept fraction, bits, rank, residual, ...). */
  [extra: string]: unknown;
}

export interface Report {
  method: string;
  layers: LayerReport[];
  /** Named figures, e.g. accuracyBefore, accuracyAfter, sparsity. */
  metrics: Record<string, number>;
  warnings: string[];
}

export interface CompressResult {
  model: Model;
  report: Report;
}

/**
 * The plug-in contract. A method is a frozen object made by `defineCompressor`; the app discovers it
 * through a registry (nothing self-registers on import).
 */
/** What a compressor turns a target's encoding kind into (may depend on the target's own settings). */
export type KindMap = string | ((input: string, target: Target<never>) => string);

export interface Compressor<C extends BaseRule = BaseRule, O = unknown> {
  readonly name: string;
  readonly description: string;
  /** Outermost encoding kinds of a target weight the method can take (default ['dense']). */
  readonly accepts: readonly string[] | '*';
  /** The kind a target has afterwards (default: unchanged). */
  readonly produces: KindMap;
  /** Encoding kinds the method brings (installed by createRegistry). */
  readonly encodings: ReadonlyArray<EncodingDef<EncodingBase>>;
  /** Inference kernels the method brings (installed by createRegistry; used by createRunner). */
  readonly kernels: readonly LayerKernel[];
  /** Schema of one config_list entry (snake_case JSON → camelCase). */
  readonly config: z.ZodType<C>;
  /** Schema of the stage `options` (snake_case JSON → camelCase). */
  readonly options: z.ZodType<O>;
  /** Pure pre-flight: parses rules, resolves targets, checks every target; throws every recipe error. */
  plan(ir: ModelIR, configList: unknown[], options?: unknown, where?: string, kinds?: Record<string, string>): Plan<C, O>;
  compress(model: Model, ctx: CompressContext, plan: Plan<C, O>): Promise<CompressResult>;
}

export interface CompressorDefinition<C extends BaseRule, O> {
  name: string;
  description: string;
  accepts?: readonly string[] | '*';
  produces?: KindMap;
  encodings?: ReadonlyArray<EncodingDef<EncodingBase>>;
  kernels?: readonly LayerKernel[];
  config: z.ZodType<C>;
  options: z.ZodType<O>;
  /** Method-specific checks of a resolved target (e.g. a block size that must divide the weight). */
  checkTarget?: (t: Target<C>, ir: ModelIR, path: string) => void;
  compress: (model: Model, ctx: CompressContext, plan: Plan<C, O>) => Promise<CompressResult>;
  /**
   * Re-estimate the moving statistics of batch-norm layers after the weights before them changed (default true;
   * see `refreshBatchNormStats`). Turn off only for a method that keeps every such layer's statistics right itself.
   */
  refreshBatchNorm?: boolean;
  /**
   * What to turn when the result lost validation accuracy, e.g. "a lower sparse_ratio (now 0.9)" (default: the
   * recipe's sparse_ratio values, and every sparse-ratio, epochs or iterations option with its value).
   */
  accuracyKnobs?: (plan: Plan<C, O>) => string[];
}

/**
 * Batch-norm statistics of the result re-estimated on ctx.train when the method changed weights before a batch-norm
 * layer; `metrics.valAccuracyAfter` (when the method reports it) is measured again on the result, the method's own
 * figure is kept as `valAccuracyAfterStaleBatchNorm`, and a warning names the layers.
 */
function withFreshBatchNorm(input: Model, r: CompressResult, ctx: CompressContext): CompressResult {
  const fresh = refreshBatchNormStats(input, r.model, ctx.train);
  if (fresh.layers.length === 0) return r;
  const metrics = { ...r.report.metrics };
  let note = '';
  if (metrics.valAccuracyAfter !== undefined && ctx.val.count > 0) {
    metrics.valAccuracyAfterStaleBatchNorm = metrics.valAccuracyAfter;
    metrics.valAccuracyAfter = evaluateModel(fresh.model, ctx.val).accuracy;
    note = ` (val accuracy ${metrics.valAccuracyAfterStaleBatchNorm.toFixed(4)} → ${metrics.valAccuracyAfter.toFixed(4)})`;
  }
  const named = fresh.layers.map((l) => `'${l}'`);
  const list = named.length > 4 ? `${named.length} layers (${named.slice(0, 3).join(', ')}, …)` : named.join(', ');
  const warning = `${r.report.method}: batch-norm statistics of ${list} re-estimated on ${fresh.examples} training examples: the weights before them changed${note}`;
  return { ...r, model: fresh.model, report: { ...r.report, metrics, warnings: [...r.report.warnings, warning] } };
}

/** A validation-accuracy drop above this (absolute) gets a warning with the knobs to turn. */
export const ACCURACY_DROP_WARNING = 0.01;

const snake = (k: string): string => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * A warning when the method's result lost more than `ACCURACY_DROP_WARNING` of validation accuracy, naming what to
 * change: the recipe's sparse_ratio values, the method's sparse-ratio and epoch options, with their current values. Defaults
 * sized for LeNet-scale models can be too aggressive for a compact model; the user should hear it from the tool.
 */
export function accuracyDropWarning(report: Report, plan: Plan<BaseRule, unknown>, knobsOf: (plan: Plan<BaseRule, unknown>) => string[] = defaultKnobs): string | undefined {
  const { valAccuracyBefore: before, valAccuracyAfter: after } = report.metrics;
  if (before === undefined || after === undefined || !(before - after > ACCURACY_DROP_WARNING)) return undefined;
  const knobs = knobsOf(plan);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  return `${report.method}: validation accuracy fell ${pct(before)} → ${pct(after)} (−${(100 * (before - after)).toFixed(1)} pp); if that is more than you can accept, try ${knobs.length ? knobs.join(' or ') : 'milder settings'}`;
}

/** The recipe's sparse_ratio values, and every sparse-ratio, epochs or iterations option, with their values. */
export function defaultKnobs(plan: Plan<BaseRule, unknown>): string[] {
  const ratios = [...new Set(plan.targets.map((t) => (t.config as { sparseRatio?: unknown }).sparseRatio).filter((r): r is number => typeof r === 'number'))];
  const opts = Object.entries((plan.options ?? {}) as Record<string, unknown>).filter(([, v]) => typeof v === 'number');
  const epochs = opts.filter(([k]) => /epochs|iterations/i.test(k));
  const optRatios = opts.filter(([k]) => /sparseratio$/i.test(k));
  return [
    ...(ratios.length ? [`a lower sparse_ratio (now ${ratios.join(', ')})`] : []),
    ...optRatios.map(([k, v]) => `a lower ${snake(k)} (now ${String(v)})`),
    ...epochs.map(([k, v]) => `more ${snake(k)} (now ${String(v)})`),
  ];
}

/** The kind a target weight has after a compressor ran on it. */
export function producedKind(c: Pick<Compressor, 'produces'>, input: string, target: Target<unknown>): string {
  return typeof c.produces === 'function' ? c.produces(input, target as Target<never>) : c.produces;
}

/** What a value is, for an error message ("undefined", "an array", "a Float64Array", "a string"). */
function describeValue(v: unknown): string {
  if (v === undefined || v === null) return String(v);
  if (Array.isArray(v)) return 'an array';
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name}`;
  return typeof v === 'object' ? `an object with keys ${Object.keys(v).join(', ') || '(none)'}` : `a ${typeof v}`;
}

/**
 * Checks what a caller passes to `compress` before any work: a method must never fail deep inside tfjs because the
 * context lacks `val`, carries the test split, or holds data of another shape than the model's input.
 */
export function checkCompressContext(ctx: unknown, method: string, ir: ModelIR): asserts ctx is CompressContext {
  const where = `${method}.compress`;
  const fail = (code: 'BAD_CONFIG' | 'BAD_DATASET' | 'TEST_DATA_ACCESSED', path: string, message: string, hint: string): never => {
    throw new CompressionError({ code, method, path: path ? `ctx.${path}` : 'ctx', message: `${where}: ${message}`, hint });
  };
  const usage = `pass { train, val, seed, rng }, e.g. const { train, val } = loadMnist(); compress(model, { train, val, seed: 0, rng: createRng(0) }, plan)`;
  if (!ctx || typeof ctx !== 'object') fail('BAD_CONFIG', '', `expected a context object, got ${describeValue(ctx)}`, usage);
  const c = ctx as Record<string, unknown>;
  // A data property only: the contract suite's guard is a getter that throws when a method reads it.
  const test = Object.getOwnPropertyDescriptor(c, 'test');
  const hasTest = !!test && 'value' in test && test.value !== undefined;
  for (const k of ['train', 'val'] as const) {
    const d = c[k] as Partial<Dataset> | undefined;
    if (!d || typeof d !== 'object' || !(d.images instanceof Float32Array) || !d.labels || !Array.isArray(d.shape) || typeof d.count !== 'number') {
      fail(
        'BAD_DATASET',
        k,
        `ctx.${k} is ${describeValue(d)}; expected a Dataset { images: Float32Array, labels, count, shape, numClasses }`,
        k === 'val' && hasTest
          ? 'the context has test but no val: methods choose on train/val and never see test; pass val (loadMnist() returns { train, val, test }) and measure test after compress'
          : `${usage} (createDataset builds a Dataset from your own arrays)`,
      );
    }
    assertFits(d as Dataset, ir.inputShape, `ctx.${k}`, method);
  }
  if (hasTest) fail('TEST_DATA_ACCESSED', 'test', 'the context has a test set', 'pass { train, val } only: methods choose on train/val; measure test accuracy after compress');
  if (typeof c.seed !== 'number' || !Number.isFinite(c.seed)) fail('BAD_CONFIG', 'seed', `ctx.seed must be a finite number, got ${describeValue(c.seed)}`, usage);
  const rng = c.rng as Partial<Rng> | undefined;
  if (!rng || typeof rng.next !== 'function' || typeof rng.fork !== 'function')
    fail('BAD_CONFIG', 'rng', `ctx.rng must be a generator from createRng(seed), got ${describeValue(rng)}`, usage);
}

export function defineCompressor<C extends BaseRule, O>(def: CompressorDefinition<C, O>): Compressor<C, O> {
  const accepts = def.accepts ?? ['dense'];
  const plan = (ir: ModelIR, configList: unknown[], options: unknown = {}, where = `${def.name}.config_list`, kinds?: Record<string, string>): Plan<C, O> => {
    const warnings: string[] = [];
    const rules = configList.map((raw, i) => {
      const p = `${where}[${i}]`;
      if (!raw || typeof raw !== 'object' || Array.isArray(raw))
        throw new CompressionError({ code: 'RECIPE_INVALID', method: def.name, path: p, message: `${p}: expected an object` });
      const { rule, notes } = translateLegacyRule(raw as Record<string, unknown>, p);
      warnings.push(...notes);
      const r = def.config.safeParse(rule);
      if (!r.success) {
        const err = zodToRecipeError(r.error, def.name, p, rule);
        if (r.error.issues.some((x) => x.code === 'unrecognized_keys')) {
          const known = Object.keys((def.config as unknown as { in?: { shape?: object } }).in?.shape ?? {});
          const bad = r.error.issues.flatMap((x) => (x.code === 'unrecognized_keys' ? (x as { keys: string[] }).keys : []));
          const k = bad[0]!;
          const family = k in pruningRuleShape ? 'a pruning key' : k in quantRuleShape ? 'a quantization key' : undefined;
          const hint = family
            ? `'${k}' is ${family}, not a '${def.name}' key; set it in a stage of a method that uses it (e.g. ${family === 'a pruning key' ? "'magnitude'" : "'quantize'"}). '${def.name}' keys: ${known.join(', ')}`
            : known.length
              ? didYouMeanHint(k, known)
              : undefined;
          throw new CompressionError({ code: 'RECIPE_INVALID', method: def.name, path: err.path, message: err.message, hint });
        }
        throw new CompressionError({ code: 'RECIPE_INVALID', method: def.name, path: err.path, message: err.message });
      }
      return r.data;
    });
    const o = def.options.safeParse(options ?? {});
    if (!o.success) {
      const err = zodToRecipeError(o.error, def.name, where.replace(/config_list$/, 'options'), options);
      throw new CompressionError({ code: 'RECIPE_INVALID', method: def.name, path: err.path, message: err.message });
    }
    const resolved = resolveTargets(ir, rules, where);
    if (resolved.targets.length === 0) {
      throw new CompressionError({
        code: 'TARGET_NOT_FOUND',
        method: def.name,
        path: where,
        message: `${where}: no layer is selected`,
        hint: 'add {"op_types": ["conv2d", "dense"]} to target every weighted layer',
      });
    }
    if (kinds && accepts !== '*') {
      for (const t of resolved.targets) {
        const k = kinds[t.weight] ?? 'dense';
        if (!accepts.includes(k)) {
          throw new CompressionError({
            code: 'CHAIN_INVALID',
            method: def.name,
            layer: t.layer,
            path: where,
            message: `${where}: '${def.name}' cannot take layer '${t.layer}', whose weight is '${k}' at this point of the recipe (it accepts ${accepts.map((a) => `'${a}'`).join(', ')})`,
            hint: `run '${def.name}' before the stage that made '${t.layer}' ${k}, or exclude the layer with exclude_op_names`,
          });
        }
      }
    }
    resolved.targets.forEach((t) => def.checkTarget?.(t, ir, `${where} (layer '${t.layer}')`));
    return { method: def.name, version: 1, targets: resolved.targets, options: o.data, overrides: resolved.overrides, warnings: [...warnings, ...resolved.warnings] };
  };
  return Object.freeze({
    name: def.name,
    description: def.description,
    accepts,
    produces: def.produces ?? ((k: string) => k),
    encodings: def.encodings ?? [],
    kernels: def.kernels ?? [],
    config: def.config,
    options: def.options,
    plan,
    compress: async (model: Model, ctx: CompressContext, plan: Plan<C, O>) => {
      checkCompressContext(ctx, def.name, model.ir);
      const raw = await def.compress(model, ctx, plan);
      const r = def.refreshBatchNorm === false ? raw : withFreshBatchNorm(model, raw, ctx);
      const drop = accuracyDropWarning(r.report, plan as unknown as Plan<BaseRule, unknown>, def.accuracyKnobs as ((p: Plan<BaseRule, unknown>) => string[]) | undefined);
      return drop ? { ...r, report: { ...r.report, warnings: [...r.report.warnings, drop] } } : r;
    },
  });
}

export interface Registry {
  get(id: string): Compressor<BaseRule, unknown>;
  has(id: string): boolean;
  list(): Array<Compressor<BaseRule, unknown>>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function createRegistry(compressors: ReadonlyArray<Compressor<any, any>>): Registry {
  const map = new Map<string, Compressor<BaseRule, unknown>>();
  for (const c of compressors) {
    if (map.has(c.name))
      throw new CompressionError({ code: 'DUPLICATE_METHOD', method: c.name, message: `two compressors are named '${c.name}'`, hint: 'give each method a unique name' });
    map.set(c.name, c as Compressor<BaseRule, unknown>);
  }
  // A method's encoding kinds and kernels are installed here, so the app's one list is the only registration.
  for (const c of map.values()) {
    registerEncodings(c.encodings ?? []);
    registerKernels(c.kernels ?? []);
  }
  return {
    get(id) {
      const c = map.get(id);
      if (!c)
        throw new CompressionError({ code: 'METHOD_NOT_REGISTERED', method: id, message: `no compressor named '${id}' is registered`, hint: didYouMeanHint(id, [...map.keys()]) });
      return c;
    },
    has: (id) => map.has(id),
    list: () => [...map.values()],
  };
}

/**
 * Pre-flight of a whole recipe, before any training: every stage's plan, and the chain of encodings it implies.
 * Given a model, each target's current encoding kind is tracked from stage to stage, so a stage that cannot take
 * what an earlier stage produced (e.g. masking a low-rank weight) is CHAIN_INVALID naming the stage, layer and kinds.
 */
export function planRecipe(modelOrIr: Model | ModelIR, recipeInput: unknown, registry: Registry, file = 'recipe'): { recipe: Recipe; plans: Plan[] } {
  const ir = 'ir' in modelOrIr ? modelOrIr.ir : modelOrIr;
  const kinds: Record<string, string> = {};
  if ('weights' in modelOrIr) for (const [n, e] of Object.entries(modelOrIr.weights)) kinds[n] = e.kind;
  const recipe = parseRecipe(recipeInput, file);
  const plans = recipe.stages.map((s, i) => {
    const at = (key: string): string => (recipe.shorthand ? `${file}: ${key}` : `${file}: stages[${i}].${key}`);
    let c: Compressor<BaseRule, unknown>;
    try {
      c = registry.get(s.method);
    } catch (e) {
      if (isCompressionError(e)) throw new CompressionError({ code: 'METHOD_NOT_REGISTERED', method: s.method, path: at('method'), message: `${at('method')}: ${e.message}` });
      throw e;
    }
    const p = c.plan(ir, s.config_list, s.options ?? {}, at('config_list'), kinds);
    for (const t of p.targets) kinds[t.weight] = producedKind(c, kinds[t.weight] ?? 'dense', t);
    return p;
  });
  return { recipe, plans };
}

export interface RecipeResult {
  model: Model;
  reports: Report[];
  plans: Plan[];
}

/** Runs every stage of a recipe in order, each on the previous stage's output. */
export async function runRecipe(
  model: Model,
  recipeInput: unknown,
  registry: Registry,
  ctx: Omit<CompressContext, 'seed' | 'rng'> & { seed?: number },
  file = 'recipe',
): Promise<RecipeResult> {
  if ('test' in (ctx as object))
    throw new CompressionError({
      code: 'TEST_DATA_ACCESSED',
      message: 'runRecipe: the context has a test set',
      hint: 'pass { train, val } only: methods choose on train/val; measure test accuracy after runRecipe',
    });
  const { recipe, plans } = planRecipe(model, recipeInput, registry, file);
  const seed = ctx.seed ?? recipe.seed;
  const rng = createRng(seed);
  const reports: Report[] = [];
  let current = model;
  for (const [i, plan] of plans.entries()) {
    const c = registry.get(plan.method);
    const r = await c.compress(current, { ...ctx, seed: seed + i, rng: rng.fork() }, plan);
    reports.push({ ...r.report, warnings: [...plan.warnings, ...r.report.warnings] });
    current = r.model;
  }
  return { model: current, reports, plans };
}

/** A per-layer report row from the encodings before and after. */
export function layerReport(layer: string, weight: string, before: Encoding, after: Encoding, extra: Record<string, unknown> = {}): LayerReport {
  return { layer, weight, before: summarize(before), after: summarize(after), ...extra };
}
