import { CompressionError } from '../errors.js';
import { fromHalfBits, toHalfBits } from './float16.js';

/**
 * Shared quantization math (ALGORITHMS §5, ANCHORS tfjs-converter rules). Every method that quantizes uses
 * these functions, so the formulas live in one place.
 *
 * - affine:    x̂ = S·(q − Z), q ∈ [0, 2^b−1] (narrow: [1, 2^b−1]); range nudged so 0 is exact.
 * - symmetric: x̂ = S·q, q ∈ [−(2^{b−1}−1), 2^{b−1}−1].
 * - pow2:      x̂ = sign(q)·S·2^{−(|q|−1)} for q ≠ 0, else 0; |q| ≤ 2^{b−1}−1 magnitudes (S = largest level).
 * - float16:   IEEE half; codes are the half bits.
 * - nonzero:   x̂ = S·q, q ∈ {−2^{b−1}, …, −1, 1, …, 2^{b−1}}: zero is not a level (ADMM-NN's levels; zeros come
 *              from an enclosing mask). Stored as q + 2^{b−1} for q < 0 and q + 2^{b−1} − 1 for q > 0.
 */
export const QUANT_SCHEMES = ['affine', 'symmetric', 'pow2', 'float16', 'nonzero'] as const;
export type QuantScheme = (typeof QUANT_SCHEMES)[number];
export type RangeMethod = 'minmax' | 'mse';

export interface QuantParams {
  scheme: QuantScheme;
  bits: number;
  /** null = per-tensor; otherwise the axis that carries one scale per index (tfjs: last = out channel). */
  axis: number | null;
  scales: Float32Array;
  zeroPoints: Int32Array;
}

export interface QuantOptions {
  scheme: QuantScheme;
  bits: number;
  axis?: number | null;
  narrowRange?: boolean;
  range?: RangeMethod;
  /** Only these elements (1 = kept) inform the range; others are still coded (pruned zeros stay 0). */
  mask?: Uint8Array;
}

export function qRange(scheme: QuantScheme, bits: number, narrow = false): { qmin: number; qmax: number } {
  if (scheme === 'affine') return { qmin: narrow ? 1 : 0, qmax: 2 ** bits - 1 };
  if (scheme === 'nonzero') return { qmin: -(2 ** (bits - 1)), qmax: 2 ** (bits - 1) };
  const m = 2 ** (bits - 1) - 1;
  return { qmin: -m, qmax: m };
}

export function assertBits(scheme: QuantScheme, bits: number, where = 'bits'): void {
  const [lo, hi] = scheme === 'float16' ? [16, 16] : scheme === 'affine' || scheme === 'nonzero' ? [1, 16] : [2, 16];
  if (!Number.isInteger(bits) || bits < lo || bits > hi) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: where,
      message: `${where}: bit width ${bits} is not supported for ${scheme} quantization; expected an integer in [${lo}, ${hi}]`,
      hint: scheme === 'float16' ? 'float16 is always 16 bits' : `use e.g. 8 or 4`,
    });
  }
}

/** TF/TFLite NudgeQuantizationRange: scale and integer zero point with 0.0 exactly representable. */
export function nudgedAffine(min: number, max: number, bits: number, narrow = false): { scale: number; zeroPoint: number } {
  const { qmin, qmax } = qRange('affine', bits, narrow);
  const lo = Math.min(min, 0);
  const hi = Math.max(max, 0);
  if (hi - lo < 1e-30) return { scale: 1, zeroPoint: qmin };
  const scale = (hi - lo) / (qmax - qmin);
  const z0 = qmin - lo / scale;
  const zeroPoint = z0 < qmin ? qmin : z0 > qmax ? qmax : Math.round(z0);
  return { scale, zeroPoint };
}

function channelLayout(shape: readonly number[], axis: number | null): { channels: number; inner: number } {
  if (axis === null) return { channels: 1, inner: 1 };
  const ax = axis < 0 ? shape.length + axis : axis;
  if (ax < 0 || ax >= shape.length) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      message: `quantization axis ${axis} is out of range for a weight of shape [${shape.join(',')}]`,
      hint: 'use -1 (output channel) or null (per tensor)',
    });
  }
  let inner = 1;
  for (let i = ax + 1; i < shape.length; i++) inner *= shape[i]!;
  return { channels: shape[ax]!, inner };
}

const chanOf = (i: number, channels: number, inner: number) => (channels === 1 ? 0 : Math.floor(i / inner) % channels);

function quantOne(x: number, scheme: QuantScheme, scale: number, zp: number, qmin: number, qmax: number): number {
  switch (scheme) {
    case 'affine':
    case 'symmetric': {
      const q = Math.round(x / scale) + zp;
      return q < qmin ? qmin : q > qmax ? qmax : q;
    }
    case 'pow2': {
      const a = Math.abs(x);
      if (a === 0 || scale === 0) return 0;
      const levels = qmax;
      // largest level index j with scale·2^-j; nearest in the linear domain.
      let j = Math.floor(-Math.log2(a / scale));
      if (j < 0) j = 0;
      // compare a with the two bracketing levels 2^-j and 2^-(j+1)
      const hiL = scale * 2 ** -j;
      const loL = hiL / 2;
      let idx = a >= (hiL + loL) / 2 || a >= hiL ? j : j + 1;
      if (idx >= levels) {
        // below the smallest level: zero if under half of it
        const smallest = scale * 2 ** -(levels - 1);
        if (a < smallest / 2) return 0;
        idx = levels - 1;
      }
      return (x < 0 ? -1 : 1) * (idx + 1);
    }
    case 'float16':
      return toHalfBits(x);
    case 'nonzero': {
      const m = Math.round(Math.abs(x) / scale);
      return (x < 0 ? -1 : 1) * (m < 1 ? 1 : m > qmax ? qmax : m);
    }
  }
}

export function dequantOne(q: number, scheme: QuantScheme, scale: number, zp: number): number {
  switch (scheme) {
    case 'affine':
    case 'symmetric':
      return scale * (q - zp);
    case 'pow2':
      return q === 0 ? 0 : Math.sign(q) * scale * 2 ** -(Math.abs(q) - 1);
    case 'float16':
      return fromHalfBits(q);
    case 'nonzero':
      return scale * q;
  }
}

/** Chooses scales/zero points for `values` (tfjs layout `shape`) under `opts`. */
export function chooseQuantParams(values: Float32Array, shape: readonly number[], opts: QuantOptions): QuantParams {
  assertBits(opts.scheme, opts.bits);
  const axis = opts.scheme === 'float16' ? null : (opts.axis ?? null);
  const { channels, inner } = channelLayout(shape, axis);
  const scales = new Float32Array(opts.scheme === 'float16' ? 0 : channels);
  const zeroPoints = new Int32Array(opts.scheme === 'float16' ? 0 : channels);
  if (opts.scheme === 'float16') return { scheme: 'float16', bits: 16, axis: null, scales, zeroPoints };
  const mins = new Float64Array(channels).fill(Infinity);
  const maxs = new Float64Array(channels).fill(-Infinity);
  // Values of each channel (range-relevant ones only), gathered once: the MSE search is then linear.
  const perChannel: number[][] | undefined = opts.range === 'mse' ? Array.from({ length: channels }, () => []) : undefined;
  for (let i = 0; i < values.length; i++) {
    if (opts.mask && !opts.mask[i]) continue;
    const c = chanOf(i, channels, inner);
    const v = values[i]!;
    if (!Number.isFinite(v)) {
      throw new CompressionError({
        code: 'BAD_MODEL_FILE',
        message: `cannot quantize a weight with non-finite value ${v} at flat index ${i}`,
        hint: 'the model weights contain NaN/Infinity; retrain or fix the model file',
      });
    }
    if (v < mins[c]!) mins[c] = v;
    if (v > maxs[c]!) maxs[c] = v;
    perChannel?.[c]!.push(v);
  }
  const { qmin, qmax } = qRange(opts.scheme, opts.bits, opts.narrowRange);
  for (let c = 0; c < channels; c++) {
    let lo = mins[c]!,
      hi = maxs[c]!;
    if (!Number.isFinite(lo)) ((lo = 0), (hi = 0));
    const fit = (shrink: number): { s: number; z: number } => {
      if (opts.scheme === 'affine') {
        const r = nudgedAffine(lo * shrink, hi * shrink, opts.bits, opts.narrowRange);
        return { s: r.scale, z: r.zeroPoint };
      }
      const amax = Math.max(Math.abs(lo), Math.abs(hi)) * shrink;
      if (amax === 0) return { s: 1, z: 0 };
      return { s: opts.scheme === 'pow2' ? amax : amax / qmax, z: 0 }; // nonzero: qmax = 2^{b−1} levels per side
    };
    let best = fit(1);
    if (perChannel) {
      const vs = perChannel[c]!;
      let bestErr = Infinity;
      for (let k = 0; k <= 40; k++) {
        const shrink = 1 - k * 0.0125; // clip from 100% down to 50% of the range
        const cand = opts.scheme === 'pow2' ? { s: fit(1).s * 2 ** -(k / 8), z: 0 } : fit(shrink);
        let err = 0;
        for (const v of vs) {
          const d = v - dequantOne(quantOne(v, opts.scheme, cand.s, cand.z, qmin, qmax), opts.scheme, cand.s, cand.z);
          err += d * d;
        }
        if (err < bestErr) ((bestErr = err), (best = cand));
      }
    }
    scales[c] = best.s;
    zeroPoints[c] = best.z;
  }
  return { scheme: opts.scheme, bits: opts.bits, axis, scales, zeroPoints };
}

/** Integer codes of `values` under `params`. */
export function quantizeWith(values: Float32Array, shape: readonly number[], p: QuantParams, narrow = false): Int32Array {
  const { channels, inner } = channelLayout(shape, p.axis);
  const { qmin, qmax } = qRange(p.scheme, p.bits, narrow);
  const codes = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const c = chanOf(i, channels, inner);
    codes[i] = quantOne(values[i]!, p.scheme, p.scales[c] ?? 1, p.zeroPoints[c] ?? 0, qmin, qmax);
  }
  return codes;
}

export function dequantize(codes: Int32Array, shape: readonly number[], p: QuantParams): Float32Array {
  const { channels, inner } = channelLayout(shape, p.axis);
  const out = new Float32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const c = chanOf(i, channels, inner);
    out[i] = dequantOne(codes[i]!, p.scheme, p.scales[c] ?? 1, p.zeroPoints[c] ?? 0);
  }
  return out;
}

/** dequant(quant(x)) in one go: what a quantized weight looks like at inference. */
export function fakeQuantize(values: Float32Array, shape: readonly number[], p: QuantParams): Float32Array {
  return dequantize(quantizeWith(values, shape, p), shape, p);
}

/** Per-element clip bounds [lo, hi] of the representable range, for the clipped straight-through estimator. */
export function representableRange(shape: readonly number[], p: QuantParams): { lo: Float32Array; hi: Float32Array } {
  const { channels, inner } = channelLayout(shape, p.axis);
  const n = shape.reduce((a, b) => a * b, 1);
  const lo = new Float32Array(n),
    hi = new Float32Array(n);
  const { qmin, qmax } = qRange(p.scheme, p.bits);
  for (let i = 0; i < n; i++) {
    const c = chanOf(i, channels, inner);
    const s = p.scales[c] ?? 1,
      z = p.zeroPoints[c] ?? 0;
    if (p.scheme === 'pow2') ((lo[i] = -1.5 * s), (hi[i] = 1.5 * s));
    else if (p.scheme === 'float16') ((lo[i] = -65504), (hi[i] = 65504));
    else if (p.scheme === 'nonzero') ((lo[i] = -s * (qmax + 0.5)), (hi[i] = s * (qmax + 0.5)));
    else ((lo[i] = s * (qmin - z - 0.5)), (hi[i] = s * (qmax - z + 0.5)));
  }
  return { lo, hi };
}
