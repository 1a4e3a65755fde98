import { chooseQuantParams, type Encoding, mapLeaves, maskedEncoding, denseEncoding, type QuantParams, type QuantizedEncoding, quantizeWith, toDense } from '@edge-compress/core';
import type { QuantSpec } from './config.js';

/**
 * Quantization parameters for one value store. Per-channel MSE ranges are searched channel by channel (core's
 * chooseQuantParams scans the whole tensor once per channel and candidate, which is quadratic for per-channel
 * MSE), with exactly core's formulas.
 */
export function paramsFor(values: Float32Array, shape: readonly number[], spec: QuantSpec, mask?: Uint8Array): QuantParams {
  const opts = { scheme: spec.scheme, bits: spec.bits, axis: spec.axis, range: spec.range, mask };
  if (spec.range !== 'mse' || spec.axis === null || spec.scheme === 'float16') return chooseQuantParams(values, shape, opts);
  const channels = shape[shape.length - 1]!;
  const per = values.length / channels;
  const scales = new Float32Array(channels);
  const zeroPoints = new Int32Array(channels);
  const slice = new Float32Array(per);
  const m = mask ? new Uint8Array(per) : undefined;
  for (let c = 0; c < channels; c++) {
    for (let i = 0; i < per; i++) {
      slice[i] = values[i * channels + c]!;
      if (m) m[i] = mask![i * channels + c]!;
    }
    const p = chooseQuantParams(slice, [per], { ...opts, axis: null, mask: m });
    scales[c] = p.scales[0]!;
    zeroPoints[c] = p.zeroPoints[0]!;
  }
  return { scheme: spec.scheme, bits: spec.bits, axis: spec.axis, scales, zeroPoints };
}

/** Quantizes one elementwise leaf (dense or already quantized) under `spec`; `mask` keeps pruned entries out of the range. */
export function quantizeLeaf(leaf: Encoding, spec: QuantSpec, mask?: Uint8Array): QuantizedEncoding {
  const values = toDense(leaf);
  const p = paramsFor(values, leaf.shape, spec, mask);
  return {
    kind: 'quantized',
    shape: [...leaf.shape],
    scheme: p.scheme,
    bits: p.bits,
    axis: p.axis,
    scales: p.scales,
    zeroPoints: p.zeroPoints,
    codes: quantizeWith(values, leaf.shape, p),
  };
}

/**
 * Quantizes every value store of an encoding and keeps its structure (core's mapLeaves): a masked weight
 * stays masked (pruned zeros stay exactly zero: the range is nudged so 0 is a code), a low-rank or factorized
 * weight keeps its factors, each factor quantized along its own last axis when per-channel. A leaf that is
 * already quantized at fewer bits than `spec` (or on the same grid kind) is kept as it is (never widened: e.g. SmartDeal's 3-bit
 * power-of-two coefficients stay powers of two under an int8 stage); a wider one is re-quantized.
 */
export function quantizeEncoding(e: Encoding, spec: QuantSpec): Encoding {
  const keep = (leaf: Encoding): boolean =>
    leaf.kind === 'quantized' && (leaf.bits < spec.bits || (leaf.bits === spec.bits && leaf.scheme === spec.scheme && (leaf.axis === null) === (spec.axis === null)));
  return mapLeaves(e, (leaf, mask) => (keep(leaf) ? leaf : quantizeLeaf(leaf, spec, mask)));
}

/** True when training can update this weight as one dense tensor (dense or masked over an elementwise base). */
export function isElementwise(e: Encoding): boolean {
  return e.kind === 'dense' || e.kind === 'quantized' || (e.kind === 'masked' && (e.base.kind === 'dense' || e.base.kind === 'quantized'));
}

/** New values for an elementwise weight, keeping its mask. */
export function withValues(e: Encoding, values: Float32Array): Encoding {
  const d = denseEncoding(e.shape, values);
  return e.kind === 'masked' ? maskedEncoding(d, e.mask) : d;
}

export function maskOf(e: Encoding): Uint8Array | undefined {
  return e.kind === 'masked' ? e.mask : undefined;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}
