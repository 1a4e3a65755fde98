import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { trainBaselineWith, type Baseline, type BaselineOptions } from '../train/baseline.js';
import { loadMnist } from './mnist.js';
import { loadModel, saveModel } from './modelio.js';

/**
 * The dense baseline every method starts from (see the universal `trainBaseline`), with Node's defaults: the
 * bundled MNIST digits read from disk, and a model cache in `cacheDir`.
 */
export function trainBaseline(opts: BaselineOptions): Promise<Baseline> {
  return trainBaselineWith(opts, {
    defaultData: (shape) => loadMnist({ shape }),
    cache: {
      where: (dir, key) => join(dir, key, 'model.json'),
      load: async (f) => (existsSync(f) ? (await loadModel(f)).model : undefined),
      save: async (f, model, metadata) => void (await saveModel(model, f, { metadata })),
    },
  });
}
