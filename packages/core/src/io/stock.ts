import { toDense } from '../encodings/index.js';
import type { Encoding, QuantizedEncoding } from '../encodings/types.js';
import { toHalfBits, fromHalfBits } from '../tensor/float16.js';
import { codeOffset } from '../encodings/index.js';
import { describeEncoding } from '../encodings/describe.js';

/** The quantization dtypes stock tfjs decodes (tfjs-core io_utils). */
export type StockDtype = 'float32' | 'uint8' | 'uint16' | 'float16';
export type StockLossy = 'float32' | 'float16' | 'uint16' | 'uint8';

export interface StockWeight {
  dtype: StockDtype;
  bytes: Uint8Array;
  quantization?: { dtype: 'uint8' | 'uint16'; min: number; scale: number; original_dtype: 'float32' } | { dtype: 'float16'; original_dtype: 'float32' };
  /** True when a stock loader reproduces our weights exactly (up to fp32 rounding of scale·q + min). */
  exact: boolean;
  /**
   * True when the encoding itself has a stock form (fp32, per-tensor uniform codes ≤ 16 bits, float16);
   * false when it was widened or re-quantized for stock loaders (even if the widening is exact).
   */
  native: boolean;
  /** Largest |stock − ours| over the tensor. */
  maxAbsError: number;
  note: string;
}

const bytesOf = (a: Float32Array | Uint16Array | Uint8Array): Uint8Array => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** The quantized values under an encoding that stock tfjs could hold elementwise (plain or under a mask). */
function quantizedBase(e: Encoding): QuantizedEncoding | undefined {
  return e.kind === 'quantized' ? e : e.kind === 'masked' && e.base.kind === 'quantized' ? e.base : undefined;
}

/**
 * True when stock tfjs holds the encoding exactly in its own manifest: fp32, per-tensor affine/symmetric codes
 * ≤ 16 bits (also under a mask, pruned entries written as the zero code), or float16.
 */
export function hasStockForm(e: Encoding): boolean {
  if (e.kind === 'dense') return true;
  const q = quantizedBase(e);
  if (!q) return false;
  return q.scheme === 'float16' || ((q.scheme === 'affine' || q.scheme === 'symmetric') && (q.axis === null || q.scales.length === 1) && q.bits <= 16);
}

function fromCodes(q: QuantizedEncoding, mask: Uint8Array | undefined, ours: Float32Array): StockWeight {
  const off = codeOffset(q);
  const zp = q.scheme === 'affine' ? q.zeroPoints[0]! : 0;
  const scale = q.scales[0]!;
  const wide = q.bits > 8;
  const arr = wide ? new Uint16Array(q.codes.length) : new Uint8Array(q.codes.length);
  for (let i = 0; i < arr.length; i++) arr[i] = mask && !mask[i] ? zp + off : q.codes[i]! + off;
  const min = -(off + zp) * scale;
  let err = 0;
  for (let i = 0; i < arr.length; i++) err = Math.max(err, Math.abs(Math.fround(arr[i]! * scale + min) - ours[i]!));
  const dtype = wide ? 'uint16' : 'uint8';
  return {
    dtype,
    bytes: bytesOf(arr),
    quantization: { dtype, min, scale, original_dtype: 'float32' },
    exact: true,
    native: true,
    maxAbsError: err,
    note: `${q.bits}-bit per-tensor ${q.scheme} codes stored as ${dtype} (exact)`,
  };
}

/** tfjs-converter's per-tensor affine quantization (nudged so 0 is exact) of fp32 values. */
export function converterQuantize(values: Float32Array, dtype: 'uint8' | 'uint16'): StockWeight {
  const qmax = dtype === 'uint8' ? 255 : 65535;
  let lo = Infinity,
    hi = -Infinity;
  for (const v of values) ((lo = Math.min(lo, v)), (hi = Math.max(hi, v)));
  let scale: number, min: number;
  if (!(hi > lo)) ((scale = 1), (min = Number.isFinite(lo) ? lo : 0));
  else {
    scale = (hi - lo) / qmax;
    min = lo;
    if (lo <= 0 && 0 <= hi) {
      const zp = Math.round(-lo / scale);
      min = -zp * scale;
    }
  }
  const maxV = qmax * scale + min;
  const arr = dtype === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  let err = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.min(Math.max(values[i]!, min), maxV);
    arr[i] = Math.round((v - min) / scale);
    err = Math.max(err, Math.abs(Math.fround(arr[i]! * scale + min) - values[i]!));
  }
  return {
    dtype,
    bytes: bytesOf(arr),
    quantization: { dtype, min, scale, original_dtype: 'float32' },
    exact: err === 0,
    native: false,
    maxAbsError: err,
    note: `re-quantized per tensor to ${dtype} (tfjs-converter rule), max error ${err.toExponential(2)}`,
  };
}

/**
 * The best stock-tfjs form of an encoding: exact when the encoding is expressible in the stock manifest
 * (fp32, per-tensor uniform codes incl. under a mask, float16), otherwise `lossy` (default fp32, exact
 * values but no size saving).
 */
export function lowerToStock(e: Encoding, lossy: StockLossy = 'float32'): StockWeight {
  const ours = toDense(e);
  if (e.kind === 'dense') return { dtype: 'float32', bytes: bytesOf(e.values), exact: true, native: true, maxAbsError: 0, note: 'float32' };
  const q = quantizedBase(e);
  const mask = e.kind === 'masked' ? e.mask : undefined;
  if (q && hasStockForm(e) && q.scheme !== 'float16') return fromCodes(q, mask, ours);
  if (q?.scheme === 'float16') {
    const h = Uint16Array.from(ours, (v) => toHalfBits(v));
    return {
      dtype: 'float16',
      bytes: bytesOf(h),
      quantization: { dtype: 'float16', original_dtype: 'float32' },
      exact: true,
      native: true,
      maxAbsError: 0,
      note: 'float16 (exact)',
    };
  }
  const what = describeEncoding(e);
  switch (lossy) {
    case 'float32':
      return {
        dtype: 'float32',
        bytes: bytesOf(ours),
        exact: true,
        native: false,
        maxAbsError: 0,
        note: `${what} has no stock form; widened to float32 (exact values, no size saving)`,
      };
    case 'float16': {
      const h = Uint16Array.from(ours, (v) => toHalfBits(v));
      let err = 0;
      h.forEach((b, i) => (err = Math.max(err, Math.abs(fromHalfBits(b) - ours[i]!))));
      return {
        dtype: 'float16',
        bytes: bytesOf(h),
        quantization: { dtype: 'float16', original_dtype: 'float32' },
        exact: err === 0,
        native: false,
        maxAbsError: err,
        note: `${what} has no stock form; stored as float16, max error ${err.toExponential(2)}`,
      };
    }
    default: {
      const r = converterQuantize(ours, lossy);
      return { ...r, note: `${what} has no stock form; ${r.note}` };
    }
  }
}
