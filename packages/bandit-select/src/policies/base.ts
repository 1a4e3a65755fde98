import type { FeatureBatch } from '../catalogue.js';
import { BanditError } from '../errors.js';
import { identity, invertSpd, matVec, quadSym, quadSymMany, shermanMorrisonUpper, symmetrizeFromUpper } from '../linalg.js';
import { Rng, type RngState } from '../rng.js';
import { POLICY_DEFAULTS, type PolicyConfig, type PolicyKind } from './config.js';

/** Serialised policy: plain JSON, exact (doubles round-trip through JSON). */
export interface PolicyState {
  format: 'edge-select-policy';
  version: 1;
  kind: PolicyKind;
  config: PolicyConfig;
  numArms: number;
  dim: number;
  ctxDim: number;
  updates: number;
  decisions: number;
  rng: RngState;
  arrays: Record<string, number[]>;
}

export interface ArmSummary {
  /** Catalogue index. */
  arm: number;
  updates: number;
  meanReward: number | null;
}

export interface PolicySummary {
  kind: PolicyKind;
  config: PolicyConfig;
  dim: number;
  ctxDim: number;
  numArms: number;
  decisions: number;
  updates: number;
  arms: ArmSummary[];
}

/**
 * A contextual-bandit policy over a fixed catalogue of `numArms` arms.
 *
 * `decide` fills `probs[0..batch.k)` with the full probability vector over the offered arms and returns the sampled
 * position j (the catalogue arm is `batch.arms[j]`, its propensity `probs[j]`). It allocates nothing.
 */
export interface Policy {
  readonly kind: PolicyKind;
  readonly config: PolicyConfig;
  readonly numArms: number;
  readonly dim: number;
  readonly ctxDim: number;
  /** Probabilities of the last `decide` (a view, overwritten by the next call). */
  readonly probs: Float64Array;
  readonly updates: number;
  readonly decisions: number;
  decide(batch: FeatureBatch): number;
  /** The policy's probability vector for a batch without sampling an arm (for off-policy evaluation as a target). */
  probabilities(batch: FeatureBatch, out: Float64Array): void;
  /** Learn from the reward of the arm at position j of the batch. Rewards are expected on a [0, 1] scale. */
  update(batch: FeatureBatch, j: number, reward: number): void;
  /** Point estimate of the expected reward of position j (no exploration bonus). */
  predict(batch: FeatureBatch, j: number): number;
  summary(): PolicySummary;
  toJSON(): PolicyState;
}

/** Sample an index from probs[0..k) with u ∈ [0,1). */
export function sampleIndex(probs: Float64Array, k: number, u: number): number {
  let acc = 0;
  let last = 0;
  for (let j = 0; j < k; j++) {
    const p = probs[j]!;
    if (p > 0) {
      acc += p;
      last = j;
      if (u < acc) return j;
    }
  }
  return last;
}

/**
 * ε-mixture around the greedy arm(s): out[j] = ε/k + (1−ε)·[j ∈ argmax]/|argmax|. Ties share the greedy mass, so the
 * propensities stay exact.
 */
export function greedyMix(scores: Float64Array, k: number, eps: number, out: Float64Array): void {
  let best = -Infinity;
  for (let j = 0; j < k; j++) if (scores[j]! > best) best = scores[j]!;
  const tol = 1e-12 * Math.max(1, Math.abs(best));
  let ties = 0;
  for (let j = 0; j < k; j++) if (best - scores[j]! <= tol) ties++;
  const floor = eps / k;
  const g = (1 - eps) / ties;
  for (let j = 0; j < k; j++) out[j] = best - scores[j]! <= tol ? floor + g : floor;
}

export abstract class BasePolicy implements Policy {
  abstract readonly kind: PolicyKind;
  readonly config: PolicyConfig;
  readonly numArms: number;
  readonly dim: number;
  readonly ctxDim: number;
  readonly probs: Float64Array;
  protected readonly scores: Float64Array;
  protected rng: Rng;
  updates = 0;
  decisions = 0;
  protected readonly armUpdates: Float64Array;
  protected readonly armRewardSum: Float64Array;

  constructor(config: PolicyConfig, numArms: number, dim: number, ctxDim: number) {
    this.config = config;
    this.numArms = numArms;
    this.dim = dim;
    this.ctxDim = ctxDim;
    this.probs = new Float64Array(numArms);
    this.scores = new Float64Array(numArms);
    this.rng = new Rng(config.seed ?? 1);
    this.armUpdates = new Float64Array(numArms);
    this.armRewardSum = new Float64Array(numArms);
  }

  decide(batch: FeatureBatch): number {
    this.checkBatch(batch);
    this.fillProbs(batch, this.probs, true);
    this.decisions++;
    return sampleIndex(this.probs, batch.k, this.rng.next());
  }

  probabilities(batch: FeatureBatch, out: Float64Array): void {
    this.checkBatch(batch);
    this.fillProbs(batch, out, false);
  }

  update(batch: FeatureBatch, j: number, reward: number): void {
    if (!Number.isFinite(reward)) {
      throw new BanditError({
        code: 'BAD_REWARD',
        message: `reward must be a finite number, got ${reward}`,
        path: '$.reward',
        hint: 'send a reward on a [0, 1] scale (e.g. QoE, or (stars − 1) / 4)',
      });
    }
    if (!(j >= 0 && j < batch.k)) {
      throw new BanditError({
        code: 'UNKNOWN_ARM',
        message: `update position ${j} is outside the batch (k = ${batch.k})`,
        hint: 'pass the position returned by decide()',
      });
    }
    this.learn(batch, j, reward);
    const a = batch.arms[j]!;
    this.updates++;
    this.armUpdates[a] = this.armUpdates[a]! + 1;
    this.armRewardSum[a] = this.armRewardSum[a]! + reward;
  }

  predict(_batch: FeatureBatch, _j: number): number {
    return 0;
  }

  protected checkBatch(batch: FeatureBatch): void {
    if (!(batch.k >= 1 && batch.k <= this.numArms) || batch.phi.length < batch.k * this.dim || batch.ctx.length < this.ctxDim) {
      throw new BanditError({
        code: 'FEATURE_DIM_MISMATCH',
        message: `batch does not fit the policy: k=${batch.k} (expected 1..${this.numArms}), phi length ${batch.phi.length} (need ≥ ${batch.k * this.dim}), ctx length ${batch.ctx.length} (need ${this.ctxDim})`,
        hint: 'build batches with the FeatureSpace the policy was created for',
      });
    }
  }

  /** Fill out[0..k) with the policy's probabilities. `forDecision` lets a policy advance per-decision state. */
  protected abstract fillProbs(batch: FeatureBatch, out: Float64Array, forDecision: boolean): void;
  protected abstract learn(batch: FeatureBatch, j: number, reward: number): void;
  /** The learnable arrays, by name (the same objects are restored in place). */
  protected abstract arrays(): Record<string, Float64Array>;

  summary(): PolicySummary {
    const arms: ArmSummary[] = [];
    for (let a = 0; a < this.numArms; a++) {
      const n = this.armUpdates[a]!;
      arms.push({ arm: a, updates: n, meanReward: n > 0 ? this.armRewardSum[a]! / n : null });
    }
    return {
      kind: this.kind,
      config: this.config,
      dim: this.dim,
      ctxDim: this.ctxDim,
      numArms: this.numArms,
      decisions: this.decisions,
      updates: this.updates,
      arms,
    };
  }

  toJSON(): PolicyState {
    const arrays: Record<string, number[]> = {
      armUpdates: Array.from(this.armUpdates),
      armRewardSum: Array.from(this.armRewardSum),
    };
    for (const [k, v] of Object.entries(this.arrays())) arrays[k] = Array.from(v);
    return {
      format: 'edge-select-policy',
      version: 1,
      kind: this.kind,
      config: this.config,
      numArms: this.numArms,
      dim: this.dim,
      ctxDim: this.ctxDim,
      updates: this.updates,
      decisions: this.decisions,
      rng: this.rng.getState(),
      arrays,
    };
  }

  /** Restore learnable state from a serialised policy of the same kind and shape (validated by the caller). */
  loadState(state: PolicyState): void {
    const own: Record<string, Float64Array> = { ...this.arrays(), armUpdates: this.armUpdates, armRewardSum: this.armRewardSum };
    for (const [name, target] of Object.entries(own)) {
      const src = state.arrays[name];
      if (!src || src.length !== target.length) {
        throw new BanditError({
          code: 'BAD_STATE',
          message: `policy state: $.arrays.${name} has length ${src ? src.length : 'missing'}, expected ${target.length}`,
          path: `$.arrays.${name}`,
          hint: 'restore a state saved by toJSON() of a policy with the same kind, catalogue and context',
        });
      }
      for (let i = 0; i < src.length; i++) {
        const v = src[i]!;
        if (typeof v !== 'number' || !Number.isFinite(v)) {
          throw new BanditError({
            code: 'BAD_STATE',
            message: `policy state: $.arrays.${name}[${i}] must be a finite number, got ${JSON.stringify(v)}`,
            path: `$.arrays.${name}[${i}]`,
            hint: 'the state file is corrupt; re-export it',
          });
        }
        target[i] = v;
      }
    }
    this.updates = state.updates;
    this.decisions = state.decisions;
    this.rng.setState(state.rng);
    this.afterLoad();
  }

  /** Recompute derived quantities after loadState (default: nothing). */
  protected afterLoad(): void {}
}

/**
 * Online ridge regression θ = A⁻¹b with A = λI + Σ xxᵀ. A⁻¹ is kept by Sherman–Morrison (O(d²) per update), θ by the
 * matching O(d) recursion, and both are recomputed exactly from A and b every `recomputeEvery` updates to bound
 * round-off drift. A and A⁻¹ are symmetric and only their upper triangles are maintained (`A`, `Ainv` lower triangles
 * are stale; use `symmetrizeFromUpper` on a copy to read them in full).
 */
export class Ridge {
  readonly d: number;
  readonly A: Float64Array;
  readonly Ainv: Float64Array;
  readonly b: Float64Array;
  readonly theta: Float64Array;
  /** [updates since the last exact recompute]. */
  readonly counter: Float64Array;
  private readonly u: Float64Array;
  private readonly scratch: Float64Array;

  /** [updates since the last forgetting step] (only serialised when forget < 1). */
  readonly forgetCounter: Float64Array;

  constructor(
    d: number,
    readonly lambda: number,
    readonly recomputeEvery: number,
    /**
     * Exponential forgetting per update γ ∈ (0, 1] (1 = none). Applied in blocks of FORGET_BLOCK updates:
     * A ← γᴮA + (1 − γᴮ)λI and b ← γᴮb, followed by the exact recompute, so the prior λI is never forgotten and
     * the effective memory is about 1/(1 − γ) updates. Directions not played for a while regain their uncertainty.
     */
    readonly forget = 1,
    /**
     * Prior mean θ₀ = e_offset (−1 = none): the model predicts x[offset] + θᵀx and θ is the ridge fit of the residual
     * r − x[offset], i.e. ridge regression shrunk towards "reward = feature `offset`" instead of towards 0.
     */
    readonly offset = -1,
  ) {
    this.d = d;
    this.forgetCounter = new Float64Array(1);
    this.A = identity(d, lambda);
    this.Ainv = identity(d, 1 / lambda);
    this.b = new Float64Array(d);
    this.theta = new Float64Array(d);
    this.counter = new Float64Array(1);
    this.u = new Float64Array(d);
    this.scratch = new Float64Array(d * d);
  }

  update(x: Float64Array, xOff: number, r: number): void {
    const d = this.d;
    // Residual under the old model, then θ ← θ + A_old⁻¹x·(r − xᵀθ)/(1 + xᵀA_old⁻¹x): the O(d) form of θ = A⁻¹b.
    if (this.offset >= 0) r -= x[xOff + this.offset]!;
    const resid = r - this.predictLinear(x, xOff);
    const c = shermanMorrisonUpper(this.Ainv, this.A, x, d, this.u, xOff);
    const g = resid / c;
    const th = this.theta;
    const u = this.u;
    for (let j = 0; j < d; j++) {
      th[j] = th[j]! + g * u[j]!;
      this.b[j] = this.b[j]! + r * x[xOff + j]!;
    }
    this.counter[0] = this.counter[0]! + 1;
    if (this.forget < 1) {
      this.forgetCounter[0] = this.forgetCounter[0]! + 1;
      if (this.forgetCounter[0]! >= FORGET_BLOCK) {
        this.forgetCounter[0] = 0;
        discount(this.A, this.b, d, Math.pow(this.forget, FORGET_BLOCK), this.lambda);
        this.recompute();
        return;
      }
    }
    if (this.recomputeEvery > 0 && this.counter[0]! >= this.recomputeEvery) this.recompute();
  }

  /** Exact A⁻¹ from A (Cholesky), θ = A⁻¹b. */
  recompute(): void {
    symmetrizeFromUpper(this.A, this.d);
    invertSpd(this.A, this.d, this.Ainv, this.scratch);
    this.counter[0] = 0;
    matVec(this.Ainv, this.b, this.d, this.theta);
  }

  /** Predicted reward: θᵀx (+ x[offset] with a prior feature). */
  predict(x: Float64Array, xOff = 0): number {
    return this.predictLinear(x, xOff) + (this.offset >= 0 ? x[xOff + this.offset]! : 0);
  }

  private predictLinear(x: Float64Array, xOff: number): number {
    let s = 0;
    const th = this.theta;
    for (let j = 0; j < this.d; j++) s += th[j]! * x[xOff + j]!;
    return s;
  }

  /** xᵀA⁻¹x. */
  variance(x: Float64Array, xOff = 0): number {
    return quadSym(this.Ainv, x, this.d, xOff);
  }

  /** out[j] = x_jᵀA⁻¹x_j for the k rows x_j = x[j·d ..) (bit-identical to `variance` per row, faster). */
  varianceMany(x: Float64Array, k: number, out: Float64Array): void {
    quadSymMany(this.Ainv, x, this.d, k, out);
  }

  arrays(prefix: string): Record<string, Float64Array> {
    return {
      [`${prefix}A`]: this.A,
      [`${prefix}Ainv`]: this.Ainv,
      [`${prefix}b`]: this.b,
      [`${prefix}theta`]: this.theta,
      [`${prefix}counter`]: this.counter,
      ...(this.forget < 1 ? { [`${prefix}forgetCounter`]: this.forgetCounter } : {}),
    };
  }
}

/** Updates per forgetting step (see Ridge `forget`). */
export const FORGET_BLOCK = 100;

/** A ← gA + (1 − g)λI (full matrix), b ← g·b: one forgetting step that keeps the ridge prior. */
export function discount(A: Float64Array, b: Float64Array, d: number, g: number, lambda: number): void {
  for (let i = 0; i < d * d; i++) A[i] = A[i]! * g;
  for (let i = 0; i < d; i++) {
    A[i * d + i] = A[i * d + i]! + (1 - g) * lambda;
    b[i] = b[i]! * g;
  }
}

/**
 * Scores every offered arm of a Kronecker-structured batch (φ_j = [vec([1, x̃] ⊗ [1, z̃_j]), q_j], see FeatureBatch.kron;
 * the p extra features q_j are treated as arm features multiplied by x̄_0 = 1, so z̄_j = [1, z̃_j, q_j]) with
 * one pass over the upper triangle of M: G = Σ_{a≤b} x̄_{i(a)} x̄_{i(b)} M_ab e_{q(a)} e_{q(b)}ᵀ (+ transpose), then
 * φ_jᵀMφ_j = z̄_jᵀ G z̄_j and θᵀφ_j = hᵀz̄_j with h_q = Σ_{a: q(a)=q} θ_a x̄_{i(a)}. Cost d²/2 + k·(m+1)² instead of
 * k·d²/2, so it gains more the more arms there are. Buffers are allocated once per layout.
 */
export class KronScorer {
  private c = -1;
  private m = -1;
  private p = -1;
  private ia = new Int32Array(0);
  private qa = new Int32Array(0);
  private s = new Float64Array(0);
  private G = new Float64Array(0);
  private h = new Float64Array(0);

  /** True if the batch is Kronecker-structured with a layout matching dimension d (then `score` may be used). */
  applies(batch: FeatureBatch, d: number): boolean {
    const L = batch.kron;
    if (!L || (L.c + 1) * (L.m + 1) + L.p !== d) return false;
    if (L.c !== this.c || L.m !== this.m || L.p !== this.p) this.setLayout(L.c, L.m, L.p, d);
    return true;
  }

  private setLayout(c: number, m: number, p: number, d: number): void {
    this.c = c;
    this.m = m;
    this.p = p;
    const d0 = (c + 1) * (m + 1);
    this.ia = new Int32Array(d);
    this.qa = new Int32Array(d);
    for (let a = 0; a < d; a++) {
      if (a === 0) continue;
      if (a <= c) this.ia[a] = a;
      else if (a <= c + m) this.qa[a] = a - c;
      else if (a >= d0)
        this.qa[a] = m + 1 + (a - d0); // arm-specific extra features (QoE block), times x̄_0 = 1
      else {
        const t = a - (1 + c + m);
        this.ia[a] = 1 + Math.floor(t / m);
        this.qa[a] = 1 + (t % m);
      }
    }
    this.s = new Float64Array(d);
    this.G = new Float64Array((m + 1 + p) * (m + 1 + p));
    this.h = new Float64Array(m + 1 + p);
  }

  /** mean[j] = θᵀφ_j and, when `M` (symmetric, upper triangle) is given, quad[j] = φ_jᵀMφ_j, for j < batch.k. */
  score(batch: FeatureBatch, theta: Float64Array, M: Float64Array | null, d: number, mean: Float64Array, quad: Float64Array | null): void {
    const mm = this.m + 1 + this.p;
    const s = this.s;
    const qa = this.qa;
    const h = this.h;
    const G = this.G;
    const xb = batch.ctx;
    h.fill(0);
    for (let a = 0; a < d; a++) {
      const sa = xb[this.ia[a]!]!;
      s[a] = sa;
      h[qa[a]!] = h[qa[a]!]! + theta[a]! * sa;
    }
    if (M && quad) {
      G.fill(0);
      for (let a = 0; a < d; a++) {
        const sa = s[a]!;
        if (sa === 0) continue;
        const row = a * d;
        const ga = qa[a]! * mm;
        const qA = qa[a]!;
        G[ga + qA] = G[ga + qA]! + M[row + a]! * sa * sa;
        for (let b = a + 1; b < d; b++) {
          const v = M[row + b]! * sa * s[b]!;
          const qB = qa[b]!;
          G[ga + qB] = G[ga + qB]! + v;
          G[qB * mm + qA] = G[qB * mm + qA]! + v;
        }
      }
    }
    const zb = batch.zbar;
    for (let j = 0; j < batch.k; j++) {
      const zo = j * mm;
      let mu = 0;
      for (let q = 0; q < mm; q++) mu += h[q]! * zb[zo + q]!;
      mean[j] = mu;
      if (M && quad) {
        let v = 0;
        for (let q = 0; q < mm; q++) {
          const zq = zb[zo + q]!;
          if (zq === 0) continue;
          let acc = 0;
          const gq = q * mm;
          for (let r = 0; r < mm; r++) acc += G[gq + r]! * zb[zo + r]!;
          v += zq * acc;
        }
        quad[j] = v;
      }
    }
  }
}

/**
 * A policy over one shared ridge model on φ(x, a) (shared LinUCB, ε-greedy, SquareCB): owns the model, the
 * Kronecker fast path, learning, prediction and serialisation; subclasses only turn scores into probabilities.
 */
export abstract class SharedRidgePolicy extends BasePolicy {
  readonly model: Ridge;
  protected readonly kron = new KronScorer();

  constructor(config: PolicyConfig & { lambda?: number; recomputeEvery?: number; forget?: number }, numArms: number, dim: number, ctxDim: number, priorIndex = -1) {
    super(config, numArms, dim, ctxDim);
    this.model = new Ridge(
      dim,
      config.lambda ?? POLICY_DEFAULTS.lambda,
      config.recomputeEvery ?? POLICY_DEFAULTS.recomputeEvery,
      config.forget ?? POLICY_DEFAULTS.forget,
      priorIndex,
    );
  }

  /** Ridge predictions of every offered arm into `this.scores` (fast path when φ has the Kronecker layout). */
  protected scoreMeans(batch: FeatureBatch): void {
    if (this.kron.applies(batch, this.dim)) {
      this.kron.score(batch, this.model.theta, null, this.dim, this.scores, null);
      this.addPrior(batch, this.scores);
    } else for (let j = 0; j < batch.k; j++) this.scores[j] = this.model.predict(batch.phi, j * this.dim);
  }

  /** Add the prior feature to Kronecker-path scores (which only contain θᵀφ). */
  protected addPrior(batch: FeatureBatch, out: Float64Array): void {
    const o = this.model.offset;
    if (o >= 0) for (let j = 0; j < batch.k; j++) out[j] = out[j]! + batch.phi[j * this.dim + o]!;
  }

  protected learn(batch: FeatureBatch, j: number, reward: number): void {
    this.model.update(batch.phi, j * this.dim, reward);
  }

  override predict(batch: FeatureBatch, j: number): number {
    return this.model.predict(batch.phi, j * this.dim);
  }

  protected arrays(): Record<string, Float64Array> {
    return this.model.arrays('');
  }
}
