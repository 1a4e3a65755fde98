/**
 * Off-policy evaluation (ALGORITHMS.md §6.5) of a target policy π from logs (x_i, a_i, r_i, p_i):
 * - IPS   V̂ = (1/n) Σ w_i r_i,                 w_i = min(π(a_i|x_i)/p_i, M)
 * - IPS-CV V̂ = (1/n) Σ w_i r_i − β̂·(1/n) Σ (w_i − ω_i), the IPS with the weight as control variate: ω_i = E[w_i | x_i]
 *   under the logging policy (1 without clipping; Σ_a min(π(a|x_i), M·p(a|x_i)) when the logging probabilities of
 *   all offered arms are logged) and β̂ = cov(w r, w)/var(w), the variance-minimising coefficient
 * - SNIPS V̂ = Σ w_i r_i / Σ w_i
 * - DM    V̂ = (1/n) Σ_i Σ_a π(a|x_i) r̂(x_i, a)   (r̂: ridge on φ, cross-fitted in folds)
 * - DR    V̂ = (1/n) Σ_i [Σ_a π(a|x_i) r̂(x_i, a) + w_i (r_i − r̂(x_i, a_i))]
 * with percentile-bootstrap confidence intervals and the effective sample size (Σw)²/Σw².
 */
import { type Catalogue, type FeatureBatch, FeatureSpace, parseCatalogue } from './catalogue.js';
import { BanditError } from './errors.js';
import { addOuter, identity, invertSpd, matVec } from './linalg.js';
import type { LoggedExample } from './logging.js';
import type { Policy } from './policies/base.js';
import { Rng } from './rng.js';

/** One logged decision in encoded form. */
export interface OpeSample {
  /** Encoded context [1, x̃]. */
  ctx: Float64Array;
  /** Offered arms (catalogue indices), in order. */
  arms: Int32Array;
  /** Position of the chosen arm in `arms`. */
  chosen: number;
  /** Logging probability of the chosen arm. */
  propensity: number;
  reward: number;
  /** Logging probabilities of every offered arm (optional; makes the IPS control variate exact under clipping). */
  probs?: Float64Array;
}

/** A target policy: a Policy (its `probabilities`) or a function filling π(·|x) over batch positions. */
export type TargetPolicy = Policy | ((batch: FeatureBatch, out: Float64Array) => void);

export interface OpeOptions {
  /** Clip importance weights at M (default 50). */
  clip?: number;
  /** Cross-fitting folds for the DM/DR reward model (default 2). */
  folds?: number;
  /** Ridge λ of the reward model (default 1). */
  lambda?: number;
  /** Bootstrap resamples for the CI (default 1000; 0 = none). */
  bootstrap?: number;
  /** CI level (default 0.95). */
  level?: number;
  seed?: number;
}

export interface OpeEstimate {
  value: number;
  ci: [number, number];
}

export interface OpeReport {
  n: number;
  ips: OpeEstimate;
  /** IPS with the importance weight as a control variate (lower variance when rewards are far from 0). */
  ipsCv: OpeEstimate;
  snips: OpeEstimate;
  dm: OpeEstimate;
  dr: OpeEstimate;
  /** Mean logged reward (the logging policy's on-policy value). */
  logged: number;
  /** Effective sample size (Σw)²/Σw². */
  ess: number;
  maxWeight: number;
  /** Share of samples whose weight was clipped. */
  clippedShare: number;
}

function targetProbs(target: TargetPolicy, batch: FeatureBatch, out: Float64Array): void {
  if (typeof target === 'function') target(batch, out);
  else target.probabilities(batch, out);
}

/** Estimate the value of `target` from logged samples. */
export function estimateOffPolicy(samples: readonly OpeSample[], space: FeatureSpace, target: TargetPolicy, opts: OpeOptions = {}): OpeReport {
  const n = samples.length;
  if (n === 0) throw new BanditError({ code: 'BAD_LOG', message: 'no logged samples with a reward to evaluate', hint: 'log decisions together with their rewards' });
  const M = opts.clip ?? 50;
  const folds = Math.max(1, Math.min(opts.folds ?? 2, n));
  const lambda = opts.lambda ?? 1;
  const d = space.dim;
  const batch = space.newBatch();
  const fill = (s: OpeSample) => {
    batch.ctx.set(s.ctx);
    batch.k = s.arms.length;
    batch.arms.set(s.arms);
    space.fill(batch);
  };
  samples.forEach((s, i) => {
    if (!(s.propensity > 0 && s.propensity <= 1) || !(s.chosen >= 0 && s.chosen < s.arms.length) || !Number.isFinite(s.reward)) {
      throw new BanditError({
        code: 'BAD_LOG',
        message: `sample ${i}: propensity ${s.propensity} (need 0 < p ≤ 1), chosen ${s.chosen} of ${s.arms.length} arms, reward ${s.reward}`,
        path: `samples[${i}]`,
        hint: 'log the probability of the chosen arm under the logging policy; IPS/DR need p > 0',
      });
    }
  });
  // Cross-fitted ridge reward models on φ of the chosen arm.
  const fold = new Int32Array(n);
  for (let i = 0; i < n; i++) fold[i] = i % folds;
  const thetas: Float64Array[] = [];
  {
    const As = Array.from({ length: folds }, () => new Float64Array(d * d));
    const bs = Array.from({ length: folds }, () => new Float64Array(d));
    samples.forEach((s, i) => {
      fill(s);
      const f = fold[i]!;
      addOuter(As[f]!, batch.phi, d, 1, s.chosen * d);
      for (let q = 0; q < d; q++) bs[f]![q] = bs[f]![q]! + s.reward * batch.phi[s.chosen * d + q]!;
    });
    const inv = new Float64Array(d * d);
    const scratch = new Float64Array(d * d);
    for (let f = 0; f < folds; f++) {
      // Train on all folds but f (or on everything when folds = 1).
      const A = identity(d, lambda);
      const b = new Float64Array(d);
      for (let g = 0; g < folds; g++) {
        if (g === f && folds > 1) continue;
        for (let q = 0; q < d * d; q++) A[q] = A[q]! + As[g]![q]!;
        for (let q = 0; q < d; q++) b[q] = b[q]! + bs[g]![q]!;
      }
      invertSpd(A, d, inv, scratch);
      const th = new Float64Array(d);
      matVec(inv, b, d, th);
      thetas.push(th);
    }
  }
  const pi = new Float64Array(space.numArms);
  const ipsT = new Float64Array(n);
  const wT = new Float64Array(n);
  const dmT = new Float64Array(n);
  const drT = new Float64Array(n);
  const omT = new Float64Array(n);
  let logged = 0;
  let maxW = 0;
  let clipped = 0;
  samples.forEach((s, i) => {
    fill(s);
    targetProbs(target, batch, pi);
    const th = thetas[fold[i]!]!;
    let dm = 0;
    let rhatChosen = 0;
    for (let j = 0; j < batch.k; j++) {
      let r = 0;
      for (let q = 0; q < d; q++) r += th[q]! * batch.phi[j * d + q]!;
      dm += pi[j]! * r;
      if (j === s.chosen) rhatChosen = r;
    }
    let w = pi[s.chosen]! / s.propensity;
    if (w > maxW) maxW = w;
    if (w > M) {
      w = M;
      clipped++;
    }
    wT[i] = w;
    let om = 1;
    if (s.probs && s.probs.length >= batch.k) {
      om = 0;
      for (let j = 0; j < batch.k; j++) if (s.probs[j]! > 0) om += Math.min(pi[j]!, M * s.probs[j]!);
    }
    omT[i] = om;
    ipsT[i] = w * s.reward;
    dmT[i] = dm;
    drT[i] = dm + w * (s.reward - rhatChosen);
    logged += s.reward;
  });
  const mean = (a: Float64Array) => a.reduce((p, q) => p + q, 0) / a.length;
  const sumW = wT.reduce((p, q) => p + q, 0);
  const sumW2 = wT.reduce((p, q) => p + q * q, 0);
  // IPS with control variate from sums (Σwr, Σw, Σω, Σw², Σ wr·w).
  const cv = (si: number, sw: number, so: number, sww: number, swr: number, m: number): number => {
    const mw = sw / m;
    const vw = sww / m - mw * mw;
    const beta = vw > 1e-15 ? (swr / m - (si / m) * mw) / vw : 0;
    return si / m - beta * (mw - so / m);
  };
  let sWW = 0;
  let sWRW = 0;
  for (let i = 0; i < n; i++) {
    sWW += wT[i]! * wT[i]!;
    sWRW += ipsT[i]! * wT[i]!;
  }
  const sumIps = ipsT.reduce((p, q) => p + q, 0);
  const sumOm = omT.reduce((p, q) => p + q, 0);
  const point = {
    ips: sumIps / n,
    ipsCv: cv(sumIps, sumW, sumOm, sWW, sWRW, n),
    snips: sumW > 0 ? sumIps / sumW : 0,
    dm: mean(dmT),
    dr: mean(drT),
  };
  const B = opts.bootstrap ?? 1000;
  const level = opts.level ?? 0.95;
  const keys = ['ips', 'ipsCv', 'snips', 'dm', 'dr'] as const;
  const cis = Object.fromEntries(keys.map((k) => [k, [point[k], point[k]]])) as Record<keyof typeof point, [number, number]>;
  if (B > 0) {
    const rng = new Rng(opts.seed ?? 1);
    const res = { ips: new Float64Array(B), ipsCv: new Float64Array(B), snips: new Float64Array(B), dm: new Float64Array(B), dr: new Float64Array(B) };
    for (let bi = 0; bi < B; bi++) {
      let si = 0;
      let sw = 0;
      let sd = 0;
      let sr = 0;
      let so = 0;
      let sww = 0;
      let swr = 0;
      for (let q = 0; q < n; q++) {
        const i = rng.int(n);
        const wi = wT[i]!;
        si += ipsT[i]!;
        sw += wi;
        sd += dmT[i]!;
        sr += drT[i]!;
        so += omT[i]!;
        sww += wi * wi;
        swr += ipsT[i]! * wi;
      }
      res.ips[bi] = si / n;
      res.ipsCv[bi] = cv(si, sw, so, sww, swr, n);
      res.snips[bi] = sw > 0 ? si / sw : 0;
      res.dm[bi] = sd / n;
      res.dr[bi] = sr / n;
    }
    const lo = (1 - level) / 2;
    for (const key of keys) {
      const a = res[key].sort();
      cis[key] = [quantile(a, lo), quantile(a, 1 - lo)];
    }
  }
  return {
    n,
    ips: { value: point.ips, ci: cis.ips },
    ipsCv: { value: point.ipsCv, ci: cis.ipsCv },
    snips: { value: point.snips, ci: cis.snips },
    dm: { value: point.dm, ci: cis.dm },
    dr: { value: point.dr, ci: cis.dr },
    logged: logged / n,
    ess: sumW2 > 0 ? (sumW * sumW) / sumW2 : 0,
    maxWeight: maxW,
    clippedShare: clipped / n,
  };
}

/** Linear-interpolated quantile of a sorted array. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const pos = Math.min(n - 1, Math.max(0, q * (n - 1)));
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Build a FeatureSpace from a log: arms = the union of logged arms (by id), context names from the first example,
 * context scaled by its mean/sd over the log. `interactions` and `qoe` as in the catalogue (default: the QoE block
 * when the logged features allow it, and interactions only without it).
 */
export function spaceFromLog(examples: readonly LoggedExample[], interactions?: boolean, qoe?: boolean): FeatureSpace {
  if (examples.length === 0) throw new BanditError({ code: 'BAD_LOG', message: 'the log is empty', hint: 'pass a log with at least one decision' });
  const arms = new Map<string, Record<string, number>>();
  for (const ex of examples) for (const a of ex.arms) if (!arms.has(a.id)) arms.set(a.id, { ...a.features });
  const names = Object.keys(examples[0]!.context);
  const context = names.map((name) => {
    let s = 0;
    let s2 = 0;
    for (const ex of examples) {
      const v = ex.context[name] ?? 0;
      s += v;
      s2 += v * v;
    }
    const m = s / examples.length;
    const sd = Math.sqrt(Math.max(0, s2 / examples.length - m * m));
    return { name, center: m, scale: sd > 1e-9 ? sd : 1 };
  });
  const cat: Catalogue = parseCatalogue(
    { arms: [...arms].map(([id, features]) => ({ id, features })), context, ...(interactions !== undefined ? { interactions } : {}), ...(qoe !== undefined ? { qoe } : {}) },
    'log',
  );
  return new FeatureSpace(cat);
}

/** Encode logged examples (those with a reward) into OPE samples for a feature space. */
export function samplesFromLog(examples: readonly LoggedExample[], space: FeatureSpace): OpeSample[] {
  const out: OpeSample[] = [];
  examples.forEach((ex, i) => {
    if (ex.reward === undefined || ex.chosen < 0) return;
    const ctx = new Float64Array(space.ctxDim);
    space.encodeContext(ex.context, ctx, `log[${i}].context`);
    const arms = new Int32Array(ex.arms.length);
    space.resolveArms(
      ex.arms.map((a) => a.id),
      arms,
      `log[${i}].arms`,
    );
    const probs = ex.probs && ex.probs.length === ex.arms.length ? Float64Array.from(ex.probs) : undefined;
    out.push({ ctx, arms, chosen: ex.chosen, propensity: ex.probability, reward: ex.reward, ...(probs ? { probs } : {}) });
  });
  return out;
}
