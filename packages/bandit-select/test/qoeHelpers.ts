import { expect } from 'vitest';
import { invertSpd, matVec } from '../src/linalg.js';
import { type createPolicy, restorePolicy, type Rng, type SyntheticWorld } from '../src/index.js';
export { createPolicy, FeatureSpace, isBanditError, parseCatalogue, Rng, SyntheticWorld } from '../src/index.js';

/** A batch offering every arm of the world. */
export function allArms(w: SyntheticWorld) {
  const batch = w.space.newBatch();
  batch.k = w.arms.length;
  for (let a = 0; a < w.arms.length; a++) batch.arms[a] = a;
  return batch;
}

/** Propensities of a decision over k arms: each at least the ε/k floor (within `tol`), summing to 1. */
export function expectPropensities(probs: Float64Array, k: number, epsilon: number, tol: number): void {
  let s = 0;
  for (let q = 0; q < k; q++) {
    expect(probs[q]!).toBeGreaterThanOrEqual(epsilon / k - tol);
    s += probs[q]!;
  }
  expect(s).toBeCloseTo(1, 12);
}

/**
 * Restores `policy` from its JSON and plays rounds [from, to) with both (same contexts, same ratings): the copy must
 * make the same decisions with the same propensities.
 */
export function expectRestoredTwin(policy: ReturnType<typeof createPolicy>, w: SyntheticWorld, rng: Rng, from: number, to: number): void {
  const batch = allArms(w);
  const round = w.newRound();
  const copy = restorePolicy(JSON.parse(JSON.stringify(policy.toJSON())), w.space);
  for (let t = from; t < to; t++) {
    w.sample(t, rng, round);
    w.space.encodeContextValues(round.context, batch.ctx);
    w.space.fill(batch);
    const j = policy.decide(batch);
    expect(copy.decide(batch)).toBe(j);
    expect(Array.from(copy.probs.subarray(0, batch.k))).toEqual(Array.from(policy.probs.subarray(0, batch.k)));
    const r = w.observe(round, j, t, rng.normal());
    policy.update(batch, j, r);
    copy.update(batch, j, r);
  }
}

/** θ = A⁻¹b for a symmetric positive-definite A (test helper). */
export function invertSpdForTests(A: Float64Array, b: Float64Array, d: number): Float64Array {
  const inv = new Float64Array(d * d);
  invertSpd(new Float64Array(A), d, inv, new Float64Array(d * d));
  const th = new Float64Array(d);
  matVec(inv, b, d, th);
  return th;
}
