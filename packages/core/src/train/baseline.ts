import type { Dataset } from '../data/dataset.js';
import { CompressionError } from '../errors.js';
import { ARCHITECTURES, type ArchitectureName } from '../ir/builders.js';
import { initModel, type Model } from '../model/model.js';
import { resolveWorkers } from './parallel.js';
import { cosineDecay, evaluateModel, Trainer, type EpochRecord, type TrainProgress } from './trainer.js';

export interface BaselineOptions {
  arch: ArchitectureName;
  /** Default 20. */
  epochs?: number;
  /** Seed of initialisation, shuffling, dropout and augmentation. Default 0. */
  seed?: number;
  batchSize?: number;
  /** Peak Adam learning rate (cosine decay). Default 1e-3. */
  lr?: number;
  /** Random translation of the digits by up to this many pixels (MLP inputs are viewed as 28×28). Default 2. */
  maxShift?: number;
  /**
   * Train/test data; in Node the default is the MNIST split from `loadMnist` in the model's input shape (trains on
   * its train split). In the browser pass it (e.g. from `fetchMnist(url)`).
   */
  data?: { train: Dataset; val?: Dataset; test: Dataset };
  /** Node only: if set, the trained model is cached in this directory (and reused when the same settings were trained before). */
  cacheDir?: string;
  /**
   * Names explicit `data` in the cache key (e.g. 'mnist-full-val5000'), so runs given `data` are cached too; the key
   * also holds the train and val counts. Without it a run given `data` is never cached (the key could not tell two
   * datasets apart).
   */
  dataKey?: string;
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
  /** Data-parallel training threads (see FitOptions.workers). Results are deterministic per worker count. */
  workers?: number | 'auto';
}

export interface Baseline {
  model: Model;
  testAccuracy: number;
  testLoss: number;
  history: EpochRecord[];
  cached: boolean;
  /** Where the cached copy lives, when cacheDir was given. */
  modelJson?: string;
}

/**
 * The dense baseline every method starts from: He init, Adam with cosine decay, seeded shuffling and
 * (for conv nets) ±2-pixel shifts. Deterministic for a given seed on a given backend.
 */
export function trainBaseline(opts: BaselineOptions): Promise<Baseline> {
  return trainBaselineWith(opts, {});
}

/** Where `trainBaseline` gets its default data and keeps its cache: the Node entry supplies both (files). */
export interface BaselinePlatform {
  defaultData?: (inputShape: number[]) => { train: Dataset; val?: Dataset; test: Dataset };
  cache?: {
    /** Where a model with this key is cached (reported as `modelJson`). */
    where(dir: string, key: string): string;
    load(where: string): Promise<Model | undefined>;
    save(where: string, model: Model, metadata: Record<string, unknown>): Promise<void>;
  };
}

/** @internal `trainBaseline` with a platform's default data and cache. */
export async function trainBaselineWith(opts: BaselineOptions, platform: BaselinePlatform): Promise<Baseline> {
  const ir = ARCHITECTURES[opts.arch]();
  const epochs = opts.epochs ?? 20;
  const seed = opts.seed ?? 0;
  const lr = opts.lr ?? 1e-3;
  const maxShift = opts.maxShift ?? 2;
  const imageShape: [number, number, number] | undefined = ir.inputShape.length === 3 ? undefined : [28, 28, 1];
  if (!opts.data && !platform.defaultData)
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'trainBaseline: data',
      message: 'trainBaseline: no data given and no default here (the bundled MNIST digits are read from disk only in Node)',
      hint: 'pass `data`, e.g. `data: await fetchMnist(urlOfMnistDigits, { shape })`',
    });
  if (opts.cacheDir && !platform.cache)
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'trainBaseline: cacheDir',
      message: 'trainBaseline: cacheDir needs a file system (Node)',
      hint: 'drop cacheDir in the browser',
    });
  if (opts.dataKey !== undefined && !/^[A-Za-z0-9._-]{1,80}$/.test(opts.dataKey))
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'trainBaseline: dataKey',
      message: `trainBaseline: dataKey must be 1–80 letters, digits, '.', '_' or '-' (it names a cache folder), got ${JSON.stringify(opts.dataKey)}`,
      hint: "e.g. 'mnist-full'",
    });
  const data = opts.data ?? platform.defaultData!(ir.inputShape);
  // The worker count changes the rounding of the summed gradients (and batch-norm / dropout per shard): part of the key.
  const workers = resolveWorkers(opts.workers, opts.batchSize ?? 64);
  const named = opts.data && opts.dataKey ? `${opts.dataKey}-val${opts.data.val?.count ?? 0}-` : '';
  const key = `${named}${opts.arch}-e${epochs}-s${seed}-lr${lr}-sh${maxShift}-b${opts.batchSize ?? 64}-tr${data.train.count}${workers > 1 ? `-w${workers}` : ''}`;
  const cache = opts.cacheDir && (!opts.data || opts.dataKey) ? platform.cache : undefined;
  const modelJson = opts.cacheDir && platform.cache ? platform.cache.where(opts.cacheDir, key) : undefined;
  const hit = cache && modelJson ? await cache.load(modelJson) : undefined;
  if (hit) {
    const ev = evaluateModel(hit, data.test);
    return { model: hit, testAccuracy: ev.accuracy, testLoss: ev.loss, history: [], cached: true, modelJson };
  }
  const trainer = new Trainer(initModel(ir, seed));
  try {
    const history = await trainer.fit(data.train, {
      epochs,
      batchSize: opts.batchSize ?? 64,
      optimizer: { kind: 'adam', lr },
      lrSchedule: cosineDecay(lr, epochs),
      seed,
      augment: maxShift > 0 ? { maxShift, imageShape } : undefined,
      // Per-epoch progress shows validation accuracy; test is measured once, at the end.
      test: data.val,
      phase: 'baseline',
      onProgress: opts.onProgress,
      signal: opts.signal,
      workers,
    });
    const model = trainer.toModel();
    const ev = trainer.evaluate(data.test);
    if (cache && modelJson) await cache.save(modelJson, model, { baseline: key, testAccuracy: ev.accuracy });
    return { model, testAccuracy: ev.accuracy, testLoss: ev.loss, history, cached: false, modelJson };
  } finally {
    await trainer.closeWorkers();
    trainer.dispose();
  }
}
