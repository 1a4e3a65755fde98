/** The selection simulation on hand-made catalogues (no training): it finds value where there is some, and says so when there is none. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Analysis } from '../src/analysis.js';
import type { VariantRow } from '../src/report.js';
import { runSelection, tInterval } from '../src/selection.js';

const devices = [
  { id: 'cortex-m7', name: 'mcu', kind: 'mcu', cls: 'mcu' },
  { id: 'mobile-gpu', name: 'gpu', kind: 'mobile-gpu', cls: 'mobile_gpu' },
];

/** Variants with accuracy, and latency (ms) / energy (mJ) on [mcu, mobile_gpu]. */
function analysis(vs: Array<{ id: string; acc: number; lat: [number, number]; en: [number, number] }>): Analysis {
  const variants = vs.map((v) => ({ id: v.id, method: 'x', accuracy: v.acc, accuracyDrop: 0, storageBytes: 1000, storageRatio: 1 }) as VariantRow);
  return {
    devices,
    variants,
    costs: vs.flatMap((v) =>
      devices.map((d, i) => ({ variant: v.id, device: d.id, cls: d.cls, latencyMs: v.lat[i]!, energyMj: v.en[i]!, storageBytes: 1000, averageW: 1, bottleneck: 'compute' })),
    ),
    layers: [],
    pareto: [],
    macs: Object.fromEntries(vs.map((v) => [v.id, 1e6])),
    headline: { variants: vs.length, paretoVariants: 0, bestAccAt10xSmaller: null, bestSizeRatioAt05ptDrop: null },
  };
}

describe('per-device selection', () => {
  it('a catalogue where the MCU misses deadlines with the big variant, phones do not: the oracle and LinUCB beat the best single variant', () => {
    const a = analysis([
      { id: 'big', acc: 0.99, lat: [300, 0.5], en: [60, 0.5] },
      { id: 'small', acc: 0.95, lat: [4, 0.3], en: [1, 0.3] },
    ]);
    const s = runSelection({ analysis: a, seed: 1, rounds: 3000, replications: 4 });
    expect(s.oracleGainVsBestFixed.ci95[0]).toBeGreaterThan(0.02);
    const lin = s.policies.find((p) => p.name === 'linucb')!;
    expect(lin.gainVsBestFixed.ci95[0]).toBeGreaterThan(0);
    // On the MCU the per-class best still loses to the oracle: users differ (deadlines, weights), not only devices.
    const mcu = s.bestPerClass.find((b) => b.cls === 'mcu')!;
    expect(mcu.meanQoe).toBeLessThan(0.6);
    expect(s.bestPerClass.find((b) => b.cls === 'mobile_gpu')!.arm).toBe('big');
    expect(s.verdict).toMatch(/can pay/);
    expect(s.qoe.accLo).toBe(0.95);
    expect(s.qoe.accHi).toBe(0.99);
    // The uniform policy's regret grows linearly; LinUCB's flattens.
    const u = s.policies.find((p) => p.name === 'uniform')!.cumRegret;
    const l = lin.cumRegret;
    expect(l.at(-1)! - l[49]!).toBeLessThan(0.5 * (u.at(-1)! - u[49]!));
  });

  it('a catalogue of near-identical variants: the gain is about zero and the verdict says so', () => {
    const a = analysis([
      { id: 'a', acc: 0.99, lat: [10, 0.5], en: [2, 0.5] },
      { id: 'b', acc: 0.9899, lat: [10.01, 0.5], en: [2, 0.5] },
    ]);
    const s = runSelection({ analysis: a, seed: 2, rounds: 1000, replications: 3 });
    expect(Math.abs(s.oracleGainVsBestFixed.mean)).toBeLessThan(0.01);
    expect(s.verdict).toMatch(/about zero/);
  });

  it('is deterministic for a seed', () => {
    const a = analysis([
      { id: 'big', acc: 0.99, lat: [300, 0.5], en: [60, 0.5] },
      { id: 'small', acc: 0.95, lat: [4, 0.3], en: [1, 0.3] },
    ]);
    const r1 = runSelection({ analysis: a, seed: 5, rounds: 300, replications: 2 });
    const r2 = runSelection({ analysis: a, seed: 5, rounds: 300, replications: 2 });
    expect(r2.policies.map((p) => p.meanQoe)).toEqual(r1.policies.map((p) => p.meanQoe));
  });

  it('tInterval: the interval contains the mean and shrinks with more samples of the same spread', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 2, maxLength: 30 }), (xs) => {
        const i = tInterval(xs);
        expect(i.ci95[0]).toBeLessThanOrEqual(i.mean + 1e-12);
        expect(i.ci95[1]).toBeGreaterThanOrEqual(i.mean - 1e-12);
        const j = tInterval([...xs, ...xs, ...xs, ...xs]);
        expect(j.ci95[1] - j.ci95[0]).toBeLessThanOrEqual(i.ci95[1] - i.ci95[0] + 1e-9);
      }),
    );
  });
});
