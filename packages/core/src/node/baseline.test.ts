import { existsSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { subset } from '../data/dataset.js';
import { isCompressionError } from '../errors.js';
import { toDense } from '../encodings/index.js';
import { withTempDir } from '../testing/index.js';
import { trainBaseline } from './baseline.js';
import { loadMnist } from './mnist.js';

const { train, val, test } = loadMnist({ shape: [784] });
const data = { train: subset(train, 256), val: subset(val, 64), test: subset(test, 64) };
const opts = { arch: 'lenet300100' as const, epochs: 1, seed: 3 };

describe('trainBaseline cache with explicit data', () => {
  it('caches a run given data only when dataKey names it, and a second run loads the same weights', async () => {
    await withTempDir(async (dir) => {
      const plain = await trainBaseline({ ...opts, data, cacheDir: dir });
      expect(plain.cached).toBe(false);
      expect(readdirSync(dir)).toEqual([]); // unnamed data: nothing written
      const first = await trainBaseline({ ...opts, data, cacheDir: dir, dataKey: 'small-256' });
      const again = await trainBaseline({ ...opts, data, cacheDir: dir, dataKey: 'small-256' });
      expect([first.cached, again.cached]).toEqual([false, true]);
      expect(readdirSync(dir)).toEqual(['small-256-val64-lenet300100-e1-s3-lr0.001-sh2-b64-tr256']);
      expect(existsSync(again.modelJson!)).toBe(true);
      expect(Array.from(toDense(again.model.weights['fc1/kernel']!).subarray(0, 50))).toEqual(Array.from(toDense(first.model.weights['fc1/kernel']!).subarray(0, 50)));
      expect(again.testAccuracy).toBe(first.testAccuracy);
    });
  }, 60_000);

  it('a dataKey that cannot name a folder is a typed error', async () => {
    const err = await trainBaseline({ ...opts, data, cacheDir: '/tmp', dataKey: '../up' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isCompressionError(err, 'BAD_CONFIG') && err.path).toBe('trainBaseline: dataKey');
  });
});
