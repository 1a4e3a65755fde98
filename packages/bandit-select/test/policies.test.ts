import { describe, expect, it } from 'vitest';
import {
  createPolicy,
  FeatureSpace,
  HybridLinUcb,
  KronScorer,
  parseCatalogue,
  isBanditError,
  POLICY_KINDS,
  type PolicyConfigInput,
  restorePolicy,
  Rng,
  SharedLinUcb,
} from '../src/index.js';
import { maxAbsDiff, symmetrizeFromUpper } from '../src/linalg.js';
import { directInverse, randomBatch } from './helpers.js';

const K = 6;
const D = 9;
const C = 4;
const shape = { numArms: K, dim: D, ctxDim: C, armIds: ['a0', 'a1', 'a2', 'a3', 'a4', 'a5'] };
const configs: PolicyConfigInput[] = [
  { kind: 'linucb' },
  { kind: 'linucb-disjoint' },
  { kind: 'linucb-hybrid' },
  { kind: 'lints', samples: 50 },
  { kind: 'egreedy' },
  { kind: 'squarecb' },
  { kind: 'uniform' },
  { kind: 'fixed', arm: 'a2', epsilon: 0.05 },
];

function train(p: ReturnType<typeof createPolicy>, steps: number, seed: number) {
  const { batch, refill } = randomBatch(K, D, C, seed);
  const rng = new Rng(seed + 1);
  for (let t = 0; t < steps; t++) {
    refill();
    const j = p.decide(batch);
    p.update(batch, j, Math.min(1, Math.max(0, 0.5 + batch.phi[j * D]! + 0.1 * rng.normal())));
  }
}

describe('policies', () => {
  it('covers every kind', () => {
    // qoets needs a FeatureSpace with the QoE block (not random φ); test/qoets.test.ts covers the same properties.
    expect(new Set([...configs.map((c) => c.kind), 'qoets'])).toEqual(new Set(POLICY_KINDS));
  });

  for (const cfg of configs) {
    it(`${cfg.kind}: probabilities sum to 1 and are > 0 under the ε-mixture`, () => {
      const p = createPolicy({ ...cfg, seed: 3 }, shape);
      train(p, 300, 11);
      const { batch, refill } = randomBatch(K, D, C, 99);
      for (let t = 0; t < 50; t++) {
        refill();
        batch.k = 3 + (t % 4); // offered subsets too
        const j = p.decide(batch);
        expect(j).toBeGreaterThanOrEqual(0);
        expect(j).toBeLessThan(batch.k);
        let s = 0;
        for (let q = 0; q < batch.k; q++) {
          expect(p.probs[q]).toBeGreaterThan(0);
          s += p.probs[q]!;
        }
        expect(s).toBeCloseTo(1, 12);
      }
    });

    it(`${cfg.kind}: serialise → deserialise gives identical decisions`, () => {
      const p = createPolicy({ ...cfg, seed: 5 }, shape);
      train(p, 250, 21);
      const json = JSON.parse(JSON.stringify(p.toJSON()));
      const q = restorePolicy(json, shape);
      const a = randomBatch(K, D, C, 1234);
      const b = randomBatch(K, D, C, 1234);
      for (let t = 0; t < 100; t++) {
        a.refill();
        b.refill();
        const ja = p.decide(a.batch);
        const jb = q.decide(b.batch);
        expect(jb).toBe(ja);
        expect(Array.from(q.probs)).toEqual(Array.from(p.probs));
        p.update(a.batch, ja, 0.3);
        q.update(b.batch, jb, 0.3);
      }
      expect(q.toJSON()).toEqual(p.toJSON());
    });
  }

  it('shared LinUCB keeps θ = A⁻¹b exactly enough (incremental θ and Sherman–Morrison)', () => {
    const p = createPolicy({ kind: 'linucb', seed: 1, recomputeEvery: 0 }, shape) as SharedLinUcb;
    train(p, 700, 5);
    const A = new Float64Array(p.model.A);
    const Ainv = new Float64Array(p.model.Ainv);
    symmetrizeFromUpper(A, D); // only the upper triangles are maintained
    symmetrizeFromUpper(Ainv, D);
    const inv = directInverse(A, D);
    expect(maxAbsDiff(Ainv, inv)).toBeLessThan(1e-9);
    const theta = new Float64Array(D);
    for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) theta[i] = theta[i]! + inv[i * D + j]! * p.model.b[j]!;
    expect(maxAbsDiff(p.model.theta, theta)).toBeLessThan(1e-9);
  });

  it('hybrid LinUCB: the rank-1 A₀⁻¹ update equals the textbook A₀ = λI + Σzzᵀ − Σ BᵀA⁻¹B', () => {
    const p = createPolicy({ kind: 'linucb-hybrid', seed: 1, recomputeEvery: 0 }, shape) as HybridLinUcb;
    train(p, 400, 8);
    const k = D;
    const d = C;
    const A0 = new Float64Array(p.Szz);
    const b0 = new Float64Array(p.Srz);
    for (let a = 0; a < K; a++) {
      const Ainv = directInverse(p.Aa.subarray(a * d * d, (a + 1) * d * d), d);
      const B = p.Ba.subarray(a * d * k, (a + 1) * d * k);
      const ba = p.ba.subarray(a * d, (a + 1) * d);
      for (let r = 0; r < k; r++) {
        for (let c = 0; c < k; c++) {
          let s = 0;
          for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) s += B[i * k + r]! * Ainv[i * d + j]! * B[j * k + c]!;
          A0[r * k + c] = A0[r * k + c]! - s;
        }
        let t = 0;
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) t += B[i * k + r]! * Ainv[i * d + j]! * ba[j]!;
        b0[r] = b0[r]! - t;
      }
    }
    expect(maxAbsDiff(p.A0inv, directInverse(A0, k))).toBeLessThan(1e-8);
    expect(maxAbsDiff(p.b0, b0)).toBeLessThan(1e-8);
  });

  it('periodic exact recompute keeps decisions the same as without it (to round-off)', () => {
    const a = createPolicy({ kind: 'linucb-hybrid', seed: 2, recomputeEvery: 50 }, shape);
    const b = createPolicy({ kind: 'linucb-hybrid', seed: 2, recomputeEvery: 0 }, shape);
    train(a, 300, 4);
    train(b, 300, 4);
    const sa = a.toJSON().arrays.beta!;
    const sb = b.toJSON().arrays.beta!;
    for (let i = 0; i < sa.length; i++) expect(sa[i]).toBeCloseTo(sb[i]!, 8);
  });

  it('rejects bad configs and states with stable codes', () => {
    expect(() => createPolicy({ kind: 'linucb', alpha: -1 } as PolicyConfigInput, shape)).toThrow(expect.objectContaining({ code: 'BAD_CONFIG' }));
    expect(() => createPolicy({ kind: 'nope' } as unknown as PolicyConfigInput, shape)).toThrow(/one of linucb/);
    expect(() => createPolicy({ kind: 'fixed', arm: 'zz' }, shape)).toThrow(expect.objectContaining({ code: 'UNKNOWN_ARM' }));
    const st = createPolicy('linucb', shape).toJSON();
    try {
      restorePolicy(st, { ...shape, dim: D + 1 });
      expect.unreachable();
    } catch (e) {
      expect(isBanditError(e, 'BAD_STATE')).toBe(true);
      expect((e as Error).message).toMatch(/dim is 9 but the feature space has 10/);
    }
    const p = createPolicy('egreedy', shape);
    const { batch } = randomBatch(K, D, C, 1);
    expect(() => p.update(batch, 0, Number.NaN)).toThrow(expect.objectContaining({ code: 'BAD_REWARD' }));
  });

  it('the Kronecker fast path scores exactly like the generic path', () => {
    const rng = new Rng(17);
    const cat = parseCatalogue({
      arms: Array.from({ length: 12 }, (_, i) => ({ id: `m${i}`, features: { a: rng.normal(), b: rng.normal(), c: rng.normal() } })),
      context: ['x1', 'x2', 'x3', 'x4'],
    });
    const space = new FeatureSpace(cat);
    for (const kind of ['linucb', 'egreedy', 'squarecb'] as const) {
      const p = createPolicy({ kind, seed: 1 }, space);
      const batch = space.newBatch();
      const ctx = () => ({ x1: rng.normal(), x2: rng.normal(), x3: rng.normal(), x4: rng.normal() });
      for (let t = 0; t < 300; t++) {
        space.prepare(batch, ctx());
        const j = p.decide(batch);
        p.update(batch, j, rng.next());
      }
      const fast = new Float64Array(12);
      const slow = new Float64Array(12);
      for (let t = 0; t < 20; t++) {
        space.prepare(batch, ctx(), t % 2 ? ['m3', 'm0', 'm7', 'm11'] : undefined);
        expect(batch.kron).not.toBeNull();
        p.probabilities(batch, fast);
        batch.kron = null;
        p.probabilities(batch, slow);
        for (let q = 0; q < batch.k; q++) expect(fast[q]).toBeCloseTo(slow[q]!, 12);
        if (kind === 'linucb') {
          const model = (p as SharedLinUcb).model;
          space.fill(batch); // sets kron again
          const mean = new Float64Array(12);
          const quad = new Float64Array(12);
          const ks = new KronScorer();
          expect(ks.applies(batch, space.dim)).toBe(true);
          ks.score(batch, model.theta, model.Ainv, space.dim, mean, quad);
          for (let q = 0; q < batch.k; q++) {
            expect(mean[q]).toBeCloseTo(model.predict(batch.phi, q * space.dim), 12);
            expect(quad[q]).toBeCloseTo(model.variance(batch.phi, q * space.dim), 12);
          }
        }
      }
    }
  });
});
