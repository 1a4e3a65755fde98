/**
 * Linear Thompson sampling (Agrawal & Goyal 2013) over φ(x, a).
 *
 * B = λI + Σφφᵀ is kept as its Cholesky factor L (rank-1 Cholesky update per step, O(d²), no inverse); μ̂ = B⁻¹f by
 * two triangular solves. A posterior sample is μ̃ = μ̂ + v·L⁻ᵀg with g ~ N(0, I), so φᵀμ̃ = φᵀμ̂ + v·(L⁻¹φ)ᵀg.
 *
 * Propensities: each decision draws `samples` posterior samples, counts how often each arm is the argmax, and then
 * draws the played arm from those frequencies (mixed with ε/k). Playing a uniformly chosen one of the samples is a
 * valid Thompson draw, and the logged probability is exactly the probability the arm was played given the samples.
 */
import type { FeatureBatch } from '../catalogue.js';
import { addOuter, cholesky, cholUpdate, identity, solveLower, solveLowerTransposed } from '../linalg.js';
import { BasePolicy, discount, FORGET_BLOCK } from './base.js';
import { POLICY_DEFAULTS, type PolicyConfig } from './config.js';

type LinTsConfig = Extract<PolicyConfig, { kind: 'lints' }>;

export class LinTs extends BasePolicy {
  readonly kind = 'lints' as const;
  readonly v: number;
  readonly samples: number;
  readonly epsilon: number;
  readonly lambda: number;
  readonly recomputeEvery: number;
  readonly B: Float64Array;
  readonly L: Float64Array;
  readonly f: Float64Array;
  readonly mu: Float64Array;
  readonly counter: Float64Array;
  readonly forget: number;
  readonly forgetCounter: Float64Array;
  private readonly W: Float64Array;
  private readonly means: Float64Array;
  private readonly counts: Float64Array;
  private readonly tmp: Float64Array;
  private readonly C: Float64Array;
  private readonly LC: Float64Array;
  private readonly h: Float64Array;

  /** Prior feature index (−1 = none): mean = φ[prior] + φᵀμ̂, μ̂ fitted to r − φ[prior]. */
  readonly prior: number;

  constructor(config: LinTsConfig, numArms: number, dim: number, ctxDim: number, priorIndex = -1) {
    super(config, numArms, dim, ctxDim);
    this.prior = priorIndex;
    this.v = config.v ?? POLICY_DEFAULTS.tsV;
    this.samples = config.samples ?? POLICY_DEFAULTS.tsSamples;
    this.epsilon = config.epsilon ?? POLICY_DEFAULTS.tsEpsilon;
    this.lambda = config.lambda ?? POLICY_DEFAULTS.lambda;
    this.recomputeEvery = config.recomputeEvery ?? POLICY_DEFAULTS.recomputeEvery;
    this.B = identity(dim, this.lambda);
    this.L = identity(dim, Math.sqrt(this.lambda));
    this.f = new Float64Array(dim);
    this.mu = new Float64Array(dim);
    this.counter = new Float64Array(1);
    this.forget = config.forget ?? POLICY_DEFAULTS.forget;
    this.forgetCounter = new Float64Array(1);
    this.W = new Float64Array(numArms * dim);
    this.means = new Float64Array(numArms);
    this.counts = new Float64Array(numArms);
    this.tmp = new Float64Array(dim);
    this.C = new Float64Array(numArms * numArms);
    this.LC = new Float64Array(numArms * numArms);
    this.h = new Float64Array(numArms);
  }

  protected fillProbs(batch: FeatureBatch, out: Float64Array): void {
    const d = this.dim;
    const K = batch.k;
    for (let j = 0; j < K; j++) {
      const off = j * d;
      let m = 0;
      for (let i = 0; i < d; i++) m += batch.phi[off + i]! * this.mu[i]!;
      this.means[j] = m + (this.prior >= 0 ? batch.phi[off + this.prior]! : 0);
      solveLower(this.L, d, batch.phi, this.tmp, off);
      this.W.set(this.tmp, off);
    }
    // The K sampled score noises t = W g (g ~ N(0, I_d)) are jointly N(0, C) with C = W Wᵀ (K × K): draw them as
    // t = L_C h with h ~ N(0, I_K) and L_C the (semi-definite) Cholesky factor of C. Same distribution, K normals per
    // sample instead of d.
    const C = this.C;
    for (let j = 0; j < K; j++) {
      for (let k = 0; k <= j; k++) {
        let acc = 0;
        const oj = j * d;
        const ok = k * d;
        for (let i = 0; i < d; i++) acc += this.W[oj + i]! * this.W[ok + i]!;
        C[j * K + k] = acc;
      }
    }
    psdCholeskyLower(C, K, this.LC);
    const LC = this.LC;
    const h = this.h;
    this.counts.fill(0);
    const S = this.samples;
    const v = this.v;
    for (let s = 0; s < S; s++) {
      this.rng.fillNormal(h, K);
      let best = -Infinity;
      let arg = 0;
      for (let j = 0; j < K; j++) {
        let t = 0;
        const row = j * K;
        for (let k = 0; k <= j; k++) t += LC[row + k]! * h[k]!;
        const sc = this.means[j]! + v * t;
        if (sc > best) {
          best = sc;
          arg = j;
        }
      }
      this.counts[arg] = this.counts[arg]! + 1;
    }
    const floor = this.epsilon / K;
    const scale = (1 - this.epsilon) / S;
    for (let j = 0; j < K; j++) out[j] = floor + scale * this.counts[j]!;
  }

  protected learn(batch: FeatureBatch, j: number, reward: number): void {
    const d = this.dim;
    const off = j * d;
    addOuter(this.B, batch.phi, d, 1, off);
    if (this.prior >= 0) reward -= batch.phi[off + this.prior]!;
    for (let i = 0; i < d; i++) this.f[i] = this.f[i]! + reward * batch.phi[off + i]!;
    this.counter[0] = this.counter[0]! + 1;
    let refactor = false;
    if (this.forget < 1) {
      this.forgetCounter[0] = this.forgetCounter[0]! + 1;
      if (this.forgetCounter[0]! >= FORGET_BLOCK) {
        this.forgetCounter[0] = 0;
        // B is kept in full (addOuter writes both triangles), so the full-matrix discount is exact.
        discount(this.B, this.f, d, Math.pow(this.forget, FORGET_BLOCK), this.lambda);
        refactor = true;
      }
    }
    if (refactor || (this.recomputeEvery > 0 && this.counter[0]! >= this.recomputeEvery)) {
      this.counter[0] = 0;
      cholesky(this.B, d, this.L);
    } else {
      cholUpdate(this.L, batch.phi, d, this.tmp, off);
    }
    this.solveMu();
  }

  private solveMu(): void {
    solveLower(this.L, this.dim, this.f, this.mu);
    solveLowerTransposed(this.L, this.dim, this.mu);
  }

  override predict(batch: FeatureBatch, j: number): number {
    let m = 0;
    for (let i = 0; i < this.dim; i++) m += batch.phi[j * this.dim + i]! * this.mu[i]!;
    return m + (this.prior >= 0 ? batch.phi[j * this.dim + this.prior]! : 0);
  }

  protected arrays(): Record<string, Float64Array> {
    return { B: this.B, L: this.L, f: this.f, mu: this.mu, counter: this.counter, ...(this.forget < 1 ? { forgetCounter: this.forgetCounter } : {}) };
  }
}

/**
 * Lower Cholesky factor of a symmetric positive semi-definite K × K matrix (lower triangle of `a` read, row-major):
 * a pivot below 1e-12 of the largest diagonal is treated as exactly 0 and its column set to 0, so rank-deficient C
 * (e.g. two arms with identical φ) factor without NaN and reproduce C = L Lᵀ.
 */
export function psdCholeskyLower(a: Float64Array, K: number, L: Float64Array): void {
  let maxDiag = 0;
  for (let j = 0; j < K; j++) maxDiag = Math.max(maxDiag, a[j * K + j]!);
  const tol = 1e-12 * maxDiag;
  L.fill(0, 0, K * K);
  for (let j = 0; j < K; j++) {
    let dj = a[j * K + j]!;
    for (let k = 0; k < j; k++) dj -= L[j * K + k]! * L[j * K + k]!;
    if (!(dj > tol)) continue;
    const ljj = Math.sqrt(dj);
    L[j * K + j] = ljj;
    for (let i = j + 1; i < K; i++) {
      let s = a[i * K + j]!;
      for (let k = 0; k < j; k++) s -= L[i * K + k]! * L[j * K + k]!;
      L[i * K + j] = s / ljj;
    }
  }
}
