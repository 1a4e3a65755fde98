import { CompressionError } from '@edge-compress/core';

/**
 * Signed powers of two within a bounded exponent range [minExp, maxExp] (ALGORITHMS §4.2 step 2,
 * `SparsifyAndNearestPow2`): a coefficient c becomes sign(c)·2^e with e the nearest exponent in the linear
 * domain (|c| ∈ [2^e, 2^(e+1)) rounds up from 1.5·2^e), clipped to the range; |c| below the zero threshold
 * (max(τ, 2^(minExp−1)), i.e. nearer to 0 than to the smallest level) becomes 0.
 */
export interface ExpRange {
  minExp: number;
  maxExp: number;
}

export function assertExpRange(r: ExpRange, where = 'exponent_range'): void {
  if (!Number.isInteger(r.minExp) || !Number.isInteger(r.maxExp) || r.minExp > r.maxExp) {
    throw new CompressionError({
      code: 'RECIPE_INVALID',
      path: where,
      message: `${where}: the exponent range [${r.minExp}, ${r.maxExp}] is empty; expected integers [min, max] with min ≤ max`,
      hint: 'use e.g. [-6, 0] (7 levels: 2^-6 … 2^0, 3 exponent bits + sign)',
    });
  }
}

/** Number of exponents E in the range. */
export const levelCount = (r: ExpRange): number => r.maxExp - r.minExp + 1;

/**
 * Bit width of core's quantized 'pow2' code for E levels: codes ±1..±(2^(b−1)−1) plus 0 (unused under a mask),
 * so b = 1 + ⌈log2(E + 1)⌉.
 */
export const codeBits = (r: ExpRange): number => 1 + Math.ceil(Math.log2(levelCount(r) + 1));

/** Exponent bits of SmartDeal's own accounting (§4.5): ⌈log2 E⌉ (0 for a single level). */
export const exponentBits = (r: ExpRange): number => Math.ceil(Math.log2(levelCount(r)));

/** Zero threshold: |c| below it projects to 0. */
export const zeroThreshold = (r: ExpRange, tau = 0): number => Math.max(tau, 2 ** (r.minExp - 1));

/** Exponent of the nearest level of |c| > 0 (linear-domain rounding), clipped to the range. */
export function nearestExponent(a: number, r: ExpRange): number {
  let e = Math.floor(Math.log2(a));
  // log2 can be off by one ulp near exact powers: fix e so that 2^e ≤ a < 2^(e+1).
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (a >= 1.5 * 2 ** e) e++;
  return e < r.minExp ? r.minExp : e > r.maxExp ? r.maxExp : e;
}

/** Projects one value onto {0} ∪ {±2^e : e ∈ range}. */
export function projectPow2(c: number, r: ExpRange, tau = 0): number {
  const a = Math.abs(c);
  if (!(a >= zeroThreshold(r, tau))) return 0;
  const v = 2 ** nearestExponent(a, r);
  return c < 0 ? -v : v;
}

/** Projects every entry; entries where `mask` is 0 become 0. */
export function projectAll(c: Float32Array, r: ExpRange, tau = 0, mask?: Uint8Array): Float32Array {
  const out = new Float32Array(c.length);
  for (let i = 0; i < c.length; i++) out[i] = mask && !mask[i] ? 0 : projectPow2(c[i]!, r, tau);
  return out;
}

/**
 * Core 'pow2' codes of projected values (scale S = 2^maxExp, level S·2^-(|q|−1)): q = sign·(maxExp − e + 1),
 * 0 for zero. Throws on a value that is not a signed power of two in range (an internal error).
 */
export function pow2Codes(values: Float32Array, r: ExpRange): Int32Array {
  const codes = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v === 0) continue;
    const e = Math.log2(Math.abs(v));
    if (!Number.isInteger(e) || e < r.minExp || e > r.maxExp)
      throw new Error(`edge-compress internal error: coefficient ${v} at ${i} is not ±2^e with e in [${r.minExp}, ${r.maxExp}]`);
    codes[i] = (v < 0 ? -1 : 1) * (r.maxExp - e + 1);
  }
  return codes;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * x·2^e for a float32 x without a multiplication: integer arithmetic on the IEEE-754 exponent field (a shift of
 * the mantissa when the result is subnormal, round-half-to-even), so it equals Math.fround(x·2^e) exactly.
 */
export function shiftMul(x: number, e: number): number {
  f32[0] = x;
  const u = u32[0]!;
  const sign = u & 0x80000000;
  const ex = (u >>> 23) & 0xff;
  let man = u & 0x7fffff;
  if (ex === 0xff || (ex === 0 && man === 0)) return f32[0]!; // Inf/NaN/±0 unchanged
  let E = ex;
  if (E === 0) {
    // subnormal input: normalise the mantissa
    while ((man & 0x800000) === 0) ((man <<= 1), E--);
    E++;
    man &= 0x7fffff;
  }
  const ne = E + e;
  if (ne >= 0xff) {
    u32[0] = sign | 0x7f800000;
    return f32[0]!;
  }
  if (ne >= 1) {
    u32[0] = sign | (ne << 23) | man;
    return f32[0]!;
  }
  // subnormal result: shift the full significand right by (1 − ne), rounding half to even
  const full = man | 0x800000;
  const sh = 1 - ne;
  if (sh > 25) {
    u32[0] = sign;
    return f32[0]!;
  }
  let m = full >>> sh;
  const rem = full & ((1 << sh) - 1);
  const half = 1 << (sh - 1);
  if (rem > half || (rem === half && (m & 1) === 1)) m++;
  u32[0] = sign | m; // m may carry into the exponent field: that is the correct rounding to the smallest normal
  return f32[0]!;
}

/** ±2^e·x, the sign applied by flipping the sign bit (no multiplication). */
export function signedShiftMul(x: number, code: number, maxExp: number): number {
  const e = maxExp - Math.abs(code) + 1;
  const v = shiftMul(x, e);
  if (code > 0) return v;
  f32[0] = v;
  u32[0] = u32[0]! ^ 0x80000000;
  return f32[0]!;
}
