import { describe, expect, it } from 'vitest';
import { createPolicy, FeatureSpace, invertSpdForTests, isBanditError, parseCatalogue, Rng, sampleRound, SyntheticWorld } from './qoeHelpers.js';

const sig = (x: number) => 1 / (1 + Math.exp(-x));

/** A two-arm catalogue with everything the QoE block needs (cpu is the baseline class: it has no one-hot). */
function smallCatalogue(extra: Record<string, unknown> = {}) {
  return parseCatalogue({
    arms: [
      { id: 'big', features: { acc: 0.76, lat_cpu: Math.log(120), lat_gpu: Math.log(30) } },
      { id: 'small', features: { acc: 0.62, lat_cpu: Math.log(25), lat_gpu: Math.log(6) } },
    ],
    context: ['gpu', 'log_speed', 'load', 'w_acc', 'w_lat', 'w_energy', 'log_deadline_ms'],
    ...extra,
  });
}

describe('QoE feature block', () => {
  it('computes the block on a hand-computed example', () => {
    const space = new FeatureSpace(smallCatalogue({ qoe: { energyScalesMj: [100], powerW: { gpu: 2, cpu: 1 } } }));
    expect(space.qoe?.names).toEqual(['qoe_w_acc_term', 'qoe_w_lat_term', 'qoe_w_energy_term_E100', 'qoe_acc_term', 'qoe_lat_term', 'qoe_energy_term_E100', 'qoe_pred']);
    expect(space.interactions).toBe(false); // default with the block
    expect(space.dim).toBe(1 + 7 + 3 + 7);
    const batch = space.newBatch();
    // gpu device, 2× nominal speed (log_speed = ln 2), load 0.5, weights (2, 1, 1) → (0.5, 0.25, 0.25), deadline 40 ms.
    space.prepare(batch, { gpu: 1, log_speed: Math.log(2), load: 0.5, w_acc: 2, w_lat: 1, w_energy: 1, log_deadline_ms: Math.log(40) });
    // big on gpu: ℓ̂ = 30 / 2 × 1.5 = 22.5 ms; τ = 8 ms; ê = 2 W × 22.5 ms = 45 mJ; acc term (0.76 − 0.5)/0.3.
    const A = (0.76 - 0.5) / 0.3;
    const S = sig((40 - 22.5) / 8);
    const E = Math.exp(-45 / 100);
    const expected = [0.5 * A, 0.25 * S, 0.25 * E, A, S, E, 0.5 * A + 0.25 * S + 0.25 * E];
    const off = space.dim - 7;
    const got = Array.from(batch.phi.subarray(off, off + 7));
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
    // small on gpu: ℓ̂ = 4.5 ms, acc term 0.4.
    const off2 = space.dim + off;
    expect(batch.phi[off2 + 3]).toBeCloseTo(0.4, 12);
    expect(batch.phi[off2 + 4]).toBeCloseTo(sig((40 - 4.5) / 8), 12);
    expect(batch.phi[off2 + 5]).toBeCloseTo(Math.exp(-9 / 100), 12);
    // cpu device (gpu one-hot 0): the baseline class's lat_cpu and power 1 W are used.
    space.prepare(batch, { gpu: 0, log_speed: 0, load: 0, w_acc: 1, w_lat: 1, w_energy: 1, log_deadline_ms: Math.log(40) });
    expect(batch.phi[off + 4]).toBeCloseTo(sig((40 - 120) / 8), 12);
    expect(batch.phi[off + 5]).toBeCloseTo(Math.exp(-120 / 100), 12);
  });

  it('is on by default when the features are present, off otherwise, and errors name the missing feature when required', () => {
    expect(new FeatureSpace(smallCatalogue()).qoe).not.toBeNull();
    expect(new FeatureSpace(smallCatalogue({ qoe: false })).p).toBe(0);
    expect(new FeatureSpace(smallCatalogue({ qoe: false })).interactions).toBe(true);
    const noLat = ['gpu', 'log_speed', 'load', 'w_acc', 'w_energy', 'log_deadline_ms'];
    // auto: silently off
    const auto = new FeatureSpace(smallCatalogue(), noLat);
    expect(auto.qoe).toBeNull();
    expect(auto.dim).toBe(1 + 6 + 3 + 6 * 3);
    // required: a typed error naming the feature
    const req = (extra: Record<string, unknown>, ctx?: string[]) => {
      try {
        new FeatureSpace(smallCatalogue(extra), ctx);
      } catch (e) {
        return e;
      }
      return null;
    };
    const e1 = req({ qoe: true }, noLat);
    expect(isBanditError(e1, 'MISSING_FEATURE')).toBe(true);
    expect((e1 as Error).message).toContain('"w_lat"');
    expect((e1 as { path: string }).path).toBe('$.context.w_lat');
    const e2 = req({ qoe: {} }, ['log_speed', 'load', 'w_acc', 'w_lat', 'w_energy', 'log_deadline_ms']);
    expect(isBanditError(e2, 'MISSING_FEATURE')).toBe(true);
    expect((e2 as Error).message).toContain('"gpu"');
    const noAcc = parseCatalogue({
      arms: [
        { id: 'a', features: { lat_cpu: 1 } },
        { id: 'b', features: { lat_cpu: 2 } },
      ],
      context: ['w_acc', 'w_lat', 'w_energy', 'log_deadline_ms'],
      qoe: true,
    });
    const e3 = (() => {
      try {
        new FeatureSpace(noAcc);
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(isBanditError(e3, 'MISSING_FEATURE')).toBe(true);
    expect((e3 as Error).message).toContain('"acc"');
    expect(() => parseCatalogue({ arms: smallCatalogue().arms, qoe: { bogus: 1 } })).toThrow(/qoe/);
  });

  it('the Kronecker fast path scores [x̃⊗z̃, q] exactly like the generic path', () => {
    const space = new FeatureSpace(smallCatalogue({ interactions: true, qoe: {} }));
    expect(space.dim).toBe(8 * 4 + 11); // (c+1)(m+1) + p with 3 default energy scales
    const policy = createPolicy({ kind: 'linucb', seed: 3, epsilon: 0 }, space);
    const batch = space.newBatch();
    const rng = new Rng(4);
    const ctx = () => ({
      gpu: rng.next() < 0.5 ? 1 : 0,
      log_speed: rng.normal() * 0.3,
      load: rng.next() * 0.5,
      w_acc: rng.next(),
      w_lat: rng.next(),
      w_energy: rng.next(),
      log_deadline_ms: Math.log(20 + 180 * rng.next()),
    });
    for (let t = 0; t < 200; t++) {
      space.prepare(batch, ctx());
      const j = policy.decide(batch);
      policy.update(batch, j, rng.next());
    }
    const a = new Float64Array(2);
    const b = new Float64Array(2);
    for (let t = 0; t < 20; t++) {
      space.prepare(batch, ctx());
      expect(batch.kron).not.toBeNull();
      const sl = policy as unknown as { fillProbs(b: unknown, o: Float64Array): void; scores: Float64Array };
      sl.fillProbs(batch, a);
      const kronScores = Array.from(sl.scores.subarray(0, 2));
      batch.kron = null;
      sl.fillProbs(batch, b);
      Array.from(sl.scores.subarray(0, 2)).forEach((v, i) => expect(v).toBeCloseTo(kronScores[i]!, 9));
    }
  });

  it('lowers the full-information ridge floor on the simulator (seeded, small T)', () => {
    const floor = (qoe: boolean): number => {
      const base = new SyntheticWorld({ seed: 3, deviceTypes: 80, users: 20 });
      const space = new FeatureSpace(parseCatalogue({ ...JSON.parse(JSON.stringify(base.catalogue)), qoe: qoe ? base.catalogue.qoe : false }));
      const d = space.dim;
      const K = base.arms.length;
      const batch = space.newBatch();
      batch.k = K;
      for (let a = 0; a < K; a++) batch.arms[a] = a;
      const round = base.newRound();
      const A = new Float64Array(d * d);
      const bv = new Float64Array(d);
      for (let i = 0; i < d; i++) A[i * d + i] = 1;
      const rng = new Rng(11);
      // Fit on the true means of every arm (full information): what is left is the representation floor.
      for (let t = 0; t < 1500; t++) {
        sampleRound(base, t, rng, round, batch, space);
        for (let a = 0; a < K; a++) {
          const o = a * d;
          for (let i = 0; i < d; i++) {
            const v = batch.phi[o + i]!;
            bv[i] = bv[i]! + v * round.mean[a]!;
            for (let j = 0; j < d; j++) A[i * d + j] = A[i * d + j]! + v * batch.phi[o + j]!;
          }
        }
      }
      const theta = invertSpdForTests(A, bv, d);
      let regret = 0;
      const r2 = new Rng(12);
      for (let t = 0; t < 2000; t++) {
        sampleRound(base, t, r2, round, batch, space);
        let best = -Infinity;
        let arg = 0;
        let top = -Infinity;
        for (let a = 0; a < K; a++) {
          let s = 0;
          for (let i = 0; i < d; i++) s += theta[i]! * batch.phi[a * d + i]!;
          if (s > best) {
            best = s;
            arg = a;
          }
          top = Math.max(top, round.mean[a]!);
        }
        regret += top - round.mean[arg]!;
      }
      return regret;
    };
    const without = floor(false);
    const withBlock = floor(true);
    expect(withBlock).toBeLessThan(0.5 * without);
  });
});
