import { initBackend, initModel, lenet5, toGemm, toDense } from '@edge-compress/core';
import { SparseRunner, sparseSpec, bcrMask, bcrLayoutFromMask } from '@edge-compress/bcr-prune';
await initBackend('wasm');
const model = initModel(lenet5(), 0);
const cfg = { conv2: [[10, 50], 0.2, 0.7], fc1: [[20, 50], 0.5, 0.9], fc2: [[10, 50], 0, 0.6] };
const layouts = {};
for (const [l, c] of Object.entries(cfg)) {
  const e = model.weights[`${l}/kernel`]; const rows = e.shape.at(-1), cols = e.values.length / rows;
  const g = toGemm(toDense(e), e.shape);
  layouts[l] = bcrLayoutFromMask(e.shape, g, rows, cols, bcrMask(g, rows, cols, c[0], { rowRate: c[1], colRate: c[2], order: 'colsFirst' }), c[0]);
}
const r = new SparseRunner(sparseSpec(model, { layouts }));
const n = Number(process.argv[2] ?? 32);
const x = Float32Array.from({ length: n * 784 }, (_, i) => (i % 97) / 97);
r.predict(x, n, n);
const p = r.programs.get(n);
const names = ['', 'IN', 'IM2COL', 'BCR', 'POOL', 'AFF', 'ACT', 'FLAT', 'OUT', 'CSR'];
const words = r.heap.i32(p.prog, p.ops * 20);
const acc = Array.from({ length: p.ops }, () => []);
for (let it = 0; it < 100; it++) for (let k = 0; k < p.ops; k++) { const t = performance.now(); r.heap.exports.run(p.prog + k * 80, 1); acc[k].push(performance.now() - t); }
console.log(acc.map((a, k) => { a.sort((x, y) => x - y); return `${names[words[k * 20]]}:${(a[50] * 1000).toFixed(0)}`; }).join(' '));
let bad = 0; const all = r.heap.f32(0, r.heap.buffer.byteLength / 4); for (const v of all) if (v !== 0 && Math.abs(v) < 1.2e-38) bad++; console.log('denormals in heap', bad, 'nonfinite', all.filter((v) => !Number.isFinite(v)).length);
const ts = []; for (let i = 0; i < 100; i++) { const t = performance.now(); r.heap.exports.run(p.prog, p.ops); ts.push(performance.now() - t); } ts.sort((a, b) => a - b); console.log('full run', ts[50]);
const ts2 = []; for (let i = 0; i < 100; i++) { const t = performance.now(); for (let k = 0; k < p.ops; k++) r.heap.exports.run(p.prog + k * 80, 1); ts2.push(performance.now() - t); } ts2.sort((a, b) => a - b); console.log('op by op', ts2[50]);
const out = new Float32Array(n * 10);
const ts3 = []; for (let i = 0; i < 100; i++) { const t = performance.now(); r.predictInto(x, n, out); ts3.push(performance.now() - t); } ts3.sort((a, b) => a - b); console.log('predictInto', ts3[50]);
