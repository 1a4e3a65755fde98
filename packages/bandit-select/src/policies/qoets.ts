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
 *   classes the catalogue has latencies for and N(0, coldSd²) (1) for its cold classes (no catalogue latency).
 * - Hierarchical latency terms: ℓ = ℓ̂·exp(δ_{c,a} + γ_c + η_d + ξ_{d,a}) with η_d per device type (class + raw
 *   log_speed; prior sd `deviceSd`), ξ_{d,a} per (device type, arm) (`deviceArmSd`), both on a 41-point grid on
 *   [−2, 2] and pooled towards the class cell δ_{c,a}, and γ_c per catalogued class (`classSd`, discounted by
 *   `classForget` per update of the class) at its posterior mean. Decisions use the pdf of δ + η + ξ (grids convolved).
 * - `clippedLikelihood`: a rating of exactly 1 (0) has likelihood Φ((μ − 1)/σ) (Φ(−μ/σ)), the Tobit model of clipping.
 * - `changeThreshold` > 0: a per-class two-sided CUSUM of (r − μ̂)/σ widens the class's cells when it fires.
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
import { normalCdf } from '../qoe.js';
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
/** Grid of the device-level log-latency offsets η_d and ξ_{d,a}: 41 points on [−2, 2] (the δ grid's step). */
const H_GRID = Float64Array.from({ length: 41 }, (_, i) => -2 + 0.1 * i);
const GH = H_GRID.length;
/** Index of 0 on H_GRID (a term that is off is a point mass there). */
const H0 = 20;
/** Grid of the total correction δ + η + ξ: index g + h + x ↔ −7 + 0.1·(g + h + x), 141 points. */
const GW = GD + 2 * (GH - 1);
const EXP_W = Float64Array.from({ length: GW }, (_, k) => Math.exp(-7 + 0.1 * k));
/** Residual slack of the change-detection CUSUM (in units of σ). */
const CUSUM_SLACK = 0.5;

/** log Φ(x) of the standard normal CDF, accurate in the far left tail (continued fraction of the Mills ratio). */
export function logNormalCdf(x: number): number {
  if (x > -3) return Math.log(normalCdf(x));
  const t = -x;
  let f = t;
  for (let k = 12; k >= 1; k--) f = t + k / f;
  return -0.5 * x * x - 0.5 * Math.log(2 * Math.PI) - Math.log(f);
}

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

/**
 * Index of tuples of `width` numbers, with the key equality of their `${x0},${x1},…` strings (−0 = 0, NaN = NaN;
 * distinct other doubles print differently) but without building a string per lookup. Open addressing, linear probing.
 */
class TupleIndex {
  private keys: Float64Array;
  private vals: Int32Array;
  private mask: number;
  private n = 0;
  private readonly f = new Float64Array(1);
  private readonly u = new Uint32Array(this.f.buffer);
  private readonly width: number;
  constructor(width: number) {
    this.width = width;
    this.keys = new Float64Array(64 * width);
    this.vals = new Int32Array(64).fill(-1);
    this.mask = 63;
  }

  private hash(k: ArrayLike<number>, off: number): number {
    let h = 0x811c9dc5;
    for (let q = 0; q < this.width; q++) {
      const x = k[off + q]!;
      // −0 hashes as 0 and every NaN alike, as equal keys must
      this.f[0] = x === 0 ? 0 : x !== x ? NaN : x;
      h = Math.imul(h ^ this.u[0]!, 0x01000193);
      h = Math.imul(h ^ this.u[1]!, 0x01000193);
    }
    return (h ^ (h >>> 15)) & this.mask;
  }

  private same(slot: number, k: ArrayLike<number>, off: number): boolean {
    const o = slot * this.width;
    for (let q = 0; q < this.width; q++) {
      const a = this.keys[o + q]!;
      const b = k[off + q]!;
      if (!(a === b || (a !== a && b !== b))) return false;
    }
    return true;
  }

  /** The index stored for key k (at offset off), or −1. */
  get(k: ArrayLike<number>, off = 0): number {
    for (let s = this.hash(k, off); ; s = (s + 1) & this.mask) {
      const v = this.vals[s]!;
      if (v < 0 || this.same(s, k, off)) return v;
    }
  }

  /** Store index v for key k (replacing an equal key's, as Map.set does). */
  set(k: ArrayLike<number>, off: number, v: number): void {
    if (2 * (this.n + 1) > this.vals.length) this.grow();
    let s = this.hash(k, off);
    while (this.vals[s]! >= 0 && !this.same(s, k, off)) s = (s + 1) & this.mask;
    if (this.vals[s]! < 0) this.n++;
    this.vals[s] = v;
    for (let q = 0; q < this.width; q++) this.keys[s * this.width + q] = k[off + q]!;
  }

  clear(): void {
    this.vals.fill(-1);
    this.n = 0;
  }

  private grow(): void {
    const keys = this.keys;
    const vals = this.vals;
    this.keys = new Float64Array(keys.length * 2);
    this.vals = new Int32Array(vals.length * 2).fill(-1);
    this.mask = this.vals.length - 1;
    this.n = 0;
    for (let s = 0; s < vals.length; s++) if (vals[s]! >= 0) this.set(keys, s * this.width, vals[s]!);
  }
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
  /** Preference profile (the 4 raw user-set features) → user index. */
  private readonly users = new TupleIndex(4);
  private readonly uCdf = new Float64Array(GE);
  /**
   * Per profile / per device type: the posterior mean of log E_u / of η_d as last computed, and whether it is still
   * current (cleared when the profile's / device's likelihood changes). An update reads them instead of recomputing
   * the posterior its own decision has just computed (same value).
   */
  private uMeanC = new Float64Array(0);
  private uOk = new Uint8Array(0);
  private hMeanC = new Float64Array(0);
  private hOk = new Uint8Array(0);
  private readonly counts: Float64Array;
  private readonly mu: Float64Array;
  private readonly invTwoVar: number;
  readonly deviceSd: number;
  readonly deviceArmSd: number;
  readonly clippedLikelihood: boolean;
  readonly changeThreshold: number;
  readonly changeReset: number;
  readonly classSd: number;
  readonly classForget: number;
  /** Per class: log-likelihood of the class-wide log-latency offset γ_c on H_GRID, and its cached posterior mean. */
  private readonly gLL: Float64Array;
  private readonly gPrior = new Float64Array(GH);
  private readonly gMean: Float64Array;
  private readonly gDirty: Uint8Array;
  /** exp(γ̄_c) of the current decision's class (1 without class offsets): multiplies every predicted latency. */
  private latScale = 1;
  /** Whether the device-level terms are on (deviceSd or deviceArmSd > 0). */
  private readonly dev: boolean;
  /** Device type (class, speedKey) → device index. */
  private readonly devices = new TupleIndex(2);
  private readonly devKey = new Float64Array(2);
  private nDev = 0;
  /** Per device type: [class, speedKey]; η log-likelihood (GH); ξ log-likelihood per arm (numArms × GH). */
  private devKeys = new Float64Array(0);
  private hLL = new Float64Array(0);
  private xLL = new Float64Array(0);
  /** Prior log densities of η and ξ on H_GRID. */
  private readonly hPrior = new Float64Array(GH);
  private readonly xPrior = new Float64Array(GH);
  /** Scratch: η pdf of the current device; ξ pdf per offered position (k × GH); total-correction pdf (GW) and a temp. */
  private readonly hPdf = new Float64Array(GH);
  private readonly hCdfS = new Float64Array(GH);
  private readonly xPdf: Float64Array;
  private readonly xCdfS: Float64Array;
  private readonly wPdf = new Float64Array(GW);
  private readonly wTmp = new Float64Array(GW);
  /** Index range of wPdf's non-zero entries (wPdf is zero outside it). */
  private wLo = 0;
  private wHi = GW - 1;
  /** Index range of hPdf's entries ≥ 1e-9 (set by devicePdf). */
  private hLo = 0;
  private hHi = GH - 1;
  /**
   * Per cell: the δ pdf (differences of its cached CDF), the range of its entries not below 1e-9, and whether both
   * are current (cleared whenever the cell's CDF is refreshed). Saves the differencing and the empty grid visits of
   * every decision that offers the arm; the sums are the same, in the same order (bit-identical decisions).
   */
  private readonly dPdfC: Float64Array;
  private readonly dSup: Int32Array;
  private readonly dPdfOk: Uint8Array;
  /**
   * false: recompute every cached per-cell pdf on each use, and ξ's point mass per decision (the reference computation;
   * for tests that pin the caches to it). Not part of the config or the state.
   */
  cache = true;
  /** Per class: the two one-sided CUSUM statistics of the change detector, and the number of changes detected. */
  private readonly cusum: Float64Array;
  changesDetected = 0;

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
    this.deviceSd = config.deviceSd ?? POLICY_DEFAULTS.qoetsDeviceSd;
    this.deviceArmSd = config.deviceArmSd ?? POLICY_DEFAULTS.qoetsDeviceArmSd;
    this.clippedLikelihood = config.clippedLikelihood ?? POLICY_DEFAULTS.qoetsClippedLikelihood;
    this.changeThreshold = config.changeThreshold ?? POLICY_DEFAULTS.qoetsChangeThreshold;
    this.changeReset = config.changeReset ?? POLICY_DEFAULTS.qoetsChangeReset;
    this.dev = this.deviceSd > 0 || this.deviceArmSd > 0;
    this.classSd = config.classSd ?? POLICY_DEFAULTS.qoetsClassSd;
    this.classForget = config.classForget ?? POLICY_DEFAULTS.qoetsClassForget;
    const nc = space.qoe.classes.length;
    this.gLL = new Float64Array(this.classSd > 0 ? nc * GH : 0);
    this.gMean = new Float64Array(nc);
    this.gDirty = new Uint8Array(nc).fill(1);
    for (let h = 0; h < GH; h++) this.gPrior[h] = this.classSd > 0 ? -(H_GRID[h]! ** 2) / (2 * this.classSd ** 2) : 0;
    for (let h = 0; h < GH; h++) {
      const x2 = H_GRID[h]! ** 2;
      this.hPrior[h] = this.deviceSd > 0 ? -x2 / (2 * this.deviceSd ** 2) : h === H0 ? 0 : -Infinity;
      this.xPrior[h] = this.deviceArmSd > 0 ? -x2 / (2 * this.deviceArmSd ** 2) : h === H0 ? 0 : -Infinity;
    }
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
    this.dPdfC = new Float64Array(cells * GD);
    this.dSup = new Int32Array(cells * 2);
    this.dPdfOk = new Uint8Array(cells);
    this.counts = new Float64Array(this.numArms);
    this.mu = new Float64Array(this.numArms);
    this.sdMu = new Float64Array(this.numArms);
    this.xPdf = new Float64Array(this.numArms * GH);
    this.xCdfS = new Float64Array(this.numArms * GH);
    // ξ is a point mass at 0 at every position until deviceArmPdf computes a posterior there (deviceArmSd > 0).
    for (let j = 0; j < this.numArms; j++) {
      this.xPdf[j * GH + H0] = 1;
      this.xCdfS.fill(1, j * GH + H0, (j + 1) * GH);
    }
    this.cusum = new Float64Array(this.changeThreshold > 0 ? 2 * this.nCls : 0);
  }

  /** Set latScale = exp(γ̄_c) for the current decision's class (posterior mean of the class offset, cached). */
  private setClassScale(): void {
    const c = this.inp.cls;
    if (this.classSd <= 0 || this.coldCls[c]) {
      this.latScale = 1;
      return;
    }
    if (this.gDirty[c]) {
      this.gMean[c] = this.hPost(this.gPrior, this.gLL, c * GH, this.hPdf, 0);
      this.gDirty[c] = 0;
    }
    this.latScale = Math.exp(this.gMean[c]!);
  }

  /** Log-likelihood of a rating given the model's value v (reward = rating − bias; r0 = the rating). */
  private ll(reward: number, v: number, r0: number): number {
    if (this.clippedLikelihood && (r0 >= 1 || r0 <= 0)) {
      const mu = v + (r0 - reward);
      return r0 >= 1 ? logNormalCdf((mu - 1) / this.sigma) : logNormalCdf(-mu / this.sigma);
    }
    const e = reward - v;
    return -this.invTwoVar * e * e;
  }

  /** Index of the current decision's device type (−1: no `log_speed` in the context, or unknown and !create). */
  private deviceIndex(create: boolean): number {
    if (!this.dev) return -1;
    const sk = this.inp.speedKey;
    if (!Number.isFinite(sk)) return -1;
    const key = this.devKey;
    key[0] = this.inp.cls;
    key[1] = sk;
    const d = this.devices.get(key);
    if (d >= 0 || !create) return d >= 0 ? d : -2;
    if (this.nDev * 2 >= this.devKeys.length) {
      const cap = Math.max(64, this.nDev * 2);
      const keys = new Float64Array(cap * 2);
      keys.set(this.devKeys);
      this.devKeys = keys;
      const h = new Float64Array(cap * GH);
      h.set(this.hLL);
      this.hLL = h;
      const x = new Float64Array(cap * this.numArms * GH);
      x.set(this.xLL);
      this.xLL = x;
      this.growDeviceCache(cap);
    }
    const i = this.nDev++;
    this.devKeys[i * 2] = this.inp.cls;
    this.devKeys[i * 2 + 1] = sk;
    this.devices.set(key, 0, i);
    return i;
  }

  /**
   * Normalised posterior pdf on H_GRID of a device term into out (offset off): prior + log-likelihood `ll` at llOff
   * (ll null: the prior; a term that is off is a point mass at 0). Returns the posterior mean.
   */
  private hPost(prior: Float64Array, ll: Float64Array | null, llOff: number, out: Float64Array, off: number): number {
    let mx = -Infinity;
    for (let h = 0; h < GH; h++) {
      const v = prior[h]! + (ll ? ll[llOff + h]! : 0);
      if (v > mx) mx = v;
    }
    let s = 0;
    let m = 0;
    for (let h = 0; h < GH; h++) {
      const w = Math.exp(prior[h]! + (ll ? ll[llOff + h]! : 0) - mx);
      out[off + h] = w;
      s += w;
      m += w * H_GRID[h]!;
    }
    for (let h = 0; h < GH; h++) out[off + h] = out[off + h]! / s;
    return m / s;
  }

  /** η pdf of device dv (−1: a point mass at 0; −2: unknown device, the prior) into hPdf and its CDF into hCdfS. */
  private devicePdf(dv: number): number {
    let m = 0;
    if (dv === -1) {
      this.hPdf.fill(0);
      this.hPdf[H0] = 1;
    } else {
      m = this.hPost(this.hPrior, dv >= 0 ? this.hLL : null, dv * GH, this.hPdf, 0);
      if (dv >= 0) {
        this.hMeanC[dv] = m;
        this.hOk[dv] = 1;
      }
    }
    let s = 0;
    let lo = GH;
    let hi = -1;
    for (let h = 0; h < GH; h++) {
      const p = this.hPdf[h]!;
      this.hCdfS[h] = s += p;
      if (p >= 1e-9) {
        if (lo === GH) lo = h;
        hi = h;
      }
    }
    this.hLo = lo;
    this.hHi = hi;
    return m;
  }

  /** ξ pdf of (device dv, arm a) into xPdf at position j (and its CDF into xCdfS); returns its mean. */
  private deviceArmPdf(dv: number, a: number, j: number): number {
    const o = j * GH;
    // deviceArmSd 0: position j holds the point mass at 0 already (set in the constructor; nothing else writes it).
    if (this.deviceArmSd === 0 && this.cache) return 0;
    let m = 0;
    if (dv === -1 || this.deviceArmSd === 0) {
      this.xPdf.fill(0, o, o + GH);
      this.xPdf[o + H0] = 1;
    } else m = this.hPost(this.xPrior, dv >= 0 ? this.xLL : null, (dv * this.numArms + a) * GH, this.xPdf, o);
    let s = 0;
    for (let h = 0; h < GH; h++) this.xCdfS[o + h] = s += this.xPdf[o + h]!;
    return m;
  }

  /** The δ pdf of cell i (differences of its CDF) into dPdfC and the range of its entries not below 1e-9 into dSup. */
  private cellDensity(i: number): void {
    if (this.cache && this.dPdfOk[i]) return;
    const o = i * GD;
    let prev = 0;
    let lo = GD;
    let hi = -1;
    for (let g = 0; g < GD; g++) {
      const c = this.dCdf[o + g]!;
      const d = c - prev;
      this.dPdfC[o + g] = d;
      prev = c;
      if (!(d < 1e-9)) {
        if (lo === GD) lo = g;
        hi = g;
      }
    }
    this.dSup[2 * i] = lo;
    this.dSup[2 * i + 1] = hi;
    this.dPdfOk[i] = 1;
  }

  /**
   * Pdf of the total correction δ_{c,a} + η_d + ξ_{d,a} on the GW grid into wPdf (hPdf and xPdf[j] must be set, and
   * cell i's CDF current). The loops visit only the supports (entries ≥ 1e-9) of the δ and η pdfs, which are the
   * only terms the full-grid convolution adds, in the same order; wPdf is zero outside [wLo, wHi].
   */
  private totalPdf(i: number, j: number): void {
    this.cellDensity(i);
    const d = this.dPdfC;
    const o = i * GD;
    const lo = this.dSup[2 * i]!;
    const hi = this.dSup[2 * i + 1]!;
    const hLo = this.hLo;
    const hHi = this.hHi;
    const hp = this.hPdf;
    const t = this.wTmp;
    const tLo = lo + hLo;
    const tHi = hi + hHi;
    if (tLo <= tHi) t.fill(0, tLo, tHi + 1);
    for (let g = lo; g <= hi; g++) {
      const wg = d[o + g]!;
      if (wg < 1e-9) continue;
      for (let h = hLo; h <= hHi; h++) {
        const wh = hp[h]!;
        if (wh >= 1e-9) t[g + h] = t[g + h]! + wg * wh;
      }
    }
    const w = this.wPdf;
    if (this.wLo <= this.wHi) w.fill(0, this.wLo, this.wHi + 1);
    const xo = j * GH;
    if (this.xPdf[xo + H0] === 1) {
      // ξ is a point mass at 0 (deviceArmSd 0, or no device): the convolution is a shift by H0 — the same sums
      // as the loop below (each w[k + H0] = 0 + t[k]·1), without its 41 × 101 visits.
      for (let k = tLo; k <= tHi; k++) if (t[k]! >= 1e-9) w[k + H0] = t[k]!;
      this.wLo = tLo + H0;
      this.wHi = tHi + H0;
      return;
    }
    for (let k = tLo; k <= tHi; k++) {
      const wk = t[k]!;
      if (wk < 1e-9) continue;
      for (let x = 0; x < GH; x++) {
        const wx = this.xPdf[xo + x]!;
        if (wx >= 1e-9) w[k + x] = w[k + x]! + wk * wx;
      }
    }
    this.wLo = tLo;
    this.wHi = tHi + GH - 1;
  }

  /** Mean and (into sdMu[j]) sd of the reward of position j over wPdf. */
  private totalMean(j: number, E: number, tau: number): number {
    let m = 0;
    let m2 = 0;
    let s = 0;
    for (let k = this.wLo; k <= this.wHi; k++) {
      const w = this.wPdf[k]!;
      if (w <= 1e-6) continue;
      const v = this.valueAt(j, EXP_W[k]!, E, tau);
      s += w;
      m += w * v;
      m2 += w * v * v;
    }
    m /= s;
    this.sdMu[j] = Math.sqrt(Math.max(0, m2 / s - m * m));
    return m;
  }

  /** Reward of position j at the q-quantile of wPdf. */
  private totalQuantile(j: number, q: number, E: number, tau: number): number {
    let s = 0;
    let tot = 0;
    for (let k = 0; k < GW; k++) tot += this.wPdf[k]!;
    for (let k = 0; k < GW; k++) {
      s += this.wPdf[k]!;
      if (s >= q * tot) return this.valueAt(j, EXP_W[k]!, E, tau);
    }
    return this.valueAt(j, EXP_W[GW - 1]!, E, tau);
  }

  /**
   * Decision scores with the device-level terms: per offered arm the total correction's pdf, then the posterior mean
   * ('greedy', knownScore 'mean'), the q-quantile ('optimism'), or the gap rule; 'thompson' draws η once per sample.
   */
  private deviceScores(batch: FeatureBatch, logEMean: number, bf: number, tau: number, u: number, out: Float64Array | null, forDecision: boolean): void {
    const k = batch.k;
    const E = Math.exp(logEMean) * bf;
    const c = this.inp.cls;
    const dv = this.deviceIndex(false);
    this.devicePdf(dv);
    for (let j = 0; j < k; j++) this.deviceArmPdf(dv, batch.arms[j]!, j);
    if (this.explore === 'thompson' && out) {
      const rng = forDecision ? this.rng : new Rng(this.rng.getState());
      const counts = this.counts;
      counts.fill(0, 0, k);
      for (let j = 0; j < k; j++) this.cell(c, batch.arms[j]!);
      for (let s = 0; s < this.samples; s++) {
        const Es = E_VALS[sampleCdf(this.uCdf, 0, GE, rng.next())]! * bf;
        const h = sampleCdf(this.hCdfS, 0, GH, rng.next());
        let best = -Infinity;
        let bj = 0;
        for (let j = 0; j < k; j++) {
          const i = c * this.numArms + batch.arms[j]!;
          const g = sampleCdf(this.dCdf, i * GD, GD, rng.next());
          const x = sampleCdf(this.xCdfS, j * GH, GH, rng.next());
          const v = this.valueAt(j, EXP_W[g + h + x]!, Es, tau) + this.bias(u, batch.arms[j]!);
          if (v > best) {
            best = v;
            bj = j;
          }
        }
        counts[bj] = counts[bj]! + 1;
      }
      this.sampledProbs(out, k);
      return;
    }
    // out null: posterior means only (predict / greedy)
    const useGap = out !== null && (this.explore === 'gap' || (this.explore === 'optimism' && this.knownScore === 'gap' && this.coldCls[c] === 0));
    const useMean = out === null || this.explore === 'greedy' || (this.explore === 'optimism' && this.knownScore === 'mean' && this.coldCls[c] === 0);
    let best = -Infinity;
    for (let j = 0; j < k; j++) {
      const i = this.cell(c, batch.arms[j]!);
      this.totalPdf(i, j);
      const b = this.bias(u, batch.arms[j]!);
      this.mu[j] = (useMean || useGap ? this.totalMean(j, E, tau) : this.totalQuantile(j, this.cellQuantile[c]!, E, tau)) + b;
      if (this.mu[j]! > best) best = this.mu[j]!;
    }
    if (useGap) {
      let pick = -1;
      for (let j = 0; j < k; j++) {
        if (this.mu[j]! < best - this.gapTol) continue;
        if (pick < 0 || this.sdMu[j]! > this.sdMu[pick]! || (this.sdMu[j] === this.sdMu[pick] && this.mu[j]! > this.mu[pick]!)) pick = j;
      }
      for (let j = 0; j < k; j++) this.mu[j] = j === pick ? 1 : 0;
    }
    if (out) greedyMix(this.mu, k, this.epsilon, out);
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
      this.dPdfOk[i] = 0;
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
    const u = this.users.get(p);
    if (u >= 0 || !create) return u;
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
      this.growUserCache(cap);
    }
    const i = this.nUsers++;
    this.userKeys.set(p, i * 4);
    this.users.set(p, 0, i);
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
    const m = toCdf(this.uLL, u * GE, null, 0, GE, LOG_E, this.uCdf, 0);
    this.uMeanC[u] = m;
    this.uOk[u] = 1;
    return m;
  }

  /** Posterior mean of profile u's log E (u ≥ 0): the cached value while the profile's likelihood is unchanged. */
  private userMean(u: number): number {
    return this.cache && this.uOk[u] ? this.uMeanC[u]! : this.userPosterior(u);
  }

  private growUserCache(cap: number): void {
    const m = new Float64Array(cap);
    m.set(this.uMeanC.subarray(0, Math.min(cap, this.uMeanC.length)));
    this.uMeanC = m;
    const ok = new Uint8Array(cap);
    ok.set(this.uOk.subarray(0, Math.min(cap, this.uOk.length)));
    this.uOk = ok;
  }

  private growDeviceCache(cap: number): void {
    const m = new Float64Array(cap);
    m.set(this.hMeanC.subarray(0, Math.min(cap, this.hMeanC.length)));
    this.hMeanC = m;
    const ok = new Uint8Array(cap);
    ok.set(this.hOk.subarray(0, Math.min(cap, this.hOk.length)));
    this.hOk = ok;
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
    const lat = inp.latMs[j]! * expDelta * this.latScale;
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
    if (this.dev) {
      this.deviceScores(batch, logEMean, 1, tau, u, null, false);
      return;
    }
    const E = Math.exp(logEMean);
    const c = this.inp.cls;
    for (let j = 0; j < batch.k; j++) {
      const i = this.cell(c, batch.arms[j]!);
      this.mu[j] = this.meanValue(j, i, E, tau) + this.bias(u, batch.arms[j]!);
    }
  }

  protected fillProbs(batch: FeatureBatch, out: Float64Array, forDecision: boolean): void {
    this.space.qoeInputs(batch, this.inp);
    this.setClassScale();
    const k = batch.k;
    const u = this.userIndex(false);
    const logEMean = this.userPosterior(u);
    const tau = this.tauMap();
    const bf = this.batt(this.betaMap());
    if (this.dev) {
      this.deviceScores(batch, logEMean, bf, tau, u, out, forDecision);
      return;
    }
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
    this.sampledProbs(out, k);
  }

  /** Propensities from the posterior samples' argmax counts, mixed with ε/k. */
  private sampledProbs(out: Float64Array, k: number): void {
    const floor = this.epsilon / k;
    for (let j = 0; j < k; j++) out[j] = floor + ((1 - this.epsilon) * this.counts[j]!) / this.samples;
  }

  protected learn(batch: FeatureBatch, j: number, reward: number): void {
    this.space.qoeInputs(batch, this.inp);
    this.setClassScale();
    const inp = this.inp;
    const a = batch.arms[j]!;
    const i = this.cell(inp.cls, a);
    const u = this.userIndex(true);
    const logEMean = this.userMean(u);
    const tau = this.tauMap();
    const beta = this.betaMap();
    const bf = this.batt(beta);
    const E = Math.exp(logEMean) * bf;
    const dCell = this.dMean[i]!;
    // Device-level terms at their posterior means (mean-field), before this update.
    const dv = this.deviceIndex(true);
    let hBar = 0;
    let xBar = 0;
    if (dv >= 0) {
      hBar = this.cache && this.hOk[dv] ? this.hMeanC[dv]! : this.hPost(this.hPrior, this.hLL, dv * GH, this.hPdf, 0);
      if (this.deviceArmSd > 0) xBar = this.hPost(this.xPrior, this.xLL, (dv * this.numArms + a) * GH, this.xPdf, 0);
    }
    // Total log-latency correction at the posterior means (δ alone without device terms).
    const dBar = dv >= 0 ? dCell + hBar + xBar : dCell;
    const b = this.bias(u, a);
    const r0 = reward;
    reward = r0 - b;
    if (this.changeThreshold > 0) this.detectChange(inp.cls, reward, this.value(j, dBar, E, tau));
    if (this.driftSd > 0 && this.updates > this.cellT[i]!) {
      // Fold the random walk since the cell's last update into its state: dLL := log(diffused posterior) − prior.
      const pdf = this.pdfOut;
      this.cellPdf(i, pdf);
      const sc = this.staleScale(i);
      for (let g = 0; g < GD; g++) this.dLL[i * GD + g] = (Math.log(Math.max(pdf[g]!, 1e-300)) - this.dPrior[i * GD + g]!) / sc;
    }
    const g0 = this.forget * this.staleScale(i);
    if (this.aged()) this.cellT[i] = this.updates;
    if (dv >= 0) {
      const f = Math.exp(hBar + xBar);
      for (let g = 0; g < GD; g++) this.dLL[i * GD + g] = g0 * this.dLL[i * GD + g]! + this.ll(reward, this.valueAt(j, EXP_DELTA[g]! * f, E, tau), r0);
      if (this.deviceSd > 0) {
        for (let h = 0; h < GH; h++) this.hLL[dv * GH + h] = this.hLL[dv * GH + h]! + this.ll(reward, this.value(j, dCell + xBar + H_GRID[h]!, E, tau), r0);
        this.hOk[dv] = 0;
      }
      if (this.deviceArmSd > 0) {
        const o = (dv * this.numArms + a) * GH;
        for (let x = 0; x < GH; x++) this.xLL[o + x] = this.xLL[o + x]! + this.ll(reward, this.value(j, dCell + hBar + H_GRID[x]!, E, tau), r0);
      }
    } else if (this.clippedLikelihood) {
      for (let g = 0; g < GD; g++) this.dLL[i * GD + g] = g0 * this.dLL[i * GD + g]! + this.ll(reward, this.valueAt(j, EXP_DELTA[g]!, E, tau), r0);
    } else {
      const h = this.invTwoVar;
      for (let g = 0; g < GD; g++) {
        const e = reward - this.valueAt(j, EXP_DELTA[g]!, E, tau);
        this.dLL[i * GD + g] = g0 * this.dLL[i * GD + g]! - h * e * e;
      }
    }
    this.dDirty[i] = 1;
    if (this.classSd > 0 && this.coldCls[inp.cls] === 0) {
      // Class offset γ_c: likelihood at the other terms' posterior means, discounted by classForget per class update.
      const c = inp.cls;
      const ls = this.latScale;
      this.latScale = 1;
      for (let h = 0; h < GH; h++) this.gLL[c * GH + h] = this.classForget * this.gLL[c * GH + h]! + this.ll(reward, this.value(j, dBar + H_GRID[h]!, E, tau), r0);
      this.latScale = ls;
      this.gDirty[c] = 1;
    }
    for (let g = 0; g < GE; g++) this.uLL[u * GE + g] = this.uLL[u * GE + g]! + this.ll(reward, this.value(j, dBar, E_VALS[g]! * bf, tau), r0);
    this.uOk[u] = 0;
    for (let g = 0; g < GT; g++) this.tLL[g] = this.tLL[g]! + this.ll(reward, this.value(j, dBar, E, TAU[g]!), r0);
    const E0 = Math.exp(logEMean);
    for (let g = 0; g < GB; g++) this.bLL[g] = this.bLL[g]! + this.ll(reward, this.value(j, dBar, E0 * this.batt(BETA[g]!), tau), r0);
    if (this.userArmSd > 0) {
      const o = (u * this.numArms + a) * 2;
      this.uB[o] = this.uB[o]! + (r0 - this.value(j, dBar, E, tau));
      this.uB[o + 1] = this.uB[o + 1]! + 1;
    }
  }

  /**
   * Two-sided CUSUM of the standardised residual z = (reward − μ̂)/σ of class c (slack 0.5). When either side exceeds
   * changeThreshold, every cell of the class has its latency log-likelihood multiplied by changeReset (its posterior
   * widens towards the prior) and the statistics restart.
   */
  private detectChange(c: number, reward: number, mu: number): void {
    const z = (reward - mu) / this.sigma;
    const up = Math.max(0, this.cusum[2 * c]! + z - CUSUM_SLACK);
    const down = Math.max(0, this.cusum[2 * c + 1]! - z - CUSUM_SLACK);
    if (up > this.changeThreshold || down > this.changeThreshold) {
      this.changesDetected++;
      this.cusum[2 * c] = 0;
      this.cusum[2 * c + 1] = 0;
      for (let a = 0; a < this.numArms; a++) {
        const i = c * this.numArms + a;
        for (let g = 0; g < GD; g++) this.dLL[i * GD + g] = this.changeReset * this.dLL[i * GD + g]!;
        this.dDirty[i] = 1;
      }
      return;
    }
    this.cusum[2 * c] = up;
    this.cusum[2 * c + 1] = down;
  }

  /**
   * Posterior mean and sd of the class-wide log-latency offset γ_c of a device class (classSd > 0; catalogued classes;
   * the point mass at 0 otherwise). For inspection and tests.
   */
  classPosterior(cls: string): { mean: number; sd: number } {
    const c = this.classIndex(cls, 'classPosterior');
    if (this.classSd <= 0 || this.coldCls[c]) return { mean: 0, sd: 0 };
    return this.hMoments(this.gPrior, this.gLL, c * GH);
  }

  /**
   * Posterior mean and sd of the per-device-type log-latency offset η_d of the device type (class, log_speed), and its
   * number of updates; the prior (n = 0) for a device type not seen. For inspection and tests (deviceSd > 0).
   */
  devicePosterior(cls: string, logSpeed: number): { mean: number; sd: number; seen: boolean } {
    const c = this.classIndex(cls, 'devicePosterior');
    const d = this.devices.get([c, Number(logSpeed.toPrecision(9))]);
    return { ...this.hMoments(this.hPrior, d >= 0 ? this.hLL : null, Math.max(0, d) * GH), seen: d >= 0 };
  }

  /** Index of a catalogued device class; an unknown name is BAD_CONFIG naming the inspection method. */
  private classIndex(cls: string, method: string): number {
    const c = this.space.qoe!.classes.indexOf(cls);
    if (c < 0) {
      throw new BanditError({
        code: 'BAD_CONFIG',
        message: `${method}: device class "${cls}" is not in the catalogue (classes: ${this.space.qoe!.classes.join(', ')})`,
        path: 'cls',
        hint: 'use a class of space.qoe.classes',
      });
    }
    return c;
  }

  /** Mean and sd of an offset's posterior on the η grid (prior × the likelihood row at `off`). */
  private hMoments(prior: Float64Array, ll: Float64Array | null, off: number): { mean: number; sd: number } {
    const pdf = new Float64Array(GH);
    const m = this.hPost(prior, ll, off, pdf, 0);
    let m2 = 0;
    for (let h = 0; h < GH; h++) m2 += pdf[h]! * H_GRID[h]! ** 2;
    return { mean: m, sd: Math.sqrt(Math.max(0, m2 - m * m)) };
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
    this.setClassScale();
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
      ...(this.dev
        ? { devKeys: this.devKeys.subarray(0, this.nDev * 2), hLL: this.hLL.subarray(0, this.nDev * GH), xLL: this.xLL.subarray(0, this.nDev * this.numArms * GH) }
        : {}),
      ...(this.changeThreshold > 0 ? { cusum: this.cusum } : {}),
      ...(this.classSd > 0 ? { gLL: this.gLL } : {}),
    };
  }

  override loadState(state: PolicyState): void {
    const keys = state.arrays.userKeys;
    const n = Array.isArray(keys) ? Math.floor(keys.length / 4) : 0;
    this.nUsers = n;
    this.uLL = new Float64Array(Math.max(64, n) * GE);
    this.userKeys = new Float64Array(Math.max(64, n) * 4);
    this.uB = new Float64Array(Math.max(64, n) * this.numArms * 2);
    this.growUserCache(Math.max(64, n));
    if (this.dev) {
      const dk = state.arrays.devKeys;
      const nd = Array.isArray(dk) ? Math.floor(dk.length / 2) : 0;
      this.nDev = nd;
      this.devKeys = new Float64Array(Math.max(64, nd) * 2);
      this.hLL = new Float64Array(Math.max(64, nd) * GH);
      this.xLL = new Float64Array(Math.max(64, nd) * this.numArms * GH);
      this.growDeviceCache(Math.max(64, nd));
    }
    super.loadState(state);
  }

  protected override afterLoad(): void {
    this.users.clear();
    for (let i = 0; i < this.nUsers; i++) this.users.set(this.userKeys, i * 4, i);
    this.devices.clear();
    for (let i = 0; i < this.nDev; i++) this.devices.set(this.devKeys, i * 2, i);
    this.dDirty.fill(1);
    this.gDirty.fill(1);
    this.uOk.fill(0);
    this.hOk.fill(0);
  }
}
