// One timing process: batch-1 forward of the dense LeNet-5 (stock tfjs conv2d / matMul) and of its SVD-trained
// low-rank version (the svd LayerKernel: two thin convs / GEMMs per layer), interleaved in one process.
// Usage: node latency.mjs <dense model.json> <low-rank model.json>  → prints one JSON line.
import * as tf from '@tensorflow/tfjs-core';
import { createRunner, initBackend, loadModel, loadMnist } from '@edge-compress/core';
import { lowRankKernel } from '@edge-compress/svd-train';

await initBackend('wasm');
const [denseJson, lowJson] = process.argv.slice(2);
const dense = createRunner((await loadModel(denseJson)).model, { kernels: [] });
const low = createRunner((await loadModel(lowJson)).model, { kernels: [lowRankKernel] });
const { test } = loadMnist();
const x = tf.tensor(test.images.subarray(0, 784), [1, 28, 28, 1]);
const call = (r) => {
  const y = r.run(x);
  y.dataSync();
  y.dispose();
};
const time = (r, n) => {
  const t = performance.now();
  for (let i = 0; i < n; i++) call(r);
  return (performance.now() - t) / n;
};
for (let i = 0; i < 50; i++) (call(dense), call(low));
const d = [],
  l = [];
for (let round = 0; round < 16; round++) {
  // alternate which side goes first
  if (round % 2 === 0) (d.push(time(dense, 40)), l.push(time(low, 40)));
  else (l.push(time(low, 40)), d.push(time(dense, 40)));
}
const med = (a) => [...a].sort((p, q) => p - q)[a.length >> 1];
console.log(JSON.stringify({ denseMs: med(d), lowRankMs: med(l), speedup: med(d) / med(l), ratios: d.map((v, i) => v / l[i]) }));
x.dispose();
dense.dispose();
low.dispose();
