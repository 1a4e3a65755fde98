import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { createBatch, createPolicy, EpsilonGreedy, estimateOffPolicy, type OpeSample, Ridge, Rng } from '../src/index.js';
import { opeSpace } from './helpers.js';
import { allArms, invertSpdForTests, sampleRound } from './qoeHelpers.js';

describe('decaying ε-greedy', () => {
  test.prop([fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 1, max: 500 }), fc.integer({ min: 2, max: 8 })], { seed: 7, numRuns: 40 })(
    'probabilities sum to 1, the floor is ε_t/k with ε_t = ε·min(1, √(t0/t))',
    (eps, t0, k) => {
      const d = 4;
      const p = createPolicy({ kind: 'egreedy', epsilon: eps, decayT0: t0, seed: 1 }, { numArms: k, dim: d, ctxDim: 1, armIds: [] }) as EpsilonGreedy;
      const batch = createBatch(k, d, 1);
      batch.k = k;
      for (let a = 0; a < k; a++) batch.arms[a] = a;
      const rng = new Rng(3);
      for (let t = 0; t < 30; t++) {
        for (let i = 0; i < k * d; i++) batch.phi[i] = rng.normal();
        const j = p.decide(batch);
        const epsT = eps * Math.min(1, Math.sqrt(t0 / Math.max(1, t)));
        let sum = 0;
        let min = Infinity;
        for (let a = 0; a < k; a++) {
          sum += p.probs[a]!;
          min = Math.min(min, p.probs[a]!);
        }
        expect(sum).toBeCloseTo(1, 12);
        // (at t = 0 the model is all zeros and every arm ties, so all share the greedy mass)
        if (t > 0) expect(min).toBeCloseTo(epsT / k, 12);
        p.update(batch, j, rng.next());
      }
    },
  );
});

describe('ridge forgetting', () => {
  it('A and b equal the blockwise-discounted sums with the prior kept: γᴮ·(…) + (1 − γᴮ)λI', () => {
    const d = 5;
    const lambda = 2;
    const g = 0.99;
    const r = new Ridge(d, lambda, 1000, g);
    const rng = new Rng(4);
    // Independent reference: full matrices, discount every 100 updates.
    const A = new Float64Array(d * d);
    for (let i = 0; i < d; i++) A[i * d + i] = lambda;
    const b = new Float64Array(d);
    const x = new Float64Array(d);
    for (let t = 1; t <= 350; t++) {
      for (let i = 0; i < d; i++) x[i] = rng.normal();
      const y = rng.next();
      r.update(x, 0, y);
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) A[i * d + j] = A[i * d + j]! + x[i]! * x[j]!;
        b[i] = b[i]! + y * x[i]!;
      }
      if (t % 100 === 0) {
        const gb = g ** 100;
        for (let i = 0; i < d * d; i++) A[i] = A[i]! * gb;
        for (let i = 0; i < d; i++) {
          A[i * d + i] = A[i * d + i]! + (1 - gb) * lambda;
          b[i] = b[i]! * gb;
        }
      }
    }
    const theta = invertSpdForTests(A, b, d);
    for (let i = 0; i < d; i++) {
      expect(r.b[i]).toBeCloseTo(b[i]!, 9);
      expect(r.theta[i]).toBeCloseTo(theta[i]!, 9);
      for (let j = i; j < d; j++) expect(r.A[i * d + j]).toBeCloseTo(A[i * d + j]!, 9);
    }
  });

  it('a forgotten direction regains its uncertainty (LinUCB width grows back)', () => {
    const d = 3;
    const r = new Ridge(d, 1, 1000, 0.995);
    const e0 = Float64Array.from([1, 0, 0]);
    const e1 = Float64Array.from([0, 1, 0]);
    for (let t = 0; t < 100; t++) r.update(e0, 0, 0.5);
    const early = r.variance(e0);
    for (let t = 0; t < 1000; t++) r.update(e1, 0, 0.5);
    expect(r.variance(e0)).toBeGreaterThan(30 * early);
    expect(r.variance(e0)).toBeLessThanOrEqual(1 + 1e-12);
  });
});

describe('ridge and an exactly collinear φ', () => {
  // φ = Q z with Q an orthonormal d × (d − 1) embedding: every φ is orthogonal to the same direction v, like
  // [1, w_acc, w_lat, w_energy] with w_acc + w_lat + w_energy = 1. The ridge on φ must predict (and LinUCB must
  // score) exactly like a ridge on z, i.e. the collinearity changes nothing.
  test.prop([fc.integer({ min: 2, max: 7 }), fc.integer({ min: 1, max: 1e6 })], { seed: 11, numRuns: 30 })('ridge on φ = Qz equals ridge on z (mean and width)', (d, seed) => {
    const rng = new Rng(seed);
    // Orthonormal columns by Gram–Schmidt of random vectors (d × (d−1)).
    const m = d - 1;
    const Q = new Float64Array(d * m);
    for (let c = 0; c < m; c++) {
      const v = new Float64Array(d);
      for (let i = 0; i < d; i++) v[i] = rng.normal();
      for (let p = 0; p < c; p++) {
        let dot = 0;
        for (let i = 0; i < d; i++) dot += v[i]! * Q[i * m + p]!;
        for (let i = 0; i < d; i++) v[i] = v[i]! - dot * Q[i * m + p]!;
      }
      const n = Math.hypot(...v);
      for (let i = 0; i < d; i++) Q[i * m + c] = v[i]! / n;
    }
    const embed = (z: Float64Array) => {
      const x = new Float64Array(d);
      for (let i = 0; i < d; i++) for (let c = 0; c < m; c++) x[i] = x[i]! + Q[i * m + c]! * z[c]!;
      return x;
    };
    const big = new Ridge(d, 1, 0);
    const small = new Ridge(m, 1, 0);
    for (let t = 0; t < 40; t++) {
      const z = new Float64Array(m);
      for (let c = 0; c < m; c++) z[c] = rng.normal();
      const y = rng.next();
      big.update(embed(z), 0, y);
      small.update(z, 0, y);
    }
    for (let t = 0; t < 5; t++) {
      const z = new Float64Array(m);
      for (let c = 0; c < m; c++) z[c] = rng.normal();
      expect(big.predict(embed(z))).toBeCloseTo(small.predict(z), 9);
      expect(big.variance(embed(z))).toBeCloseTo(small.variance(z), 9);
    }
  });
});

describe('IPS with a control variate', () => {
  const space = opeSpace(3);
  const logging = [0.6, 0.3, 0.1];
  const target = [0.1, 0.2, 0.7];
  const log = (means: number[], n: number, seed: number, withProbs: boolean): OpeSample[] => {
    const rng = new Rng(seed);
    const out: OpeSample[] = [];
    for (let i = 0; i < n; i++) {
      const u = rng.next();
      const a = u < 0.6 ? 0 : u < 0.9 ? 1 : 2;
      const reward = Math.min(1, Math.max(0, means[a]! + 0.05 * rng.normal()));
      out.push({
        ctx: Float64Array.from([1, 0]),
        arms: Int32Array.from([0, 1, 2]),
        chosen: a,
        propensity: logging[a]!,
        reward,
        ...(withProbs ? { probs: Float64Array.from(logging) } : {}),
      });
    }
    return out;
  };

  it('is close to the truth and its CI is much narrower than IPS when rewards sit near 0.8', () => {
    const means = [0.78, 0.8, 0.82];
    const truth = target.reduce((s, p, i) => s + p * means[i]!, 0);
    const r = estimateOffPolicy(log(means, 20_000, 3, false), space, (_b, o) => o.set(target), { bootstrap: 300, seed: 2 });
    expect(Math.abs(r.ipsCv.value - truth)).toBeLessThan(0.005);
    const w = (e: { ci: [number, number] }) => e.ci[1] - e.ci[0];
    expect(w(r.ipsCv)).toBeLessThan(0.25 * w(r.ips));
    expect(r.ipsCv.ci[0]).toBeLessThan(truth);
    expect(r.ipsCv.ci[1]).toBeGreaterThan(truth);
  });

  it('uses the exact expected clipped weight when the logging probabilities are logged', () => {
    const means = [0.2, 0.5, 0.9];
    const truth = target.reduce((s, p, i) => s + p * means[i]!, 0);
    // Clip at 3: arm c has weight 7 → clipped; the control variate's expectation is Σ min(π, 3p) = 0.1 + 0.2 + 0.3.
    const r = estimateOffPolicy(log(means, 30_000, 5, true), space, (_b, o) => o.set(target), { bootstrap: 0, clip: 3 });
    const clippedTruth = 0.1 * 0.2 + 0.2 * 0.5 + 0.3 * 0.9; // E[min(w, M)·r]
    expect(r.ips.value).toBeCloseTo(clippedTruth, 2);
    expect(Math.abs(r.ipsCv.value - clippedTruth)).toBeLessThan(Math.abs(r.ips.value - clippedTruth) + 0.003);
    expect(truth).toBeGreaterThan(clippedTruth);
  });
});

describe('LinTS score-noise factor', () => {
  test.prop([fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 1e6 })], { seed: 5, numRuns: 60 })(
    'psdCholeskyLower reproduces C = W Wᵀ, also when C is rank-deficient (K > d or repeated rows)',
    async (K, d, seed) => {
      const { psdCholeskyLower } = await import('../src/policies/lints.js');
      const rng = new Rng(seed);
      const W = new Float64Array(K * d);
      for (let i = 0; i < K * d; i++) W[i] = rng.normal();
      if (K > 1) W.copyWithin(d, 0, d); // arm 1 = arm 0: C is singular
      const C = new Float64Array(K * K);
      for (let j = 0; j < K; j++) for (let k = 0; k < K; k++) for (let i = 0; i < d; i++) C[j * K + k] = C[j * K + k]! + W[j * d + i]! * W[k * d + i]!;
      const L = new Float64Array(K * K);
      psdCholeskyLower(C, K, L);
      for (let j = 0; j < K; j++) {
        for (let k = 0; k < K; k++) {
          let s = 0;
          for (let i = 0; i < K; i++) s += L[j * K + i]! * L[k * K + i]!;
          expect(s).toBeCloseTo(C[j * K + k]!, 6);
          if (k > j) expect(L[j * K + k]).toBe(0);
        }
      }
    },
  );
});

describe('prior mean on a φ coordinate (default "qoe_pred")', () => {
  it('ridge with offset k equals the ridge fit of r − x_k, plus x_k', () => {
    const d = 4;
    const k = 2;
    const withPrior = new Ridge(d, 1, 0, 1, k);
    const rng = new Rng(8);
    const A = new Float64Array(d * d);
    for (let i = 0; i < d; i++) A[i * d + i] = 1;
    const b = new Float64Array(d);
    for (let t = 0; t < 50; t++) {
      const x = Float64Array.from({ length: d }, () => rng.normal());
      const y = rng.next();
      withPrior.update(x, 0, y);
      for (let i = 0; i < d; i++) {
        for (let j = 0; j < d; j++) A[i * d + j] = A[i * d + j]! + x[i]! * x[j]!;
        b[i] = b[i]! + (y - x[k]!) * x[i]!;
      }
    }
    const theta = invertSpdForTests(A, b, d);
    const z = Float64Array.from([0.3, -1, 0.7, 2]);
    const ref = theta.reduce((s, v, i) => s + v * z[i]!, 0) + z[k]!;
    expect(withPrior.predict(z)).toBeCloseTo(ref, 10);
  });

  it('is on by default with the QoE block (recorded in the config) and greedy starts at argmax qoe_pred', async () => {
    const { SyntheticWorld } = await import('../src/index.js');
    const w = new SyntheticWorld({ seed: 3, deviceTypes: 50 });
    const p = createPolicy({ kind: 'egreedy', epsilon: 0, seed: 1 }, w.space);
    expect((p.config as { prior?: unknown }).prior).toBe('qoe_pred');
    const q = w.space.featureNames().indexOf('qoe_pred');
    const batch = allArms(w);
    const rng = new Rng(1);
    const round = w.newRound();
    for (let t = 0; t < 20; t++) {
      sampleRound(w, t, rng, round, batch);
      let best = 0;
      for (let j = 1; j < batch.k; j++) if (batch.phi[j * w.space.dim + q]! > batch.phi[best * w.space.dim + q]!) best = j;
      expect(p.decide(batch)).toBe(best);
    }
    const off = createPolicy({ kind: 'linucb', prior: false }, w.space);
    expect((off.config as { prior?: unknown }).prior).toBe(false);
  });

  it('an unknown prior feature is BAD_CONFIG naming it', async () => {
    const { SyntheticWorld } = await import('../src/index.js');
    const w = new SyntheticWorld({ seed: 3, deviceTypes: 20 });
    expect(() => createPolicy({ kind: 'linucb', prior: 'nope' }, w.space)).toThrow(expect.objectContaining({ code: 'BAD_CONFIG', message: expect.stringContaining('"nope"') }));
  });
});
