/**
 * Encodings admm emits, and the encodings it accepts as input (the chain it can take).
 * Joint result: `masked` over `quantized` with scheme 'nonzero' (levels ±q·{1..2^(bits−1)}, zero is not a
 * level, code c ∈ {−L..−1, 1..L}, value = c·q). Until core ships the 'nonzero' scheme, the same codes are
 * stored as 'symmetric' with one more bit (its grid −(2^bits−1)..2^bits−1 holds every ±1..L code exactly);
 * the data-only and with-indices figures always count `bits` per non-zero as the paper does, and the report
 * says which scheme the file uses.
 */
import { CompressionError, denseEncoding, maskedEncoding, QUANT_SCHEMES, type Encoding, type QuantizedEncoding } from '@edge-compress/core';

/** Outermost encoding kinds admm takes per target (masked only over dense values). */
export const ADMM_ACCEPTS = ['dense', 'masked'] as const;
/** Encoding kinds admm produces per target. */
export const ADMM_PRODUCES = ['masked', 'quantized', 'dense'] as const;

export const HAS_NONZERO_SCHEME = (QUANT_SCHEMES as readonly string[]).includes('nonzero');

/** Throws the typed chain error when a target's current encoding is not one admm can take. */
export function checkAccepts(e: Encoding, weight: string, path: string): void {
  const ok = e.kind === 'dense' || (e.kind === 'masked' && e.base.kind === 'dense');
  if (ok) return;
  const chain = e.kind === 'masked' ? `masked(${e.base.kind})` : e.kind;
  throw new CompressionError({
    code: 'CHAIN_INVALID',
    method: 'admm',
    layer: weight.split('/')[0],
    path,
    message: `${path}: admm takes dense or masked(dense) weights, but '${weight}' is ${chain} (from an earlier stage)`,
    hint:
      e.kind === 'lowRank' || e.kind === 'factorized'
        ? 'run admm before svd/smartdeal, or drop that stage'
        : 'run admm before quantize (admm quantizes itself with quant_dtype), or drop the earlier stage',
  });
}

/** The stored form of a pruned (and optionally quantized) weight. */
export function encodeWeight(
  shape: number[],
  mask: Uint8Array,
  values: Float32Array,
  quant?: { codes: Int32Array; q: number; bits: number },
): { encoding: Encoding; scheme: string } {
  let kept = 0;
  for (let i = 0; i < mask.length; i++) kept += mask[i] ? 1 : 0;
  const wrap = (base: Encoding): Encoding => (kept === mask.length ? base : maskedEncoding(base, mask));
  if (!quant) return { encoding: wrap(denseEncoding(shape, values)), scheme: 'fp32' };
  const scheme = HAS_NONZERO_SCHEME ? 'nonzero' : 'symmetric';
  const bits = HAS_NONZERO_SCHEME ? quant.bits : quant.bits + 1;
  if (bits > 16) return { encoding: wrap(denseEncoding(shape, values)), scheme: 'fp32 (17-bit symmetric fallback is not storable)' };
  const q: QuantizedEncoding = {
    kind: 'quantized',
    shape: [...shape],
    scheme: scheme as QuantizedEncoding['scheme'],
    bits,
    axis: null,
    scales: Float32Array.of(quant.q),
    zeroPoints: new Int32Array(1),
    codes: quant.codes,
  };
  return { encoding: wrap(q), scheme: HAS_NONZERO_SCHEME ? `nonzero ${bits}-bit` : `symmetric ${bits}-bit (nonzero ${quant.bits}-bit codes)` };
}
