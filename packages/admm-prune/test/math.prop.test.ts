import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import {
  applyMask,
  globalSparseMasks,
  groupsOf,
  keepCount,
  levelIndex,
  levelsPerSide,
  progressiveFreeze,
  projectQuant,
  quantCodes,
  rampedSparsity,
  rhoAt,
  scanInterval,
  sortedScanErrors,
  INTERVAL_SCAN_FROM,
  sparseMask,
} from '../src/math.js';

fc.configureGlobal({ seed: 20261202, numRuns: 60 });

// Values on a 1/256 grid in [-4, 4]: exact in float32, with plenty of exact ties and zeros.
const vec = (min = 1, max = 60) =>
  fc
    .array(
      fc.integer({ min: -1024, max: 1024 }).map((i) => i / 256),
      { minLength: min, maxLength: max },
    )
    .map((a) => Float32Array.from(a));
const ratio = fc.double({ min: 0, max: 0.99, noNaN: true });
const sq = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((s, x, i) => s + (x - b[i]!) ** 2, 0);

describe('sparsity projection (unstructured)', () => {
  test.prop([vec(), ratio])('keeps exactly round((1−s)·n) (≥ 1) entries, every kept |w| ≥ every pruned |w|, ties by index', (v, s) => {
    const m = sparseMask(v, null, s);
    const kept = [...m].filter(Boolean).length;
    expect(kept).toBe(Math.max(1, Math.round((1 - s) * v.length)));
    let minKept = Infinity,
      maxPruned = -Infinity;
    for (let i = 0; i < v.length; i++) m[i] ? (minKept = Math.min(minKept, Math.abs(v[i]!))) : (maxPruned = Math.max(maxPruned, Math.abs(v[i]!)));
    expect(minKept).toBeGreaterThanOrEqual(maxPruned);
    // tie rule: a pruned entry never has a smaller index than a kept entry of the same magnitude
    for (let i = 0; i < v.length; i++) for (let j = 0; j < i; j++) if (Math.abs(v[i]!) === Math.abs(v[j]!) && m[i]) expect(m[j]).toBe(1);
  });
  test.prop([vec(2, 12), ratio])('is the Euclidean projection: no other support of the same size is closer', (v, s) => {
    const k = keepCount(v.length, s);
    const best = sq(v, applyMask(v, sparseMask(v, null, s)));
    // brute force over every support of size k (n ≤ 12)
    let bruteBest = Infinity;
    for (let bits = 0; bits < 1 << v.length; bits++) {
      let c = 0;
      for (let i = 0; i < v.length; i++) c += (bits >> i) & 1;
      if (c !== k) continue;
      let e = 0;
      for (let i = 0; i < v.length; i++) if (!((bits >> i) & 1)) e += v[i]! ** 2;
      bruteBest = Math.min(bruteBest, e);
    }
    expect(best).toBeCloseTo(bruteBest, 4);
  });
});

describe('grouped sparsity projection', () => {
  it('out_channel groups are GEMM rows (tfjs last axis), in_channel groups are input channels', () => {
    // dense [in 3, out 2]: flat i = in·2 + out
    expect(Array.from(groupsOf([3, 2], 'out_channel')!.groupOf)).toEqual([0, 1, 0, 1, 0, 1]);
    expect(Array.from(groupsOf([3, 2], 'in_channel')!.groupOf)).toEqual([0, 0, 1, 1, 2, 2]);
    // conv [kh 1, kw 2, cin 2, cout 2]: flat i = ((kw·2)+cin)·2 + cout; in_channel = cin
    expect(Array.from(groupsOf([1, 2, 2, 2], 'in_channel')!.groupOf)).toEqual([0, 0, 1, 1, 0, 0, 1, 1]);
    expect(groupsOf([1, 2, 2, 2], 'in_channel')!.count).toBe(2);
  });
  it('blocks [br, bc] tile the GEMM view row-major, edge blocks smaller; [b] = [1, b]', () => {
    // dense [in 3, out 2] → GEMM [2 rows, 3 cols]; blocks [1, 2]: row r, col c → r·2 + floor(c/2)
    const g = groupsOf([3, 2], [1, 2])!;
    // flat i = c·2 + r
    const expected = [0, 2, 0, 2, 1, 3];
    expect(Array.from(g.groupOf)).toEqual(expected);
    expect(g.count).toBe(4);
    expect(Array.from(groupsOf([3, 2], [2])!.groupOf)).toEqual(expected);
  });
  test.prop([
    fc.integer({ min: 1, max: 6 }),
    fc.integer({ min: 1, max: 6 }),
    fc.integer({ min: 1, max: 4 }),
    fc.integer({ min: 1, max: 4 }),
    ratio,
    fc.integer({ min: 0, max: 1000 }),
  ])('mask is constant per block, keeps the right number of blocks, kept block norms ≥ pruned ones', (inN, outN, br, bc, s, seed) => {
    const shape = [inN, outN];
    let x = seed + 1;
    const v = Float32Array.from({ length: inN * outN }, () => ((x = (x * 16807) % 2147483647) / 2147483647) * 2 - 1);
    const g = groupsOf(shape, [br, bc])!;
    const m = sparseMask(v, g, s);
    const norms = new Map<number, number>(),
      keptG = new Map<number, number>();
    for (let i = 0; i < v.length; i++) {
      const k = g.groupOf[i]!;
      norms.set(k, (norms.get(k) ?? 0) + v[i]! ** 2);
      if (keptG.has(k)) expect(m[i]).toBe(keptG.get(k));
      keptG.set(k, m[i]!);
    }
    expect([...keptG.values()].filter(Boolean).length).toBe(keepCount(g.count, s));
    const kn = [...norms].filter(([k]) => keptG.get(k)).map(([, n]) => n);
    const pn = [...norms].filter(([k]) => !keptG.get(k)).map(([, n]) => n);
    if (kn.length && pn.length) expect(Math.min(...kn)).toBeGreaterThanOrEqual(Math.max(...pn));
  });
});

describe('quantization projection onto non-zero levels', () => {
  test.prop([vec(), fc.integer({ min: 1, max: 6 }), fc.double({ min: 0.01, max: 2, noNaN: true }), fc.integer({ min: 0, max: 2 ** 30 })])(
    'kept entries land on the nearest level ±q·{1..L} (brute force), pruned ones stay 0; codes decode to the values',
    (v, bits, q, maskSeed) => {
      const L = levelsPerSide(bits);
      const mask = Uint8Array.from(v, (_, i) => ((maskSeed >> (i % 30)) & 1) | (i === 0 ? 1 : 0));
      const z = projectQuant(v, mask, q, L);
      const codes = quantCodes(v, mask, q, L);
      const qf = Math.fround(q);
      for (let i = 0; i < v.length; i++) {
        if (!mask[i]) {
          expect(z[i]).toBe(0);
          expect(codes[i]).toBe(0);
          continue;
        }
        const levels = [];
        for (let k = 1; k <= L; k++) levels.push(k * qf, -k * qf);
        const bestDist = Math.min(...levels.map((l) => Math.abs(v[i]! - l)));
        expect(Math.abs(v[i]! - z[i]!)).toBeLessThanOrEqual(bestDist + 1e-6);
        expect(Math.abs(codes[i]!)).toBeGreaterThanOrEqual(1);
        expect(Math.abs(codes[i]!)).toBeLessThanOrEqual(L);
        expect(z[i]).toBe(Math.fround(codes[i]! * qf));
      }
    },
  );
  test.prop([vec(2, 50), fc.integer({ min: 1, max: 5 })])('the interval scan stays in [0.9a, 1.1a] and beats every other scanned candidate (brute force)', (v, bits) => {
    const L = levelsPerSide(bits);
    const mask = new Uint8Array(v.length).fill(1);
    const max = Math.max(...Array.from(v, Math.abs));
    fc.pre(max > 0);
    const r = scanInterval(v, mask, L);
    const a = max / L;
    expect(r.q).toBeGreaterThanOrEqual(Math.fround(0.9 * a) * (1 - 1e-6));
    expect(r.q).toBeLessThanOrEqual(Math.fround(1.1 * a) * (1 + 1e-6));
    const err = (q: number) =>
      Array.from(v).reduce((s, w) => {
        let best = Infinity;
        for (let k = 1; k <= L; k++) best = Math.min(best, (w - k * q) ** 2, (w + k * q) ** 2);
        return s + best;
      }, 0);
    for (const f of [0.9, 0.95, 1, 1.05, 1.1]) expect(err(r.q)).toBeLessThanOrEqual(err(Math.fround(a * f)) + 1e-9);
  });
  test('the wide interval scan clamps an outlier instead of stretching every level (bounds derived by hand)', () => {
    // 50 weights at 1, 50 at 2, one at 10; 2 bits: levels ±q, ±2q (L = 2), a = 10 / 2 = 5.
    const v = Float32Array.from([...Array(50).fill(1), ...Array(50).fill(2), 10]);
    const mask = new Uint8Array(v.length).fill(1);
    const paper = scanInterval(v, mask, 2);
    const wide = scanInterval(v, mask, 2, INTERVAL_SCAN_FROM.wide);
    // paper: q ≥ 4.5, so each weight at 1 is ≥ 3.5 from the nearest level: error ≥ 50 · 3.5² = 612.5
    expect(paper.q).toBeGreaterThanOrEqual(4.5 * (1 - 1e-6));
    expect(paper.error).toBeGreaterThanOrEqual(612.5);
    // wide: q = 1 codes the 100 small weights exactly and clamps 10 to 2: error (10 − 2)² = 64; the scan can only do better
    expect(wide.q).toBeLessThan(1.2);
    expect(wide.error).toBeLessThanOrEqual(64 + 1e-6);
  });
  test.prop([vec(2, 50), fc.integer({ min: 1, max: 5 })])('the wide scan is never worse than the paper scan (its range contains it)', (v, bits) => {
    const L = levelsPerSide(bits);
    const mask = new Uint8Array(v.length).fill(1);
    fc.pre(Math.max(...Array.from(v, Math.abs)) > 0);
    expect(scanInterval(v, mask, L, INTERVAL_SCAN_FROM.wide).error).toBeLessThanOrEqual(scanInterval(v, mask, L).error * (1 + 1e-6) + 1e-12);
  });
});

describe('the sorted interval scan (large layers)', () => {
  // Per-weight brute force, not quantError: every level ±k·q tried, nearest kept.
  const brute = (v: ArrayLike<number>, q: number, L: number) =>
    Array.from(v).reduce((s, w) => {
      let best = Infinity;
      for (let k = 1; k <= L; k++) best = Math.min(best, (Math.abs(w) - k * q) ** 2);
      return s + best;
    }, 0);
  test.prop([vec(1, 300), fc.integer({ min: 1, max: 6 }), fc.array(fc.double({ min: 0.01, max: 2, noNaN: true }), { minLength: 1, maxLength: 8 })])(
    'its errors equal the per-weight brute force for every candidate q (ties and zeros included)',
    (v, bits, qs) => {
      const L = levelsPerSide(bits);
      const sorted = Float64Array.from(v, Math.abs).sort();
      const got = sortedScanErrors(sorted, L, qs);
      qs.forEach((q, j) => expect(got[j]).toBeCloseTo(brute(v, q, L), 9));
    },
  );
  it('ties at a level boundary go up, as levelIndex rounds them (x/q = k + 0.5)', () => {
    // q = 1, L = 4: 1.5 → level 2 (error 0.25), 2.5 → 3 (0.25), 4.5 and 9 → clamped to 4 (0.25 + 25), 0 → level 1 (1)
    expect(sortedScanErrors(Float64Array.from([0, 1.5, 2.5, 4.5, 9]), 4, [1])[0]).toBeCloseTo(1 + 0.25 + 0.25 + 0.25 + 25, 12);
  });
  it('a layer large enough for the sorted path picks the same q as scanning every candidate directly', () => {
    // 8,000 weights (deterministic LCG, heavy-tailed), 2 and 3 bits: 2·L·log2(n) < n, so scanInterval sorts.
    let s = 12345;
    const rnd = () => (s = (s * 16807) % 2147483647) / 2147483647;
    const v = Float32Array.from({ length: 8000 }, () => (rnd() - 0.5) * (rnd() < 0.01 ? 2 : 0.2));
    const mask = new Uint8Array(v.length).map((_, i) => (i % 7 === 0 ? 0 : 1));
    const kept = v.filter((_, i) => mask[i]);
    for (const L of [2, 4]) {
      const r = scanInterval(v, mask, L, INTERVAL_SCAN_FROM.wide);
      const a = r.a;
      let best = { q: NaN, e: Infinity };
      for (let j = 0; j <= 1000; j++) {
        const q = Math.fround(a * (0.1 + 0.001 * j));
        const e = brute(kept, q, L);
        if (e < best.e * (1 - 1e-12)) best = { q, e };
      }
      expect(r.error).toBeCloseTo(best.e, 9);
      expect(r.q).toBe(best.q);
    }
  });
});

describe('progressive freezing', () => {
  test.prop([vec(1, 80), fc.integer({ min: 1, max: 4 }), fc.double({ min: 0.05, max: 1, noNaN: true })])(
    'each round freezes ceil(f·free) per level, the closest ones, and the set only grows until everything is frozen',
    (v, bits, f) => {
      const L = levelsPerSide(bits);
      const mask = new Uint8Array(v.length).fill(1);
      const max = Math.max(...Array.from(v, Math.abs));
      const q = max > 0 ? max / L : 1;
      fc.pre(Math.fround(q) > 1e-30);
      let frozen: Uint8Array = new Uint8Array(v.length);
      for (let round = 0; round < 200 && frozen.some((x) => !x); round++) {
        // levels grouped as the implementation rounds them (levelIndex is checked against brute force above)
        const nearest = (w: number) => levelIndex(w, Math.fround(q), L);
        const free = [...v.keys()].filter((i) => !frozen[i]);
        const r = progressiveFreeze(v, mask, frozen, q, L, f);
        for (let i = 0; i < v.length; i++) if (frozen[i]) expect(r.frozen[i]).toBe(1);
        const perLevel = new Map<number, number[]>();
        for (const i of free) perLevel.set(nearest(v[i]!), [...(perLevel.get(nearest(v[i]!)) ?? []), i]);
        for (const [k, idx] of perLevel) {
          const newly = idx.filter((i) => r.frozen[i]);
          expect(newly.length).toBe(Math.ceil(f * idx.length));
          const dist = (i: number) => Math.abs(v[i]! - k * Math.fround(q));
          const maxNew = Math.max(...newly.map(dist));
          for (const i of idx) if (!r.frozen[i]) expect(dist(i)).toBeGreaterThanOrEqual(maxNew);
        }
        for (let i = 0; i < v.length; i++) if (r.frozen[i]) expect(Math.abs(r.snapped[i]! / Math.fround(q))).toBeGreaterThanOrEqual(1 - 1e-6);
        frozen = r.frozen;
      }
      expect(frozen.every((x) => x === 1)).toBe(true);
    },
  );
});

describe('ρ schedule', () => {
  test.prop([fc.double({ min: 1e-6, max: 1, noNaN: true }), fc.double({ min: 1, max: 3, noNaN: true }), fc.double({ min: 1e-6, max: 5, noNaN: true })])(
    'starts at ρ0, never decreases, never exceeds max(ρmax, ρ0)',
    (rho0, g, rmax) => {
      expect(rhoAt(0, rho0, g, rmax)).toBeCloseTo(Math.min(Math.max(rmax, rho0), rho0), 12);
      let prev = 0;
      for (let k = 0; k < 30; k++) {
        const r = rhoAt(k, rho0, g, rmax);
        expect(r).toBeGreaterThanOrEqual(prev);
        expect(r).toBeLessThanOrEqual(Math.max(rmax, rho0) * (1 + 1e-12));
        prev = r;
      }
    },
  );
  it('follows ρ0·β^k below the cap', () => {
    expect(rhoAt(2, 1e-3, 2, 1)).toBeCloseTo(4e-3, 12);
    expect(rhoAt(20, 1e-3, 2, 0.05)).toBe(0.05);
  });
});

describe('progressive ADMM sparsity ramp', () => {
  test.prop([fc.integer({ min: 1, max: 40 }), fc.double({ min: 0, max: 0.999, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true })])(
    'rises monotonically within [0, final] and reaches final by iteration ⌈ramp·K⌉',
    (K, s, ramp) => {
      let prev = -1;
      for (let k = 0; k < K; k++) {
        const r = rampedSparsity(k, K, s, ramp);
        expect(r).toBeGreaterThanOrEqual(prev - 1e-15);
        expect(r).toBeGreaterThanOrEqual(0);
        expect(r).toBeLessThanOrEqual(s + 1e-15);
        prev = r;
      }
      expect(rampedSparsity(Math.max(0, Math.ceil(ramp * K) - 1), K, s, ramp)).toBe(s);
      expect(rampedSparsity(Infinity, K, s, ramp)).toBe(s);
      expect(rampedSparsity(0, K, s, 0)).toBe(s);
    },
  );
  it('follows the cubic s·(1 − (1 − t)³)', () => {
    // K = 8, ramp 0.5 → R = 4; k = 1 → t = 2/4 → 0.9·(1 − 0.125)
    expect(rampedSparsity(1, 8, 0.9, 0.5)).toBeCloseTo(0.9 * 0.875, 12);
  });
});

describe('one budget across layers (globalSparseMasks)', () => {
  // Layers of 1–30 values, a positive scale each (powers of two: scores stay exact), floors ≤ the layer's size.
  const layers = fc.array(
    fc.tuple(
      vec(1, 30),
      fc.integer({ min: -3, max: 3 }).map((e) => 2 ** e),
      fc.double({ min: 0, max: 1, noNaN: true }),
    ),
    {
      minLength: 1,
      maxLength: 4,
    },
  );
  test.prop([layers, fc.double({ min: 0, max: 1, noNaN: true })])(
    'keeps exactly the budget, each layer at least its floor (its largest |w|), the rest the largest |w|/scale over all layers',
    (ls, share) => {
      const values = ls.map(([v]) => v);
      const scales = ls.map(([, s]) => s);
      const floors = ls.map(([v, , f]) => Math.floor(f * v.length));
      const total = values.reduce((a, v) => a + v.length, 0);
      const minBudget = floors.reduce((a, f) => a + f, 0);
      const budget = minBudget + Math.round(share * (total - minBudget));
      const masks = globalSparseMasks(values, scales, budget, floors);
      expect(masks.reduce((a, m) => a + m.reduce((b, x) => b + x, 0), 0)).toBe(budget);
      // Reference by a plain sort: each layer's floor first (largest |w|, ties by index), then the global order.
      const must = values.map(
        (v, l) =>
          new Set(
            Array.from(v, (x, i) => [Math.abs(x), i] as const)
              .sort((a, b) => b[0] - a[0] || a[1] - b[1])
              .slice(0, floors[l])
              .map(([, i]) => i),
          ),
      );
      const rest = values
        .flatMap((v, l) => Array.from(v, (x, i) => ({ l, i, s: Math.abs(x) / scales[l]! })).filter(({ l: k, i: j }) => !must[k]!.has(j)))
        .sort((a, b) => b.s - a.s || a.l - b.l || a.i - b.i)
        .slice(0, budget - minBudget);
      const want = values.map((v, l) => {
        const m = new Uint8Array(v.length);
        must[l]!.forEach((i) => (m[i] = 1));
        return m;
      });
      rest.forEach(({ l, i }) => (want[l]![i] = 1));
      expect(masks).toEqual(want);
    },
  );
});
