/**
 * The pure math of ADMM-NN (ALGORITHMS §1): Euclidean projections onto the sparsity set (unstructured and
 * grouped) and onto the non-zero quantization levels, the interval scan, the progressive freezing schedule
 * and the ρ schedule. Plain typed arrays in tfjs layout; no tfjs, no I/O.
 */
import { gemmDims, topkMask } from '@edge-compress/core';

/** NNI `granularity` as admm reads it (see `groupsOf`). */
export type Granularity = 'default' | 'in_channel' | 'out_channel' | 'per_channel' | number[];

/** Kept count l = round((1 − sparse)·n), at least 1 (a layer with no weight left cuts the network). */
export function keepCount(n: number, sparseRatio: number): number {
  if (n === 0) return 0;
  return Math.min(n, Math.max(1, Math.round((1 - sparseRatio) * n)));
}

/**
 * Partition of a tfjs-layout weight into pruning groups, or null for unstructured (one element per group).
 * GEMM view (rows = out channels, cols = fan-in in (kh, kw, cin) order; tfjs flat index i = col·rows + row):
 * - 'out_channel' / 'per_channel': one group per GEMM row (a whole filter / output neuron);
 * - 'in_channel': one group per input channel (dense: a GEMM column; conv: cin across kh·kw and every row);
 * - [br, bc]: blocks of br rows × bc cols over the GEMM view (edge blocks smaller); [b] means [1, b].
 */
export function groupsOf(shape: readonly number[], g: Granularity | undefined): { groupOf: Int32Array; count: number } | null {
  if (g === undefined || g === 'default') return null;
  const { rows, cols } = gemmDims(shape);
  const n = rows * cols;
  const groupOf = new Int32Array(n);
  if (g === 'out_channel' || g === 'per_channel') {
    for (let i = 0; i < n; i++) groupOf[i] = i % rows;
    return { groupOf, count: rows };
  }
  if (g === 'in_channel') {
    const cin = shape.length === 4 ? shape[2]! : cols;
    for (let i = 0; i < n; i++) groupOf[i] = Math.floor(i / rows) % cin;
    return { groupOf, count: cin };
  }
  const [br, bc] = g.length === 1 ? [1, g[0]!] : [g[0]!, g[1]!];
  const nbr = Math.ceil(rows / br),
    nbc = Math.ceil(cols / bc);
  for (let i = 0; i < n; i++) {
    const r = i % rows,
      c = Math.floor(i / rows);
    groupOf[i] = Math.floor(r / br) * nbc + Math.floor(c / bc);
  }
  return { groupOf, count: nbr * nbc };
}

/**
 * Mask of the Euclidean projection onto {W : at most `keepGroups` groups non-zero}: keep the groups of
 * largest squared L2 norm, ties broken by group index (lower kept). Unstructured (groups = null): keep the
 * `keep` largest |w|, ties by index.
 */
export function sparseMask(values: ArrayLike<number>, groups: { groupOf: Int32Array; count: number } | null, sparseRatio: number): Uint8Array {
  if (groups === null) return topkMask(values, keepCount(values.length, sparseRatio));
  const norms = new Float64Array(groups.count);
  for (let i = 0; i < values.length; i++) norms[groups.groupOf[i]!]! += values[i]! * values[i]!;
  // topkMask ranks by |score|; the squared norm is already non-negative.
  const keptGroups = topkMask(norms, keepCount(groups.count, sparseRatio));
  const mask = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) mask[i] = keptGroups[groups.groupOf[i]!]!;
  return mask;
}

/** With a shared budget each layer keeps at least 1/GLOBAL_FLOOR_DIVISOR of its own count (no layer is emptied). */
export const GLOBAL_FLOOR_DIVISOR = 4;

/**
 * Masks under one budget shared across layers (the global threshold of dynamic sparse reparameterization, Mostafa &
 * Wang 2019): keep the `keep` entries of largest |v_l| / scale_l over all layers, each layer keeping at least its
 * `floors[l]` largest. Σ floors must not exceed `keep`. Ties by layer, then index (lower kept).
 */
export function globalSparseMasks(values: readonly ArrayLike<number>[], scales: readonly number[], keep: number, floors: readonly number[]): Uint8Array[] {
  const total = values.reduce((a, v) => a + v.length, 0);
  const scores = new Float64Array(total);
  let off = 0;
  values.forEach((v, l) => {
    const floor = topkMask(v, floors[l]!);
    const s = scales[l]! > 0 ? scales[l]! : 1;
    for (let i = 0; i < v.length; i++) scores[off + i] = floor[i] ? Number.MAX_VALUE : Math.abs(v[i]!) / s;
    off += v.length;
  });
  const kept = topkMask(scores, Math.min(total, keep));
  off = 0;
  return values.map((v) => {
    const m = kept.slice(off, off + v.length);
    off += v.length;
    return m;
  });
}

/** Π_S(v): v where the mask keeps, 0 elsewhere. */
export function applyMask(values: ArrayLike<number>, mask: Uint8Array): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < out.length; i++) if (mask[i]) out[i] = values[i]!;
  return out;
}

/** Non-zero levels per side for `bits` bits per non-zero (sign + level index; zero is not a level): 2^(bits−1). */
export const levelsPerSide = (bits: number): number => 2 ** (bits - 1);

/** Signed level index of v on the grid ±q·{1..L} (nearest, clamped; v = 0 maps to +1). */
export function levelIndex(v: number, q: number, L: number): number {
  const m = Math.round(Math.abs(v) / q);
  const k = m < 1 ? 1 : m > L ? L : m;
  return v < 0 ? -k : k;
}

/**
 * Π_Q on kept positions: z = sign(v)·q·clamp(round(|v|/q), 1, L); pruned positions stay 0. `q` is used as the
 * float32 the artifact stores, so z equals what decoding the codes gives.
 */
export function projectQuant(values: ArrayLike<number>, mask: Uint8Array, q: number, L: number): Float32Array {
  const qf = Math.fround(q);
  const out = new Float32Array(values.length);
  for (let i = 0; i < out.length; i++) if (mask[i]) out[i] = levelIndex(values[i]!, qf, L) * qf;
  return out;
}

/** Integer codes c ∈ {−L..−1, 1..L} of kept positions (0 where pruned): value = c·q. */
export function quantCodes(values: ArrayLike<number>, mask: Uint8Array, q: number, L: number): Int32Array {
  const qf = Math.fround(q);
  const out = new Int32Array(values.length);
  for (let i = 0; i < out.length; i++) if (mask[i]) out[i] = levelIndex(values[i]!, qf, L);
  return out;
}

/** Σ over kept positions of (w − nearest level)². */
export function quantError(values: ArrayLike<number>, mask: Uint8Array, q: number, L: number): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) {
    if (!mask[i]) continue;
    const d = values[i]! - levelIndex(values[i]!, q, L) * q;
    s += d * d;
  }
  return s;
}

/** Lower end of the interval scan, as a fraction of a = max|w|/L: the paper's 0.9, or 0.1 ('wide'). */
export const INTERVAL_SCAN_FROM = { paper: 0.9, wide: 0.1 } as const;

/**
 * Σ over x of (x − nearest level of ±q·{1..L})² for each candidate q, with `sortedAbs` = the kept |w| in ascending
 * order. Each level's weights are a contiguous run of the sorted values, found by binary search with the same
 * test as `levelIndex` (round(x/q) ≥ k + 1 ⇔ x/q ≥ k + 0.5: correctly rounded division is monotone in x), so the
 * groups are exactly those of `quantError`; each group's error is S2 − 2kq·S1 + (kq)²·n from prefix sums. O(n log n)
 * once, then O(L log n) per candidate instead of O(n). Float64 sums: the errors agree with `quantError` up to
 * rounding (a relative 1e-12 or so), and may be a tiny negative number where a group's error is ~0 (clamped to 0).
 */
export function sortedScanErrors(sortedAbs: Float64Array, L: number, qs: readonly number[]): Float64Array {
  const n = sortedAbs.length;
  const p1 = new Float64Array(n + 1),
    p2 = new Float64Array(n + 1);
  for (let i = 0; i < n; i++) {
    const x = sortedAbs[i]!;
    p1[i + 1] = p1[i]! + x;
    p2[i + 1] = p2[i]! + x * x;
  }
  const out = new Float64Array(qs.length);
  qs.forEach((q, c) => {
    let err = 0,
      start = 0;
    for (let k = 1; k <= L && start < n; k++) {
      let end = n;
      if (k < L) {
        // first index in [start, n) with x/q ≥ k + 0.5
        let lo = start,
          hi = n;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (sortedAbs[mid]! / q >= k + 0.5) hi = mid;
          else lo = mid + 1;
        }
        end = lo;
      }
      const cnt = end - start;
      if (cnt > 0) {
        const kq = k * q;
        err += Math.max(0, p2[end]! - p2[start]! - 2 * kq * (p1[end]! - p1[start]!) + kq * kq * cnt);
      }
      start = end;
    }
    out[c] = err;
  });
  return out;
}

/**
 * The interval q (ALGORITHMS §1.3, ADMM-NN solver): a = max|w|/L over kept weights; scan q over
 * [from·a, 1.1a] in steps of 0.001·a (from = 0.9 in the paper) and keep the q of least squared projection
 * error (ties: the smaller q). A lower `from` lets a few large weights be clamped to ±L·q instead of
 * stretching every level. Returns the float32 q the artifact stores and its error (`quantError`).
 *
 * Large layers are scanned on the sorted magnitudes (`sortedScanErrors`: O(n log n + candidates·L·log n) instead
 * of O(candidates·n)); the winner's error is then recomputed directly. 1M kept weights at 3 bits, wide scan
 * (1,001 candidates): 0.4 s instead of 28 s (both measured with two training runs beside them).
 */
export function scanInterval(values: ArrayLike<number>, mask: Uint8Array, L: number, from: number = INTERVAL_SCAN_FROM.paper): { q: number; error: number; a: number } {
  let max = 0,
    n = 0;
  for (let i = 0; i < values.length; i++) if (mask[i]) n++;
  const kept = new Float64Array(n);
  for (let i = 0, j = 0; i < values.length; i++) {
    if (!mask[i]) continue;
    const x = Math.abs(values[i]!);
    kept[j++] = x;
    if (x > max) max = x;
  }
  const a = max / L;
  const ones = new Uint8Array(n).fill(1);
  // All kept weights 0 (or denormal): any interval codes them as ±q; use the smallest normal float32.
  if (!(Math.fround(from * a) >= 1.1754943508222875e-38)) return { q: 1.1754943508222875e-38, error: quantError(kept, ones, 1.1754943508222875e-38, L), a };
  const steps = Math.round((1.1 - from) / 0.001);
  const qs = Array.from({ length: steps + 1 }, (_, j) => Math.fround(a * (from + 0.001 * j)));
  let errors: ArrayLike<number>;
  if (2 * L * Math.log2(n + 1) < n) errors = sortedScanErrors(kept.sort(), L, qs);
  else errors = qs.map((q) => quantError(kept, ones, q, L));
  let best = 0;
  for (let j = 1; j < qs.length; j++) if (errors[j]! < errors[best]!) best = j;
  const q = qs[best]!;
  return { q, error: quantError(kept, ones, q, L), a };
}

/**
 * One round of progressive quantization (ALGORITHMS §1.3, solver `Project_threshold`): for each level, among
 * the still-free kept weights whose nearest level it is, freeze the `fraction` closest to it (at least one,
 * ties by index). Returns the new frozen mask (a superset of `frozen`) and the snapped values of every frozen
 * position (0 elsewhere).
 */
export function progressiveFreeze(
  values: ArrayLike<number>,
  mask: Uint8Array,
  frozen: Uint8Array,
  q: number,
  L: number,
  fraction: number,
): { frozen: Uint8Array; snapped: Float32Array } {
  const qf = Math.fround(q);
  const next = frozen.slice();
  const byLevel = new Map<number, number[]>();
  for (let i = 0; i < values.length; i++) {
    if (!mask[i] || frozen[i]) continue;
    const k = levelIndex(values[i]!, qf, L);
    let list = byLevel.get(k);
    if (!list) byLevel.set(k, (list = []));
    list.push(i);
  }
  for (const [k, list] of byLevel) {
    const level = k * qf;
    list.sort((x, y) => Math.abs(values[x]! - level) - Math.abs(values[y]! - level) || x - y);
    const take = Math.min(list.length, Math.max(1, Math.ceil(fraction * list.length)));
    for (let t = 0; t < take; t++) next[list[t]!] = 1;
  }
  const snapped = new Float32Array(values.length);
  for (let i = 0; i < values.length; i++) if (next[i]) snapped[i] = levelIndex(values[i]!, qf, L) * qf;
  // Already-frozen positions keep their level even if the free value moved (they are held by the caller).
  return { frozen: next, snapped };
}

/** Increasing penalty schedule (ALGORITHMS §1.2 step 4): ρ_k = min(ρ_max, ρ_0·β^k). */
export function rhoAt(k: number, rho0: number, growth: number, rhoMax: number): number {
  return Math.min(Math.max(rhoMax, rho0), rho0 * growth ** k);
}

/**
 * Progressive ADMM's sparsity target for iteration k of K (Ye et al. 2019): the Z-projection's sparse ratio
 * ramps from 0 to `final` over the first ⌈ramp·K⌉ iterations along the cubic s·(1 − (1 − t)³), then stays at
 * `final`. ramp = 0 projects onto the final set from the start (plain ADMM-NN).
 */
export function rampedSparsity(k: number, K: number, final: number, ramp: number): number {
  const R = Math.ceil(ramp * K);
  if (R <= 0 || k + 1 >= R) return final;
  const t = (k + 1) / R;
  return final * (1 - (1 - t) ** 3);
}

/** ‖W − Z‖_F / ‖W‖_F (0 when W = 0). */
export function relativeResidual(w: ArrayLike<number>, z: ArrayLike<number>): number {
  let d = 0,
    n = 0;
  for (let i = 0; i < w.length; i++) {
    d += (w[i]! - z[i]!) ** 2;
    n += w[i]! * w[i]!;
  }
  return n === 0 ? Math.sqrt(d) : Math.sqrt(d / n);
}
