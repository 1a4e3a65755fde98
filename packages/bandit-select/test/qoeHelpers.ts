import { expect } from 'vitest';
import { invertSpd, matVec } from '../src/linalg.js';
import { type FeatureBatch, type FeatureSpace, type Policy, restorePolicy, type Rng, type SyntheticWorld, type WorldRound } from '../src/index.js';
export { createPolicy, FeatureSpace, isBanditError, parseCatalogue, Rng, SyntheticWorld } from '../src/index.js';

/** A batch offering every arm of the world. */
export function allArms(w: SyntheticWorld) {
  const batch = w.space.newBatch();
  batch.k = w.arms.length;
  for (let a = 0; a < w.arms.length; a++) batch.arms[a] = a;
  return batch;
}

/**
 * Samples round t of the world into `round` and builds `batch` for its context: sample → encode context → fill φ.
 * `space` is the feature space to encode with (the world's own unless given).
 */
export function sampleRound(w: SyntheticWorld, t: number, rng: Rng, round: WorldRound, batch: FeatureBatch, space: FeatureSpace = w.space): void {
  w.sample(t, rng, round);
  space.encodeContextValues(round.context, batch.ctx);
  space.fill(batch);
}

export interface PlayOptions {
  /** The batch to build each round into (default: a new `allArms(w)`). Pass it when a hook reads it. */
  batch?: FeatureBatch;
  /** The round record to sample into (default: `w.newRound()`). Pass it when a hook reads it. */
  round?: WorldRound;
  /** Called after `policy.decide`, before the reward is drawn. It must not draw from the world's `rng`. */
  onDecide?: (j: number, t: number) => void;
  /** More policies given the same (batch, j, reward) after `policy`, in this order. */
  alsoUpdate?: readonly Policy[];
}

/**
 * Plays rounds [from, to) of the world with `policy`, each: sampleRound → j = policy.decide(batch) → onDecide(j, t) →
 * reward w.observe(round, j, t, rng.normal()) → policy.update(batch, j, reward), then every `alsoUpdate` policy.
 */
export function playRounds(w: SyntheticWorld, policy: Policy, rng: Rng, from: number, to: number, opts: PlayOptions = {}): void {
  const batch = opts.batch ?? allArms(w);
  const round = opts.round ?? w.newRound();
  for (let t = from; t < to; t++) {
    sampleRound(w, t, rng, round, batch);
    const j = policy.decide(batch);
    opts.onDecide?.(j, t);
    const r = w.observe(round, j, t, rng.normal());
    policy.update(batch, j, r);
    for (const p of opts.alsoUpdate ?? []) p.update(batch, j, r);
  }
}

/**
 * Feeds rounds [from, from + rounds) of uniformly random arms (j = rng.int(k)) to every policy: the same rounds and the
 * same ratings for each.
 */
export function feedUniform(w: SyntheticWorld, policies: readonly Policy[], rng: Rng, from: number, rounds: number, batch = allArms(w), round = w.newRound()): void {
  for (let t = from; t < from + rounds; t++) {
    sampleRound(w, t, rng, round, batch);
    const j = rng.int(batch.k);
    const r = w.observe(round, j, t, rng.normal());
    for (const p of policies) p.update(batch, j, r);
  }
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
export function expectRestoredTwin(policy: Policy, w: SyntheticWorld, rng: Rng, from: number, to: number): void {
  const batch = allArms(w);
  const copy = restorePolicy(JSON.parse(JSON.stringify(policy.toJSON())), w.space);
  playRounds(w, policy, rng, from, to, {
    batch,
    onDecide: (j) => {
      expect(copy.decide(batch)).toBe(j);
      expect(Array.from(copy.probs.subarray(0, batch.k))).toEqual(Array.from(policy.probs.subarray(0, batch.k)));
    },
    alsoUpdate: [copy],
  });
}

/** θ = A⁻¹b for a symmetric positive-definite A (test helper). */
export function invertSpdForTests(A: Float64Array, b: Float64Array, d: number): Float64Array {
  const inv = new Float64Array(d * d);
  invertSpd(new Float64Array(A), d, inv, new Float64Array(d * d));
  const th = new Float64Array(d);
  matVec(inv, b, d, th);
  return th;
}
