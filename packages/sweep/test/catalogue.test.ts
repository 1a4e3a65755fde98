import { fc, test } from '@fast-check/vitest';
import { describe, expect, it } from 'vitest';
import { buildCatalogue, dominates, paretoFront, type Arm } from '../src/index.js';

const O = { maximize: ['acc'], minimize: ['bytes'] };
const arms = fc
  .uniqueArray(fc.record({ acc: fc.integer({ min: 0, max: 20 }), bytes: fc.integer({ min: 0, max: 20 }) }), { minLength: 1, maxLength: 25, selector: (a) => `${a.acc},${a.bytes}` })
  .map((xs) => xs.map((f, i): Arm => ({ id: `a${i}`, features: f })));

describe('Pareto front', () => {
  it('hand-checked example', () => {
    const a: Arm[] = [
      { id: 'fp32', features: { acc: 0.99, bytes: 1000 } },
      { id: 'int8', features: { acc: 0.99, bytes: 250 } },
      { id: 'p90', features: { acc: 0.98, bytes: 120 } },
      { id: 'p95', features: { acc: 0.97, bytes: 130 } },
      { id: 'x', features: { acc: 0.5 } },
    ];
    expect(paretoFront(a, O)).toEqual({ front: ['int8', 'p90'], incomplete: ['x'] });
  });

  test.prop([arms], { seed: 7, numRuns: 200 })('no front member is dominated; every other arm is dominated by a front member', (xs) => {
    const { front } = paretoFront(xs, O);
    const inFront = xs.filter((a) => front.includes(a.id));
    for (const a of inFront) expect(xs.some((b) => dominates(b.features, a.features, O))).toBe(false);
    for (const a of xs.filter((x) => !front.includes(x.id))) expect(inFront.some((b) => dominates(b.features, a.features, O))).toBe(true);
  });

  test.prop([arms, fc.integer()], { seed: 11, numRuns: 100 })('the front as a set does not depend on the arms order', (xs, k) => {
    const rotated = [...xs.slice(Math.abs(k) % xs.length), ...xs.slice(0, Math.abs(k) % xs.length)];
    expect(new Set(paretoFront(rotated, O).front)).toEqual(new Set(paretoFront(xs, O).front));
  });

  it('catalogue keeps arm order and sorts feature keys', () => {
    const c = buildCatalogue([
      { id: 'b', features: { z: 1, a: 2 } },
      { id: 'a', features: { m: 3 } },
    ]);
    expect(JSON.stringify(c)).toBe('{"arms":[{"id":"b","features":{"a":2,"z":1}},{"id":"a","features":{"m":3}}]}');
  });
});
