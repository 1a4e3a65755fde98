import { describe, expect, it } from 'vitest';
import { CONTEXT_FEATURES, expectedClippedRating, qoe, Rng, runSimulation, SyntheticWorld, SYNTHETIC_ARMS } from '../src/index.js';

describe('simulator', () => {
  it('LinUCB beats ε-greedy and uniform at small T (same rounds for every policy)', () => {
    for (const seed of [1, 2]) {
      const r = runSimulation({ seed, rounds: 2000, deviceTypes: 200, policies: [{ kind: 'linucb' }, { kind: 'egreedy' }, { kind: 'uniform' }, 'best-fixed'] });
      const by = Object.fromEntries(r.policies.map((p) => [p.name, p]));
      expect(by.linucb!.regret).toBeLessThan(by.egreedy!.regret);
      expect(by.linucb!.regret).toBeLessThan(0.25 * by.uniform!.regret);
      expect(by.linucb!.regret).toBeLessThan(by['best-fixed']!.regret);
      // curves are cumulative and non-decreasing
      const c = by.linucb!.cumRegret;
      expect(c).toHaveLength(100);
      for (let i = 1; i < c.length; i++) expect(c[i]!).toBeGreaterThanOrEqual(c[i - 1]! - 1e-9);
      expect(c.at(-1)).toBeCloseTo(by.linucb!.regret, 9);
    }
  });

  it('is deterministic for a seed', () => {
    const a = runSimulation({ seed: 9, rounds: 300, policies: [{ kind: 'lints', samples: 20 }, { kind: 'squarecb' }] });
    const b = runSimulation({ seed: 9, rounds: 300, policies: [{ kind: 'lints', samples: 20 }, { kind: 'squarecb' }] });
    expect(b).toEqual(a);
  });

  it('builds a heterogeneous population where no single arm is optimal everywhere', () => {
    const w = new SyntheticWorld({ seed: 4, deviceTypes: 300 });
    expect(w.devices).toHaveLength(300);
    expect(new Set(w.devices.map((d) => d.cls)).size).toBe(4);
    expect(w.space.contextNames).toEqual([...CONTEXT_FEATURES]);
    const rng = new Rng(1);
    const round = w.newRound();
    const best = new Set<number>();
    for (let t = 0; t < 500; t++) {
      w.sample(t, rng, round);
      let a = 0;
      for (let q = 1; q < SYNTHETIC_ARMS.length; q++) if (round.mean[q]! > round.mean[a]!) a = q;
      best.add(a);
      for (const m of round.mean) expect(m).toBeGreaterThanOrEqual(0);
    }
    expect(best.size).toBeGreaterThanOrEqual(4);
  });
});

describe('QoE model', () => {
  const p = { weights: { accuracy: 2, latency: 1, energy: 1 }, deadlineMs: 100, energyScaleMj: 200 };
  it('follows the documented formula', () => {
    const v = qoe({ accuracy: 0.65, latencyMs: 100, energyMj: 200 }, p);
    // acc term 0.5, latency term σ(0) = 0.5, energy term e⁻¹; weights normalised (0.5, 0.25, 0.25)
    expect(v).toBeCloseTo(0.5 * 0.5 + 0.25 * 0.5 + 0.25 * Math.exp(-1), 12);
    expect(qoe({ accuracy: 0.9, latencyMs: 1, energyMj: 0 }, p)).toBeGreaterThan(0.99);
    expect(qoe({ accuracy: 0.4, latencyMs: 1e6, energyMj: 1e6 }, p)).toBeLessThan(1e-6);
  });
  it('expected clipped rating matches Monte Carlo', () => {
    const rng = new Rng(3);
    for (const mu of [0.02, 0.5, 0.97]) {
      let s = 0;
      const n = 200_000;
      for (let i = 0; i < n; i++) s += Math.min(1, Math.max(0, mu + 0.05 * rng.normal()));
      expect(expectedClippedRating(mu, 0.05)).toBeCloseTo(s / n, 3);
    }
  });
});
