import {
  CompressionError,
  createRunner,
  defineCompressor,
  denseEncoding,
  inferShapes,
  layerReport,
  teacherTargets,
  toDense,
  type CompressContext,
  type Dataset,
  type Encoding,
  type LayerReport,
  type Model,
  type Params,
  type Plan,
  type StepInfo,
} from '@edge-compress/core';
import * as tf from '@tensorflow/tfjs-core';
import { breakEvenRank, denseCost, layerGeometry, lowRankCost, type LayerGeometry } from './cost.js';
import { DEFAULTS, svdConfig, svdOptions, type SvdConfig, type SvdOptions } from './config.js';
import { decompose, descendingOrder, orthogonalityError, reconstruct, selectColumns, viewDims, type Factors, type FactorView } from './factors.js';
import { lowRankKernel, type LowRankWithView } from './kernel.js';
import { energyKept, energyRank, greedyRanks, thresholdForBudget } from './rank.js';
import { trainPhase, type LayerState } from './train.js';

const METHOD = 'svd';

const viewOf = (kind: 'conv2d' | 'dense', c: Pick<SvdConfig, 'convForm'>): FactorView =>
  kind === 'conv2d' && (c.convForm ?? DEFAULTS.convForm) === 'spatial' ? 'spatial' : 'gemm';

/** True when core's toDense understands lowRank view 'spatial' (core v2); probed, not assumed. */
export function coreHasSpatialView(): boolean {
  // W [kh=2, kw=2, cin=1, cout=1]; spatial M [2, 2] = u·s·vᵀ = [[3,5],[6,10]] → W = [3, 5, 6, 10].
  const e = {
    kind: 'lowRank',
    shape: [2, 2, 1, 1],
    rank: 1,
    u: denseEncoding([2, 1], Float32Array.of(1, 2)),
    s: Float32Array.of(1),
    v: denseEncoding([2, 1], Float32Array.of(3, 5)),
    view: 'spatial',
  } as unknown as Encoding;
  try {
    const d = toDense(e);
    return d.length === 4 && [3, 5, 6, 10].every((x, i) => Math.abs(d[i]! - x) < 1e-6);
  } catch {
    return false;
  }
}

/** The encoding a layer state is stored as: core's lowRank (|s|, U and V dense leaves) or dense. */
export function encodeState(st: LayerState, shape: number[], spatialOk = coreHasSpatialView()): Encoding {
  const f = st.factors;
  if (!f || (f.view === 'spatial' && !spatialOk)) return denseEncoding(shape, f ? reconstruct(f) : st.dense!);
  const e: LowRankWithView = {
    kind: 'lowRank',
    shape: [...shape],
    rank: f.rank,
    u: denseEncoding([f.rows, f.rank], f.u),
    s: Float32Array.from(f.s, Math.abs),
    v: denseEncoding([f.cols, f.rank], f.v),
  };
  if (f.view === 'spatial') e.view = 'spatial';
  return e;
}

export interface RankChoice {
  layer: string;
  view: FactorView;
  fullRank: number;
  breakEven: number;
  /** Rank kept after singular-value pruning (before the break-even check). */
  rank: number;
  storedAs: 'lowRank' | 'dense';
  energyKept: number;
}

/**
 * Chooses the kept rank of every factored layer: a fixed `rank` rule, else a common energy threshold meeting
 * options.flops_reduction / params_reduction (bisection), else the layer's energy_threshold. A rank at or
 * above the layer's break-even rank stores the layer dense.
 */
export function chooseRanks(model: Model, plan: Plan<SvdConfig, SvdOptions>, factors: Map<string, Factors>): { choices: RankChoice[]; threshold?: number; targetMet?: boolean } {
  const geos = new Map(plan.targets.map((t) => [t.layer, layerGeometry(model.ir, t.layer)]));
  const all = inferShapes(model.ir);
  const targeted = new Set(plan.targets.map((t) => t.layer));
  let untargetedMacs = 0,
    untargetedParams = 0;
  for (const s of all) {
    const params = Object.values(s.weights).reduce((a, w) => a + w.reduce((x, y) => x * y, 1), 0);
    if (!targeted.has(s.layer.name)) ((untargetedMacs += s.macs), (untargetedParams += params));
    else untargetedParams += params - denseCost(geos.get(s.layer.name)!).params; // biases stay
  }
  const pick = (e: (layer: string) => number): RankChoice[] =>
    plan.targets.map((t) => {
      const f = factors.get(t.weight)!;
      const g = geos.get(t.layer)!;
      const be = breakEvenRank(g, f.view);
      const rank = Math.min(f.rank, t.config.rank ?? energyRank(f.s, e(t.layer)));
      return { layer: t.layer, view: f.view, fullRank: f.rank, breakEven: be, rank, storedAs: rank <= be ? 'lowRank' : 'dense', energyKept: energyKept(f.s, rank) };
    });
  const costOf = (cs: RankChoice[], which: 'macs' | 'params'): number =>
    cs.reduce(
      (a, c) => {
        const g = geos.get(c.layer)!;
        return a + (c.storedAs === 'dense' ? denseCost(g)[which] : lowRankCost(g, c.view, c.rank)[which]);
      },
      which === 'macs' ? untargetedMacs : untargetedParams,
    );
  const o = plan.options;
  if (o.flopsReduction !== undefined || o.paramsReduction !== undefined) {
    const full = pick(() => 1e-9).map((c) => ({ ...c, storedAs: 'dense' as const }));
    const budgets: Array<['macs' | 'params', number]> = [];
    if (o.flopsReduction !== undefined) budgets.push(['macs', costOf(full, 'macs') / o.flopsReduction]);
    if (o.paramsReduction !== undefined) budgets.push(['params', costOf(full, 'params') / o.paramsReduction]);
    const which = budgets[0]![0];
    const withRanks = (ranks: number[]): RankChoice[] =>
      full.map((c, i) => ({
        ...c,
        rank: ranks[i]!,
        storedAs: ranks[i]! <= c.breakEven ? 'lowRank' : 'dense',
        energyKept: energyKept(factors.get(plan.targets[i]!.weight)!.s, ranks[i]!),
      }));
    // Every budget met ⟺ max over budgets of cost/budget ≤ 1.
    const over = (cs: RankChoice[]): number => Math.max(...budgets.map(([w, b]) => costOf(cs, w) / b));
    if (o.allocation === 'uniform') {
      const { e, met } = thresholdForBudget((x) => over(pick(() => x)), 1);
      return { choices: pick(() => e), threshold: e, targetMet: met };
    }
    const layers = plan.targets.map((t) => {
      const f = factors.get(t.weight)!;
      return { s: f.s, costPerRank: lowRankCost(geos.get(t.layer)!, f.view, 1)[which], fixed: t.config.rank };
    });
    const { ranks, met } = greedyRanks(layers, (r) => over(withRanks(r)), 1);
    return { choices: withRanks(ranks), targetMet: met };
  }
  const th = new Map(plan.targets.map((t) => [t.layer, t.config.energyThreshold ?? DEFAULTS.energyThreshold]));
  return { choices: pick((l) => th.get(l)!) };
}

/**
 * Gradual singular-value pruning over a phase (cubic schedule, Zhu & Gupta 2017, applied to the spectrum): `events`
 * pruning events spread evenly over the phase's steps; at event k of K (t = k/K) the ranks are re-chosen on the
 * current singular values with the target tightened to kept-cost fraction 1 − (1 − 1/target)·(1 − (1 − t)³) (or the
 * energy thresholds scaled by 1 − (1 − t)³), and the singular values outside them are set to 0 and held there after
 * every later step. At t = 1 the target is the plan's, so the final pruning keeps exactly the surviving components.
 * `sMult`-scaled s parameters are masked as they are (a mask commutes with the scale).
 */
export function gradualPruner(
  model: Model,
  plan: Plan<SvdConfig, SvdOptions>,
  states: LayerState[],
  epochs: number,
  events: number,
): { afterStep: (p: Params, info: StepInfo) => void; dispose: () => void } {
  const masks = new Map<string, tf.Tensor1D>();
  let done = 0;
  const planAt = (t: number): Plan<SvdConfig, SvdOptions> => {
    const c = 1 - (1 - t) ** 3;
    const o = plan.options;
    const f = (target: number | undefined) => (target === undefined ? undefined : 1 / (1 - (1 - 1 / target) * c));
    if (o.flopsReduction !== undefined || o.paramsReduction !== undefined)
      return { ...plan, options: { ...o, flopsReduction: f(o.flopsReduction), paramsReduction: f(o.paramsReduction) } };
    return {
      ...plan,
      targets: plan.targets.map((tg) => ({ ...tg, config: { ...tg.config, energyThreshold: Math.max(1e-9, c * (tg.config.energyThreshold ?? DEFAULTS.energyThreshold)) } })),
    };
  };
  const dispose = (): void => (masks.forEach((m) => m.dispose()), masks.clear());
  const afterStep = (p: Params, info: StepInfo): void => {
    const total = epochs * info.stepsPerEpoch;
    const step = info.globalStep + 1;
    if (done < events && step >= Math.ceil(((done + 1) * total) / events)) {
      done++;
      const factors = new Map<string, Factors>();
      for (const st of states) if (st.factors) factors.set(st.weight, { ...st.factors, s: p[`${st.weight}#s`]!.dataSync() as Float32Array });
      const { choices } = chooseRanks(model, planAt(done / events), factors);
      choices.forEach((c, i) => {
        const st = states[i]!;
        const f = factors.get(st.weight);
        if (!f || c.storedAs === 'dense') return;
        const keep = new Float32Array(f.rank);
        for (const k of descendingOrder(f.s).slice(0, c.rank)) keep[k] = 1;
        masks.get(st.weight)?.dispose();
        masks.set(st.weight, tf.keep(tf.tensor1d(keep)));
      });
    }
    if (masks.size) tf.tidy(() => masks.forEach((m, w) => p[`${w}#s`]!.assign(tf.mul(p[`${w}#s`]!, m))));
  };
  return { afterStep, dispose };
}

/** Applies rank choices: factors truncated to their top-|s| columns, or a dense kernel (never inflated). */
export function applyRanks(states: LayerState[], choices: RankChoice[]): LayerState[] {
  return states.map((st, i) => {
    const c = choices[i]!;
    const f = st.factors!;
    if (c.storedAs === 'dense') return { ...st, factors: undefined, dense: reconstruct(f) };
    return { ...st, factors: selectColumns(f, descendingOrder(f.s).slice(0, c.rank)) };
  });
}

/** The model with every target's current state encoded (lowRank or dense) and its bias. */
function statesModel(model: Model, plan: Plan<SvdConfig, SvdOptions>, states: LayerState[], spatialOk: boolean): Model {
  const weights: Record<string, Encoding> = { ...model.weights };
  states.forEach((st, i) => {
    weights[st.weight] = encodeState(st, plan.targets[i]!.shape, spatialOk);
    if (st.bias) weights[`${st.layer.name}/bias`] = denseEncoding([st.bias.length], st.bias);
  });
  return { ir: model.ir, weights };
}

function evalOn(model: Model, d: Dataset | undefined): { accuracy: number; loss: number } | undefined {
  if (!d) return undefined;
  const r = createRunner(model, { kernels: [lowRankKernel] });
  try {
    return r.evaluate(d);
  } finally {
    r.dispose();
  }
}

/**
 * The state of an SVD-training run at the end of its training phases (decomposed + sparsity), before singular-value
 * pruning: what `svdTrainStages.finish` prunes and fine-tunes. `key` fingerprints everything the training depended
 * on (targets, their regulariser settings, the training options; the FLOP / parameter target only with
 * gradual_steps > 0), so that one trained stage can be finished at several targets / fine-tuning settings.
 */
export interface SvdTrainedStage {
  readonly key: string;
  readonly mode: 'train' | 'truncated';
  readonly states: readonly LayerState[];
  readonly trainAccuracy?: number;
  /** Val accuracy of the trained full-rank model (train mode with a val set). */
  readonly valAccuracyBeforePruning?: number;
  /** The distillation targets the training used (train mode, distill_weight > 0), reused by `finish`'s fine-tuning. */
  readonly distill?: ReturnType<typeof distillOf>;
}

/** What the training stage of `plan` depends on (the options that only act at or after pruning are left out). */
export function stageKey(plan: Plan<SvdConfig, SvdOptions>): string {
  const o = plan.options;
  const gradual = o.mode === 'train' && o.gradualSteps > 0;
  return JSON.stringify({
    targets: plan.targets.map((t) => [
      t.layer,
      t.weight,
      t.config.convForm ?? DEFAULTS.convForm,
      t.config.orthoWeight ?? DEFAULTS.orthoWeight,
      t.config.sparsityWeight ?? DEFAULTS.sparsityWeight,
      t.config.sparsityRegularizer ?? DEFAULTS.sparsity,
    ]),
    mode: o.mode,
    ...(o.mode === 'train'
      ? {
          decomposedEpochs: o.decomposedEpochs,
          sparsityEpochs: o.sparsityEpochs,
          lr: o.lr,
          batchSize: o.batchSize,
          orthoEvery: o.orthoEvery,
          sLrMult: o.sLrMult,
          sparsityRamp: o.sparsityRamp,
          gradualSteps: o.gradualSteps,
          distillWeight: o.distillWeight,
          distillTemperature: o.distillTemperature,
          augment: o.augment ?? null,
          ...(gradual ? { flopsReduction: o.flopsReduction ?? null, paramsReduction: o.paramsReduction ?? null, allocation: o.allocation } : {}),
        }
      : {}),
  });
}

const augmentOf = (o: SvdOptions) => (o.augment ? { maxShift: o.augment.max_shift, imageShape: o.augment.image_shape } : undefined);
// Distillation: the teacher is the model being compressed, or `extras.teacher` (its probabilities on the training set,
// computed once per stage).
const distillOf = (model: Model, ctx: CompressContext, o: SvdOptions, teacher?: Model) =>
  o.distillWeight > 0 ? { targets: teacherTargets(teacher ?? model, ctx.train, { temperature: o.distillTemperature }), weight: o.distillWeight } : undefined;

/**
 * Extra inputs of `svdTrainStages` that a JSON plan cannot carry. `teacher`: the model distilled from when
 * `distill_weight` > 0 (default: the model being compressed). SVD training from a random initialisation passes the
 * dense network here, so that both sides of the bench distil from the same teacher.
 */
export interface SvdStageExtras {
  teacher?: Model;
}

function checkTeacher(model: Model, teacher: Model | undefined): void {
  if (!teacher) return;
  const a = JSON.stringify(model.ir.inputShape),
    b = JSON.stringify(teacher.ir.inputShape);
  if (a !== b)
    throw new CompressionError({
      code: 'RECIPE_INVALID',
      method: METHOD,
      path: 'svd.teacher',
      message: `svd: the teacher's input shape must equal the model's (expected ${a}, got ${b})`,
    });
}

/** Steps 1–2 of `compress`: full-rank SVD of every target, then (train mode) the decomposed and sparsity phases. */
async function trainStage(model: Model, ctx: CompressContext, plan: Plan<SvdConfig, SvdOptions>, extras: SvdStageExtras = {}): Promise<SvdTrainedStage> {
  const o = plan.options;
  checkTeacher(model, extras.teacher);
  if (ctx.signal?.aborted) throw new CompressionError({ code: 'ABORTED', method: METHOD, message: 'svd: aborted before it started', cause: ctx.signal.reason });
  // 1. Full-rank SVD of every targeted kernel (ml-matrix, float64).
  let states: LayerState[] = plan.targets.map((t) => {
    const layer = model.ir.layers.find((l) => l.name === t.layer) as LayerState['layer'];
    const view = viewOf(layer.kind, t.config);
    const bias = model.weights[`${t.layer}/bias`];
    return {
      layer,
      weight: t.weight,
      factors: decompose(toDense(model.weights[t.weight]!), t.shape, view),
      bias: bias ? toDense(bias).slice() : undefined,
      orthoWeight: t.config.orthoWeight ?? DEFAULTS.orthoWeight,
      sparsityWeight: t.config.sparsityWeight ?? DEFAULTS.sparsityWeight,
      sparsity: t.config.sparsityRegularizer ?? DEFAULTS.sparsity,
    };
  });
  const key = stageKey(plan);
  if (o.mode !== 'train') return { key, mode: o.mode, states };
  const distill = distillOf(model, ctx, o, extras.teacher);
  const base = { batchSize: o.batchSize, augment: augmentOf(o), orthoEvery: o.orthoEvery, sMult: o.sLrMult, distill };
  // 2. Decomposed training (orthogonality only), then sparsity training (orthogonality + sparsity on s).
  const a = await trainPhase(model, states, ctx, { ...base, epochs: o.decomposedEpochs, lr: o.lr, phase: 'svd-decomposed', ortho: true, sparsity: false });
  const gradual = o.gradualSteps > 0 ? gradualPruner(model, plan, a.states, o.sparsityEpochs, o.gradualSteps) : undefined;
  const b = await trainPhase(model, a.states, ctx, {
    ...base,
    epochs: o.sparsityEpochs,
    lr: o.lr,
    phase: 'svd-sparsity',
    ortho: true,
    sparsity: true,
    sparsityRamp: o.sparsityRamp,
    afterStep: gradual?.afterStep,
  }).finally(() => gradual?.dispose());
  states = b.states;
  const trainAccuracy = b.history.at(-1)?.trainAccuracy ?? a.history.at(-1)?.trainAccuracy;
  const valTrained = ctx.val ? evalOn(statesModel(model, plan, states, coreHasSpatialView()), ctx.val) : undefined;
  return { key, mode: o.mode, states, trainAccuracy, valAccuracyBeforePruning: valTrained?.accuracy, distill };
}

/** Steps 3–5 of `compress`: singular-value pruning, fine-tuning, encoding and the report. */
async function finishStage(model: Model, ctx: CompressContext, plan: Plan<SvdConfig, SvdOptions>, stage: SvdTrainedStage, extras: SvdStageExtras = {}) {
  const o = plan.options;
  checkTeacher(model, extras.teacher);
  const key = stageKey(plan);
  if (stage.key !== key)
    throw new CompressionError({
      code: 'RECIPE_INVALID',
      method: METHOD,
      path: 'svd.options',
      message: `svd: the trained stage was made with other targets or training options than this plan (expected ${stage.key}, got ${key})`,
      hint: 'finish a stage with a plan that differs only in the pruning target (flops_reduction / params_reduction, allocation, energy thresholds, ranks), resvd and the fine-tuning options',
    });
  if (ctx.signal?.aborted) throw new CompressionError({ code: 'ABORTED', method: METHOD, message: 'svd: aborted before pruning', cause: ctx.signal.reason });
  const warnings: string[] = [];
  const val: Dataset | undefined = ctx.val;
  const spatialOk = coreHasSpatialView();
  const train = o.mode === 'train';
  // The teacher's targets depend only on the model, the data and distill_* (all in the stage key): computed once.
  const base = { batchSize: o.batchSize, augment: augmentOf(o), orthoEvery: o.orthoEvery, sMult: o.sLrMult, distill: stage.distill ?? distillOf(model, ctx, o, extras.teacher) };
  let states: LayerState[] = [...stage.states];
  let trainAccuracy = stage.trainAccuracy;
  const valTrained = o.finetuneEpochs > 0 && stage.valAccuracyBeforePruning !== undefined ? { accuracy: stage.valAccuracyBeforePruning } : undefined;
  // Trained factors are only approximately orthogonal: re-factorise the trained product by an exact SVD so that
  // pruning drops the least-energy directions of the weight itself (Eckart–Young), not columns of skewed factors.
  if (train && o.resvd) states = states.map((st, i) => ({ ...st, factors: decompose(reconstruct(st.factors!), plan.targets[i]!.shape, st.factors!.view) }));
  // 3. Singular-value pruning (energy threshold, or one threshold meeting a FLOP / parameter target).
  const factors = new Map(states.map((st) => [st.weight, st.factors!]));
  const { choices, threshold, targetMet } = chooseRanks(model, plan, factors);
  if (targetMet === false)
    warnings.push(
      `svd: the ${o.flopsReduction !== undefined ? `flops_reduction ${o.flopsReduction}` : `params_reduction ${o.paramsReduction}`} target is not reachable even at rank 1; every layer is at its smallest rank`,
    );
  for (const c of choices)
    if (c.storedAs === 'dense')
      warnings.push(`svd: layer '${c.layer}' keeps rank ${c.rank} ≥ its break-even rank ${c.breakEven + 1} (${c.view} view); stored dense instead of inflating it`);
  for (const c of choices)
    if (c.storedAs === 'lowRank' && c.view === 'spatial' && !spatialOk)
      warnings.push(`svd: layer '${c.layer}' was trained in the spatial-wise form but this core has no lowRank view 'spatial'; stored as its dense product`);
  const fullFactors = states.map((st) => st.factors!);
  states = applyRanks(states, choices);
  const valPruned = val && o.finetuneEpochs > 0 ? evalOn(statesModel(model, plan, states, spatialOk), val) : undefined;
  // 4. Fine-tuning (SVD training keeps the orthogonality term; the truncated baseline is plain).
  const ft = await trainPhase(model, states, ctx, {
    ...base,
    epochs: o.finetuneEpochs,
    lr: o.finetuneLr ?? o.lr,
    sMult: o.finetuneSLrMult ?? o.sLrMult,
    phase: train ? 'svd-finetune' : 'svd-truncated-finetune',
    ortho: train && o.finetuneOrtho,
    sparsity: false,
  });
  states = ft.states;
  trainAccuracy = ft.history.at(-1)?.trainAccuracy ?? trainAccuracy;
  // 5. Encode: core lowRank (or dense at/above break-even); untargeted weights are the same objects.
  const weights: Record<string, Encoding> = { ...model.weights };
  const rows: LayerReport[] = [];
  let orthSum = 0,
    orthN = 0;
  states.forEach((st, i) => {
    const t = plan.targets[i]!;
    const c = choices[i]!;
    const g: LayerGeometry = layerGeometry(model.ir, t.layer);
    const after = encodeState(st, t.shape, spatialOk);
    weights[t.weight] = after;
    if (st.bias) weights[`${t.layer}/bias`] = denseEncoding([st.bias.length], st.bias);
    const before = denseCost(g);
    const lowRank = after.kind === 'lowRank';
    const now = lowRank ? lowRankCost(g, st.factors!.view, st.factors!.rank) : before;
    const orth = st.factors ? orthogonalityError(st.factors) : undefined;
    if (orth && lowRank) ((orthSum += (orth.u + orth.v) / 2), orthN++);
    const { rows: vr, cols: vc } = viewDims(t.shape, c.view);
    rows.push(
      layerReport(t.layer, t.weight, model.weights[t.weight]!, after, {
        form: t.shape.length === 4 ? (c.view === 'spatial' ? 'spatial' : 'channel') : 'dense',
        view: c.view,
        viewShape: [vr, vc],
        fullRank: c.fullRank,
        rank: c.rank,
        breakEvenRank: c.breakEven,
        storedAs: lowRank ? 'lowRank' : 'dense',
        energyKept: +c.energyKept.toFixed(6),
        macsBefore: before.macs,
        macsAfter: now.macs,
        paramsBefore: before.params,
        paramsAfter: now.params,
        orthogonalityErrorU: orth ? +orth.u.toFixed(6) : null,
        orthogonalityErrorV: orth ? +orth.v.toFixed(6) : null,
        singularValuesBeforePruning: Array.from(descendingOrder(fullFactors[i]!.s).map((k) => +Math.abs(fullFactors[i]!.s[k]!).toPrecision(4))),
      }),
    );
  });
  const out: Model = { ir: model.ir, weights };
  const cost = modelCost(model, out);
  const metrics: Record<string, number> = {
    macsBefore: cost.macsBefore,
    macsAfter: cost.macsAfter,
    flopsReduction: cost.macsBefore / cost.macsAfter,
    paramsBefore: cost.paramsBefore,
    paramsAfter: cost.paramsAfter,
    paramsReduction: cost.paramsBefore / cost.paramsAfter,
    meanOrthogonalityError: orthN ? orthSum / orthN : 0,
  };
  if (threshold !== undefined) metrics.energyThreshold = threshold;
  if (trainAccuracy !== undefined) metrics.trainAccuracy = trainAccuracy;
  const vb = evalOn(model, val),
    va = evalOn(out, val);
  if (vb && va) ((metrics.valAccuracyBefore = vb.accuracy), (metrics.valAccuracyAfter = va.accuracy), (metrics.valLossAfter = va.loss));
  if (valPruned) metrics.valAccuracyAfterPruning = valPruned.accuracy;
  if (valTrained) metrics.valAccuracyBeforePruning = valTrained.accuracy;
  return { model: out, report: { method: METHOD, layers: rows, metrics, warnings } };
}

async function compress(model: Model, ctx: CompressContext, plan: Plan<SvdConfig, SvdOptions>) {
  return finishStage(model, ctx, plan, await trainStage(model, ctx, plan));
}

/**
 * `compress` in two stages, so that one trained (sparsity-phase) model can be pruned at several targets and
 * fine-tuned with several settings (the bench's operating-point sweep): `train` = full-rank SVD + decomposed and
 * sparsity phases (nothing in truncated mode); `finish` = pruning + fine-tuning + report, with a plan whose training
 * options equal the stage's (`RECIPE_INVALID` otherwise). `finish(m, ctx, p, await train(m, ctx, p))` is `compress`.
 * The same `model` and `ctx` (data, seed) must be given to both; `extras.teacher` (see SvdStageExtras) to `train` when the
 * stage distils (its targets are carried to `finish`), to `finish` for a truncated-mode stage.
 */
export const svdTrainStages = { train: trainStage, finish: finishStage } as const;

/** Per-example MACs and parameter counts (kernels + biases) of a model as it runs: lowRank layers counted as their two thin operators. */
export function modelCost(before: Model, after: Model): { macsBefore: number; macsAfter: number; paramsBefore: number; paramsAfter: number } {
  let macsBefore = 0,
    macsAfter = 0,
    paramsBefore = 0,
    paramsAfter = 0;
  for (const s of inferShapes(before.ir)) {
    macsBefore += s.macs;
    const sizes = Object.values(s.weights).reduce((a, w) => a + w.reduce((x, y) => x * y, 1), 0);
    paramsBefore += sizes;
    const k = after.weights[`${s.layer.name}/kernel`];
    if (k && k.kind === 'lowRank' && (s.layer.kind === 'dense' || s.layer.kind === 'conv2d')) {
      const g = layerGeometry(before.ir, s.layer.name);
      const c = lowRankCost(g, (k as LowRankWithView).view ?? 'gemm', k.rank);
      macsAfter += c.macs;
      paramsAfter += sizes - denseCost(g).params + c.params;
    } else ((macsAfter += s.macs), (paramsAfter += sizes));
  }
  return { macsBefore, macsAfter, paramsBefore, paramsAfter };
}

/**
 * SVD training (Yang et al., CVPR-W 2020): every targeted layer as U·diag(s)·Vᵀ at full rank, trained with
 * orthogonality and singular-value sparsity regularisers, singular-value pruning, fine-tuning; stored as
 * core's lowRank encoding and run by the low-rank kernel. `options.mode: 'truncated'` is the post-hoc
 * truncated-SVD baseline with the same ranks and fine-tuning budget.
 */
export const svdTrain = defineCompressor({
  name: METHOD,
  description: 'SVD training: low-rank layers trained with orthogonality and singular-value sparsity regularisers, singular-value pruning, fine-tuning',
  config: svdConfig,
  options: svdOptions,
  // A quantized or masked input would lose its codes / mask in the SVD: refused at plan time (CHAIN_INVALID).
  accepts: ['dense'],
  produces: 'lowRank',
  kernels: [lowRankKernel],
  checkTarget(t, ir, path) {
    const layer = ir.layers.find((l) => l.name === t.layer)!;
    if (layer.kind !== 'conv2d' && layer.kind !== 'dense')
      throw new CompressionError({ code: 'UNSUPPORTED_LAYER', method: METHOD, layer: t.layer, path, message: `${path}: svd factors conv2d and dense layers, not ${layer.kind}` });
    const view = viewOf(layer.kind, t.config);
    const { rows, cols } = viewDims(t.shape, view);
    const max = Math.min(rows, cols);
    if (t.config.rank !== undefined && t.config.rank > max) {
      throw new CompressionError({
        code: 'RECIPE_INVALID',
        method: METHOD,
        layer: t.layer,
        path,
        message: `${path}: rank ${t.config.rank} is larger than min(m, n) = ${max} of layer '${t.layer}' (${view === 'spatial' ? 'spatial-wise' : 'GEMM'} view ${rows}×${cols}, kernel [${t.shape.join(',')}])`,
        hint: `use a rank in [1, ${max}]`,
      });
    }
  },
  compress,
});
