import { invariant } from './errors.js';

/**
 * Small dense linear algebra on row-major Float64Array matrices. No allocation in the per-step helpers: callers
 * pass scratch buffers. Everything here assumes square d×d matrices unless stated.
 */

/** out = M v. */
export function matVec(m: Float64Array, v: Float64Array, d: number, out: Float64Array, vOff = 0): void {
  for (let i = 0; i < d; i++) {
    let s = 0;
    const row = i * d;
    for (let j = 0; j < d; j++) s += m[row + j]! * v[vOff + j]!;
    out[i] = s;
  }
}

export function dot(a: Float64Array, b: Float64Array, d: number, aOff = 0, bOff = 0): number {
  let s = 0;
  for (let j = 0; j < d; j++) s += a[aOff + j]! * b[bOff + j]!;
  return s;
}

export function identity(d: number, scale = 1): Float64Array {
  const m = new Float64Array(d * d);
  for (let i = 0; i < d; i++) m[i * d + i] = scale;
  return m;
}

/**
 * Sherman–Morrison rank-1 update of an inverse: given Ainv = A⁻¹, make it (A + x xᵀ)⁻¹ in place.
 * `u` is a scratch vector of length d. Returns 1 + xᵀA⁻¹x.
 */
export function shermanMorrison(ainv: Float64Array, x: Float64Array, d: number, u: Float64Array, xOff = 0): number {
  matVec(ainv, x, d, u, xOff);
  let denom = 1;
  for (let j = 0; j < d; j++) denom += x[xOff + j]! * u[j]!;
  const inv = 1 / denom;
  for (let i = 0; i < d; i++) {
    const ui = u[i]! * inv;
    if (ui === 0) continue;
    const row = i * d;
    for (let j = 0; j < d; j++) ainv[row + j] = ainv[row + j]! - ui * u[j]!;
  }
  return denom;
}

/** out = M x for symmetric M stored in its upper triangle only (the lower triangle is ignored). */
export function symMatVecUpper(m: Float64Array, x: Float64Array, d: number, out: Float64Array, xOff = 0): void {
  out.fill(0, 0, d);
  for (let i = 0; i < d; i++) {
    const xi = x[xOff + i]!;
    const row = i * d;
    let acc = m[row + i]! * xi;
    for (let j = i + 1; j < d; j++) {
      const v = m[row + j]!;
      acc += v * x[xOff + j]!;
      out[j] = out[j]! + v * xi;
    }
    out[i] = out[i]! + acc;
  }
}

/**
 * Fused Sherman–Morrison + outer-product update on upper-triangular storage: Ainv ← (A + xxᵀ)⁻¹ and A ← A + xxᵀ,
 * touching only the upper triangles (about d² multiply-adds in total instead of 3d²). `u` receives A_old⁻¹x.
 * Returns 1 + xᵀA_old⁻¹x.
 */
export function shermanMorrisonUpper(ainv: Float64Array, a: Float64Array, x: Float64Array, d: number, u: Float64Array, xOff = 0): number {
  symMatVecUpper(ainv, x, d, u, xOff);
  let denom = 1;
  for (let j = 0; j < d; j++) denom += x[xOff + j]! * u[j]!;
  const inv = 1 / denom;
  for (let i = 0; i < d; i++) {
    const gi = u[i]! * inv;
    const xi = x[xOff + i]!;
    const row = i * d;
    for (let j = i; j < d; j++) {
      ainv[row + j] = ainv[row + j]! - gi * u[j]!;
      a[row + j] = a[row + j]! + xi * x[xOff + j]!;
    }
  }
  return denom;
}

/** Copy the upper triangle onto the lower one, in place. */
export function symmetrizeFromUpper(m: Float64Array, d: number): void {
  for (let i = 0; i < d; i++) for (let j = i + 1; j < d; j++) m[j * d + i] = m[i * d + j]!;
}

/** A += s · x xᵀ. */
export function addOuter(a: Float64Array, x: Float64Array, d: number, s = 1, xOff = 0): void {
  for (let i = 0; i < d; i++) {
    const xi = x[xOff + i]! * s;
    if (xi === 0) continue;
    const row = i * d;
    for (let j = 0; j < d; j++) a[row + j] = a[row + j]! + xi * x[xOff + j]!;
  }
}

/** Lower Cholesky factor L of SPD A (A = L Lᵀ), into `out`. Returns false if A is not positive definite. */
export function cholesky(a: Float64Array, d: number, out: Float64Array): boolean {
  out.fill(0);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * d + j]!;
      for (let k = 0; k < j; k++) s -= out[i * d + k]! * out[j * d + k]!;
      if (i === j) {
        if (!(s > 0)) return false;
        out[i * d + i] = Math.sqrt(s);
      } else out[i * d + j] = s / out[j * d + j]!;
    }
  }
  return true;
}

/**
 * Exact inverse of SPD A via Cholesky, into `out` (symmetrised). `scratch` must hold d*d.
 * Used for the periodic exact recompute that bounds Sherman–Morrison round-off drift.
 */
export function invertSpd(a: Float64Array, d: number, out: Float64Array, scratch: Float64Array): void {
  if (!cholesky(a, d, scratch)) {
    // Fall back to a tiny jitter; A = λI + Σxxᵀ is SPD in exact arithmetic so this only guards round-off.
    const j = new Float64Array(a);
    for (let i = 0; i < d; i++) j[i * d + i] = j[i * d + i]! + 1e-9;
    invariant(cholesky(j, d, scratch), () => 'matrix is not positive definite');
  }
  const L = scratch;
  // Invert L in place into `out` (lower triangular), then A⁻¹ = L⁻ᵀ L⁻¹.
  out.fill(0);
  for (let i = 0; i < d; i++) {
    out[i * d + i] = 1 / L[i * d + i]!;
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= L[i * d + k]! * out[k * d + j]!;
      out[i * d + j] = s / L[i * d + i]!;
    }
  }
  // out currently holds Linv (lower). Compute M = Linvᵀ Linv, symmetric; write to L buffer then copy.
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = i; k < d; k++) s += out[k * d + i]! * out[k * d + j]!;
      L[i * d + j] = s;
      L[j * d + i] = s;
    }
  }
  out.set(L);
}

/**
 * Rank-1 Cholesky update: given lower L with A = L Lᵀ, make L the factor of A + x xᵀ in place. O(d²).
 * `w` is a scratch vector of length d (receives a copy of x).
 */
export function cholUpdate(L: Float64Array, x: Float64Array, d: number, w: Float64Array, xOff = 0): void {
  for (let j = 0; j < d; j++) w[j] = x[xOff + j]!;
  for (let k = 0; k < d; k++) {
    const lkk = L[k * d + k]!;
    const wk = w[k]!;
    const r = Math.sqrt(lkk * lkk + wk * wk);
    const c = r / lkk;
    const s = wk / lkk;
    L[k * d + k] = r;
    for (let i = k + 1; i < d; i++) {
      const lik = (L[i * d + k]! + s * w[i]!) / c;
      w[i] = c * w[i]! - s * lik;
      L[i * d + k] = lik;
    }
  }
}

/** Solve L y = z for lower-triangular L (forward substitution): reads z[zOff..], writes y into out. */
export function solveLower(L: Float64Array, d: number, z: Float64Array, out: Float64Array, zOff = 0): void {
  for (let i = 0; i < d; i++) {
    let s = z[zOff + i]!;
    const row = i * d;
    for (let k = 0; k < i; k++) s -= L[row + k]! * out[k]!;
    out[i] = s / L[row + i]!;
  }
}

/** xᵀ M x for symmetric M (reads the upper triangle only; about d²/2 multiply-adds, 4-way unrolled). */
export function quadSym(m: Float64Array, x: Float64Array, d: number, xOff = 0): number {
  let s = 0;
  for (let i = 0; i < d; i++) {
    const xi = x[xOff + i]!;
    if (xi === 0) continue;
    const row = i * d;
    const o = xOff - row;
    let a0 = 0.5 * m[row + i]! * xi;
    let a1 = 0;
    let a2 = 0;
    let a3 = 0;
    let r = row + i + 1;
    const end = row + d;
    for (; r + 3 < end; r += 4) {
      a0 += m[r]! * x[r + o]!;
      a1 += m[r + 1]! * x[r + o + 1]!;
      a2 += m[r + 2]! * x[r + o + 2]!;
      a3 += m[r + 3]! * x[r + o + 3]!;
    }
    for (; r < end; r++) a0 += m[r]! * x[r + o]!;
    s += xi * (a0 + a1 + a2 + a3);
  }
  return 2 * s;
}

/**
 * out[q] = x_qᵀ M x_q for the k vectors x_q = x[q·d .. q·d + d) (symmetric M, upper triangle only). Two vectors per
 * pass share every load of M, which makes it about 1.5× faster than k calls of quadSym; each value is computed in
 * quadSym's exact order, so the results are bit-identical to it.
 */
export function quadSymMany(m: Float64Array, x: Float64Array, d: number, k: number, out: Float64Array): void {
  let q = 0;
  for (; q + 1 < k; q += 2) {
    const o0 = q * d;
    const o1 = o0 + d;
    let s0 = 0;
    let s1 = 0;
    for (let i = 0; i < d; i++) {
      const x0 = x[o0 + i]!;
      const x1 = x[o1 + i]!;
      if (x0 === 0 && x1 === 0) continue;
      const row = i * d;
      const p0 = o0 - row;
      const p1 = o1 - row;
      const mii = 0.5 * m[row + i]!;
      let a0 = mii * x0;
      let a1 = 0;
      let a2 = 0;
      let a3 = 0;
      let b0 = mii * x1;
      let b1 = 0;
      let b2 = 0;
      let b3 = 0;
      let r = row + i + 1;
      const end = row + d;
      for (; r + 3 < end; r += 4) {
        const m0 = m[r]!;
        const m1 = m[r + 1]!;
        const m2 = m[r + 2]!;
        const m3 = m[r + 3]!;
        a0 += m0 * x[r + p0]!;
        a1 += m1 * x[r + p0 + 1]!;
        a2 += m2 * x[r + p0 + 2]!;
        a3 += m3 * x[r + p0 + 3]!;
        b0 += m0 * x[r + p1]!;
        b1 += m1 * x[r + p1 + 1]!;
        b2 += m2 * x[r + p1 + 2]!;
        b3 += m3 * x[r + p1 + 3]!;
      }
      for (; r < end; r++) {
        const mr = m[r]!;
        a0 += mr * x[r + p0]!;
        b0 += mr * x[r + p1]!;
      }
      if (x0 !== 0) s0 += x0 * (a0 + a1 + a2 + a3);
      if (x1 !== 0) s1 += x1 * (b0 + b1 + b2 + b3);
    }
    out[q] = 2 * s0;
    out[q + 1] = 2 * s1;
  }
  if (q < k) out[q] = quadSym(m, x, d, q * d);
}

/** Solve Lᵀ y = z for lower-triangular L (back substitution), in place on `z`. */
export function solveLowerTransposed(L: Float64Array, d: number, z: Float64Array): void {
  for (let i = d - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < d; k++) s -= L[k * d + i]! * z[k]!;
    z[i] = s / L[i * d + i]!;
  }
}

/** Max |A − B| entrywise. */
export function maxAbsDiff(a: Float64Array, b: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Solve ridge regression (XᵀX + λI)θ = Xᵀy for n rows of dimension d (row-major X). */
export function ridgeFit(x: Float64Array, y: Float64Array, n: number, d: number, lambda = 1, weights?: Float64Array): Float64Array {
  const a = identity(d, lambda);
  const b = new Float64Array(d);
  for (let r = 0; r < n; r++) {
    const w = weights ? weights[r]! : 1;
    if (w === 0) continue;
    addOuter(a, x, d, w, r * d);
    const yr = y[r]! * w;
    for (let j = 0; j < d; j++) b[j] = b[j]! + yr * x[r * d + j]!;
  }
  const inv = new Float64Array(d * d);
  invertSpd(a, d, inv, new Float64Array(d * d));
  const theta = new Float64Array(d);
  matVec(inv, b, d, theta);
  return theta;
}
