// One timing process: every engine interleaved in one loop, medians of REPS calls after warm-up. Prints one JSON line.
// Usage: node bench/timing.mjs <workdir>   (workdir written by bench.mjs: dense.json / bcr.json / csr.json models + meta.json)
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as core from '@edge-compress/core';
import { bcrLayoutFromMask, bcrMask, SparseRunner, sparseSpec } from '@edge-compress/bcr-prune';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';

const { createRng, initBackend, loadModel, toDense, toGemm, weightTensors, forward } = core;
const dir = process.argv[2];
const REPS = Number(process.env.BCR_BENCH_REPS ?? 60);
await initBackend('wasm');
const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8'));
const dense = (await loadModel(join(dir, 'dense', 'model.json'))).model;
const bcr = (await loadModel(join(dir, 'bcr', 'model.json'))).model;
const csr = (await loadModel(join(dir, 'csr', 'model.json'))).model;
const bcrRunner = new SparseRunner(sparseSpec(bcr)); // blockSparse kernels run as BCR
const csrRunner = new SparseRunner(sparseSpec(csr, { unstructured: 'csr' }));
const ourDense = new SparseRunner(sparseSpec(dense));
// The dense model as ONNX through core's exporter (fp32 graph; input NHWC exactly as the tfjs model takes it).
const onnxBytes = core.toOnnx(dense, { format: 'dense' });
const sessNode = await ortNode.InferenceSession.create(onnxBytes, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
ortWeb.env.wasm.numThreads = 1;
const sessWeb = await ortWeb.InferenceSession.create(onnxBytes, { graphOptimizationLevel: 'all' });
const w = weightTensors(dense);

const rng = createRng(Number(process.env.BCR_BENCH_SEED ?? 1));
const result = { pid: process.pid, load1: (await import('node:os')).loadavg()[0] };

/** Wall-clock and process CPU-time medians per engine (ms). CPU time is immune to the scheduler of a loaded machine. */
async function timeAll(engines, reps) {
  const names = Object.keys(engines);
  for (let i = 0; i < 20; i++) for (const n of names) await engines[n]();
  const ts = Object.fromEntries(names.map((n) => [n, []]));
  const cs = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < reps; r++) {
    const order = r % 2 ? [...names].reverse() : names; // alternate the order
    for (const n of order) {
      const c = process.cpuUsage();
      const t = performance.now();
      await engines[n]();
      ts[n].push(performance.now() - t);
      const d = process.cpuUsage(c);
      cs[n].push((d.user + d.system) / 1000);
    }
  }
  const med = (a) => {
    const s = [...a].sort((x, y) => x - y);
    return s[s.length >> 1];
  };
  return Object.fromEntries(
    names.flatMap((n) => [
      [n, med(ts[n])],
      [`${n}_cpu`, med(cs[n])],
    ]),
  );
}

// ---- whole LeNet-5 forward, batch 1 and 32; inputs are real test digits, outputs read back as Float32Array ----
const images = Float32Array.from(await readFile(join(dir, 'images.f32')).then((b) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4)));
for (const n of [1, 32]) {
  const x = images.subarray(0, n * 784);
  const out = new Float32Array(n * 10);
  const ortShape = [n, 28, 28, 1];
  const engines = {
    tfjs_wasm: () => tf.tidy(() => forward(dense.ir, w, tf.tensor(x, [n, 28, 28, 1])).dataSync()),
    ort_node: async () => (await sessNode.run({ input: new ortNode.Tensor('float32', x, ortShape) })).output.data,
    ort_web: async () => (await sessWeb.run({ input: new ortWeb.Tensor('float32', x, ortShape) })).output.data,
    bcr: () => bcrRunner.predictInto(x, n, out),
    csr: () => csrRunner.predictInto(x, n, out),
    ours_dense: () => ourDense.predictInto(x, n, out),
  };
  // sanity: every engine agrees with tfjs
  const ref = engines.tfjs_wasm();
  const check = async (name, got) => {
    let m = 0;
    for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(got[i] - ref[i]));
    result[`maxdiff_${name}_b${n}`] = m;
  };
  await check('ort_node', await engines.ort_node());
  await check('ort_web', await engines.ort_web());
  ourDense.predictInto(x, n, out);
  await check('ours_dense', out);
  const t = await timeAll(engines, REPS);
  for (const [k, v] of Object.entries(t)) result[k.endsWith('_cpu') ? `lenet_${k.slice(0, -4)}_b${n}_cpu_ms` : `lenet_${k}_b${n}_ms`] = v;
}

// ---- layer level: y = x·W, W [800, 500], tfjs dense matMul vs BCR vs CSR at the same sparsity, and the sweep ----
const layerIr = {
  format: 'edge-compress/ir',
  version: 1,
  name: 'fc',
  inputShape: [800],
  layers: [{ kind: 'dense', name: 'fc', units: 500, activation: 'linear', useBias: false }],
};
const wr = createRng(5);
const W = Float32Array.from({ length: 800 * 500 }, () => wr.normal() * 0.05);
const gemm = toGemm(W, [800, 500]);
const wT = tf.tensor(W, [800, 500]);
function layerRunner(kind, block, s) {
  // BCR: the same fraction of rows and columns removed in every block (γ_r = γ_c = 1 − √(1 − s)); CSR: top-|w|.
  const g = Math.max(0, 1 - Math.sqrt(1 - s));
  const m = kind === 'csr' ? core.topkMask(gemm, Math.round((1 - s) * gemm.length)) : bcrMask(gemm, 500, 800, block, { rowRate: g, colRate: g, order: 'colsFirst' });
  const gm = gemm.map((v, i) => (m[i] ? v : 0));
  const model = {
    ir: layerIr,
    weights: { 'fc/kernel': core.maskedEncoding(core.denseEncoding([800, 500], core.fromGemm(gm, [800, 500])), Uint8Array.from(core.fromGemm(Float32Array.from(m), [800, 500]))) },
  };
  const spec = kind === 'csr' ? sparseSpec(model, { unstructured: 'csr' }) : sparseSpec(model, { layouts: { fc: bcrLayoutFromMask([800, 500], gm, 500, 800, m, block) } });
  return { runner: new SparseRunner(spec), kept: m.reduce((a, b) => a + b, 0) / m.length };
}
const blocks = [
  [4, 16],
  [16, 64],
  [50, 100],
];
const sparsities = [0.5, 0.75, 0.9, 0.95];
const csr90 = layerRunner('csr', null, 0.9);
const layers = [];
const kept = {};
for (const b of blocks)
  for (const s of sparsities) {
    const l = layerRunner('bcr', b, s);
    kept[`b${b[0]}x${b[1]}_s${Math.round(s * 100)}`] = l.kept;
    layers.push([`bcr_b${b[0]}x${b[1]}_s${Math.round(s * 100)}`, l.runner]);
  }
result.layer_kept = kept;
for (const n of [1, 32]) {
  const x = images.subarray(0, n * 800);
  const out = new Float32Array(n * 500);
  const engines = { tfjs_dense: () => tf.tidy(() => tf.matMul(tf.tensor(x, [n, 800]), wT).dataSync()) };
  engines.csr_s90 = () => csr90.runner.predictInto(x, n, out);
  for (const [name, r] of layers) engines[name] = () => r.predictInto(x, n, out);
  const t = await timeAll(engines, REPS);
  for (const [k, v] of Object.entries(t)) result[k.endsWith('_cpu') ? `layer_${k.slice(0, -4)}_b${n}_cpu_ms` : `layer_${k}_b${n}_ms`] = v;
}
wT.dispose();
console.log(JSON.stringify(result));
