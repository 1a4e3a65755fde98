/**
 * The core-facing glue of admm-prune (the one file that talks to core's Trainer): W-steps through the
 * trainer's hooks (extraLoss = Σ ρ_i/2‖W_i − Z_i + U_i‖², mask transform, re-masking after Adam steps),
 * Z/U updates on typed arrays, evaluation of hard-projected weights on the validation split, and the
 * validation carve-out when the context has no `val`.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  composeHooks,
  cosineDecay,
  createRng,
  straightThrough,
  denseEncoding,
  evaluateWith,
  maskedEncoding,
  stepDecay,
  subset,
  toDense,
  Trainer,
  trainThroughEncodings,
  type CompressContext,
  type Dataset,
  type Encoding,
  type FitOptions,
  type Model,
  type Params,
  type StepInfo,
  type TrainHooks,
  type TrainProgress,
} from '@edge-compress/core';
import { applyMask, relativeResidual } from './math.js';

export interface TrainSettings {
  lr: number;
  /** Optimizer of the ADMM W-steps (masked retraining always uses Adam at `lr`). */
  admmOptimizer: { kind: 'adam' } | { kind: 'sgd'; lr: number; momentum: number };
  batchSize: number;
  weightDecay: number;
  seed: number;
  /** Random translations during every training phase (as core's trainBaseline trains the dense model); none when absent. */
  augment?: FitOptions['augment'];
  signal?: AbortSignal;
  onProgress?: CompressContext['onProgress'];
  /** Knowledge distillation in every fit (core's FitOptions.distill: teacher probabilities of every training example). */
  distill?: FitOptions['distill'];
  /** Data-parallel threads of every fit (core's FitOptions.workers); undefined = core's default. */
  workers?: FitOptions['workers'];
}

/** The training split and the validation split (the context's, or a stratified seeded carve-out of train). */
export function splitValidation(ctx: CompressContext, fraction: number, seed: number): { train: Dataset; val: Dataset; carved: boolean } {
  const given = (ctx as CompressContext & { val?: Dataset }).val;
  if (given) return { train: ctx.train, val: given, carved: false };
  const d = ctx.train;
  const rng = createRng(seed + 0x5a1);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < d.count; i++) {
    const y = d.labels[i]!;
    let l = byClass.get(y);
    if (!l) byClass.set(y, (l = []));
    l.push(i);
  }
  const trainIdx: number[] = [],
    valIdx: number[] = [];
  for (const y of [...byClass.keys()].sort((a, b) => a - b)) {
    const l = rng.shuffle(byClass.get(y)!);
    const k = Math.max(1, Math.round(fraction * l.length));
    l.forEach((j, n) => (n < k && l.length > 1 ? valIdx : trainIdx).push(j));
  }
  trainIdx.sort((a, b) => a - b);
  valIdx.sort((a, b) => a - b);
  return { train: subset(d, trainIdx), val: subset(d, valIdx), carved: true };
}

/** One ADMM-constrained weight: its projection and penalty, and the running Z, U. */
export interface AdmmTarget {
  weight: string;
  /**
   * Π onto this layer's constraint set for the W-step of iteration k (0-based; progressive ADMM may tighten
   * the set over iterations); k = Infinity is the final set.
   */
  project: (v: Float32Array, k: number) => Float32Array;
  /**
   * True when the constraint set of W-step k differs from that of W-step k−1 (a progressive ramp). The scaled
   * dual U of the old set is then dropped (U = 0): kept, it would aim each newly pruned weight at −U = its own
   * negated value for a whole W-step, a sign flip of every weight the ramp just removed.
   */
  setChanges?: (k: number) => boolean;
  rho: number;
}

export interface IterationRecord {
  iteration: number;
  loss: number;
  rho: Record<string, number>;
  residual: Record<string, number>;
  valAccuracy: number;
  seconds: number;
}

/**
 * A trainer over the model's targeted layers (every other weight stays bit-identical) with fixed masks
 * and frozen values available as hooks.
 */
export class AdmmEngine {
  readonly trainer: Trainer;
  private readonly layers: Set<string>;
  private masks = new Map<string, { keep: tf.Tensor; fixed: tf.Tensor | null }>();

  constructor(
    readonly model: Model,
    weights: readonly string[],
    readonly data: { train: Dataset; val: Dataset },
    readonly settings: TrainSettings,
  ) {
    this.trainer = new Trainer(model);
    this.layers = new Set(weights.map((w) => w.split('/')[0]!));
  }

  read(name: string): Float32Array {
    return this.trainer.read(name);
  }

  assign(name: string, values: Float32Array): void {
    this.trainer.assign(name, values);
  }

  /**
   * Fixes a weight's effective value to W⊙keep + fixed: `keep` is 1 where the weight trains (kept and not
   * frozen), `fixed` holds frozen values (0 elsewhere). Replaces any earlier setting for that weight.
   */
  setMask(name: string, keep: Uint8Array, fixed?: Float32Array): void {
    const shape = this.trainer.params[name]!.shape;
    const old = this.masks.get(name);
    if (old) tf.dispose([old.keep, ...(old.fixed ? [old.fixed] : [])]);
    this.masks.set(name, { keep: tf.keep(tf.tensor(Float32Array.from(keep), shape, 'float32')), fixed: fixed ? tf.keep(tf.tensor(fixed, shape, 'float32')) : null });
    this.reapply();
  }

  private reapply(): void {
    tf.tidy(() => this.masks.forEach((m, n) => this.trainer.params[n]!.assign(this.effective(this.trainer.params[n]!, m))));
  }

  private effective(v: tf.Tensor, m: { keep: tf.Tensor; fixed: tf.Tensor | null }): tf.Tensor {
    const kept = tf.mul(v, m.keep);
    return m.fixed ? tf.add(kept, m.fixed) : kept;
  }

  /** Hooks holding the masks: masked forward (and gradients), and re-masking after each Adam step. */
  maskHooks(): TrainHooks {
    if (this.masks.size === 0) return {};
    return {
      transform: (p) => Object.fromEntries(Object.entries(p).map(([n, v]) => [n, this.masks.has(n) ? this.effective(v, this.masks.get(n)!) : v])),
      afterStep: () => this.reapply(),
    };
  }

  /** Trains the targeted layers for `epochs` with Adam (fresh moments), lr cut ×0.1 for the last 25% (or cosine). */
  async fit(epochs: number, phase: string, hooks: TrainHooks = {}, schedule: 'step' | 'cosine' | ((i: StepInfo) => number) = 'step', admmStep = false): Promise<number> {
    if (epochs === 0) return NaN;
    const s = this.settings;
    const opt =
      admmStep && s.admmOptimizer.kind === 'sgd' ? { kind: 'sgd' as const, lr: s.admmOptimizer.lr, momentum: s.admmOptimizer.momentum } : { kind: 'adam' as const, lr: s.lr };
    const base = this.maskHooks();
    const merged: TrainHooks = {
      transform: composeHooks(base, { transform: hooks.transform }).transform,
      extraLoss: hooks.extraLoss,
      afterStep: (p, i) => {
        base.afterStep?.(p, i);
        hooks.afterStep?.(p, i);
      },
    };
    const hist = await this.trainer.fit(this.data.train, {
      epochs,
      batchSize: s.batchSize,
      optimizer: opt,
      lrSchedule: typeof schedule === 'function' ? schedule : schedule === 'step' ? stepDecay(opt.lr, epochs, [0.75], 0.1) : cosineDecay(opt.lr, epochs, 0.1),
      hooks: merged,
      trainable: (n) => this.layers.has(n.split('/')[0]!),
      ...this.sharedFit(phase),
    });
    this.settings.seed++;
    return hist[hist.length - 1]!.loss;
  }

  /** The fit options every training phase shares (settings, seed, progress, distillation, workers). */
  private sharedFit(phase: string): Partial<FitOptions> {
    const s = this.settings;
    return {
      weightDecay: s.weightDecay || undefined,
      seed: s.seed,
      augment: s.augment,
      phase,
      signal: s.signal,
      onProgress: s.onProgress && ((p: TrainProgress) => s.onProgress!({ ...p, method: 'admm' })),
      ...(s.distill ? { distill: s.distill } : {}),
      ...(s.workers !== undefined ? { workers: s.workers } : {}),
    };
  }

  /**
   * Masked retraining through core's `trainThroughEncodings` (ALGORITHMS §1.2, after the hard projection): every
   * targeted kernel in `masks` becomes `masked(dense)` (the encoding holds the mask: pruned entries stay exactly 0
   * and get no gradient, also under Adam), the other targeted kernels train dense, biases train too. Adam with
   * cosine decay lr → lr·`floor`. The trained values come back into this engine, and the masks stay set here for
   * the phases that follow. `hooks` are composed after the encodings' own. With `averageFrom` (an epoch index), the
   * result is the mean of the weights at the end of epochs averageFrom … epochs−1 (stochastic weight averaging,
   * Izmailov et al. 2018; the masks are fixed, so pruned entries stay exactly 0 in the mean).
   */
  async retrainMasked(
    masks: ReadonlyMap<string, Uint8Array>,
    targets: readonly string[],
    epochs: number,
    phase = 'retrain',
    floor: number | ((i: StepInfo) => number) = 0.1,
    hooks?: TrainHooks,
    averageFrom?: number,
  ): Promise<number> {
    if (epochs === 0) return NaN;
    const { loss, model, trained } = await this.trainMasked(masks, targets, epochs, phase, floor, hooks, averageFrom);
    for (const name of trained) this.trainer.assign(name, toDense(model.weights[name]!));
    this.settings.seed++;
    for (const [name, mask] of masks) this.setMask(name, mask);
    return loss;
  }

  /**
   * The same masked training as `retrainMasked` on a copy: this engine's weights, masks and seed are left as they
   * were, and the trained model is returned (the sparsity probe of `global_sparse_ratio: 'auto'`). Every probe
   * starts from the same weights with the same seed, so candidates differ only by their masks.
   */
  async probeMasked(masks: ReadonlyMap<string, Uint8Array>, targets: readonly string[], epochs: number, phase: string): Promise<Model> {
    return (await this.trainMasked(masks, targets, epochs, phase, 0.1)).model;
  }

  private async trainMasked(
    masks: ReadonlyMap<string, Uint8Array>,
    targets: readonly string[],
    epochs: number,
    phase: string,
    floor: number | ((i: StepInfo) => number),
    hooks?: TrainHooks,
    averageFrom?: number,
  ): Promise<{ loss: number; model: Model; trained: readonly string[] }> {
    const s = this.settings;
    const base = this.trainer.toModel();
    const weights: Record<string, Encoding> = { ...base.weights };
    for (const [name, mask] of masks) weights[name] = maskedEncoding(denseEncoding([...weights[name]!.shape], applyMask(toDense(weights[name]!), mask)), mask);
    const tt = trainThroughEncodings({ ir: base.ir, weights }, targets);
    try {
      const sums = new Map<string, Float64Array>();
      let snapshots = 0;
      const averaging: TrainHooks =
        averageFrom === undefined || averageFrom >= epochs
          ? {}
          : {
              afterEpoch: (_p, info) => {
                if (info.epoch < averageFrom) return;
                for (const name of tt.params) {
                  const v = tt.trainer.read(name);
                  const acc = sums.get(name) ?? sums.set(name, new Float64Array(v.length)).get(name)!;
                  for (let i = 0; i < v.length; i++) acc[i]! += v[i]!;
                }
                snapshots++;
              },
            };
      const hist =
        epochs === 0
          ? []
          : await tt.fit(this.data.train, {
              epochs,
              batchSize: s.batchSize,
              optimizer: { kind: 'adam', lr: s.lr },
              lrSchedule: typeof floor === 'function' ? floor : cosineDecay(s.lr, epochs, floor),
              hooks: composeHooks(hooks, averaging),
              ...this.sharedFit(phase),
            });
      if (snapshots > 1)
        for (const [name, acc] of sums)
          tt.trainer.assign(
            name,
            Float32Array.from(acc, (x) => x / snapshots),
          );
      return { loss: hist[hist.length - 1]?.loss ?? NaN, model: tt.toModel(), trained: tt.targets };
    } finally {
      tt.dispose();
    }
  }

  /**
   * Training with a moving mask (dynamic network surgery, Guo et al. 2016, before ALGORITHMS §1.2's masked
   * retraining): the latent W starts at its hard projection, each target's forward uses `W ⊙ project(W)`, the
   * gradient reaches every latent weight unchanged (straight-through), pruned latents shrink by `prunedDecay` after
   * each step, and every `every` optimizer steps each mask is re-projected from the latent, so a weight pruned by the
   * hard projection comes back when its gradient keeps pushing it. `project` maps the latents of `weights` to their
   * masks jointly (per layer, or one budget shared across layers). An input mask (setMask) still holds: `project`
   * must respect it, and the mask hooks re-apply it after each step. Returns the final masks (the projection of the
   * trained latent), the mask updates, and per target the entries those updates changed in total.
   */
  async retrainDynamic(
    weights: readonly string[],
    project: (w: Float32Array[]) => Uint8Array[],
    epochs: number,
    schedule: (i: StepInfo) => number,
    every: number,
    prunedDecay = 0,
    phase = 'retrain-dynamic',
  ): Promise<{ loss: number; masks: Map<string, Uint8Array>; changed: Record<string, number>; updates: number }> {
    const projectAll = (): Uint8Array[] => project(weights.map((n) => this.read(n)));
    const state = projectAll().map((m, i) => {
      const weight = weights[i]!;
      // The latent starts at the hard projection: a pruned weight comes back only if its gradient keeps pushing it.
      this.assign(weight, applyMask(this.read(weight), m));
      return { weight, m, tensor: tf.keep(tf.tensor(Float32Array.from(m), this.trainer.params[weight]!.shape, 'float32')), changed: 0 };
    });
    let steps = 0,
      updates = 0;
    const hooks: TrainHooks = {
      transform: (p) => {
        const out = { ...p };
        for (const s of state) out[s.weight] = straightThrough(p[s.weight]!, (v) => tf.mul(v, s.tensor));
        return out;
      },
      afterStep: (p) => {
        if (prunedDecay > 0)
          tf.tidy(() => {
            for (const s of state) p[s.weight]!.assign(tf.mul(p[s.weight]!, tf.add(1 - prunedDecay, tf.mul(s.tensor, prunedDecay))));
          });
        if (++steps % every !== 0) return;
        updates++;
        const next = projectAll();
        for (const [k, s] of state.entries()) {
          const m = next[k]!;
          for (let i = 0; i < m.length; i++) s.changed += m[i]! ^ s.m[i]!;
          s.m = m;
          s.tensor.dispose();
          s.tensor = tf.keep(tf.tensor(Float32Array.from(m), this.trainer.params[s.weight]!.shape, 'float32'));
        }
      },
    };
    try {
      const loss = await this.fit(epochs, phase, hooks, schedule);
      const final = projectAll();
      const masks = new Map(weights.map((n, k) => [n, final[k]!] as const));
      return { loss, masks, changed: Object.fromEntries(state.map((s) => [s.weight, s.changed])), updates };
    } finally {
      state.forEach((s) => s.tensor.dispose());
    }
  }

  /** Validation loss and accuracy with some weights replaced (e.g. by their hard projection). */
  evaluate(overrides: Map<string, Float32Array> = new Map(), data: Dataset = this.data.val): { loss: number; accuracy: number } {
    const hooks = this.maskHooks();
    const extra = new Map([...overrides].map(([n, v]) => [n, tf.tensor(v, this.trainer.params[n]!.shape, 'float32')]));
    try {
      return evaluateWith(this.model.ir, () => ({ ...this.trainer.weights(hooks, false), ...Object.fromEntries(extra) }), data);
    } finally {
      tf.dispose([...extra.values()]);
    }
  }

  /**
   * ADMM (ALGORITHMS §1.2): `iterations` × (W-step of `epochsPer` epochs on loss + Σ ρ_i/2‖W_i − Z_i + U_i‖²;
   * Z_i = Π(W_i + U_i); U_i += W_i − Z_i; ρ_i from `rhoAt`). Z⁰ = Π(W), U⁰ = 0. Reports each iteration.
   */
  async admm(
    targets: readonly AdmmTarget[],
    iterations: number,
    epochsPer: number,
    rhoAt: (k: number, t: AdmmTarget) => number,
    phase: string,
    onIteration: (r: IterationRecord) => void,
    penalty: { mode: 'loss' | 'decoupled'; step: number } = { mode: 'loss', step: 1 },
  ): Promise<IterationRecord[]> {
    const st = targets.map((t) => {
      const w = this.read(t.weight);
      return { t, z: t.project(w, 0), u: new Float32Array(w.length), diff: null as tf.Tensor | null, rho: rhoAt(0, t) };
    });
    const refresh = (s: (typeof st)[number]): void => {
      s.diff?.dispose();
      const d = new Float32Array(s.z.length);
      for (let i = 0; i < d.length; i++) d[i] = s.z[i]! - s.u[i]!;
      s.diff = tf.keep(tf.tensor(d, this.trainer.params[s.t.weight]!.shape, 'float32'));
    };
    st.forEach(refresh);
    const records: IterationRecord[] = [];
    try {
      for (let k = 0; k < iterations; k++) {
        const t0 = performance.now();
        // 'loss': the penalty's gradient goes through the optimizer with the loss (the papers' form).
        // 'decoupled': the optimizer sees the loss alone and each step then takes the exact proximal step of the
        // penalty, W ← (W + ηρ·(Z − U)) / (1 + ηρ), so Adam's per-weight normalisation cannot scale it away
        // (the AdamW argument, applied to the ADMM penalty).
        const hooks: TrainHooks =
          penalty.mode === 'loss'
            ? { extraLoss: (p: Params): tf.Scalar => tf.addN(st.map((s) => tf.mul(s.rho / 2, tf.sum(tf.square(tf.sub(p[s.t.weight]!, s.diff!)))))) as tf.Scalar }
            : {
                afterStep: (p: Params) =>
                  tf.tidy(() => {
                    for (const s of st) {
                      const c = (penalty.step * s.rho) / (1 + penalty.step * s.rho);
                      const w = p[s.t.weight]!;
                      w.assign(tf.add(tf.mul(w, 1 - c), tf.mul(s.diff!, c)));
                    }
                  }),
              };
        const loss = await this.fit(epochsPer, phase, hooks, 'step', true);
        const residual: Record<string, number> = {},
          rho: Record<string, number> = {};
        const hard = new Map<string, Float32Array>();
        for (const s of st) {
          const w = this.read(s.t.weight);
          const v = new Float32Array(w.length);
          for (let i = 0; i < v.length; i++) v[i] = w[i]! + s.u[i]!;
          s.z = s.t.project(v, k + 1);
          if (s.t.setChanges?.(k + 1)) s.u.fill(0);
          else for (let i = 0; i < v.length; i++) s.u[i] = s.u[i]! + w[i]! - s.z[i]!;
          residual[s.t.weight] = relativeResidual(w, s.z);
          rho[s.t.weight] = s.rho;
          hard.set(s.t.weight, s.t.project(w, Infinity));
          s.rho = rhoAt(k + 1, s.t);
          refresh(s);
        }
        const val = this.evaluate(hard);
        const rec = { iteration: k + 1, loss, rho, residual, valAccuracy: val.accuracy, seconds: (performance.now() - t0) / 1000 };
        records.push(rec);
        onIteration(rec);
      }
    } finally {
      st.forEach((s) => s.diff?.dispose());
    }
    return records;
  }

  dispose(): void {
    this.masks.forEach((m) => tf.dispose([m.keep, ...(m.fixed ? [m.fixed] : [])]));
    this.masks.clear();
    this.trainer.dispose();
  }
}
