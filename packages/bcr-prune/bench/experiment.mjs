import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, evaluateModel, initBackend, loadMnist, trainBaseline } from '@edge-compress/core';
import { bcrPrune } from '@edge-compress/bcr-prune';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
await initBackend('wasm');
const t0 = Date.now();
const base = await trainBaseline({ arch: 'lenet5', epochs: 20, seed: 0, cacheDir: join(root, 'bench-results', '.cache'), onProgress: (p) => p.done && console.log('baseline epoch', p.epoch, p.testAccuracy, (Date.now() - t0) / 1000) });
const { train, test } = loadMnist();
console.log('baseline test', base.testAccuracy);
const configs = {
  algdefaults: [{ op_names: ['conv2', 'fc2'], granularity: [10, 50] }, { op_names: ['conv2'], row_ratio: 0.2, col_ratio: 0.7 }, { op_names: ['fc2'], row_ratio: 0, col_ratio: 0.6 }, { op_names: ['fc1'], granularity: [20, 50], row_ratio: 0.5, col_ratio: 0.9 }],
  auto: [{ op_types: ['conv2d', 'dense'] }],
};
for (const name of (process.argv[2] ?? 'algdefaults,auto').split(',')) {
  const plan = bcrPrune.plan(base.model.ir, configs[name], JSON.parse(process.argv[3] ?? '{}'));
  const s = Date.now();
  const r = await bcrPrune.compress(base.model, { train, test: undefined, seed: 0, rng: createRng(0), onProgress: (p) => p.done && console.log(name, p.phase, p.epoch, p.loss.toFixed(4)) }, plan);
  const acc = evaluateModel(r.model, test).accuracy;
  console.log(name, JSON.stringify(r.report.metrics), 'test', acc, 'drop', (base.testAccuracy - acc).toFixed(4), r.report.layers.map((l) => `${l.layer}:${l.pattern}[${l.block}] γr=${l.rowRatio?.toFixed(2)} γc=${l.colRatio?.toFixed(2)} kept=${(l.after.nonZeros / l.after.elements).toFixed(3)}`).join(' '), ((Date.now() - s) / 1000).toFixed(0), 's');
}
