/**
 * `qoets`: Thompson sampling on the QoE model itself, with the unknown terms as latent parameters.
 *
 * The reward model is the package's QoE model evaluated at corrected inputs:
 *
 *   μ(x, a) = w_a·A_a + w_l·σ((L − ℓ)/(τ·L)) + w_e·exp(−P_c·ℓ/E_u),   ℓ = ℓ̂(x, a)·exp(δ_{c,a})
 *
 * with ℓ̂ the QoE block's predicted latency (catalogue latency of the device class × speed × load) and three kinds of
 * latent parameters, each with a posterior on a fixed grid (exact Bayes in one dimension, no linearisation):
 *
 * - δ_{c,a}: log-latency correction per (device class, arm), 61 points on [−3, 3]. Prior N(0, knownSd²) (0.15) for
 *   classes the catalogue has latencies for and N(0, coldSd²) (2.5) for its cold classes (no catalogue latency).
 * - E_u: the energy scale of a preference profile u (the user-set features w_acc, w_lat, w_energy, log_deadline_ms
 *   identify it), 25 points on a log grid over [3, 10,000] mJ, uniform prior. A new profile starts from the prior.
 * - τ: the deadline softness, one global value on {0.02, 0.05, 0.1, 0.2, 0.35}, uniform prior (MAP is used).
 * - β: battery sensitivity of the energy scale, E = E_u·(1 − β + β·battery) when the context has `battery`, one global
 *   value on {0, 0.2, 0.4, 0.6, 0.8, 0.95}, uniform prior (MAP is used).
 *
 * - b_{u,a}: an additive bias per (profile, arm), conjugate Gaussian with prior sd `userArmSd` on the residual of the
 *   QoE model: how this profile values this arm beyond the model (e.g. a non-linear value of accuracy).
 *
 * The likelihood is Gaussian with sd `sigma` (the exploration knob: larger σ, wider posteriors). The factors are
 * updated one at a time with the others at their posterior means (a mean-field approximation). `forget` < 1 discounts
 * a cell's δ log-likelihood on each of its updates (memory ≈ 1/(1 − γ) observations of that cell), for drift.
 *
 * `staleForget` < 1 also discounts a cell by γ_s^(policy updates since the cell's last update), applied when the cell
 * is read and when it is next updated, so cells not played for a while regain their prior width.
 *
 * `driftSd` > 0 models δ as a random walk: a cell's posterior is the one after its last update convolved with
 * N(0, driftSd²·age/1000) (age in policy updates since that update), applied when the cell is read and folded into
 * its state when it is next updated. Unlike `staleForget` (which only returns a stale cell to its prior) the width
 * keeps growing with age, so a change larger than the prior allows becomes plausible again for arms not played.
 *
 * 'gap' (or `knownScore: 'gap'` for the catalogued classes only): among the arms whose posterior-mean reward is
 * within `gapTol` of the best, play the one whose reward is most uncertain (exploration that costs at most gapTol
 * by the model's own estimate).
 *
 * Decisions ('optimism', the default): μ at the lower `quantile` of the cell's δ posterior for the cold classes; for
 * the catalogued classes the posterior-mean reward (`knownScore: 'mean'`, default) or μ at `knownQuantile`.
 * 'thompson': `samples` joint posterior draws (one E_u per draw, one δ per offered arm), argmax frequencies mixed with
 * ε/k; the arm is drawn from that vector, so the logged propensity is exactly the vector's entry. With `greedy: true`
 * the policy plays the arm with the largest posterior-mean reward (the same learner without exploration).
 */
import type { FeatureBatch, FeatureSpace, QoeInputs } from '../catalogue.js';
import { BanditError } from '../errors.js';
import { Rng } from '../rng.js';
import { BasePolicy, greedyMix, type PolicyState } from './base.js';
import { POLICY_DEFAULTS, type PolicyConfig } from './config.js';

type Cfg = Extract<PolicyConfig, { kind: 'qoets' }>;

const DELTA = Float64Array.from({ length: 61 }, (_, i) => -3 + 0.1 * i);
/** exp(DELTA[g]), so the grid loops look the latency factor up instead of calling exp (bit-identical). */
const EXP_DELTA = DELTA.map(Math.exp);
const LOG_E = Float64Array.from({ length: 25 }, (_, i) => Math.log(3) + (i * (Math.log(10_000) - Math.log(3))) / 24);
const TAU = Float64Array.from([0.02, 0.05, 0.1, 0.2, 0.35]);
const BETA = Float64Array.from([0, 0.2, 0.4, 0.6, 0.8, 0.95]);
const GB = BETA.length;
const GD = DELTA.length;
const GE = LOG_E.length;
const GT = TAU.length;
const E_VALS = LOG_E.map(Math.exp);

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** Normalise log weights into a CDF (in place into cdf); returns the posterior mean of `grid`. */
function toCdf(ll: Float64Array, off: number, prior: Float64Array | null, priorOff: number, n: number, grid: Float64Array, cdf: Float64Array, cdfOff: number, scale = 1): number {
  let mx = -Infinity;
  for (let g = 0; g < n; g++) {
    const v = scale * ll[off + g]! + (prior ? prior[priorOff + g]! : 0);
    if (v > mx) mx = v;
  }
  let s = 0;
  let m = 0;
  for (let g = 0; g < n; g++) {
    const w = Math.exp(scale * ll[off + g]! + (prior ? prior[priorOff + g]! : 0) - mx);
    s += w;
    m += w * grid[g]!;
    cdf[cdfOff + g] = s;
  }
  for (let g = 0; g < n; g++) cdf[cdfOff + g] = cdf[cdfOff + g]! / s;
  return m / s;
}

function sampleCdf(cdf: Float64Array, off: number, n: number, u: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cdf[off + mid]! < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class QoeThompson extends BasePolicy {
  readonly kind = 'qoets' as const;
  readonly sigma: number;
  readonly samples: number;
  readonly epsilon: number;
  readonly forget: number;
  readonly explore: 'optimism' | 'thompson' | 'greedy' | 'gap';
  readonly gapTol: number;
  /** Scratch: posterior sd of each offered arm's reward (gap rule). */
  private readonly sdMu: Float64Array;
  readonly quantile: number;
  readonly userArmSd: number;
  readonly knownScore: 'quantile' | 'mean' | 'gap';
  readonly staleForget: number;
  readonly driftSd: number;
  /** Scratch pdfs for the random-walk convolution (driftSd > 0). */
  private readonly pdfA = new Float64Array(GD);
  private readonly pdfB = new Float64Array(GD);
  private readonly pdfOut = new Float64Array(GD);
  /** Per cell: 1 when its class is a cold class. */
  private readonly coldCls: Uint8Array;
  /** Per cell: `updates` at the cell's last update (staleForget < 1 only), and at its cached CDF. */
  private readonly cellT: Float64Array;
  private readonly cdfT: Float64Array;
  /** Optimism quantile per device class (cold classes: quantile; catalogued ones: knownQuantile). */
  private readonly cellQuantile: Float64Array;
  private readonly space: FeatureSpace;
  private readonly inp: QoeInputs;
  private readonly nCls: number;
  /** δ data log-likelihood per (class, arm) cell × grid; prior log density per cell × grid. */
  private readonly dLL: Float64Array;
  private readonly dPrior: Float64Array;
  private readonly dCdf: Float64Array;
  private readonly dMean: Float64Array;
  private readonly dDirty: Uint8Array;
  private readonly tLL = new Float64Array(GT);
  private readonly bLL = new Float64Array(GB);
  private uLL = new Float64Array(0);
  /** Per (profile, arm): residual sum and count of the additive bias b_{u,a} (conjugate Gaussian, prior sd userArmSd). */
  private uB = new Float64Array(0);
  private userKeys = new Float64Array(0);
  private nUsers = 0;
  private readonly users = new Map<string, number>();
  private readonly uCdf = new Float64Array(GE);
  private readonly counts: Float64Array;
  private readonly mu: Float64Array;
  private readonly invTwoVar: number;

  constructor(config: Cfg, space: FeatureSpace) {
    super(config, space.numArms, space.dim, space.ctxDim);
    const inp = space.newQoeInputs();
    if (!inp || !space.qoe) {
      throw new BanditError({
        code: 'BAD_CONFIG',
        message: 'policy kind "qoets" needs the QoE feature block (the catalogue has none)',
        path: '$.policy.kind',
        hint: 'use a catalogue with arm features acc and lat_<class> and the QoE context features, or another policy kind',
      });
    }
    this.space = space;
    this.inp = inp;
    this.sigma = config.sigma ?? POLICY_DEFAULTS.qoetsSigma;
    this.samples = config.samples ?? POLICY_DEFAULTS.qoetsSamples;
    this.epsilon = config.epsilon ?? POLICY_DEFAULTS.qoetsEpsilon;
    this.forget = config.forget ?? POLICY_DEFAULTS.qoetsForget;
    this.explore = config.explore ?? 'optimism';
    this.quantile = config.quantile ?? POLICY_DEFAULTS.qoetsQuantile;
    this.userArmSd = config.userArmSd ?? POLICY_DEFAULTS.qoetsUserArmSd;
    this.knownScore = config.knownScore ?? POLICY_DEFAULTS.qoetsKnownScore;
    this.staleForget = config.staleForget ?? POLICY_DEFAULTS.qoetsStaleForget;
    this.driftSd = config.driftSd ?? POLICY_DEFAULTS.qoetsDriftSd;
    this.gapTol = config.gapTol ?? POLICY_DEFAULTS.qoetsGapTol;
    this.invTwoVar = 1 / (2 * this.sigma * this.sigma);
    const classes = space.qoe.classes;
    this.nCls = classes.length;
    const cells = this.nCls * this.numArms;
    this.dLL = new Float64Array(cells * GD);
    this.dPrior = new Float64Array(cells * GD);
    const coldSd = config.coldSd ?? POLICY_DEFAULTS.qoetsColdSd;
    const knownSd = config.knownSd ?? POLICY_DEFAULTS.qoetsKnownSd;
    this.cellQuantile = new Float64Array(this.nCls);
    this.coldCls = new Uint8Array(this.nCls);
    for (let c = 0; c < this.nCls; c++) this.coldCls[c] = space.qoe.coldClasses.includes(classes[c]!) ? 1 : 0;
    this.cellT = new Float64Array(this.aged() ? cells : 0);
    this.cdfT = new Float64Array(this.aged() ? cells : 0);
    for (let c = 0; c < this.nCls; c++)
      this.cellQuantile[c] = space.qoe.coldClasses.includes(classes[c]!) ? this.quantile : (config.knownQuantile ?? POLICY_DEFAULTS.qoetsKnownQuantile);
    for (let c = 0; c < this.nCls; c++) {
      const sd = space.qoe.coldClasses.includes(classes[c]!) ? coldSd : knownSd;
      for (let a = 0; a < this.numArms; a++) for (let g = 0; g < GD; g++) this.dPrior[(c * this.numArms + a) * GD + g] = -(DELTA[g]! ** 2) / (2 * sd * sd);
    }
    this.dCdf = new Float64Array(cells * GD);
    this.dMean = new Float64Array(cells);
    this.dDirty = new Uint8Array(cells).fill(1);
    this.counts = new Float64Array(this.numArms);
    this.mu = new Float64Array(this.numArms);
    this.sdMu = new Float64Array(this.numArms);
  }

  /** Whether cells carry their age (staleForget or driftSd). */
  private aged(): boolean {
    return this.staleForget < 1 || this.driftSd > 0;
  }

  /**
   * Posterior pdf of cell i on the δ grid into `out` (normalised): prior × likelihood, then (driftSd > 0) convolved with
   * the random walk's N(0, driftSd²·age/1000) for the cell's age now. Mass the kernel moves off the grid is dropped and
   * the rest renormalised.
   */
  private cellPdf(i: number, out: Float64Array): void {
    const scale = this.staleScale(i);
    let mx = -Infinity;
    for (let g = 0; g < GD; g++) {
      const v = scale * this.dLL[i * GD + g]! + this.dPrior[i * GD + g]!;
      if (v > mx) mx = v;
    }
    const src = this.driftSd > 0 ? this.pdfB : out;
    let s = 0;
    for (let g = 0; g < GD; g++) {
      const w = Math.exp(scale * this.dLL[i * GD + g]! + this.dPrior[i * GD + g]! - mx);
      src[g] = w;
      s += w;
    }
    for (let g = 0; g < GD; g++) src[g] = src[g]! / s;
    if (this.driftSd <= 0) return;
    const v = (this.driftSd * this.driftSd * (this.updates - this.cellT[i]!)) / 1000;
    const step = DELTA[1]! - DELTA[0]!;
    const sd = Math.sqrt(v);
    if (sd < 0.25 * step) {
      out.set(src);
      return;
    }
    const reach = Math.min(GD - 1, Math.ceil((4 * sd) / step));
    const kern = this.pdfA; // kernel weights for offsets 0..reach (symmetric); `out` is never pdfA or pdfB
    for (let d = 0; d <= reach; d++) kern[d] = Math.exp(-((d * step) ** 2) / (2 * v));
    let tot = 0;
    for (let g = 0; g < GD; g++) {
      let acc = 0;
      const lo = Math.max(0, g - reach);
      const hi = Math.min(GD - 1, g + reach);
      for (let h = lo; h <= hi; h++) acc += src[h]! * kern[Math.abs(g - h)]!;
      out[g] = acc;
      tot += acc;
    }
    for (let g = 0; g < GD; g++) out[g] = out[g]! / tot;
  }

  /** Staleness discount of cell i's log-likelihood now (1 without staleForget). */
  private staleScale(i: number): number {
    return this.staleForget < 1 ? this.staleForget ** (this.updates - this.cellT[i]!) : 1;
  }

  private cell(c: number, a: number): number {
    const i = c * this.numArms + a;
    // With staleForget the cached CDF is refreshed when the cell has aged by ≥ 1 % of its memory since it was cached.
    // With driftSd the cached CDF is refreshed when the random walk's variance has grown by ≥ 5 % (and ≥ 10 updates).
    if (
      this.dDirty[i] ||
      (this.staleForget < 1 && (this.updates - this.cdfT[i]!) * (1 - this.staleForget) > 0.01) ||
      (this.driftSd > 0 && this.updates - this.cdfT[i]! >= Math.max(10, 0.05 * (this.cdfT[i]! - this.cellT[i]!)))
    ) {
      if (this.driftSd > 0) {
        const pdf = this.pdfOut;
        this.cellPdf(i, pdf);
        let s = 0;
        let m = 0;
        for (let g = 0; g < GD; g++) {
          s += pdf[g]!;
          m += pdf[g]! * DELTA[g]!;
          this.dCdf[i * GD + g] = s;
        }
        for (let g = 0; g < GD; g++) this.dCdf[i * GD + g] = this.dCdf[i * GD + g]! / s;
        this.dMean[i] = m / s;
      } else this.dMean[i] = toCdf(this.dLL, i * GD, this.dPrior, i * GD, GD, DELTA, this.dCdf, i * GD, this.staleScale(i));
      this.dDirty[i] = 0;
      if (this.aged()) this.cdfT[i] = this.updates;
    }
    return i;
  }

  /** Posterior-mean reward of offered position j in cell i (δ integrated over its grid posterior). */
  private meanValue(j: number, i: number, E: number, tau: number): number {
    let m = 0;
    let prev = 0;
    for (let g = 0; g < GD; g++) {
      const w = this.dCdf[i * GD + g]! - prev;
      prev = this.dCdf[i * GD + g]!;
      if (w > 1e-6) m += w * this.valueAt(j, EXP_DELTA[g]!, E, tau);
    }
    return m;
  }

  private userIndex(create: boolean): number {
    const p = this.inp.profile;
    const key = `${p[0]},${p[1]},${p[2]},${p[3]}`;
    const u = this.users.get(key);
    if (u !== undefined || !create) return u ?? -1;
    if (this.nUsers * GE >= this.uLL.length) {
      const cap = Math.max(64, this.nUsers * 2);
      const ll = new Float64Array(cap * GE);
      ll.set(this.uLL);
      this.uLL = ll;
      const ub = new Float64Array(cap * this.numArms * 2);
      ub.set(this.uB);
      this.uB = ub;
      const keys = new Float64Array(cap * 4);
      keys.set(this.userKeys);
      this.userKeys = keys;
    }
    const i = this.nUsers++;
    this.userKeys.set(p, i * 4);
    this.users.set(key, i);
    return i;
  }

  /** Posterior mean of the (profile, arm) bias b_{u,a} (0 for an unknown profile or userArmSd = 0). */
  private bias(u: number, a: number): number {
    if (u < 0 || this.userArmSd === 0) return 0;
    const o = (u * this.numArms + a) * 2;
    const s2 = this.userArmSd * this.userArmSd;
    return this.uB[o]! / (this.uB[o + 1]! + (this.sigma * this.sigma) / s2);
  }

  private tauMap(): number {
    let b = 0;
    for (let g = 1; g < GT; g++) if (this.tLL[g]! > this.tLL[b]!) b = g;
    return TAU[b]!;
  }

  /** Posterior CDF of the user's log E into uCdf (prior when unknown); returns the posterior mean of log E. */
  private userPosterior(u: number): number {
    if (u < 0) {
      let s = 0;
      for (let g = 0; g < GE; g++) this.uCdf[g] = ++s / GE;
      return (LOG_E[0]! + LOG_E[GE - 1]!) / 2;
    }
    return toCdf(this.uLL, u * GE, null, 0, GE, LOG_E, this.uCdf, 0);
  }

  private betaMap(): number {
    let b = 0;
    for (let g = 1; g < GB; g++) if (this.bLL[g]! > this.bLL[b]!) b = g;
    return BETA[b]!;
  }

  /** Battery factor of the energy scale, 1 − β + β·battery (1 without a battery feature). */
  private batt(beta: number): number {
    const b = this.inp.battery;
    return Number.isFinite(b) ? 1 - beta + beta * Math.min(1, Math.max(0, b)) : 1;
  }

  /** μ at δ, energy scale E (already battery-adjusted) and softness τ. */
  private value(j: number, delta: number, E: number, tau: number): number {
    return this.valueAt(j, Math.exp(delta), E, tau);
  }

  /** μ at the latency factor exp(δ). */
  private valueAt(j: number, expDelta: number, E: number, tau: number): number {
    const inp = this.inp;
    const lat = inp.latMs[j]! * expDelta;
    return inp.wa * inp.acc[j]! + inp.wl * sigmoid((inp.deadlineMs - lat) / (tau * inp.deadlineMs)) + inp.we * Math.exp((-inp.powerW * lat) / E);
  }

  /**
   * Gap rule: among the arms whose posterior-mean reward is within `gapTol` of the best, the one whose reward is most
   * uncertain (posterior sd of its reward over its δ cell). Writes selection scores into this.mu: 1 for that arm, 0
   * for the others, so greedyMix gives it 1 − ε + ε/k.
   */
  private gapScores(batch: FeatureBatch, E: number, tau: number, u: number): void {
    const c = this.inp.cls;
    const k = batch.k;
    let best = -Infinity;
    for (let j = 0; j < k; j++) {
      const i = this.cell(c, batch.arms[j]!);
      let m = 0;
      let m2 = 0;
      let prev = 0;
      for (let g = 0; g < GD; g++) {
        const w = this.dCdf[i * GD + g]! - prev;
        prev = this.dCdf[i * GD + g]!;
        if (w > 1e-6) {
          const v = this.valueAt(j, EXP_DELTA[g]!, E, tau);
          m += w * v;
          m2 += w * v * v;
        }
      }
      const mean = m + this.bias(u, batch.arms[j]!);
      this.mu[j] = mean;
      this.sdMu[j] = Math.sqrt(Math.max(0, m2 - m * m));
      if (mean > best) best = mean;
    }
    let pick = -1;
    for (let j = 0; j < k; j++) {
      if (this.mu[j]! < best - this.gapTol) continue;
      // most uncertain candidate; ties (e.g. all sd 0) go to the larger mean
      if (pick < 0 || this.sdMu[j]! > this.sdMu[pick]! || (this.sdMu[j] === this.sdMu[pick] && this.mu[j]! > this.mu[pick]!)) pick = j;
    }
    for (let j = 0; j < k; j++) this.mu[j] = j === pick ? 1 : 0;
  }

  /** Posterior-mean reward of every offered position into this.mu (δ integrated over its grid posterior). */
  private posteriorMeans(batch: FeatureBatch, logEMean: number, tau: number, u: number): void {
    const E = Math.exp(logEMean);
    const c = this.inp.cls;
    for (let j = 0; j < batch.k; j++) {
      const i = this.cell(c, batch.arms[j]!);
      this.mu[j] = this.meanValue(j, i, E, tau) + this.bias(u, batch.arms[j]!);
    }
  }

  protected fillProbs(batch: FeatureBatch, out: Float64Array, forDecision: boolean): void {
    this.space.qoeInputs(batch, this.inp);
    const k = batch.k;
    const u = this.userIndex(false);
    const logEMean = this.userPosterior(u);
    const tau = this.tauMap();
    const bf = this.batt(this.betaMap());
    if (this.explore === 'greedy') {
      this.posteriorMeans(batch, logEMean + Math.log(bf), tau, u);
      greedyMix(this.mu, k, this.epsilon, out);
      return;
    }
    if (this.explore === 'gap' || (this.explore === 'optimism' && this.knownScore === 'gap' && this.coldCls[this.inp.cls] === 0)) {
      this.gapScores(batch, Math.exp(logEMean) * bf, tau, u);
      greedyMix(this.mu, k, this.epsilon, out);
      return;
    }
    if (this.explore === 'optimism') {
      // Optimism on the latency terms only: μ is decreasing in ℓ, so the optimistic value of an arm is μ at the lower
      // q-quantile of its cell's δ posterior (E at its posterior mean). The bonus vanishes as the cell's posterior
      // concentrates; cells the policy has not played keep their prior width.
      const E = Math.exp(logEMean) * bf;
      const c = this.inp.cls;
      const useMean = this.knownScore === 'mean' && this.coldCls[c] === 0;
      for (let j = 0; j < k; j++) {
        const i = this.cell(c, batch.arms[j]!);
        const v = useMean ? this.meanValue(j, i, E, tau) : this.valueAt(j, EXP_DELTA[sampleCdf(this.dCdf, i * GD, GD, this.cellQuantile[c]!)]!, E, tau);
        this.mu[j] = v + this.bias(u, batch.arms[j]!);
      }
      greedyMix(this.mu, k, this.epsilon, out);
      return;
    }
    // Monte-Carlo argmax frequencies of joint posterior draws. For probabilities() (OPE) a copy of the RNG is used so
    // the policy's own stream does not advance.
    const rng = forDecision ? this.rng : new Rng(this.rng.getState());
    const c = this.inp.cls;
    const counts = this.counts;
    counts.fill(0, 0, k);
    for (let j = 0; j < k; j++) this.cell(c, batch.arms[j]!);
    for (let s = 0; s < this.samples; s++) {
      const E = E_VALS[sampleCdf(this.uCdf, 0, GE, rng.next())]! * bf;
      let best = -Infinity;
      let bj = 0;
      for (let j = 0; j < k; j++) {
        const i = c * this.numArms + batch.arms[j]!;
        const v = this.valueAt(j, EXP_DELTA[sampleCdf(this.dCdf, i * GD, GD, rng.next())]!, E, tau) + this.bias(u, batch.arms[j]!);
        if (v > best) {
          best = v;
          bj = j;
        }
      }
      counts[bj] = counts[bj]! + 1;
    }
    const floor = this.epsilon / k;
    for (let j = 0; j < k; j++) out[j] = floor + ((1 - this.epsilon) * counts[j]!) / this.samples;
  }

  protected learn(batch: FeatureBatch, j: number, reward: number): void {
    this.space.qoeInputs(batch, this.inp);
    const inp = this.inp;
    const a = batch.arms[j]!;
    const i = this.cell(inp.cls, a);
    const u = this.userIndex(true);
    const logEMean = this.userPosterior(u);
    const tau = this.tauMap();
    const beta = this.betaMap();
    const bf = this.batt(beta);
    const E = Math.exp(logEMean) * bf;
    const dBar = this.dMean[i]!;
    const h = this.invTwoVar;
    const b = this.bias(u, a);
    const r0 = reward;
    reward = r0 - b;
    if (this.driftSd > 0 && this.updates > this.cellT[i]!) {
      // Fold the random walk since the cell's last update into its state: dLL := log(diffused posterior) − prior.
      const pdf = this.pdfOut;
      this.cellPdf(i, pdf);
      const sc = this.staleScale(i);
      for (let g = 0; g < GD; g++) this.dLL[i * GD + g] = (Math.log(Math.max(pdf[g]!, 1e-300)) - this.dPrior[i * GD + g]!) / sc;
    }
    const g0 = this.forget * this.staleScale(i);
    if (this.aged()) this.cellT[i] = this.updates;
    for (let g = 0; g < GD; g++) {
      const e = reward - this.valueAt(j, EXP_DELTA[g]!, E, tau);
      this.dLL[i * GD + g] = g0 * this.dLL[i * GD + g]! - h * e * e;
    }
    this.dDirty[i] = 1;
    for (let g = 0; g < GE; g++) {
      const e = reward - this.value(j, dBar, E_VALS[g]! * bf, tau);
      this.uLL[u * GE + g] = this.uLL[u * GE + g]! - h * e * e;
    }
    for (let g = 0; g < GT; g++) {
      const e = reward - this.value(j, dBar, E, TAU[g]!);
      this.tLL[g] = this.tLL[g]! - h * e * e;
    }
    const E0 = Math.exp(logEMean);
    for (let g = 0; g < GB; g++) {
      const e = reward - this.value(j, dBar, E0 * this.batt(BETA[g]!), tau);
      this.bLL[g] = this.bLL[g]! - h * e * e;
    }
    if (this.userArmSd > 0) {
      const o = (u * this.numArms + a) * 2;
      this.uB[o] = this.uB[o]! + (r0 - this.value(j, dBar, E, tau));
      this.uB[o + 1] = this.uB[o + 1]! + 1;
    }
  }

  /**
   * Posterior mean and sd of the log-latency correction δ of (device class, arm) now (random walk included), computed
   * fresh (not from the decision cache). For inspection and tests; unknown names are BAD_CONFIG.
   */
  cellPosterior(cls: string, armId: string): { mean: number; sd: number } {
    const c = this.space.qoe!.classes.indexOf(cls);
    const a = this.space.armIds.indexOf(armId);
    if (c < 0 || a < 0) {
      throw new BanditError({
        code: 'BAD_CONFIG',
        message: `cellPosterior: ${c < 0 ? `device class "${cls}"` : `arm "${armId}"`} is not in the catalogue (classes: ${this.space.qoe!.classes.join(', ')})`,
        path: c < 0 ? 'cls' : 'armId',
        hint: 'use a class of space.qoe.classes and an id of space.armIds',
      });
    }
    const pdf = new Float64Array(GD);
    this.cellPdf(c * this.numArms + a, pdf);
    let m = 0;
    let m2 = 0;
    for (let g = 0; g < GD; g++) {
      m += pdf[g]! * DELTA[g]!;
      m2 += pdf[g]! * DELTA[g]! * DELTA[g]!;
    }
    return { mean: m, sd: Math.sqrt(Math.max(0, m2 - m * m)) };
  }

  override predict(batch: FeatureBatch, j: number): number {
    this.space.qoeInputs(batch, this.inp);
    const u = this.userIndex(false);
    this.posteriorMeans(batch, this.userPosterior(u) + Math.log(this.batt(this.betaMap())), this.tauMap(), u);
    return this.mu[j]!;
  }

  protected arrays(): Record<string, Float64Array> {
    return {
      dLL: this.dLL,
      tLL: this.tLL,
      bLL: this.bLL,
      uLL: this.uLL.subarray(0, this.nUsers * GE),
      uB: this.uB.subarray(0, this.nUsers * this.numArms * 2),
      userKeys: this.userKeys.subarray(0, this.nUsers * 4),
      ...(this.aged() ? { cellT: this.cellT } : {}),
    };
  }

  override loadState(state: PolicyState): void {
    const keys = state.arrays.userKeys;
    const n = Array.isArray(keys) ? Math.floor(keys.length / 4) : 0;
    this.nUsers = n;
    this.uLL = new Float64Array(Math.max(64, n) * GE);
    this.userKeys = new Float64Array(Math.max(64, n) * 4);
    this.uB = new Float64Array(Math.max(64, n) * this.numArms * 2);
    super.loadState(state);
  }

  protected override afterLoad(): void {
    this.users.clear();
    for (let i = 0; i < this.nUsers; i++) {
      const p = this.userKeys.subarray(i * 4, i * 4 + 4);
      this.users.set(`${p[0]},${p[1]},${p[2]},${p[3]}`, i);
    }
    this.dDirty.fill(1);
  }
}
