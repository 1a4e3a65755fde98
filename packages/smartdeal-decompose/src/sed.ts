import { Matrix, solve, SingularValueDecomposition } from 'ml-matrix';
import { type ExpRange, projectPow2 } from './pow2.js';

/**
 * SED, the offline decomposition of one block A [p, q] into Ce [p, k] (signed powers of two, sparse) times a
 * dense basis B [k, q] (ALGORITHMS §4.2, `se/alg.py core_decompose`): start from B = s·I (k = q; the top-k right
 * singular vectors when k < q) and Ce = A·B⁺ normalised to max |Ce| = 2^maxExp, then alternate
 *   row scaling → power-of-two projection (zero below τ, clip to the exponent range) → stop when the projection
 *   no longer changes → B ← argmin‖A − Ce_q·B‖ → Ce ← argmin‖A − Ce·B‖ (masked rows kept at zero),
 * and finish with a last projection and least-squares B. Least squares is ml-matrix's SVD solve (minimum-norm,
 * so an all-zero column of Ce_q does not break it). The best iterate (lowest ‖A − Ce_q·B‖) is returned.
 */
export interface SedOptions {
  k: number;
  range: ExpRange;
  /** Coefficients with |c| < τ (relative to the normalised scale 2^maxExp = largest level) become 0. */
  tau: number;
  iters?: number;
  tol?: number;
  /** Row scaling before each projection (SmartDeal's `scale` option). Default true. */
  rowScale?: boolean;
  /**
   * How Ce is chosen given B: 'threshold' (SmartDeal: least squares, zero |c| < τ, round to the nearest power of
   * two) or 'search' (that result refined by coordinate descent over the levels {0, ±2^e} of each coefficient,
   * minimising ‖a − c·B‖² + λ·nnz(c) per row with λ = τ²·mean‖B_m‖², so a coefficient is dropped where it buys
   * less than one of magnitude τ on an average basis row). Default 'threshold'.
   */
  coding?: 'threshold' | 'search';
}

/**
 * Coordinate descent over power-of-two levels for each kept row of Ce given B (see SedOptions.coding), in place.
 * Each step sets one coefficient to the level minimising the row objective with the others fixed.
 */
export function refineCoding(
  a: Float32Array,
  ce: Float32Array,
  b: Float32Array,
  p: number,
  k: number,
  q: number,
  range: ExpRange,
  tau: number,
  kept: (i: number) => boolean,
  sweeps = 3,
): void {
  const levels: number[] = [0];
  for (let e = range.minExp; e <= range.maxExp; e++) levels.push(2 ** e, -(2 ** e));
  const bn = new Float64Array(k);
  let mean = 0;
  for (let m = 0; m < k; m++) {
    for (let t = 0; t < q; t++) bn[m]! += b[m * q + t]! ** 2;
    mean += bn[m]! / k;
  }
  const lambda = tau * tau * mean;
  const r = new Float64Array(q);
  for (let i = 0; i < p; i++) {
    if (!kept(i)) continue;
    for (let t = 0; t < q; t++) r[t] = a[i * q + t]!;
    for (let m = 0; m < k; m++) {
      const c = ce[i * k + m]!;
      if (c !== 0) for (let t = 0; t < q; t++) r[t]! -= c * b[m * q + t]!;
    }
    for (let sw = 0; sw < sweeps; sw++) {
      let changed = false;
      for (let m = 0; m < k; m++) {
        const old = ce[i * k + m]!;
        // residual without coefficient m: r + old·B_m
        let dot = 0;
        for (let t = 0; t < q; t++) dot += (r[t]! + old * b[m * q + t]!) * b[m * q + t]!;
        let best = old,
          bestCost = Infinity;
        for (const c of levels) {
          const cost = -2 * c * dot + c * c * bn[m]! + (c !== 0 ? lambda : 0);
          if (cost < bestCost - 1e-15) ((bestCost = cost), (best = c));
        }
        if (best !== old) {
          for (let t = 0; t < q; t++) r[t]! += (old - best) * b[m * q + t]!;
          ce[i * k + m] = best;
          changed = true;
        }
      }
      if (!changed) break;
    }
  }
}

export interface SedResult {
  /** Projected coefficients [p, k], row-major; every entry 0 or ±2^e with e in range. */
  ce: Float32Array;
  /** Basis [k, q], row-major. */
  basis: Float32Array;
  /** ‖A − Ce·B‖_F (fp32 reconstruction). */
  error: number;
  iterations: number;
}

function product(ce: Float32Array, b: Float32Array, p: number, k: number, q: number): Float64Array {
  const out = new Float64Array(p * q);
  for (let i = 0; i < p; i++)
    for (let m = 0; m < k; m++) {
      const c = ce[i * k + m]!;
      if (c !== 0) for (let t = 0; t < q; t++) out[i * q + t]! += c * b[m * q + t]!;
    }
  return out;
}

function residual(a: Float32Array, ce: Float32Array, b: Float32Array, p: number, k: number, q: number): number {
  const w = product(ce, b, p, k, q);
  let s = 0;
  for (let i = 0; i < w.length; i++) s += (a[i]! - Math.fround(w[i]!)) ** 2;
  return Math.sqrt(s);
}

const toMatrix = (v: ArrayLike<number>, r: number, c: number): Matrix => {
  const m = new Matrix(r, c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) m.set(i, j, v[i * c + j]!);
  return m;
};
const fromMatrix = (m: Matrix): Float32Array => Float32Array.from(m.to1DArray());

/** SED of one block. `rowMask` [p] (1 = row may be non-zero) carries the structural sparsity. */
export function sedBlock(a: Float32Array, p: number, q: number, rowMask: Uint8Array | undefined, o: SedOptions): SedResult {
  const { k, range } = o;
  const iters = o.iters ?? 30;
  const tol = o.tol ?? 1e-8;
  const kept = (i: number): boolean => !rowMask || rowMask[i] === 1;
  let amax = 0;
  for (let i = 0; i < p; i++) if (kept(i)) for (let t = 0; t < q; t++) amax = Math.max(amax, Math.abs(a[i * q + t]!));
  const masked = Float32Array.from(a, (v, i) => (kept(Math.floor(i / q)) ? v : 0));
  if (amax === 0)
    return { ce: new Float32Array(p * k), basis: new Float32Array(k * q), error: residual(a, new Float32Array(p * k), new Float32Array(k * q), p, k, q), iterations: 0 };
  const A = toMatrix(masked, p, q);
  // Initial basis: the identity (k = q) or the top-k right singular vectors, scaled so max |Ce| = 2^maxExp.
  let B: Matrix;
  if (k === q) B = Matrix.eye(q, q);
  else {
    const svd = new SingularValueDecomposition(A, { computeLeftSingularVectors: false, autoTranspose: true });
    B = svd.rightSingularVectors.subMatrix(0, q - 1, 0, k - 1).transpose();
  }
  let ce = fromMatrix(solve(B.transpose(), A.transpose(), true).transpose());
  let cmax = 0;
  for (const v of ce) cmax = Math.max(cmax, Math.abs(v));
  const s = cmax / 2 ** range.maxExp;
  if (s > 0) for (let i = 0; i < ce.length; i++) ce[i]! /= s;
  let basis = fromMatrix(B.mul(s));
  let prev: Float32Array | undefined;
  let best: SedResult | undefined;
  let it = 0;
  const project = (c: Float32Array): Float32Array => {
    const out = new Float32Array(c.length);
    for (let i = 0; i < p; i++) {
      if (!kept(i)) continue;
      let d = 1;
      if (o.rowScale ?? true) {
        let sum = 0,
          n = 0;
        for (let m = 0; m < k; m++) {
          const v = Math.abs(c[i * k + m]!);
          if (v >= o.tau && v > 0) ((sum += Math.round(Math.log2(v)) - Math.log2(v)), n++);
        }
        if (n) d = 2 ** (sum / n);
      }
      for (let m = 0; m < k; m++) out[i * k + m] = projectPow2(c[i * k + m]! * d, range, o.tau);
    }
    return out;
  };
  const fitBasis = (cq: Float32Array): Float32Array => fromMatrix(solve(toMatrix(cq, p, k), A, true));
  const code = (c: Float32Array, bas: Float32Array): Float32Array => {
    const cq = project(c);
    if (o.coding === 'search') refineCoding(masked, cq, bas, p, k, q, range, o.tau, kept);
    return cq;
  };
  for (; it < iters; it++) {
    const cq = code(ce, basis);
    if (prev) {
      let diff = 0;
      for (let i = 0; i < cq.length; i++) diff += (cq[i]! - prev[i]!) ** 2;
      if (Math.sqrt(diff) <= tol) break;
    }
    prev = cq;
    basis = fitBasis(cq);
    const err = residual(masked, cq, basis, p, k, q);
    if (!best || err < best.error) best = { ce: cq, basis, error: err, iterations: it + 1 };
    ce = fromMatrix(solve(toMatrix(basis, k, q).transpose(), A.transpose(), true).transpose());
    for (let i = 0; i < p; i++) if (!kept(i)) ce.fill(0, i * k, (i + 1) * k);
  }
  const cq = code(ce, basis);
  const b = fitBasis(cq);
  const err = residual(masked, cq, b, p, k, q);
  if (!best || err < best.error) best = { ce: cq, basis: b, error: err, iterations: it };
  // Error against the unmasked block (structurally pruned rows count as error).
  return { ...best, error: residual(a, best.ce, best.basis, p, k, q) };
}
