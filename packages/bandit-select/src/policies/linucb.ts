/**
 * LinUCB (Li et al., WWW 2010) in three forms, all deployed inside an ε-mixture so every offered arm has p ≥ ε/k:
 * - shared (ADF): one ridge model over φ(x, a); the default, as it generalises across arms and devices;
 * - disjoint: one ridge model per arm over the context [1, x̃];
 * - hybrid: shared φ(x, a) (k dims) plus per-arm context [1, x̃] (d dims), Li et al. Algorithm 2.
 */
import type { FeatureBatch } from '../catalogue.js';
import { addOuter, identity, invertSpd, matVec, quadSym, shermanMorrison } from '../linalg.js';
import { BasePolicy, greedyMix, Ridge, SharedRidgePolicy } from './base.js';
import { POLICY_DEFAULTS, type PolicyConfig } from './config.js';

type LinUcbConfig = Extract<PolicyConfig, { kind: 'linucb' | 'linucb-disjoint' | 'linucb-hybrid' }>;

export class SharedLinUcb extends SharedRidgePolicy {
  readonly kind = 'linucb' as const;
  readonly alpha: number;
  readonly epsilon: number;

  constructor(config: LinUcbConfig, numArms: number, dim: number, ctxDim: number, priorIndex = -1) {
    super(config, numArms, dim, ctxDim, priorIndex);
    this.alpha = config.alpha ?? POLICY_DEFAULTS.alpha;
    this.epsilon = config.epsilon ?? POLICY_DEFAULTS.ucbEpsilon;
    this.quad = new Float64Array(numArms);
  }

  private readonly quad: Float64Array;

  protected fillProbs(batch: FeatureBatch, out: Float64Array): void {
    const { dim } = this;
    const s = this.scores;
    if (this.kron.applies(batch, dim)) {
      this.kron.score(batch, this.model.theta, this.model.Ainv, dim, s, this.quad);
      this.addPrior(batch, s);
      for (let j = 0; j < batch.k; j++) {
        const v = this.quad[j]!;
        s[j] = s[j]! + this.alpha * Math.sqrt(v > 0 ? v : 0);
      }
    } else {
      const q = this.quad;
      this.model.varianceMany(batch.phi, batch.k, q);
      for (let j = 0; j < batch.k; j++) {
        const v = q[j]!;
        s[j] = this.model.predict(batch.phi, j * dim) + this.alpha * Math.sqrt(v > 0 ? v : 0);
      }
    }
    greedyMix(s, batch.k, this.epsilon, out);
  }
}

export class DisjointLinUcb extends BasePolicy {
  readonly kind = 'linucb-disjoint' as const;
  readonly alpha: number;
  readonly epsilon: number;
  readonly models: Ridge[];

  constructor(config: LinUcbConfig, numArms: number, dim: number, ctxDim: number) {
    super(config, numArms, dim, ctxDim);
    this.alpha = config.alpha ?? POLICY_DEFAULTS.alpha;
    this.epsilon = config.epsilon ?? POLICY_DEFAULTS.ucbEpsilon;
    const lambda = config.lambda ?? POLICY_DEFAULTS.lambda;
    const every = config.recomputeEvery ?? POLICY_DEFAULTS.recomputeEvery;
    this.models = Array.from({ length: numArms }, () => new Ridge(ctxDim, lambda, every));
  }

  protected fillProbs(batch: FeatureBatch, out: Float64Array): void {
    const s = this.scores;
    for (let j = 0; j < batch.k; j++) {
      const m = this.models[batch.arms[j]!]!;
      const v = m.variance(batch.ctx, 0);
      s[j] = m.predict(batch.ctx, 0) + this.alpha * Math.sqrt(v > 0 ? v : 0);
    }
    greedyMix(s, batch.k, this.epsilon, out);
  }

  protected learn(batch: FeatureBatch, j: number, reward: number): void {
    this.models[batch.arms[j]!]!.update(batch.ctx, 0, reward);
  }

  override predict(batch: FeatureBatch, j: number): number {
    return this.models[batch.arms[j]!]!.predict(batch.ctx, 0);
  }

  protected arrays(): Record<string, Float64Array> {
    const r: Record<string, Float64Array> = {};
    this.models.forEach((m, a) => Object.assign(r, m.arrays(`arm${a}.`)));
    return r;
  }
}

/**
 * Hybrid LinUCB. z = φ(x, a) ∈ R^k is shared, x = [1, x̃] ∈ R^d is arm-specific.
 *
 * Incremental form: with u = A_a⁻¹x, q = B_aᵀu and c = 1 + xᵀu, the textbook three-step update of A_0 collapses to
 * the rank-1 update A_0 ← A_0 + (z − q)(z − q)ᵀ/c, so A_0⁻¹ is kept by Sherman–Morrison as well (no inverse per step).
 * The score's variance term simplifies to s = (z − w)ᵀA_0⁻¹(z − w) + xᵀA_a⁻¹x with w = B_aᵀA_a⁻¹x.
 */
export class HybridLinUcb extends BasePolicy {
  readonly kind = 'linucb-hybrid' as const;
  readonly alpha: number;
  readonly epsilon: number;
  readonly lambda: number;
  readonly recomputeEvery: number;
  /** I·λ + Σ z zᵀ (k×k), used for the periodic exact recompute of A_0. */
  readonly Szz: Float64Array;
  readonly A0inv: Float64Array;
  /** Σ r z (k), used for the periodic exact recompute of b_0. */
  readonly Srz: Float64Array;
  readonly b0: Float64Array;
  readonly beta: Float64Array;
  /** Per arm: A_a (d×d), A_a⁻¹, B_a (d×k, row-major), b_a (d). Stored contiguously. */
  readonly Aa: Float64Array;
  readonly Aainv: Float64Array;
  readonly Ba: Float64Array;
  readonly ba: Float64Array;
  readonly counter: Float64Array;
  private readonly u: Float64Array;
  private readonly w: Float64Array;
  private readonly diff: Float64Array;
  private readonly t1: Float64Array;
  private readonly ab: Float64Array;
  private readonly smScratch: Float64Array;

  constructor(config: LinUcbConfig, numArms: number, dim: number, ctxDim: number) {
    super(config, numArms, dim, ctxDim);
    this.alpha = config.alpha ?? POLICY_DEFAULTS.alpha;
    this.epsilon = config.epsilon ?? POLICY_DEFAULTS.ucbEpsilon;
    this.lambda = config.lambda ?? POLICY_DEFAULTS.lambda;
    this.recomputeEvery = config.recomputeEvery ?? POLICY_DEFAULTS.recomputeEvery;
    const k = dim;
    const d = ctxDim;
    this.Szz = identity(k, this.lambda);
    this.A0inv = identity(k, 1 / this.lambda);
    this.Srz = new Float64Array(k);
    this.b0 = new Float64Array(k);
    this.beta = new Float64Array(k);
    this.Aa = new Float64Array(numArms * d * d);
    this.Aainv = new Float64Array(numArms * d * d);
    for (let a = 0; a < numArms; a++) {
      this.Aa.set(identity(d, this.lambda), a * d * d);
      this.Aainv.set(identity(d, 1 / this.lambda), a * d * d);
    }
    this.Ba = new Float64Array(numArms * d * k);
    this.ba = new Float64Array(numArms * d);
    this.counter = new Float64Array(1);
    this.u = new Float64Array(d);
    this.w = new Float64Array(k);
    this.diff = new Float64Array(k);
    this.t1 = new Float64Array(k);
    this.ab = new Float64Array(d);
    this.smScratch = new Float64Array(Math.max(k, d));
  }

  /** u = A_a⁻¹x (d), w = B_aᵀu (k). */
  private uw(a: number, x: Float64Array): void {
    const d = this.ctxDim;
    const k = this.dim;
    const ainv = this.Aainv;
    const ao = a * d * d;
    for (let i = 0; i < d; i++) {
      let acc = 0;
      const row = ao + i * d;
      for (let j = 0; j < d; j++) acc += ainv[row + j]! * x[j]!;
      this.u[i] = acc;
    }
    const B = this.Ba;
    const bo = a * d * k;
    const w = this.w;
    w.fill(0);
    for (let i = 0; i < d; i++) {
      const ui = this.u[i]!;
      if (ui === 0) continue;
      const row = bo + i * k;
      for (let c = 0; c < k; c++) w[c] = w[c]! + B[row + c]! * ui;
    }
  }

  protected fillProbs(batch: FeatureBatch, out: Float64Array): void {
    const k = this.dim;
    const d = this.ctxDim;
    const x = batch.ctx;
    const s = this.scores;
    for (let j = 0; j < batch.k; j++) {
      const a = batch.arms[j]!;
      this.uw(a, x);
      const zo = j * k;
      let mean = 0;
      for (let c = 0; c < k; c++) {
        const zc = batch.phi[zo + c]!;
        this.diff[c] = zc - this.w[c]!;
        mean += (zc - this.w[c]!) * this.beta[c]!;
      }
      let xu = 0;
      let ub = 0;
      for (let i = 0; i < d; i++) {
        xu += x[i]! * this.u[i]!;
        ub += this.u[i]! * this.ba[a * d + i]!;
      }
      const v = quadSym(this.A0inv, this.diff, k) + xu;
      s[j] = mean + ub + this.alpha * Math.sqrt(v > 0 ? v : 0);
    }
    greedyMix(s, batch.k, this.epsilon, out);
  }

  override predict(batch: FeatureBatch, j: number): number {
    const k = this.dim;
    const d = this.ctxDim;
    const a = batch.arms[j]!;
    this.uw(a, batch.ctx);
    let mean = 0;
    for (let c = 0; c < k; c++) mean += (batch.phi[j * k + c]! - this.w[c]!) * this.beta[c]!;
    for (let i = 0; i < d; i++) mean += this.u[i]! * this.ba[a * d + i]!;
    return mean;
  }

  /** t = B_aᵀ A_a⁻¹ b_a (k). */
  private bab(a: number, t: Float64Array): void {
    const d = this.ctxDim;
    const k = this.dim;
    matVec(this.Aainv.subarray(a * d * d, (a + 1) * d * d), this.ba.subarray(a * d, (a + 1) * d), d, this.ab);
    t.fill(0);
    const bo = a * d * k;
    for (let i = 0; i < d; i++) {
      const v = this.ab[i]!;
      if (v === 0) continue;
      for (let c = 0; c < k; c++) t[c] = t[c]! + this.Ba[bo + i * k + c]! * v;
    }
  }

  protected learn(batch: FeatureBatch, j: number, reward: number): void {
    const k = this.dim;
    const d = this.ctxDim;
    const a = batch.arms[j]!;
    const x = batch.ctx;
    const zo = j * k;
    // u = A_a⁻¹x, q = B_aᵀu (in this.w), c = 1 + xᵀu
    this.uw(a, x);
    let cden = 1;
    for (let i = 0; i < d; i++) cden += x[i]! * this.u[i]!;
    const sc = 1 / Math.sqrt(cden);
    for (let c = 0; c < k; c++) this.diff[c] = (batch.phi[zo + c]! - this.w[c]!) * sc;
    // b_0 += B_aᵀA_a⁻¹b_a (old)
    this.bab(a, this.t1);
    for (let c = 0; c < k; c++) this.b0[c] = this.b0[c]! + this.t1[c]!;
    // A_0 ← A_0 + (z − q)(z − q)ᵀ/c  ⇒ Sherman–Morrison on A_0⁻¹
    shermanMorrison(this.A0inv, this.diff, k, this.smScratch);
    addOuter(this.Szz, batch.phi, k, 1, zo);
    // A_a += xxᵀ, B_a += x zᵀ, b_a += r x
    const aOff = a * d * d;
    shermanMorrison(this.Aainv.subarray(aOff, aOff + d * d), x, d, this.smScratch);
    addOuter(this.Aa.subarray(aOff, aOff + d * d), x, d);
    const bo = a * d * k;
    for (let i = 0; i < d; i++) {
      const xi = x[i]!;
      if (xi !== 0) for (let c = 0; c < k; c++) this.Ba[bo + i * k + c] = this.Ba[bo + i * k + c]! + xi * batch.phi[zo + c]!;
      this.ba[a * d + i] = this.ba[a * d + i]! + reward * xi;
    }
    // b_0 += r z − B_aᵀA_a⁻¹b_a (new)
    this.bab(a, this.t1);
    for (let c = 0; c < k; c++) {
      this.b0[c] = this.b0[c]! + reward * batch.phi[zo + c]! - this.t1[c]!;
      this.Srz[c] = this.Srz[c]! + reward * batch.phi[zo + c]!;
    }
    this.counter[0] = this.counter[0]! + 1;
    if (this.recomputeEvery > 0 && this.counter[0]! >= this.recomputeEvery) this.recompute();
    matVec(this.A0inv, this.b0, k, this.beta);
  }

  /** Exact recompute: A_a⁻¹ from A_a, A_0 = λI + Σzzᵀ − Σ_a B_aᵀA_a⁻¹B_a and its inverse, b_0 = Σrz − Σ_a B_aᵀA_a⁻¹b_a. */
  recompute(): void {
    const k = this.dim;
    const d = this.ctxDim;
    const scratchD = new Float64Array(d * d);
    const A0 = new Float64Array(this.Szz);
    const col = new Float64Array(d);
    const tmp = new Float64Array(d);
    for (let a = 0; a < this.numArms; a++) {
      const aOff = a * d * d;
      const ainv = this.Aainv.subarray(aOff, aOff + d * d);
      invertSpd(this.Aa.subarray(aOff, aOff + d * d), d, ainv, scratchD);
      // M = B_aᵀ A_a⁻¹ B_a: for each column c of B_a, tmp = A_a⁻¹ B_a[:,c]; then M[:,c] = B_aᵀ tmp.
      const bo = a * d * k;
      for (let c = 0; c < k; c++) {
        for (let i = 0; i < d; i++) col[i] = this.Ba[bo + i * k + c]!;
        matVec(ainv, col, d, tmp);
        for (let r = 0; r < k; r++) {
          let s = 0;
          for (let i = 0; i < d; i++) s += this.Ba[bo + i * k + r]! * tmp[i]!;
          A0[r * k + c] = A0[r * k + c]! - s;
        }
      }
    }
    invertSpd(A0, k, this.A0inv, new Float64Array(k * k));
    this.b0.set(this.Srz);
    for (let a = 0; a < this.numArms; a++) {
      this.bab(a, this.t1);
      for (let c = 0; c < k; c++) this.b0[c] = this.b0[c]! - this.t1[c]!;
    }
    this.counter[0] = 0;
    matVec(this.A0inv, this.b0, k, this.beta);
  }

  protected arrays(): Record<string, Float64Array> {
    return {
      Szz: this.Szz,
      A0inv: this.A0inv,
      Srz: this.Srz,
      b0: this.b0,
      beta: this.beta,
      Aa: this.Aa,
      Aainv: this.Aainv,
      Ba: this.Ba,
      ba: this.ba,
      counter: this.counter,
    };
  }
}
