import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { createPolicy, isBanditError, logNormalCdf, normalCdf, type QoeThompson, Rng, SyntheticWorld } from '../src/index.js';
import { allArms, expectPropensities, expectRestoredTwin, feedUniform, playRounds, sampleRound } from './qoeHelpers.js';

/** Feed `count` rounds of device class `cls` (rounds of other classes skipped), all playing arm `arm`, to every policy. */
function feedClassArm(w: SyntheticWorld, policies: QoeThompson[], rng: Rng, cls: string, arm: number, from: number, count: number): void {
  const batch = allArms(w);
  const round = w.newRound();
  for (let t = from, fed = 0; fed < count; t++) {
    w.sample(t, rng, round);
    if (w.devices[round.device]!.cls !== cls) continue;
    fed++;
    w.space.encodeContextValues(round.context, batch.ctx);
    w.space.fill(batch);
    const r = w.observe(round, arm, t, rng.normal());
    for (const p of policies) p.update(batch, arm, r);
  }
}

describe('qoets: device-type offsets pooled towards the class cell (deviceSd)', () => {
  it('predicts held-out rounds of known device types better than the class-only learner (same feedback)', () => {
    for (const seed of [1, 2]) {
      const w = new SyntheticWorld({ seed, deviceTypes: 20, users: 10 });
      const mk = (deviceSd: number) => createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1, deviceSd, classSd: 0, clippedLikelihood: false }, w.space) as QoeThompson;
      const dev = mk(0.2);
      const cls = mk(0);
      const rng = new Rng(5);
      feedUniform(w, [dev, cls], rng, 0, 3000);
      const batch = allArms(w);
      const round = w.newRound();
      let eDev = 0;
      let eCls = 0;
      for (let t = 3000; t < 3400; t++) {
        sampleRound(w, t, rng, round, batch);
        for (let j = 0; j < batch.k; j++) {
          const q = w.trueQoe(round, j, t);
          eDev += Math.abs(dev.predict(batch, j) - q);
          eCls += Math.abs(cls.predict(batch, j) - q);
        }
      }
      // measured: 0.0094 vs 0.0152 (seed 1), 0.0112 vs 0.0134 (seed 2)
      expect(eDev).toBeLessThan(0.9 * eCls);
    }
  });

  it("a seen device type's offset has the sign of its hidden efficiency and a narrower posterior; an unseen one has the prior", () => {
    const w = new SyntheticWorld({ seed: 3, deviceTypes: 20, users: 10 });
    const p = createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1, deviceSd: 0.2 }, w.space) as QoeThompson;
    feedUniform(w, [p], new Rng(2), 0, 3000);
    // every device type whose hidden efficiency is ≥ 15 % off (|log| ≥ 0.15)
    let checked = 0;
    for (const d of w.devices) {
      if (Math.abs(Math.log(d.hiddenEfficiency)) < 0.15) continue;
      // log_speed as the world encodes it: log(peak / the class's reference peak)
      const ctx = new Float64Array(w.contextFeatures.length);
      const rng = new Rng(d.id);
      const round = w.newRound();
      for (let t = 0; ; t++) {
        w.sample(t, rng, round);
        if (round.device === d.id) {
          ctx.set(round.context);
          break;
        }
      }
      const post = p.devicePosterior(d.cls, ctx[w.contextFeatures.indexOf('log_speed')]!);
      expect(post.seen).toBe(true);
      expect(Math.sign(post.mean)).toBe(Math.sign(Math.log(d.hiddenEfficiency)));
      expect(post.sd).toBeLessThan(0.2 * 0.6);
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(2);
    const unseen = p.devicePosterior('gpu', 12.345);
    expect(unseen.seen).toBe(false);
    expect(unseen.mean).toBeCloseTo(0, 6);
    expect(unseen.sd).toBeGreaterThan(0.19);
    expect(unseen.sd).toBeLessThan(0.21);
  });
});

describe('qoets: class-wide offset (classSd) and change detection (changeThreshold)', () => {
  it('a whole-class change learned from one arm moves the class offset (npu × 2.5 in the drift environment)', () => {
    const w = new SyntheticWorld({ seed: 1, env: 'drift', deviceTypes: 40, users: 10, driftAt: 2000 });
    const p = createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1 }, w.space) as QoeThompson;
    const off = createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1, classSd: 0 }, w.space) as QoeThompson;
    const rng = new Rng(5);
    feedUniform(w, [p, off], rng, 0, 2000);
    const before = p.classPosterior('npu');
    expect(Math.abs(before.mean)).toBeLessThan(0.2);
    const A = w.arms.findIndex((a) => a.id === 'resnet50_int8');
    feedClassArm(w, [p, off], rng, 'npu', A, 2000, 300);
    // measured: −0.13 → +0.10; the truth is log 2.5 = 0.92, shared with the arm's own cell
    expect(p.classPosterior('npu').mean - before.mean).toBeGreaterThan(0.15);
    expect(off.classPosterior('npu')).toEqual({ mean: 0, sd: 0 });
    // other classes' offsets are not what moved
    expect(Math.abs(p.classPosterior('gpu').mean)).toBeLessThan(0.15);
  });

  it('the CUSUM fires after the change and not before, and widens the class cells', () => {
    for (const seed of [1, 2]) {
      const w = new SyntheticWorld({ seed, env: 'drift', deviceTypes: 40, users: 10, driftAt: 2000 });
      const p = createPolicy({ kind: 'qoets', explore: 'greedy', seed: 1, changeThreshold: 5, changeReset: 0.1 }, w.space) as QoeThompson;
      const rng = new Rng(5);
      feedUniform(w, [p], rng, 0, 2000);
      expect(p.changesDetected).toBe(0);
      const A = w.arms.findIndex((a) => a.id === 'resnet50_int8');
      // the npu cell (other than the arm played below) with the narrowest posterior before the change
      const other = w.arms.filter((_, i) => i !== A).map((a) => ({ id: a.id, sd: p.cellPosterior('npu', a.id).sd }));
      other.sort((x, y) => x.sd - y.sd);
      const { id, sd: sdBefore } = other[0]!;
      expect(sdBefore).toBeLessThan(0.1);
      feedClassArm(w, [p], rng, 'npu', A, 2000, 300);
      expect(p.changesDetected).toBeGreaterThanOrEqual(1);
      // an npu cell not played after the change has a wider posterior than before it
      expect(p.cellPosterior('npu', id).sd).toBeGreaterThan(1.5 * sdBefore);
    }
  });
});

describe('qoets: clipped (Tobit) likelihood', () => {
  it('logNormalCdf matches log Φ in the body and reference values in the far tail', () => {
    for (let x = -2.9; x < 6; x += 0.37) expect(logNormalCdf(x)).toBeCloseTo(Math.log(normalCdf(x)), 5);
    // references: log(0.5·erfc(−x/√2)) in double precision (Python math.erfc)
    expect(logNormalCdf(-3)).toBeCloseTo(-6.607726221510349, 6);
    expect(logNormalCdf(-5)).toBeCloseTo(-15.064998393988725, 6);
    expect(logNormalCdf(-10)).toBeCloseTo(-53.23128515051247, 6);
    expect(logNormalCdf(-30)).toBeCloseTo(-454.3212439563431, 5);
  });

  test.prop([fc.array(fc.double({ min: 0.001, max: 0.999, noNaN: true }), { minLength: 5, maxLength: 40 }), fc.integer({ min: 0, max: 1000 })], { seed: 11, numRuns: 15 })(
    'changes nothing unless a rating is exactly 0 or 1; a clipped rating changes the state',
    (ratings, s) => {
      const w = new SyntheticWorld({ seed: 2, deviceTypes: 20, users: 5 });
      const mk = (clippedLikelihood: boolean) => createPolicy({ kind: 'qoets', seed: 1, clippedLikelihood }, w.space);
      const a = mk(true);
      const b = mk(false);
      const batch = allArms(w);
      const round = w.newRound();
      const rng = new Rng(s);
      const feed = (r: number, t: number) => {
        sampleRound(w, t, rng, round, batch);
        const j = a.decide(batch);
        expect(b.decide(batch)).toBe(j);
        a.update(batch, j, r);
        b.update(batch, j, r);
      };
      ratings.forEach((r, t) => feed(r, t));
      expect(JSON.stringify(a.toJSON().arrays)).toBe(JSON.stringify(b.toJSON().arrays));
      feed(1, ratings.length);
      expect(JSON.stringify(a.toJSON().arrays)).not.toBe(JSON.stringify(b.toJSON().arrays));
    },
  );
});

describe('qoets with the hierarchical latency model: invariants', () => {
  const cfgArb = fc.record({
    deviceSd: fc.constantFrom(0, 0.1, 0.3),
    deviceArmSd: fc.constantFrom(0, 0.2),
    classSd: fc.constantFrom(0, 0.3),
    clippedLikelihood: fc.boolean(),
    changeThreshold: fc.constantFrom(0, 5),
    explore: fc.constantFrom('optimism', 'thompson', 'greedy', 'gap'),
    knownScore: fc.constantFrom('mean', 'quantile'),
    epsilon: fc.constantFrom(0, 0.05),
    env: fc.constantFrom('base', 'coldstart'),
  });
  test.prop([cfgArb], { seed: 5, numRuns: 12 })('propensities sum to 1 with floor ε/k, and a restored policy makes the same decisions', (c) => {
    const { env, ...cfg } = c;
    const w = new SyntheticWorld({ seed: 4, env: env as 'base' | 'coldstart', deviceTypes: 30, users: 8 });
    const policy = createPolicy({ kind: 'qoets', seed: 3, samples: 16, ...cfg } as never, w.space);
    const batch = allArms(w);
    const rng = new Rng(7);
    playRounds(w, policy, rng, 0, 150, { batch, onDecide: () => expectPropensities(policy.probs, batch.k, cfg.epsilon, 1e-12) });
    expectRestoredTwin(policy, w, rng, 150, 200);
  });

  it('bad values of the new options are BAD_CONFIG naming the field', () => {
    const w = new SyntheticWorld({ seed: 1, deviceTypes: 10, users: 3 });
    const bad: Array<[Record<string, unknown>, string]> = [
      [{ deviceSd: -0.1 }, 'deviceSd'],
      [{ deviceArmSd: 4 }, 'deviceArmSd'],
      [{ classSd: Number.NaN }, 'classSd'],
      [{ classForget: 0 }, 'classForget'],
      [{ clippedLikelihood: 'yes' }, 'clippedLikelihood'],
      [{ changeThreshold: -1 }, 'changeThreshold'],
      [{ changeReset: 0 }, 'changeReset'],
    ];
    for (const [cfg, field] of bad) {
      let err: unknown;
      try {
        createPolicy({ kind: 'qoets', ...cfg } as never, w.space);
      } catch (e) {
        err = e;
      }
      expect(isBanditError(err)).toBe(true);
      expect((err as { code: string }).code).toBe('BAD_CONFIG');
      expect((err as Error).message).toContain(field);
    }
  });
});
