import { denseEncoding, dequantize, maskedEncoding, type MaskedEncoding, qRange, type QuantizedEncoding, type QuantScheme, toDense } from '@edge-compress/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { quantizeEncoding, type QuantSpec } from '../src/index.js';

const SEED = 20240611;
const spec = (scheme: QuantScheme, bits: number, perChannel: boolean, range: 'minmax' | 'mse' = 'minmax'): QuantSpec => ({
  scheme,
  bits,
  axis: perChannel ? -1 : null,
  range,
  granularity: perChannel ? 'per_channel' : 'per_tensor',
});

/** A random weight [rows, cols] (cols = out channels) with some exact zeros. */
const weight = fc
  .record({
    rows: fc.integer({ min: 1, max: 12 }),
    cols: fc.integer({ min: 1, max: 6 }),
    scale: fc.double({ min: 1e-3, max: 10, noNaN: true }),
    shift: fc.double({ min: -1, max: 1, noNaN: true }),
    seed: fc.integer({ min: 0, max: 1e6 }),
  })
  .map(({ rows, cols, scale, shift, seed }) => {
    let s = seed;
    const rnd = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const v = Float32Array.from({ length: rows * cols }, () => (rnd() < 0.2 ? 0 : Math.fround((rnd() - 0.5 + shift * 0.5) * scale)));
    return { shape: [rows, cols], values: v };
  });

const bits = fc.integer({ min: 2, max: 16 });
const uniform = fc.constantFrom<QuantScheme>('affine', 'symmetric');

describe('quantizer properties (fast-check, fixed seed)', () => {
  it('codes stay in range for every bit width 2–16 and every scheme', () => {
    fc.assert(
      fc.property(weight, bits, fc.constantFrom<QuantScheme>('affine', 'symmetric', 'pow2'), fc.boolean(), (w, b, scheme, pc) => {
        const q = quantizeEncoding(denseEncoding(w.shape, w.values), spec(scheme, b, pc)) as QuantizedEncoding;
        const { qmin, qmax } = qRange(scheme, b);
        for (const c of q.codes) if (c < qmin || c > qmax) return false;
        return q.bits === b;
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('zeros survive: pruned and exact zeros dequantize to exactly 0 (nudged range), all schemes incl. pow2 and float16', () => {
    fc.assert(
      fc.property(weight, bits, fc.constantFrom<QuantScheme>('affine', 'symmetric', 'pow2', 'float16'), fc.boolean(), (w, b, scheme, pc) => {
        const s = scheme === 'float16' ? spec('float16', 16, false) : spec(scheme, b, pc);
        const d = toDense(quantizeEncoding(denseEncoding(w.shape, w.values), s));
        return w.values.every((v, i) => v !== 0 || Object.is(d[i], 0) || d[i] === 0);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('per-channel (and per-tensor) min/max error ≤ scale/2 of the element’s channel', () => {
    fc.assert(
      fc.property(weight, bits, uniform, fc.boolean(), (w, b, scheme, pc) => {
        const q = quantizeEncoding(denseEncoding(w.shape, w.values), spec(scheme, b, pc)) as QuantizedEncoding;
        const d = dequantize(q.codes, q.shape, q);
        const cols = w.shape[1]!;
        return w.values.every((v, i) => {
          const s = q.scales[pc ? i % cols : 0]!;
          return Math.abs(d[i]! - v) <= s / 2 + 1e-6 * Math.max(1, Math.abs(v));
        });
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('MSE ranges never do worse than min/max (per channel, searched channel by channel)', () => {
    fc.assert(
      fc.property(weight, fc.integer({ min: 2, max: 6 }), uniform, (w, b, scheme) => {
        const sse = (r: 'minmax' | 'mse') => {
          const d = toDense(quantizeEncoding(denseEncoding(w.shape, w.values), spec(scheme, b, true, r)));
          return d.reduce((a, x, i) => a + (x - w.values[i]!) ** 2, 0);
        };
        return sse('mse') <= sse('minmax') * (1 + 1e-6) + 1e-12;
      }),
      { seed: SEED, numRuns: 100 },
    );
  });

  it('a masked weight keeps its mask; the range ignores pruned entries', () => {
    fc.assert(
      fc.property(weight, bits, uniform, fc.boolean(), (w, b, scheme, pc) => {
        const mask = Uint8Array.from(w.values, (_, i) => (i % 3 === 0 ? 0 : 1));
        const vals = w.values.map((v, i) => (mask[i] ? v : 100)); // huge pruned values must not widen the range
        const e = quantizeEncoding(maskedEncoding(denseEncoding(w.shape, vals), mask), spec(scheme, b, pc)) as MaskedEncoding;
        expect(e.kind).toBe('masked');
        expect(e.mask).toBe(mask);
        const d = toDense(e);
        const cols = w.shape[1]!;
        const scales = (e.base as QuantizedEncoding).scales;
        const chan = (i: number) => (pc ? i % cols : 0);
        const amax = (c: number) => vals.reduce((m, v, i) => (mask[i] && chan(i) === c ? Math.max(m, Math.abs(v)) : m), 0);
        return d.every((v, i) => {
          if (!mask[i]) return v === 0;
          const a = amax(chan(i)),
            s = scales[chan(i)]!;
          if (a === 0) return v === 0;
          // pruned 100s did not set the range: the step fits the kept values
          return s <= (2 * a) / (2 ** (b - 1) - 1) + 1e-9 && Math.abs(v) <= a + s / 2 + 1e-6;
        });
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});
