import { invertSpd, matVec } from '../src/linalg.js';
export { createPolicy, FeatureSpace, isBanditError, parseCatalogue, Rng, SyntheticWorld } from '../src/index.js';

/** θ = A⁻¹b for a symmetric positive-definite A (test helper). */
export function invertSpdForTests(A: Float64Array, b: Float64Array, d: number): Float64Array {
  const inv = new Float64Array(d * d);
  invertSpd(new Float64Array(A), d, inv, new Float64Array(d * d));
  const th = new Float64Array(d);
  matVec(inv, b, d, th);
  return th;
}
