import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadMnist } from '../data/mnist.js';
import type { Dataset } from '../data/dataset.js';
import { ARCHITECTURES, type ArchitectureName } from '../ir/builders.js';
import { loadModel, saveModel } from '../io/modelio.js';
import { initModel, type Model } from '../model/model.js';
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
  /** Train/test data; default the MNIST split from `loadMnist` in the model's input shape (trains on its train split). */
  data?: { train: Dataset; val?: Dataset; test: Dataset };
  /** If set, the trained model is cached here (and reused when the same settings were trained before). */
  cacheDir?: string;
  onProgress?: (p: TrainProgress) => void;
  signal?: AbortSignal;
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
export async function trainBaseline(opts: BaselineOptions): Promise<Baseline> {
  const ir = ARCHITECTURES[opts.arch]();
  const epochs = opts.epochs ?? 20;
  const seed = opts.seed ?? 0;
  const lr = opts.lr ?? 1e-3;
  const maxShift = opts.maxShift ?? 2;
  const imageShape: [number, number, number] | undefined = ir.inputShape.length === 3 ? undefined : [28, 28, 1];
  const data = opts.data ?? loadMnist({ shape: ir.inputShape });
  const key = `${opts.arch}-e${epochs}-s${seed}-lr${lr}-sh${maxShift}-b${opts.batchSize ?? 64}-tr${data.train.count}`;
  const modelJson = opts.cacheDir ? join(opts.cacheDir, key, 'model.json') : undefined;
  if (modelJson && !opts.data && existsSync(modelJson)) {
    const { model } = await loadModel(modelJson);
    const ev = evaluateModel(model, data.test);
    return { model, testAccuracy: ev.accuracy, testLoss: ev.loss, history: [], cached: true, modelJson };
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
    });
    const model = trainer.toModel();
    const ev = trainer.evaluate(data.test);
    if (modelJson && !opts.data) await saveModel(model, modelJson, { metadata: { baseline: key, testAccuracy: ev.accuracy } });
    return { model, testAccuracy: ev.accuracy, testLoss: ev.loss, history, cached: false, modelJson };
  } finally {
    trainer.dispose();
  }
}
