import { describe, expect, it } from 'vitest';
import { estimateOffPolicy, type OpeSample, Rng, runOpeExperiment } from '../src/index.js';
import { opeSpace } from './helpers.js';

describe('off-policy evaluation', () => {
  it('IPS, SNIPS and DR are close to the true on-policy value on a simulated log', () => {
    const r = runOpeExperiment({ seed: 2, n: 6000, warmup: 1000, truthSamples: 6000, ope: { bootstrap: 200 } });
    expect(r.truth).toBeGreaterThan(0.5);
    expect(r.relError.dr).toBeLessThan(0.02);
    expect(r.relError.snips).toBeLessThan(0.03);
    expect(r.relError.ips).toBeLessThan(0.08);
    expect(r.report.dr.ci[0]).toBeLessThanOrEqual(r.report.dr.value);
    expect(r.report.dr.ci[1]).toBeGreaterThanOrEqual(r.report.dr.value);
    expect(r.report.ess).toBeGreaterThan(100);
    expect(r.report.ess).toBeLessThanOrEqual(r.report.n);
  });

  it('is unbiased on a context-free 3-armed bandit with known means (exact truth)', () => {
    const space = opeSpace(3);
    const means = [0.2, 0.5, 0.8];
    const logging = [0.5, 0.3, 0.2];
    const target = [0.1, 0.1, 0.8];
    const truth = target.reduce((s, p, i) => s + p * means[i]!, 0);
    const rng = new Rng(11);
    const samples: OpeSample[] = [];
    for (let i = 0; i < 20_000; i++) {
      const u = rng.next();
      const a = u < 0.5 ? 0 : u < 0.8 ? 1 : 2;
      samples.push({ ctx: Float64Array.from([1, 0]), arms: Int32Array.from([0, 1, 2]), chosen: a, propensity: logging[a]!, reward: rng.next() < means[a]! ? 1 : 0 });
    }
    const r = estimateOffPolicy(samples, space, (_b, out) => out.set(target), { bootstrap: 300, seed: 1 });
    for (const est of [r.ips, r.snips, r.dr]) {
      expect(Math.abs(est.value - truth)).toBeLessThan(0.02);
      expect(est.ci[0]).toBeLessThan(truth + 0.02);
      expect(est.ci[1]).toBeGreaterThan(truth - 0.02);
    }
    expect(r.logged).toBeCloseTo(0.5 * 0.2 + 0.3 * 0.5 + 0.2 * 0.8, 1);
  });

  it('rejects zero propensities with BAD_LOG', () => {
    const space = opeSpace(2);
    const s: OpeSample = { ctx: Float64Array.from([1, 0]), arms: Int32Array.from([0, 1]), chosen: 0, propensity: 0, reward: 1 };
    expect(() => estimateOffPolicy([s], space, (_b, o) => o.fill(0.5))).toThrow(expect.objectContaining({ code: 'BAD_LOG' }));
  });
});
