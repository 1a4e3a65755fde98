// The dense baselines the svd bench and tune scripts start from, cached in <repo>/bench-results/.cache.
// `small`: core's trainBaseline on core's loadMnist split (7,000 / 1,000 / 2,000; trainBaseline caches it itself).
// `full`: trainBaseline on loadMnistFull (55,000 train / 5,000 val / the official 10,000 test), cached by trainBaseline
// under dataKey 'mnist-full'.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadMnist, loadMnistFull, trainBaseline } from '@edge-compress/core/node';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const cacheDir = join(root, 'bench-results', '.cache');

/** { model, data: { train, val, test }, cached } for `arch` on `dataset` ('small' | 'full'); 20 epochs, seed 0. */
export async function denseBaseline(arch, dataset, onProgress) {
  const shape = arch === 'lenet5' ? [28, 28, 1] : [784];
  if (dataset !== 'full') {
    const b = await trainBaseline({ arch, epochs: 20, seed: 0, cacheDir, onProgress });
    return { model: b.model, data: loadMnist({ shape }), cached: b.cached };
  }
  const data = loadMnistFull({ shape });
  const b = await trainBaseline({ arch, epochs: 20, seed: 0, data, cacheDir, dataKey: 'mnist-full', onProgress });
  return { model: b.model, data, cached: b.cached };
}
