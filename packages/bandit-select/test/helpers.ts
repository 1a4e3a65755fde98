import { createBatch, type FeatureBatch, FeatureSpace, parseCatalogue, Rng } from '../src/index.js';

/** Feature space of a context-free catalogue for OPE: arms 'a', 'b', 'c', … with one feature f = 0, 1, 2, …; context x. */
export function opeSpace(k: number): FeatureSpace {
  return new FeatureSpace(parseCatalogue({ arms: Array.from({ length: k }, (_, i) => ({ id: String.fromCharCode(97 + i), features: { f: i } })), context: ['x'] }));
}

/** A random batch of k arms × d features (+ ctx of length c), seeded. */
export function randomBatch(k: number, d: number, c: number, seed: number): { batch: FeatureBatch; refill: () => void } {
  const batch = createBatch(k, d, c);
  batch.k = k;
  for (let a = 0; a < k; a++) batch.arms[a] = a;
  const rng = new Rng(seed);
  const refill = () => {
    for (let i = 0; i < k * d; i++) batch.phi[i] = rng.normal() / Math.sqrt(d);
    batch.ctx[0] = 1;
    for (let i = 1; i < c; i++) batch.ctx[i] = rng.normal();
  };
  refill();
  return { batch, refill };
}

/** Naive dense inverse by Gauss–Jordan (reference only). */
export function directInverse(a: Float64Array, d: number): Float64Array {
  const m = new Float64Array(a);
  const inv = new Float64Array(d * d);
  for (let i = 0; i < d; i++) inv[i * d + i] = 1;
  for (let col = 0; col < d; col++) {
    let piv = col;
    for (let r = col + 1; r < d; r++) if (Math.abs(m[r * d + col]!) > Math.abs(m[piv * d + col]!)) piv = r;
    for (let j = 0; j < d; j++) {
      [m[col * d + j], m[piv * d + j]] = [m[piv * d + j]!, m[col * d + j]!];
      [inv[col * d + j], inv[piv * d + j]] = [inv[piv * d + j]!, inv[col * d + j]!];
    }
    const p = m[col * d + col]!;
    for (let j = 0; j < d; j++) {
      m[col * d + j] = m[col * d + j]! / p;
      inv[col * d + j] = inv[col * d + j]! / p;
    }
    for (let r = 0; r < d; r++) {
      if (r === col) continue;
      const f = m[r * d + col]!;
      if (f === 0) continue;
      for (let j = 0; j < d; j++) {
        m[r * d + j] = m[r * d + j]! - f * m[col * d + j]!;
        inv[r * d + j] = inv[r * d + j]! - f * inv[col * d + j]!;
      }
    }
  }
  return inv;
}
