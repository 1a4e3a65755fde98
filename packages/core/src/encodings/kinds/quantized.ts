import { CompressionError } from '../../errors.js';
import { sizeOf } from '../../ir/shapes.js';
import { fakeQuantSte } from '../../train/ste.js';
import { dequantize, QUANT_SCHEMES, quantizeWith, type QuantParams, type QuantScheme } from '../../tensor/quant.js';
import { defineEncoding } from '../define.js';
import type { QuantizedEncoding } from '../types.js';
import { filterKept, scatterKept } from './util.js';

/** A quantized encoding of `values` under fixed params (codes computed with tensor/quant.ts). */
export function quantizedEncoding(shape: readonly number[], values: Float32Array, p: QuantParams): QuantizedEncoding {
  return { kind: 'quantized', shape: [...shape], scheme: p.scheme, bits: p.bits, axis: p.axis, scales: p.scales, zeroPoints: p.zeroPoints, codes: quantizeWith(values, shape, p) };
}

/** Map from a signed code to its unsigned stored form, and back. */
export function storedCode(scheme: QuantScheme, bits: number, c: number): number {
  if (scheme === 'nonzero') return c < 0 ? c + 2 ** (bits - 1) : c + 2 ** (bits - 1) - 1;
  return c + codeOffset({ scheme, bits });
}
export function codeFromStored(scheme: QuantScheme, bits: number, u: number): number {
  if (scheme === 'nonzero') {
    const L = 2 ** (bits - 1);
    return u < L ? u - L : u - L + 1;
  }
  return u - codeOffset({ scheme, bits });
}
/** Offset that maps a signed code range onto unsigned b-bit storage (symmetric, pow2). */
export function codeOffset(e: { scheme: QuantScheme; bits: number }): number {
  return e.scheme === 'symmetric' || e.scheme === 'pow2' ? 2 ** (e.bits - 1) - 1 : 0;
}

function channelsOf(shape: readonly number[], axis: number | null): number {
  if (axis === null) return 1;
  return shape[axis < 0 ? shape.length + axis : axis] ?? 0;
}

/** Integer codes with per-tensor or per-axis scales (affine, symmetric, pow2, nonzero, float16). */
export const quantizedKind = defineEncoding<QuantizedEncoding>({
  kind: 'quantized',
  provider: '@edge-compress/core',
  description: 'integer codes with per-tensor or per-channel scales',
  elementwise: true,
  children: () => ({}),
  withChildren: (e) => e,
  toDense: (e) => dequantize(e.codes, e.shape, e),
  ownBits(e, kept) {
    const zp = e.scheme === 'affine' ? e.zeroPoints.length * 32 : 0;
    return (kept ?? e.codes.length) * e.bits + e.scales.length * 32 + zp;
  },
  ownValues: (e, kept) => kept ?? e.codes.length,
  summary: (e) => ({ bits: e.bits, scheme: e.scheme }),
  write(e, w, keep) {
    const codes = filterKept(e.codes, keep);
    const d: Record<string, unknown> = {
      kind: 'quantized',
      shape: e.shape,
      scheme: e.scheme,
      bits: e.bits,
      axis: e.axis,
      scales: w.f32(e.scales),
      codes: w.packed(
        Array.from(codes, (c) => storedCode(e.scheme, e.bits, c)),
        e.bits,
      ),
    };
    if (e.scheme === 'affine') d.zeroPoints = w.i32(e.zeroPoints);
    return d as never;
  },
  read(d, r, path, keep) {
    const scheme = d.scheme as QuantScheme;
    if (!QUANT_SCHEMES.includes(scheme)) r.bad(`${path}.scheme`, `unknown scheme '${String(scheme)}'; expected one of ${QUANT_SCHEMES.join(', ')}`);
    const bits = r.int(d.bits, `${path}.bits`, 1, 16);
    const axis = (d.axis as number | null | undefined) ?? null;
    const n = sizeOf(d.shape);
    const channels = channelsOf(d.shape, axis);
    if (!channels) r.bad(`${path}.axis`, `axis ${axis} is out of range for shape [${d.shape.join(',')}]`);
    const nScales = scheme === 'float16' ? 0 : channels;
    const scales = r.f32(d.scales, `${path}.scales`, nScales);
    const zeroPoints = scheme === 'affine' ? r.i32(d.zeroPoints, `${path}.zeroPoints`, nScales) : new Int32Array(nScales);
    const stored = keep ? keep.reduce((a, b) => a + (b ? 1 : 0), 0) : n;
    const raw = r.packed(d.codes, `${path}.codes`, stored, bits);
    const codes = Int32Array.from(raw, (u) => codeFromStored(scheme, bits, u));
    const full = scatterKept(codes, keep, new Int32Array(n));
    if (keep && scheme !== 'float16') {
      // Pruned positions decode to exactly 0: the zero point (affine), 0 (symmetric, pow2); nonzero has no zero
      // code, so a pruned entry keeps code 0 (decodes to 0·scale = 0).
      const ax = axis === null ? 0 : axis < 0 ? d.shape.length + axis : axis;
      const inner = axis === null ? 1 : d.shape.slice(ax + 1).reduce((a, b) => a * b, 1);
      for (let i = 0; i < n; i++) if (!keep[i]) full[i] = scheme === 'affine' ? zeroPoints[axis === null ? 0 : Math.floor(i / inner) % channels]! : 0;
    }
    return { kind: 'quantized', shape: d.shape, scheme, bits, axis, scales, zeroPoints, codes: full };
  },
  validate(e, where) {
    if (e.codes.length !== sizeOf(e.shape))
      throw new CompressionError({ code: 'SHAPE_MISMATCH', path: where, message: `${where}: ${e.codes.length} codes for shape [${e.shape.join(',')}]` });
    const ch = e.scheme === 'float16' ? 0 : channelsOf(e.shape, e.axis);
    if (e.scales.length !== ch) throw new CompressionError({ code: 'SHAPE_MISMATCH', path: where, message: `${where}: ${e.scales.length} scales, expected ${ch}` });
  },
  train: {
    leaf: {
      init: (e) => dequantize(e.codes, e.shape, e),
      // Straight-through fake quantization on the encoding's own grid; float16 trains as fp32 and is re-rounded.
      effective: (p, e) => (e.scheme === 'float16' ? p : fakeQuantSte(p, e)),
      rebuild: (e, values) => ({ ...quantizedEncoding(e.shape, values, e), scales: e.scales.slice(), zeroPoints: e.zeroPoints.slice() }),
    },
  },
});
