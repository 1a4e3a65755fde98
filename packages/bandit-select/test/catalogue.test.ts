import { describe, expect, it } from 'vitest';
import { FeatureSpace, isBanditError, parseCatalogue } from '../src/index.js';

const cat = {
  arms: [
    { id: 'm1', features: { acc: 0.9, lat: 1 } },
    { id: 'm2', features: { acc: 0.8, lat: 3 } },
  ],
  context: ['cores', { name: 'ghz', center: 2, scale: 0.5 }],
};

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isBanditError(e) ? `${e.code}: ${e.message}` : String(e);
  }
  return undefined;
}

describe('catalogue and feature map', () => {
  it('builds φ = [1, x̃, z̃, x̃⊗z̃] with standardised arm features', () => {
    const space = new FeatureSpace(parseCatalogue(cat));
    expect(space.dim).toBe(1 + 2 + 2 + 4);
    const b = space.newBatch();
    space.prepare(b, { cores: 4, ghz: 3 });
    expect(Array.from(b.ctx)).toEqual([1, 4, 2]);
    // z̃: acc (0.9, 0.8) → (1, −1); lat (1, 3) → (−1, 1)
    expect(Array.from(b.phi.subarray(0, 9)).map((v) => Math.round(v * 1e9) / 1e9)).toEqual([1, 4, 2, 1, -1, 4, -4, 2, -2]);
    expect(Array.from(b.phi.subarray(9, 18)).map((v) => Math.round(v * 1e9) / 1e9)).toEqual([1, 4, 2, -1, 1, -4, 4, -2, 2]);
    const sub = space.newBatch();
    space.prepare(sub, { cores: 4, ghz: 3 }, ['m2']);
    expect(sub.k).toBe(1);
    expect(sub.arms[0]).toBe(1);
  });

  it('explains bad catalogues with a JSON path', () => {
    expect(codeOf(() => parseCatalogue({ arms: [{ id: 'a', features: { x: 1 } }] }, 'c.json'))).toMatch(/BAD_CATALOGUE: c\.json: \$\.arms: a catalogue needs at least 2 arms/);
    expect(
      codeOf(() =>
        parseCatalogue(
          {
            arms: [
              { id: 'a', features: { x: 1 } },
              { id: 'b', features: { y: 1 } },
            ],
          },
          'c.json',
        ),
      ),
    ).toMatch(/\$\.arms\[1\]\.features \(arm "b"\) has features \[y\] but \$\.arms\[0\] has \[x\]; missing x; extra y/);
    expect(
      codeOf(() =>
        parseCatalogue({
          arms: [
            { id: 'a', features: { x: 1 } },
            { id: 'a', features: { x: 2 } },
          ],
        }),
      ),
    ).toMatch(/\$\.arms\[1\]\.id "a" is a duplicate/);
    expect(
      codeOf(() =>
        parseCatalogue({
          arms: [
            { id: 'a b', features: { x: 1 } },
            { id: 'c', features: { x: 2 } },
          ],
        }),
      ),
    ).toMatch(/\$\.arms\[0\]\.id: arm ids must match/);
    expect(
      codeOf(() =>
        parseCatalogue({
          arms: [
            { id: 'a', features: { 'x:y': 1 } },
            { id: 'c', features: { 'x:y': 2 } },
          ],
        }),
      ),
    ).toMatch(/feature names must match/);
  });

  it('rejects NaN, missing and unknown context features with the field path', () => {
    const space = new FeatureSpace(parseCatalogue(cat));
    const b = space.newBatch();
    expect(codeOf(() => space.prepare(b, { cores: Number.NaN, ghz: 1 }))).toMatch(/BAD_CONTEXT: \$\.context\.cores must be a finite number/);
    expect(codeOf(() => space.prepare(b, { cores: 1 }))).toMatch(/BAD_CONTEXT: \$\.context is missing feature\(s\) ghz \(expected 2, got 1\)/);
    expect(codeOf(() => space.prepare(b, { cores: 1, ghz: 1, ram: 2 }))).toMatch(/FEATURE_DIM_MISMATCH: \$\.context\.ram is not a context feature/);
    expect(codeOf(() => space.prepare(b, { cores: 1, ghz: 1 }, ['m9']))).toMatch(/UNKNOWN_ARM: \$\.arms\[0\] "m9" is not an arm/);
  });
});
