import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, evaluateModel, initBackend, loadMnist, trainBaseline } from '@edge-compress/core';
import { bcrPrune, splitData } from '@edge-compress/bcr-prune';
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
await initBackend('wasm');
const base = await trainBaseline({ arch: 'lenet5', epochs: 20, seed: 0, cacheDir: join(root, 'bench-results', '.cache') });
const { train, test } = loadMnist();
const { val } = splitData({ train });
const baseVal = evaluateModel(base.model, val).accuracy;
const configs = {
  algdefaults: [{ op_names: ['conv2', 'fc2'], granularity: [10, 50] }, { op_names: ['conv2'], row_ratio: 0.2, col_ratio: 0.7 }, { op_names: ['fc2'], row_ratio: 0, col_ratio: 0.6 }, { op_names: ['fc1'], granularity: [20, 50], row_ratio: 0.5, col_ratio: 0.9 }],
  mild: [{ op_names: ['conv2'], granularity: [10, 50], row_ratio: 0.2, col_ratio: 0.5 }, { op_names: ['fc1'], granularity: [20, 50], row_ratio: 0.5, col_ratio: 0.8 }, { op_names: ['fc2'], granularity: [10, 50], row_ratio: 0, col_ratio: 0.5 }],
  auto: [{ op_types: ['conv2d', 'dense'] }],
};
for (const name of (process.argv[2] ?? 'algdefaults,auto').split(',')) {
  const plan = bcrPrune.plan(base.model.ir, configs[name], JSON.parse(process.argv[3] ?? '{}'));
  const s = Date.now();
  const r = await bcrPrune.compress(base.model, { train, seed: 0, rng: createRng(0), onProgress: (p) => p.done && console.log(name, p.phase, p.epoch, p.loss.toFixed(4), ((Date.now() - s) / 1000).toFixed(0)) }, plan);
  const acc = evaluateModel(r.model, test).accuracy;
  const v = evaluateModel(r.model, val).accuracy;
  console.log(name, JSON.stringify(process.argv[3] ?? '{}'), 'valdrop', (baseVal - v).toFixed(4), 'test', acc, 'drop', (base.testAccuracy - acc).toFixed(4), JSON.stringify(r.report.metrics), r.report.layers.map((l) => `${l.layer}:${l.pattern}[${l.block}] γr=${l.rowRatio?.toFixed(2)} γc=${l.colRatio?.toFixed(2)} kept=${(l.after.nonZeros / l.after.elements).toFixed(3)}`).join(' '), ((Date.now() - s) / 1000).toFixed(0), 's');
}
