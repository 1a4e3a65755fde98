import { describe, expect, it } from 'vitest';
import { createPolicy, defaultPolicyConfig, FeatureSpace, isBanditError, parseCatalogue, type QoeThompson, restorePolicy, Rng, SyntheticWorld } from '../src/index.js';
import { allArms, expectPropensities, expectRestoredTwin, feedUniform, playRounds, sampleRound } from './qoeHelpers.js';

describe('qoets (structured QoE model with latent latency corrections)', () => {
  it('learns the latency of a cold device class from feedback: prediction error on dsp rounds drops by more than half', () => {
    const w = new SyntheticWorld({ seed: 4, env: 'coldstart', deviceTypes: 80, users: 20 });
    const policy = createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1 }, w.space);
    const batch = allArms(w);
    const round = w.newRound();
    const rng = new Rng(9);
    const held: Array<{ ctx: Float64Array; mean: Float64Array }> = [];
    for (let t = 0; held.length < 200; t++) {
      w.sample(t, rng, round);
      if (w.devices[round.device]!.cls === 'dsp') held.push({ ctx: Float64Array.from(round.context), mean: Float64Array.from(round.mean) });
    }
    const mae = () => {
      let e = 0;
      for (const h of held) {
        w.space.encodeContextValues(h.ctx, batch.ctx);
        w.space.fill(batch);
        for (let j = 0; j < batch.k; j++) e += Math.abs(policy.predict(batch, j) - h.mean[j]!);
      }
      return e / (held.length * batch.k);
    };
    const before = mae();
    // Feedback on uniformly random arms (so every (class, arm) cell is seen).
    feedUniform(w, [policy], rng, 0, 3000, batch, round);
    const after = mae();
    expect(before).toBeGreaterThan(0.05);
    expect(after).toBeLessThan(before / 2);
  });

  it('returns exact propensities (ε floor, sums to 1) in every exploration mode', () => {
    const w = new SyntheticWorld({ seed: 2, deviceTypes: 40, users: 10 });
    const batch = allArms(w);
    const round = w.newRound();
    for (const explore of ['optimism', 'thompson', 'greedy'] as const) {
      const policy = createPolicy({ kind: 'qoets', explore, epsilon: 0.05, samples: 32, seed: 3 }, w.space);
      playRounds(w, policy, new Rng(1), 0, 50, { batch, round, onDecide: () => expectPropensities(policy.probs, batch.k, 0.05, 1e-15) });
    }
  });

  it('serialises exactly: a restored policy makes the same decisions', () => {
    const w = new SyntheticWorld({ seed: 5, env: 'coldstart', deviceTypes: 40, users: 10 });
    const policy = createPolicy({ kind: 'qoets', explore: 'thompson', samples: 16, seed: 8 }, w.space);
    const rng = new Rng(2);
    playRounds(w, policy, rng, 0, 300);
    expectRestoredTwin(policy, w, rng, 300, 400);
  });

  it("knownScore 'mean' with ε = 0 is greedy on catalogued classes and optimistic on cold ones", () => {
    const run = (env: 'base' | 'coldstart', cfg: Record<string, unknown>) => {
      const w = new SyntheticWorld({ seed: 3, env, deviceTypes: 40, users: 10 });
      const round = w.newRound();
      const policy = createPolicy({ kind: 'qoets', seed: 2, epsilon: 0, ...cfg } as never, w.space);
      const arms: number[] = [];
      const cold: boolean[] = [];
      playRounds(w, policy, new Rng(6), 0, 400, {
        round,
        onDecide: (j) => {
          arms.push(j);
          cold.push(w.devices[round.device]!.cls === 'dsp');
        },
      });
      return { arms, cold };
    };
    const mean = { knownScore: 'mean', staleForget: 0.999 };
    const greedy = { explore: 'greedy', staleForget: 0.999 };
    // No cold class: the same decisions as the greedy learner, round for round.
    expect(run('base', mean).arms).toEqual(run('base', greedy).arms);
    // Cold class: the rounds differ (optimism there), and the first difference is on a cold-class round.
    const a = run('coldstart', mean);
    const b = run('coldstart', greedy);
    const first = a.arms.findIndex((x, t) => x !== b.arms[t]);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(a.cold[first]).toBe(true);
  });

  it('staleForget: state round-trips exactly (cell ages included) and 1 is the same as off', () => {
    const w = new SyntheticWorld({ seed: 7, env: 'drift', deviceTypes: 40, users: 10, driftAt: 150 });
    const batch = allArms(w);
    const round = w.newRound();
    const mk = (staleForget?: number) => createPolicy({ kind: 'qoets', seed: 4, knownQuantile: 0.4, ...(staleForget ? { staleForget } : {}) }, w.space);
    const policy = mk(0.99);
    const off = mk(1);
    const plain = mk();
    const rng = new Rng(3);
    let differ = 0;
    playRounds(w, policy, rng, 0, 300, {
      batch,
      round,
      onDecide: (j) => {
        const jo = off.decide(batch);
        expect(plain.decide(batch)).toBe(jo);
        if (jo !== j) differ++;
      },
      alsoUpdate: [off, plain],
    });
    expect(differ).toBeGreaterThan(0);
    const state = policy.toJSON();
    expect(state.arrays.cellT).toBeDefined();
    const copy = restorePolicy(JSON.parse(JSON.stringify(state)), w.space);
    playRounds(w, policy, rng, 300, 400, { batch, round, onDecide: (j) => expect(copy.decide(batch)).toBe(j), alsoUpdate: [copy] });
  });

  it('driftSd: an unplayed cell widens as sqrt(prior² + driftSd²·age/1000), monotonically, with its mean unchanged', () => {
    const w = new SyntheticWorld({ seed: 3, deviceTypes: 40, users: 10 });
    const batch = allArms(w);
    const round = w.newRound();
    for (const driftSd of [0.1, 0.3, 0.8]) {
      const policy = createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1, driftSd }, w.space) as QoeThompson;
      const rng = new Rng(11);
      let prev = policy.cellPosterior('npu', 'resnet50_fp32').sd;
      expect(prev).toBeCloseTo(0.15, 2); // the catalogued-class prior
      // Feedback on one cpu arm only: every other cell ages.
      for (let t = 1; t <= 2000; t++) {
        sampleRound(w, t, rng, round, batch);
        policy.update(batch, 9, w.observe(round, 9, t, rng.normal()));
        if (t % 250 === 0) {
          const p = policy.cellPosterior('npu', 'resnet50_fp32');
          expect(p.sd).toBeGreaterThanOrEqual(prev - 1e-12);
          expect(Math.abs(p.mean)).toBeLessThan(1e-9); // a symmetric prior stays centred
          // grid discretisation (step 0.1) and truncation at ±3 allowed for
          expect(p.sd).toBeCloseTo(Math.min(Math.sqrt(0.15 ** 2 + (driftSd ** 2 * t) / 1000), 1.7), 1);
          prev = p.sd;
        }
      }
    }
    // off: the prior width stays
    const off = createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1 }, w.space) as QoeThompson;
    expect(() => off.cellPosterior('tpu', 'resnet50_fp32')).toThrow(/tpu/);
  });

  it('driftSd: a stale cell follows a change faster than without it; state round-trips exactly; 0 is off', () => {
    // One (gpu, resnet50_int8) cell gets 200 noise-free rewards of the QoE model at δ = 0, then 3,000 updates go to
    // other cells, then 20 rewards at δ = −1.2 (the arm became 3.3× faster on gpu). The rewards come from a teacher
    // learner pinned at δ ≈ 0 (knownSd 0.01); δ = −1.2 is the same as raising log_speed by 1.2 (ℓ̂ ∝ exp(−log_speed)).
    const w = new SyntheticWorld({ seed: 5, deviceTypes: 60, users: 10 });
    const batch = allArms(w);
    const tBatch = allArms(w);
    const round = w.newRound();
    const arm = w.space.armIds.indexOf('resnet50_int8');
    const speed = w.contextFeatures.indexOf('log_speed');
    const teacher = createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1, knownSd: 0.01 }, w.space);
    const run = (driftSd: number) => {
      const p = createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1, ...(driftSd > 0 ? { driftSd } : {}) }, w.space) as QoeThompson;
      const rng = new Rng(21);
      const feed = (n: number, gpuArm: boolean, shift: number) => {
        for (let q = 0; q < n;) {
          w.sample(0, rng, round);
          if (gpuArm !== (w.devices[round.device]!.cls === 'gpu')) continue;
          w.space.encodeContextValues(round.context, batch.ctx);
          w.space.fill(batch);
          const ctx = Float64Array.from(round.context);
          ctx[speed] = ctx[speed]! - shift;
          w.space.encodeContextValues(ctx, tBatch.ctx);
          w.space.fill(tBatch);
          const j = gpuArm ? arm : 9;
          p.update(batch, j, teacher.predict(tBatch, j));
          q++;
        }
      };
      feed(200, true, 0);
      feed(3000, false, 0);
      feed(20, true, -1.2);
      return { p, mean: p.cellPosterior('gpu', 'resnet50_int8').mean };
    };
    const without = run(0);
    const withDrift = run(0.3);
    expect(withDrift.mean).toBeLessThan(-0.6);
    expect(Math.abs(withDrift.mean + 1.2)).toBeLessThan(Math.abs(without.mean + 1.2) - 0.2);
    // exact state round-trip, cell ages included
    const state = withDrift.p.toJSON();
    expect(state.arrays.cellT).toBeDefined();
    const copy = restorePolicy(JSON.parse(JSON.stringify(state)), w.space) as QoeThompson;
    expect(copy.cellPosterior('gpu', 'resnet50_int8')).toEqual(withDrift.p.cellPosterior('gpu', 'resnet50_int8'));
    expect(copy.cellPosterior('npu', 'mobilenetv2_w4')).toEqual(withDrift.p.cellPosterior('npu', 'mobilenetv2_w4'));
    expect(without.p.toJSON().arrays.cellT).toBeUndefined();
  });

  it('gap rule: plays an arm within gapTol of the best posterior mean; gapTol 0 is greedy; propensities exact', () => {
    const w = new SyntheticWorld({ seed: 8, deviceTypes: 60, users: 12 });
    const batch = allArms(w);
    const round = w.newRound();
    const run = (gapTol: number, check: boolean) => {
      const policy = createPolicy({ kind: 'qoets', explore: 'gap', gapTol, epsilon: 0.01, seed: 2 }, w.space);
      const rng = new Rng(4);
      const arms: number[] = [];
      const mu = new Float64Array(batch.k);
      for (let t = 0; t < 400; t++) {
        sampleRound(w, t, rng, round, batch);
        for (let q = 0; q < batch.k; q++) mu[q] = policy.predict(batch, q);
        const best = Math.max(...mu);
        const j = policy.decide(batch);
        const top = policy.probs.indexOf(Math.max(...policy.probs.subarray(0, batch.k)));
        if (check) {
          expect(mu[top]!).toBeGreaterThanOrEqual(best - gapTol - 1e-12);
          expect(policy.probs[top]!).toBeCloseTo(1 - 0.01 + 0.01 / batch.k, 12);
        }
        arms.push(top);
        policy.update(batch, j, w.observe(round, j, t, rng.normal()));
      }
      return arms;
    };
    const greedyTop = (() => {
      const policy = createPolicy({ kind: 'qoets', explore: 'greedy', epsilon: 0.01, seed: 2 }, w.space);
      const arms: number[] = [];
      playRounds(w, policy, new Rng(4), 0, 400, { batch, round, onDecide: () => arms.push(policy.probs.indexOf(Math.max(...policy.probs.subarray(0, batch.k)))) });
      return arms;
    })();
    expect(run(0, true)).toEqual(greedyTop);
    const wide = run(0.03, true);
    expect(wide.filter((a, t) => a !== greedyTop[t]).length).toBeGreaterThan(10);
  });

  it('needs the QoE block: BAD_CONFIG without it; the default policy is qoets with it and linucb without', () => {
    const cat = parseCatalogue({
      arms: [
        { id: 'a', features: { x: 1 } },
        { id: 'b', features: { x: 2 } },
      ],
      context: ['cores'],
    });
    const space = new FeatureSpace(cat);
    let err: unknown;
    try {
      createPolicy({ kind: 'qoets' }, space);
    } catch (e) {
      err = e;
    }
    expect(isBanditError(err, 'BAD_CONFIG')).toBe(true);
    expect(defaultPolicyConfig(space)).toEqual({ kind: 'linucb' });
    expect(defaultPolicyConfig(new SyntheticWorld({ seed: 1, deviceTypes: 10, users: 5 }).space)).toEqual({ kind: 'qoets' });
  });
});
