import * as tf from '@tensorflow/tfjs-core';
import { initBackend, initModel, lenet5, toGemm, toDense, weightTensors, forward, createRng } from '@edge-compress/core';
import { SparseRunner, sparseSpec, bcrMask, bcrLayoutFromMask } from '@edge-compress/bcr-prune';
await initBackend('wasm');
const model = initModel(lenet5(), 0);
const cfg = { conv1: null, conv2: [[10, 50], 0.2, 0.7], fc1: [[20, 50], 0.5, 0.9], fc2: [[10, 50], 0, 0.6] };
const layouts = {};
for (const [l, c] of Object.entries(cfg)) {
  if (!c) continue;
  const e = model.weights[`${l}/kernel`]; const rows = e.shape.at(-1), cols = e.values.length / rows;
  const g = toGemm(toDense(e), e.shape);
  layouts[l] = bcrLayoutFromMask(e.shape, g, rows, cols, bcrMask(g, rows, cols, c[0], { rowRate: c[1], colRate: c[2], order: 'colsFirst' }), c[0]);
}
const sparse = new SparseRunner(sparseSpec(model, { layouts }));
const dense = new SparseRunner(sparseSpec(model));
const w = weightTensors(model);
const rng = createRng(1);
for (const n of [1, 32]) {
  const x = Float32Array.from({ length: n * 784 }, () => rng.next());
  const xt = tf.tensor(x, [n, 28, 28, 1]);
  const out = new Float32Array(n * 10);
  const tfRun = () => tf.tidy(() => forward(model.ir, w, xt).dataSync());
  const reps = 200;
  const time = (f) => { const ts = []; for (let i = 0; i < reps; i++) { const t = performance.now(); f(); ts.push(performance.now() - t); } ts.sort((a, b) => a - b); return ts[reps >> 1]; };
  for (let i = 0; i < 50; i++) { tfRun(); sparse.predictInto(x, n, out); dense.predictInto(x, n, out); }
  const r = [];
  for (let k = 0; k < 3; k++) r.push([time(tfRun), time(() => sparse.predictInto(x, n, out)), time(() => dense.predictInto(x, n, out))].map((v) => v.toFixed(4)));
  console.log('batch', n, 'tfjs / bcr / wasm-dense(ms)', r);
  xt.dispose();
}
