/**
 * The core-facing training glue: factors as the leaves of core's lowRank encoding (trainThroughEncodings),
 * the factored forward as a layerForward hook, the regularisers as extraLoss.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  CompressionError,
  cosineDecay,
  denseEncoding,
  portableLayerForward,
  toDense,
  trainThroughEncodings,
  type CompressContext,
  type Encoding,
  type LowRankEncoding,
  type EpochRecord,
  type Layer,
  type Model,
  type Params,
  type StepInfo,
  type TrainHooks,
} from '@edge-compress/core';
import type { Factors } from './factors.js';
import { svdLayerForward, FACTOR_SUFFIX, type FactoredForwardArgs } from './factoredForward.js';
import { orthogonalityLoss, sparsityLoss, type SparsityKind } from './regularizers.js';

export { factoredForward } from './factoredForward.js';

/** One targeted layer during training: factored (U, s, V) or stored dense. */
export interface LayerState {
  layer: Layer & { kind: 'conv2d' | 'dense' };
  weight: string;
  factors?: Factors;
  dense?: Float32Array;
  bias?: Float32Array;
  orthoWeight: number;
  sparsityWeight: number;
  sparsity: SparsityKind;
}

export interface PhaseOptions {
  epochs: number;
  lr: number;
  batchSize: number;
  phase: string;
  ortho: boolean;
  sparsity: boolean;
  augment?: { maxShift: number; imageShape?: [number, number, number] };
  /** Orthogonality term every k-th step, weighted k× (default 1). */
  orthoEvery?: number;
  /** s is trained as ŝ = s / sMult (default 1): an sMult-times larger learning rate for the singular values. */
  sMult?: number;
  /** λ_s grows linearly from 0 over this fraction of the phase's steps (default 0: constant). */
  sparsityRamp?: number;
  /** Runs after every optimizer update (gradual pruning's masks). */
  afterStep?: (p: Params, info: StepInfo) => void;
  /** Knowledge distillation targets (train.count × classes, from core's teacherTargets) and their weight. */
  distill?: { targets: Float32Array; weight: number };
}

const { u: U, s: S, v: V } = FACTOR_SUFFIX;

/**
 * Where training workers import the factored forward from: the built module next to this one (`dist/`), or, when
 * this file runs from source (tests), the built one in `../dist/` (workers cannot load TypeScript). Where that
 * module cannot be loaded (e.g. a bundle without it), the trainer's workers fail to rebuild the hook and the phase
 * trains in-process.
 */
function factoredForwardModule(): string {
  return new URL(import.meta.url.endsWith('.ts') ? '../dist/factoredForward.js' : './factoredForward.js', import.meta.url).href;
}

/** A phase's view of one target as core's lowRank encoding (ŝ = s / sMult as its own array) or dense. */
function phaseEncoding(st: LayerState, shape: number[], sMult: number): Encoding {
  const f = st.factors;
  if (!f) return denseEncoding(shape, st.dense!);
  const e: LowRankEncoding = {
    kind: 'lowRank',
    shape: [...shape],
    rank: f.rank,
    u: denseEncoding([f.rows, f.rank], f.u),
    s: Float32Array.from(f.s, (x) => x / sMult),
    v: denseEncoding([f.cols, f.rank], f.v),
  };
  if (f.view === 'spatial') e.view = 'spatial';
  return e;
}

/**
 * Trains the targeted layers (factors, dense-stored kernels and their biases) for one phase; every other
 * weight is frozen. Returns new states (the inputs are not mutated) and the epoch history.
 *
 * The factors are trained directly as the leaves of core's lowRank encoding through core's
 * `trainThroughEncodings` (parameters `<weight>#u`, `#v`, `#s`, biases, re-encoding with `toModel`). Its
 * `transform` (which assembles the dense U·diag(s)·Vᵀ every step, m·n·r MACs: 200 M for LeNet-5 fc1 at
 * full rank vs 42 M for the two thin GEMMs of a 64-batch) is not used: the forward is the factored one
 * (`layerForward`, with |s| as the paper's code), so the trainer's own `fit` runs with this module's hooks.
 */
export async function trainPhase(model: Model, states: LayerState[], ctx: CompressContext, o: PhaseOptions): Promise<{ states: LayerState[]; history: EpochRecord[] }> {
  if (o.epochs === 0) return { states, history: [] };
  const sMult = o.sMult ?? 1;
  const sOf = (t: tf.Tensor): tf.Tensor => (sMult === 1 ? t : tf.mul(t, sMult));
  const weights: Record<string, Encoding> = { ...model.weights };
  for (const st of states) {
    weights[st.weight] = phaseEncoding(st, model.weights[st.weight]!.shape, sMult);
    const b = `${st.layer.name}/bias`;
    if (st.bias && weights[b]) weights[b] = denseEncoding(weights[b].shape, st.bias);
  }
  const tt = trainThroughEncodings(
    { ir: model.ir, weights },
    states.map((st) => st.weight),
  );
  const trainable = new Set(tt.params);
  for (const st of states)
    for (const k of st.factors ? [U, S, V] : [''])
      if (!trainable.has(st.weight + k))
        throw new CompressionError({
          code: 'UNSUPPORTED_LAYER',
          method: 'svd',
          layer: st.layer.name,
          message: `svd: core's trainThroughEncodings has no parameter '${st.weight + k}'`,
        });
  const eyes = new Map<number, tf.Tensor2D>();
  for (const st of states) if (st.factors && !eyes.has(st.factors.rank)) eyes.set(st.factors.rank, tf.keep(tf.eye(st.factors.rank) as tf.Tensor2D));
  const args: FactoredForwardArgs = {
    layers: states.flatMap((st) =>
      st.factors ? [{ layer: st.layer, weight: st.weight, factors: { view: st.factors.view, shape: st.factors.shape, rank: st.factors.rank } }] : [],
    ),
    sMult,
  };
  const hooks: TrainHooks = {
    // Portable: data-parallel workers rebuild it from this module (see factoredForwardModule).
    layerForward: portableLayerForward(svdLayerForward(args), { module: factoredForwardModule(), export: 'svdLayerForward', args }),
    extraLoss(p: Params, info) {
      const terms: tf.Scalar[] = [];
      const k = o.orthoEvery ?? 1;
      const orthoNow = o.ortho && info.globalStep % k === 0;
      const rampSteps = (o.sparsityRamp ?? 0) * o.epochs * info.stepsPerEpoch;
      const ramp = rampSteps > 0 ? Math.min(1, (info.globalStep + 1) / rampSteps) : 1;
      for (const st of states) {
        if (!st.factors) continue;
        if (orthoNow && st.orthoWeight > 0)
          terms.push(tf.mul(k * st.orthoWeight, orthogonalityLoss(p[st.weight + U] as tf.Tensor2D, p[st.weight + V] as tf.Tensor2D, eyes.get(st.factors.rank)!)) as tf.Scalar);
        if (o.sparsity && st.sparsityWeight > 0) terms.push(tf.mul(ramp * st.sparsityWeight, sparsityLoss(sOf(p[st.weight + S]!) as tf.Tensor1D, st.sparsity)) as tf.Scalar);
      }
      return terms.length ? (tf.addN(terms) as tf.Scalar) : undefined;
    },
    afterStep: o.afterStep,
  };
  try {
    const history = await tt.trainer.fit(ctx.train, {
      trainable: (n) => trainable.has(n),
      epochs: o.epochs,
      batchSize: o.batchSize,
      optimizer: { kind: 'adam', lr: o.lr },
      lrSchedule: cosineDecay(o.lr, o.epochs),
      seed: ctx.seed,
      augment: o.augment,
      hooks,
      distill: o.distill,
      phase: o.phase,
      signal: ctx.signal,
      onProgress: ctx.onProgress && ((p) => ctx.onProgress!({ ...p, method: 'svd' })),
    });
    const trained = tt.toModel().weights;
    const out = states.map((st): LayerState => {
      const b = trained[`${st.layer.name}/bias`];
      const bias = st.layer.useBias && b ? toDense(b).slice() : undefined;
      const e = trained[st.weight]!;
      if (st.factors && e.kind === 'lowRank') return { ...st, bias, factors: { ...st.factors, u: toDense(e.u).slice(), s: e.s.map((x) => x * sMult), v: toDense(e.v).slice() } };
      return { ...st, bias, dense: toDense(e).slice() };
    });
    return { states: out, history };
  } finally {
    tt.dispose();
    eyes.forEach((t) => t.dispose());
  }
}
