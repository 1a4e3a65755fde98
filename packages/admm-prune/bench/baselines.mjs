// The dense baselines the admm-prune bench starts from, trained on the full MNIST (core's loadMnistFull: 55,000
// training digits, 5,000 stratified validation digits, the official 10,000 test digits; seed 0) with core's
// trainBaseline (Adam cosine from 1e-3, ±2-pixel shifts, seed 0), cached by trainBaseline in <repo>/bench-results/.cache
// (dataKey 'mnist-full' names the data in the cache key).
//
//   node bench/baselines.mjs      # trains both if not cached
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateModel, initBackend, loadMnistFull, trainBaseline } from '@edge-compress/core/node';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const cacheDir = join(root, 'bench-results', '.cache');
/** Dense training: epochs of the 55,000 digits (trainBaseline's other defaults), with 2 data-parallel workers. */
export const BASELINE = { epochs: 10, seed: 0, workers: 2 };

export function fullData(arch, trainCount) {
  return loadMnistFull({ seed: 0, valCount: 5000, ...(trainCount ? { trainCount } : {}), shape: arch === 'lenet5' ? [28, 28, 1] : [784] });
}

export async function fullBaseline(arch, data, log = console.log) {
  const t0 = Date.now();
  const b = await trainBaseline({
    arch,
    epochs: BASELINE.epochs,
    seed: BASELINE.seed,
    workers: BASELINE.workers,
    data: { train: data.train, val: data.val, test: data.test },
    cacheDir,
    dataKey: 'mnist-full',
    // One line per epoch: the epoch's last step reports twice, and only its second report carries the accuracy.
    onProgress: (p) => p.testAccuracy !== undefined && log(`${arch} baseline epoch ${p.epoch + 1}/${p.epochs} val ${p.testAccuracy} (${((Date.now() - t0) / 1000).toFixed(0)} s)`),
  });
  return { model: b.model, cached: b.cached, testAccuracy: b.testAccuracy, seconds: (Date.now() - t0) / 1000 };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await initBackend('wasm');
  for (const arch of process.argv.slice(2).length ? process.argv.slice(2) : ['lenet5', 'lenet300100']) {
    const data = fullData(arch);
    const b = await fullBaseline(arch, data);
    console.log(`${arch}: ${b.cached ? 'cached' : `trained in ${b.seconds.toFixed(0)} s`}, test ${b.testAccuracy}, val ${evaluateModel(b.model, data.val).accuracy}`);
  }
}
