// Trains (or loads from cache) the shared dense baselines the admm-prune bench starts from:
// core's trainBaseline, 20 epochs, seed 0, cached in <repo>/bench-results/.cache.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend, trainBaseline } from '@edge-compress/core';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const cacheDir = join(root, 'bench-results', '.cache');

export async function baselines(log = console.log) {
  const out = {};
  for (const arch of ['lenet5', 'lenet300100']) {
    out[arch] = await trainBaseline({
      arch,
      epochs: 20,
      seed: 0,
      cacheDir,
      onProgress: (p) => p.done && log(`${arch} baseline epoch ${p.epoch + 1}/${p.epochs} test ${p.testAccuracy}`),
    });
    log(`${arch} baseline test accuracy ${out[arch].testAccuracy} (${out[arch].cached ? 'cached' : 'trained'})`);
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await initBackend('wasm');
  await baselines();
}
