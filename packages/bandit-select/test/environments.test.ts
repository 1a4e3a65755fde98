import { describe, expect, it } from 'vitest';
import { CONTEXT_FEATURES, expectedClippedRating, qoe, Rng, runSimulation, SyntheticWorld, WORLD_ENVS } from '../src/index.js';
import { allArms } from './qoeHelpers.js';

describe('simulator environments', () => {
  it('coldstart: 30 % dsp devices, a dsp one-hot, no lat_dsp in the catalogue, one residual per (dsp, arm)', () => {
    const w = new SyntheticWorld({ seed: 3, env: 'coldstart' });
    const dsp = w.devices.filter((d) => d.cls === 'dsp').length / w.devices.length;
    expect(dsp).toBeGreaterThan(0.2);
    expect(dsp).toBeLessThan(0.4);
    expect(w.contextFeatures).toContain('dsp');
    expect(w.catalogue.armFeatureNames.some((n) => n === 'lat_dsp')).toBe(false);
    const names = w.space.featureNames();
    expect(names.filter((n) => n.startsWith('qoe_res_dsp_'))).toHaveLength(w.arms.length);
    expect(names.filter((n) => n.startsWith('qoe_res_') && !n.startsWith('qoe_res_dsp_'))).toHaveLength(0);
    // A dsp device's row carries exactly one residual, (1 − w_a) on its own arm.
    const rng = new Rng(5);
    const round = w.newRound();
    const batch = allArms(w);
    let checked = 0;
    for (let t = 0; t < 200 && checked < 3; t++) {
      w.sample(t, rng, round);
      if (w.devices[round.device]!.cls !== 'dsp') continue;
      w.space.encodeContextValues(round.context, batch.ctx);
      w.space.fill(batch);
      const ia = w.contextFeatures.indexOf('w_acc');
      const wsum = round.context[ia]! + round.context[ia + 1]! + round.context[ia + 2]!;
      const first = names.indexOf(`qoe_res_dsp_${w.arms[0]!.id}`);
      for (let j = 0; j < batch.k; j++) {
        for (let a = 0; a < w.arms.length; a++) {
          const v = batch.phi[j * w.space.dim + first + a]!;
          expect(v).toBeCloseTo(a === j ? 1 - round.context[ia]! / wsum : 0, 12);
        }
      }
      checked++;
    }
    expect(checked).toBe(3);
  });

  it('base keeps its context and φ (dimension 29) and the base population is shared by misspecified and drift', () => {
    const b = new SyntheticWorld({ seed: 2 });
    expect(b.contextFeatures).toEqual([...CONTEXT_FEATURES]);
    expect(b.space.dim).toBe(29);
    for (const env of ['misspecified', 'drift'] as const) {
      const w = new SyntheticWorld({ seed: 2, env });
      expect(w.devices.map((d) => d.peakGops)).toEqual(b.devices.map((d) => d.peakGops));
      expect(w.space.dim).toBe(29);
    }
  });

  it('misspecified: hard deadline and A^κ, so the true QoE is not the package model', () => {
    const w = new SyntheticWorld({ seed: 4, env: 'misspecified' });
    const rng = new Rng(9);
    const round = w.newRound();
    let differs = 0;
    for (let t = 0; t < 300; t++) {
      w.sample(t, rng, round);
      const u = w.user(round.user);
      for (let a = 0; a < w.arms.length; a++) {
        const c = w.trueCost(round.device, a, round.context[4]!, t);
        const E = u.energyScaleMj * (0.3 + 0.7 * round.context[5]!);
        const A = Math.min(1, Math.max(0, (w.arms[a]!.acc - 0.5) / 0.3));
        const s = u.weights.accuracy + u.weights.latency + u.weights.energy;
        // Independent restatement of the documented truth.
        const truth = (u.weights.accuracy * A ** u.accExponent + u.weights.latency * (c.latencyMs <= u.deadlineMs ? 1 : 0) + u.weights.energy * Math.exp(-c.energyMj / E)) / s;
        expect(round.mean[a]).toBeCloseTo(expectedClippedRating(truth, 0.05), 12);
        const model = qoe({ accuracy: w.arms[a]!.acc, latencyMs: c.latencyMs, energyMj: c.energyMj }, { weights: u.weights, deadlineMs: u.deadlineMs, energyScaleMj: E });
        if (Math.abs(model - truth) > 0.05) differs++;
      }
    }
    expect(differs).toBeGreaterThan(300);
    expect(new Set(w.users.map((u) => u.accExponent.toFixed(3))).size).toBeGreaterThan(40);
  });

  it('drift: after driftAt the users, load and class latencies change', () => {
    const w = new SyntheticWorld({ seed: 5, env: 'drift', driftAt: 100 });
    const rng = new Rng(2);
    const round = w.newRound();
    const early: number[] = [];
    const late: number[] = [];
    for (let t = 0; t < 200; t++) {
      w.sample(t, rng, round);
      (t < 100 ? early : late).push(round.context[4]!);
      if (t < 100) expect(round.user).toBeLessThan(w.users.length);
      else expect(round.user).toBeGreaterThanOrEqual(w.users.length);
    }
    expect(Math.max(...early)).toBeLessThanOrEqual(0.6);
    expect(Math.min(...late)).toBeGreaterThanOrEqual(0.4);
    const gpu = w.devices.findIndex((d) => d.cls === 'gpu');
    const int8 = w.arms.findIndex((a) => a.id === 'resnet50_int8');
    // gpu int8 kernels get a 0.35× latency at the switch (the slow ±10 % sinusoid barely moves in one round).
    const ratio = w.trueCost(gpu, int8, 0.2, 100).latencyMs / w.trueCost(gpu, int8, 0.2, 99).latencyMs;
    expect(ratio).toBeGreaterThan(0.33);
    expect(ratio).toBeLessThan(0.37);
  });

  it('rejects an unknown environment with BAD_CONFIG', () => {
    expect(() => new SyntheticWorld({ env: 'nope' as never })).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }));
    expect([...WORLD_ENVS]).toEqual(['base', 'coldstart', 'misspecified', 'drift']);
  });

  it('every environment runs deterministically in the regret simulation', () => {
    for (const env of WORLD_ENVS) {
      const a = runSimulation({ seed: 7, env, rounds: 300, deviceTypes: 60, policies: [{ kind: 'linucb' }, { kind: 'egreedy', epsilon: 0 }] });
      const b = runSimulation({ seed: 7, env, rounds: 300, deviceTypes: 60, policies: [{ kind: 'linucb' }, { kind: 'egreedy', epsilon: 0 }] });
      expect(b.policies.map((p) => p.regret)).toEqual(a.policies.map((p) => p.regret));
      expect(a.policies[0]!.regret).toBeGreaterThan(0);
    }
  });
});

describe('QoE block: cold classes', () => {
  const arms = [
    { id: 'a', features: { acc: 0.7, lat_cpu: Math.log(40), lat_gpu: Math.log(10) } },
    { id: 'b', features: { acc: 0.6, lat_cpu: Math.log(90), lat_gpu: Math.log(4) } },
  ];
  const context = ['gpu', 'dsp', 'w_acc', 'w_lat', 'w_energy', 'log_deadline_ms'];
  it('predicts a cold class latency by the geometric mean of the catalogued classes and adds its residuals', async () => {
    const { FeatureSpace, parseCatalogue } = await import('../src/index.js');
    const space = new FeatureSpace(parseCatalogue({ arms, context, qoe: { coldClasses: ['dsp'], tauFraction: 0.2 } }));
    expect(space.qoe!.coldClasses).toEqual(['dsp']);
    expect(space.qoe!.residualClasses).toEqual(['dsp']);
    const batch = space.newBatch();
    space.prepare(batch, { gpu: 0, dsp: 1, w_acc: 0.5, w_lat: 0.5, w_energy: 0, log_deadline_ms: Math.log(20) });
    const names = space.featureNames();
    const S = (lat: number) => 1 / (1 + Math.exp(-(20 - lat) / 4));
    expect(batch.phi[names.indexOf('qoe_lat_term')]).toBeCloseTo(S(Math.sqrt(40 * 10)), 12);
    expect(batch.phi[space.dim + names.indexOf('qoe_lat_term')]).toBeCloseTo(S(Math.sqrt(90 * 4)), 12);
    expect(batch.phi[names.indexOf('qoe_res_dsp_a')]).toBeCloseTo(0.5, 12);
    expect(batch.phi[names.indexOf('qoe_res_dsp_b')]).toBe(0);
    expect(batch.phi[space.dim + names.indexOf('qoe_res_dsp_b')]).toBeCloseTo(0.5, 12);
    // A gpu device: catalogued latency, no residual set.
    space.prepare(batch, { gpu: 1, dsp: 0, w_acc: 0.5, w_lat: 0.5, w_energy: 0, log_deadline_ms: Math.log(20) });
    expect(batch.phi[names.indexOf('qoe_lat_term')]).toBeCloseTo(S(10), 12);
    expect(batch.phi[names.indexOf('qoe_res_dsp_a')]).toBe(0);
  });
  it('classResiduals: true adds one residual per (class, arm) for every class', async () => {
    const { FeatureSpace, parseCatalogue } = await import('../src/index.js');
    const space = new FeatureSpace(parseCatalogue({ arms, context, qoe: { coldClasses: ['dsp'], classResiduals: true } }));
    expect(space.qoe!.residualClasses).toEqual(['cpu', 'gpu', 'dsp']);
    expect(space.featureNames().filter((n) => n.startsWith('qoe_res_'))).toHaveLength(6);
  });
  it('a cold class without a context one-hot is MISSING_FEATURE naming it', async () => {
    const { FeatureSpace, parseCatalogue } = await import('../src/index.js');
    expect(() => new FeatureSpace(parseCatalogue({ arms, context: ['gpu', 'w_acc', 'w_lat', 'w_energy', 'log_deadline_ms'], qoe: { coldClasses: ['dsp'] } }))).toThrow(
      expect.objectContaining({ code: 'MISSING_FEATURE', path: '$.context.dsp' }),
    );
  });
});
