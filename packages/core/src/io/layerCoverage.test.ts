/**
 * Models as stock tfjs-layers users build them: the activations tfjs-layers ships (relu6, elu, selu, softplus,
 * softsign, hard_sigmoid, swish, mish, gelu, gelu_new), LeakyReLU / ReLU(max_value) / ELU layers, global pooling
 * a flattening Reshape, depthwise and separable convolutions. Each is read from what tfjs-layers saves, predicts what tfjs-layers predicts, trains
 * on wasm with the cpu backend's gradients, is written back so stock tfjs loads it, and exports to ONNX.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../backend/index.js';
import { isCompressionError } from '../errors.js';
import { conv2dLayer } from '../ir/builders.js';
import { inferShapes, sizeOf } from '../ir/shapes.js';
import type { ModelIR } from '../ir/types.js';
import { forward, type WeightTensors } from '../model/forward.js';
import type { Model } from '../model/model.js';
import { createRng } from '../tensor/rng.js';
import { toyData } from '../testing/index.js';
import { predict, Trainer } from '../train/trainer.js';
import { toDense } from '../encodings/index.js';
import { loadModelFrom, saveModelTo } from './handlers.js';
import { topologyToIR } from './keras.js';
import { toOnnx } from './onnx.js';
import '../node/workers.js'; // registers worker_threads, as the Node entry does (for workers: 2)

const IN = [10, 10, 3];
let seed = 1;
const init = () => tfl.initializers.glorotUniform({ seed: seed++ });
const bias = () => tfl.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: seed++ });

/**
 * Every activation and activation layer tfjs-layers 4.22 has (bar PReLU / ThresholdedReLU), then global average
 * pooling. `gelu_new` only with `gelu = 'gelu_new'`: tfjs-layers 4.22 saves it but cannot load it back ("Unknown
 * activation: geluNew"), so the stock round trip runs with `gelu`.
 */
function everyActivation(gelu: 'gelu' | 'gelu_new' = 'gelu'): tfl.Sequential {
  const m = tfl.sequential();
  const k = { kernelInitializer: init(), biasInitializer: bias() };
  m.add(tfl.layers.conv2d({ inputShape: IN, filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu6', ...k }));
  m.add(tfl.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', activation: 'elu', kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tfl.layers.leakyReLU({ alpha: 0.1 }));
  m.add(tfl.layers.reLU({ maxValue: 0.5 }));
  m.add(tfl.layers.activation({ activation: 'swish' }));
  m.add(tfl.layers.activation({ activation: 'selu' }));
  m.add(tfl.layers.globalAveragePooling2d({}));
  m.add(tfl.layers.dense({ units: 8, activation: 'softplus', kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tfl.layers.activation({ activation: 'mish' }));
  m.add(tfl.layers.dense({ units: 8, activation: 'gelu', kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tfl.layers.activation({ activation: 'softsign' }));
  m.add(tfl.layers.dense({ units: 8, activation: gelu, kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tfl.layers.activation({ activation: 'hardSigmoid' }));
  m.add(tfl.layers.elu({}));
  m.add(tfl.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init(), biasInitializer: bias() }));
  return m;
}

/** Global max pooling and a flattening Reshape. */
function poolingAndReshape(): tfl.Sequential {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: IN, filters: 5, kernelSize: 3, activation: 'relu', kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
  m.add(tfl.layers.conv2d({ filters: 4, kernelSize: 2, activation: 'tanh', kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tfl.layers.reshape({ targetShape: [36] }));
  m.add(tfl.layers.dense({ units: 4, kernelInitializer: init(), biasInitializer: bias() }));
  return m;
}

/** MobileNet-style: depthwise (multiplier 2, stride 2, 'same'), a separable conv, batch norm, global pooling. */
function depthwiseSeparable(): tfl.Sequential {
  const m = tfl.sequential();
  m.add(tfl.layers.conv2d({ inputShape: IN, filters: 4, kernelSize: 3, padding: 'same', activation: 'relu6', kernelInitializer: init(), biasInitializer: bias() }));
  m.add(tfl.layers.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'same', depthMultiplier: 2, activation: 'relu', depthwiseInitializer: init(), biasInitializer: bias() }));
  m.add(
    tfl.layers.separableConv2d({
      filters: 6,
      kernelSize: 3,
      padding: 'valid',
      activation: 'relu',
      depthwiseInitializer: init(),
      pointwiseInitializer: init(),
      biasInitializer: bias(),
    }),
  );
  m.add(tfl.layers.batchNormalization({ movingMeanInitializer: bias(), movingVarianceInitializer: tfl.initializers.constant({ value: 0.7 }) }));
  m.add(tfl.layers.globalMaxPooling2d({}));
  m.add(tfl.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init(), biasInitializer: bias() }));
  return m;
}

/** What a save through a tf.io handler hands over: a stock tfjs-layers model's (`m.save`), or ours (`saveModelTo`). */
async function captured(save: (h: tf.io.IOHandler) => Promise<unknown>): Promise<tf.io.ModelArtifacts> {
  let art: tf.io.ModelArtifacts | undefined;
  await save(
    tf.io.withSaveHandler(async (a) => {
      art = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return art!;
}
const artifactsOf = (m: tfl.LayersModel) => captured((h) => m.save(h));
const writtenBy = (m: Model) => captured((h) => saveModelTo(m, h));

function images(count: number, s: number): Float32Array {
  const rng = createRng(s);
  return Float32Array.from({ length: count * sizeOf(IN) }, () => rng.next() * 4 - 2);
}

function stockPredict(m: tfl.LayersModel, x: Float32Array, count: number): Float32Array {
  return tf.tidy(() => (m.predict(tf.tensor(x, [count, ...IN])) as tf.Tensor).dataSync() as Float32Array).slice();
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

async function runOrt(bytes: Uint8Array, x: Float32Array, count: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const out = await session.run({ input: new ort.Tensor('float32', x, [count, ...IN]) });
    return Float32Array.from(out.output!.data as Float32Array);
  } finally {
    await session.release();
  }
}

/**
 * ∂(mean cross-entropy)/∂ every kernel and bias of `model` on `x` (labels i mod `classes`), on wasm and on the cpu
 * backend (tfjs' reference); the backend is wasm again afterwards.
 */
async function gradientsOnWasmAndCpu(
  model: Model,
  x: Float32Array,
  count: number,
  classes: number,
): Promise<{ wasm: Record<string, Float32Array>; cpu: Record<string, Float32Array> }> {
  const labels = Int32Array.from({ length: count }, (_, i) => i % classes);
  const names = Object.keys(model.weights).filter((n) => n.endsWith('/kernel') || n.endsWith('/bias'));
  const grads = (): Record<string, Float32Array> =>
    tf.tidy(() => {
      const ws: WeightTensors = Object.fromEntries(Object.entries(model.weights).map(([n, e]) => [n, tf.tensor(toDense(e), e.shape)]));
      const xs = tf.tensor(x, [count, ...IN]);
      const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), classes);
      const f = (...vs: tf.Tensor[]) => {
        const w = { ...ws };
        names.forEach((n, i) => (w[n] = vs[i]!));
        return tf.losses.softmaxCrossEntropy(ys, forward(model.ir, w, xs, { training: true, logits: true })) as tf.Scalar;
      };
      const g = tf.grads(f)(names.map((n) => ws[n]!));
      return Object.fromEntries(names.map((n, i) => [n, g[i]!.dataSync() as Float32Array]));
    });
  const wasm = grads();
  await tf.setBackend('cpu');
  try {
    return { wasm, cpu: grads() };
  } finally {
    await initBackend('wasm');
  }
}

describe.each([
  ['every activation + global average pooling', everyActivation, 4],
  ['global max pooling + flattening reshape', poolingAndReshape, 4],
  ['depthwise + separable convolutions', depthwiseSeparable, 4],
])('stock tfjs-layers model: %s', (_, build, classes) => {
  it('reads it, predicts what tfjs-layers predicts, writes it back for stock tf.loadLayersModel, and exports ONNX that onnxruntime runs the same', async () => {
    const stock = build();
    const art = await artifactsOf(stock);
    const { model } = await loadModelFrom(tf.io.fromMemory(art));
    const x = images(16, 7);
    const theirs = stockPredict(stock, x, 16);
    const ours = predict(model, x, 16);
    expect(ours.length).toBe(16 * classes);
    expect(maxAbsDiff(ours, theirs)).toBeLessThanOrEqual(1e-5);
    // the outputs vary with the input: a model reduced to a constant would also "match"
    expect(maxAbsDiff(ours.subarray(0, classes), ours.subarray(classes, 2 * classes))).toBeGreaterThan(1e-4);

    const written = await writtenBy(model);
    const back = await tfl.loadLayersModel(tf.io.fromMemory(written));
    expect(maxAbsDiff(stockPredict(back, x, 16), theirs)).toBeLessThanOrEqual(1e-5);
    back.dispose();

    const onnx = await runOrt(toOnnx(model), x, 16);
    expect(maxAbsDiff(onnx, ours)).toBeLessThanOrEqual(1e-4);
    stock.dispose();
  });
});

it('gelu_new (which stock tfjs-layers 4.22 saves but cannot load): read, predicted as tfjs-layers does, exported to ONNX', async () => {
  const stock = everyActivation('gelu_new');
  const { model } = await loadModelFrom(tf.io.fromMemory(await artifactsOf(stock)));
  expect(model.ir.layers.some((l) => 'activation' in l && l.activation === 'gelu_new')).toBe(true);
  const x = images(8, 8);
  const ours = predict(model, x, 8);
  expect(maxAbsDiff(ours, stockPredict(stock, x, 8))).toBeLessThanOrEqual(1e-5);
  expect(maxAbsDiff(await runOrt(toOnnx(model), x, 8), ours)).toBeLessThanOrEqual(1e-4);
  stock.dispose();
});

describe('layers written back in their stock form', () => {
  it('LeakyReLU keeps its alpha, ReLU its max_value, hard_sigmoid its Keras spelling; global pooling becomes a full-window pool + flatten', async () => {
    const { model } = await loadModelFrom(tf.io.fromMemory(await artifactsOf(everyActivation())));
    const kinds = model.ir.layers.map((l) => l.kind);
    expect(kinds.slice(6, 8)).toEqual(['avgPool2d', 'flatten']);
    expect(model.ir.layers[6]).toMatchObject({ poolSize: [5, 5], strides: [5, 5], padding: 'valid' });
    const written = await writtenBy(model);
    const layers = (written.modelTopology as { config: { layers: Array<{ class_name: string; config: Record<string, unknown> }> } }).config.layers;
    const byClass = (c: string) => layers.filter((l) => l.class_name === c).map((l) => l.config);
    expect(byClass('LeakyReLU')[0]!.alpha).toBeCloseTo(0.1, 6);
    expect(byClass('ReLU')[0]!.max_value).toBe(0.5);
    expect(byClass('Activation').map((c) => c.activation)).toEqual(['swish', 'selu', 'mish', 'softsign', 'hard_sigmoid', 'elu']);
    expect(byClass('Dense').map((c) => c.activation)).toEqual(['softplus', 'gelu', 'gelu', 'softmax']);
    expect(byClass('Conv2D').map((c) => c.activation)).toEqual(['relu6', 'elu']);
  });
});

describe('functional models (tf.model)', () => {
  const chain = (): tfl.LayersModel => {
    const inp = tfl.input({ shape: IN });
    let x = tfl.layers
      .conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', kernelInitializer: init(), biasInitializer: bias() })
      .apply(inp) as tfl.SymbolicTensor;
    x = tfl.layers.depthwiseConv2d({ kernelSize: 3, activation: 'relu6', depthwiseInitializer: init(), biasInitializer: bias() }).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.globalAveragePooling2d({}).apply(x) as tfl.SymbolicTensor;
    x = tfl.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init(), biasInitializer: bias() }).apply(x) as tfl.SymbolicTensor;
    return tfl.model({ inputs: inp, outputs: x });
  };

  it('a chain of layers reads as the same network: predictions as tfjs-layers, written back as a Sequential model stock tfjs loads', async () => {
    const stock = chain();
    const art = await artifactsOf(stock);
    expect((art.modelTopology as { class_name: string }).class_name).toBe('Model');
    const { model } = await loadModelFrom(tf.io.fromMemory(art));
    expect(model.ir.layers.map((l) => l.kind)).toEqual(['conv2d', 'depthwiseConv2d', 'avgPool2d', 'flatten', 'dense']);
    const x = images(8, 11);
    const theirs = stockPredict(stock, x, 8);
    expect(maxAbsDiff(predict(model, x, 8), theirs)).toBeLessThanOrEqual(1e-5);
    const written = await writtenBy(model);
    expect((written.modelTopology as { class_name: string }).class_name).toBe('Sequential');
    const back = await tfl.loadLayersModel(tf.io.fromMemory(written));
    expect(maxAbsDiff(stockPredict(back, x, 8), theirs)).toBeLessThanOrEqual(1e-5);
    back.dispose();
    stock.dispose();
  });

  it("Keras 3's functional format (inbound_nodes as keras_history, flat input_layers) reads in chain order", () => {
    const tensor = (from: string) => ({ args: [{ class_name: '__keras_tensor__', config: { shape: [null, 4], dtype: 'float32', keras_history: [from, 0, 0] } }], kwargs: {} });
    const ir = topologyToIR({
      class_name: 'Functional',
      config: {
        name: 'k3',
        layers: [
          { class_name: 'Dense', name: 'd2', config: { name: 'd2', units: 2, activation: 'softmax' }, inbound_nodes: [tensor('d1')] },
          { class_name: 'InputLayer', name: 'input_layer', config: { name: 'input_layer', batch_shape: [null, 4] }, inbound_nodes: [] },
          { class_name: 'Dense', name: 'd1', config: { name: 'd1', units: 3, activation: 'gelu' }, inbound_nodes: [tensor('input_layer')] },
        ],
        input_layers: ['input_layer', 0, 0],
        output_layers: ['d2', 0, 0],
      },
    });
    expect(ir.inputShape).toEqual([4]);
    expect(ir.layers.map((l) => [l.name, 'activation' in l ? l.activation : ''])).toEqual([
      ['d1', 'gelu'],
      ['d2', 'softmax'],
    ]);
  });
});

describe('graphs: forks, residual adds, concatenations (tf.model)', () => {
  /**
   * An Inception-style fork (the input feeds two convs, joined by Concatenate), then a ResNet-style block (conv → batch
   * norm → conv, added back to its input), a ReLU layer, global pooling and a softmax dense layer.
   */
  const graph = (): tfl.LayersModel => {
    const k = () => ({ kernelInitializer: init(), biasInitializer: bias() });
    const sym = (l: { apply(x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): unknown }, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) => l.apply(x) as tfl.SymbolicTensor;
    const inp = tfl.input({ shape: IN });
    const left = sym(tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', name: 'left', ...k() }), inp);
    const right = sym(tfl.layers.conv2d({ filters: 2, kernelSize: 1, activation: 'relu', name: 'right', ...k() }), inp);
    const cat = sym(tfl.layers.concatenate({ name: 'cat' }), [left, right]);
    const a = sym(tfl.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', activation: 'relu', name: 'res_a', ...k() }), cat);
    const bn = sym(tfl.layers.batchNormalization({ name: 'res_bn', movingMeanInitializer: bias(), gammaInitializer: 'ones' }), a);
    const b = sym(tfl.layers.conv2d({ filters: 5, kernelSize: 3, padding: 'same', name: 'res_b', ...k() }), bn);
    const sum = sym(tfl.layers.add({ name: 'skip' }), [cat, b]);
    const act = sym(tfl.layers.reLU({ name: 'post' }), sum);
    const pool = sym(tfl.layers.globalAveragePooling2d({ name: 'gap' }), act);
    const out = sym(tfl.layers.dense({ units: 4, activation: 'softmax', name: 'head', ...k() }), pool);
    return tfl.model({ inputs: inp, outputs: out });
  };

  it('reads the joins and forks, predicts what tfjs-layers predicts, writes back a functional model stock tfjs loads, exports ONNX (fp32 and int8) that onnxruntime runs', async () => {
    const stock = graph();
    const { model } = await loadModelFrom(tf.io.fromMemory(await artifactsOf(stock)));
    const byName = new Map(model.ir.layers.map((l) => [l.name, l]));
    expect(byName.get('left')!.inputs).toBeUndefined(); // the first layer takes the model input implicitly
    expect(byName.get('right')!.inputs).toEqual(['@input']);
    expect(byName.get('cat')).toEqual({ kind: 'concatenate', name: 'cat', inputs: ['left', 'right'] });
    expect(byName.get('res_a')!.inputs).toBeUndefined();
    expect(byName.get('skip')).toEqual({ kind: 'add', name: 'skip', inputs: ['cat', 'res_b'] });
    const x = images(16, 21);
    const theirs = stockPredict(stock, x, 16);
    const ours = predict(model, x, 16);
    expect(maxAbsDiff(ours, theirs)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(ours.subarray(0, 4), ours.subarray(4, 8))).toBeGreaterThan(1e-4);

    const written = await writtenBy(model);
    const topo = written.modelTopology as { class_name: string; config: { layers: Array<{ name: string; inbound_nodes: unknown }> } };
    expect(topo.class_name).toBe('Model');
    expect(topo.config.layers.find((l) => l.name === 'skip')!.inbound_nodes).toEqual([
      [
        ['cat', 0, 0, {}],
        ['res_b', 0, 0, {}],
      ],
    ]);
    const back = await tfl.loadLayersModel(tf.io.fromMemory(written));
    expect(maxAbsDiff(stockPredict(back, x, 16), theirs)).toBeLessThanOrEqual(1e-5);
    back.dispose();
    // Our reader reads our writer's functional topology back to the same graph.
    expect(topologyToIR(written.modelTopology).layers).toEqual(model.ir.layers);

    expect(maxAbsDiff(await runOrt(toOnnx(model), x, 16), ours)).toBeLessThanOrEqual(1e-4);
    const int8 = await runOrt(toOnnx(model, { format: 'int8-qdq', calibration: { images: images(64, 22), count: 64 } }), x, 16);
    expect(maxAbsDiff(int8, ours)).toBeLessThanOrEqual(0.05);
    stock.dispose();
  });

  it('trains: wasm gradients match cpu through the joins; the Trainer fits it in-process and with 2 workers, no tensor leak', async () => {
    const { model } = await loadModelFrom(tf.io.fromMemory(await artifactsOf(graph())));
    const { wasm: onWasm, cpu: onCpu } = await gradientsOnWasmAndCpu(model, images(8, 23), 8, 4);
    for (const n of ['left/kernel', 'right/kernel', 'res_a/kernel', 'res_b/kernel', 'head/kernel']) {
      const g = onCpu[n]!;
      const scale = Math.max(...Array.from(g, Math.abs));
      expect(scale, n).toBeGreaterThan(0); // both branches of the fork and of the residual get a gradient
      expect(maxAbsDiff(onWasm[n]!, g) / scale, n).toBeLessThanOrEqual(1e-4);
    }

    const data = toyData(256, IN, 5);
    for (const workers of [1, 2]) {
      const t = new Trainer(model);
      const counts: number[] = [];
      const recs = await t.fit(data, {
        epochs: 5,
        batchSize: 32,
        seed: 1,
        workers,
        optimizer: { kind: 'adam', lr: 0.01 },
        hooks: { afterEpoch: () => void counts.push(tf.memory().numTensors) },
      });
      await t.closeWorkers();
      t.dispose();
      expect(recs[recs.length - 1]!.workers).toBe(workers);
      expect(recs[recs.length - 1]!.loss, `workers ${workers}`).toBeLessThan(recs[0]!.loss * 0.7);
      expect(new Set(counts).size).toBe(1);
    }
  });

  it('MobileNetV2 inverted residuals (ZeroPadding2D + stride-2 valid depthwise, ReLU(6), batch norm, Add): tfjs-layers predictions, stock round trip, ONNX', async () => {
    const L = tfl.layers;
    const sym = (l: { apply(x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): unknown }, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]) => l.apply(x) as tfl.SymbolicTensor;
    const bn = (x: tfl.SymbolicTensor) => sym(L.batchNormalization({ movingMeanInitializer: bias(), betaInitializer: bias() }), x);
    const inp = tfl.input({ shape: IN });
    let x = sym(L.reLU({ maxValue: 6 }), bn(sym(L.conv2d({ filters: 8, kernelSize: 1, useBias: false, kernelInitializer: init() }), inp)));
    x = sym(
      L.zeroPadding2d({
        padding: [
          [0, 1],
          [0, 1],
        ],
        name: 'pad',
      }),
      x,
    );
    x = sym(L.reLU({ maxValue: 6 }), bn(sym(L.depthwiseConv2d({ kernelSize: 3, strides: 2, padding: 'valid', useBias: false, depthwiseInitializer: init() }), x)));
    const block1 = bn(sym(L.conv2d({ filters: 4, kernelSize: 1, useBias: false, kernelInitializer: init(), name: 'project1' }), x));
    let y = sym(L.reLU({ maxValue: 6 }), bn(sym(L.conv2d({ filters: 8, kernelSize: 1, useBias: false, kernelInitializer: init() }), block1)));
    y = sym(L.reLU({ maxValue: 6 }), bn(sym(L.depthwiseConv2d({ kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init() }), y)));
    y = bn(sym(L.conv2d({ filters: 4, kernelSize: 1, useBias: false, kernelInitializer: init() }), y));
    const sum = sym(L.add({ name: 'block2_add' }), [block1, y]);
    const out = sym(L.dense({ units: 4, activation: 'softmax', kernelInitializer: init(), biasInitializer: bias() }), sym(L.globalAveragePooling2d({}), sum));
    const stock = tfl.model({ inputs: inp, outputs: out });
    const { model } = await loadModelFrom(tf.io.fromMemory(await artifactsOf(stock)));
    expect(model.ir.layers.find((l) => l.name === 'pad')).toEqual({
      kind: 'zeroPad2d',
      name: 'pad',
      padding: [
        [0, 1],
        [0, 1],
      ],
    });
    expect(model.ir.layers.find((l) => l.name === 'block2_add')!.inputs![0]).toMatch(/^batch_normalization/);
    const xs = images(16, 24);
    const theirs = stockPredict(stock, xs, 16);
    const ours = predict(model, xs, 16);
    expect(maxAbsDiff(ours, theirs)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(ours.subarray(0, 4), ours.subarray(4, 8))).toBeGreaterThan(1e-4);
    const back = await tfl.loadLayersModel(tf.io.fromMemory(await writtenBy(model)));
    expect(maxAbsDiff(stockPredict(back, xs, 16), theirs)).toBeLessThanOrEqual(1e-5);
    back.dispose();
    expect(maxAbsDiff(await runOrt(toOnnx(model), xs, 16), ours)).toBeLessThanOrEqual(1e-4);
    stock.dispose();
  });

  it('ZeroPadding2D in each Keras form (int, [rows, cols], [[top, bottom], [left, right]]); a negative padding is a typed error', () => {
    const topo = (padding: unknown) => ({
      class_name: 'Sequential',
      config: {
        name: 'p',
        layers: [
          { class_name: 'ZeroPadding2D', config: { name: 'z', padding, batch_input_shape: [null, 4, 5, 2] } },
          { class_name: 'Flatten', config: { name: 'f' } },
        ],
      },
    });
    const read = (padding: unknown) => inferShapes(topologyToIR(topo(padding))).map((x) => x.outputShape)[0];
    expect(read(1)).toEqual([6, 7, 2]);
    expect(read([2, 0])).toEqual([8, 5, 2]);
    expect(
      read([
        [0, 1],
        [3, 2],
      ]),
    ).toEqual([5, 10, 2]);
    const err = (() => {
      try {
        topologyToIR(topo([-1, 1]));
      } catch (e) {
        return e;
      }
    })();
    expect(isCompressionError(err, 'BAD_MODEL_FILE')).toBe(true);
    expect((err as Error).message).toMatch(
      /layers\[0\]\.config\.padding: expected an integer, \[rows, cols\] or \[\[top, bottom\], \[left, right\]\] of integers ≥ 0, got \[-1,1\]/,
    );
  });

  it('refused with the layer named: a Multiply join, a shared layer, a concatenation off the channel axis', async () => {
    const inp = tfl.input({ shape: IN });
    const a = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(inp) as tfl.SymbolicTensor;
    const b = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same' }).apply(a) as tfl.SymbolicTensor;
    const flat = (t: tfl.SymbolicTensor) => tfl.layers.dense({ units: 2 }).apply(tfl.layers.flatten().apply(t) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
    const refusal = async (m: tfl.LayersModel) => loadModelFrom(tf.io.fromMemory(await artifactsOf(m))).catch((e: unknown) => e);

    const mul = await refusal(tfl.model({ inputs: inp, outputs: flat(tfl.layers.multiply({ name: 'gate' }).apply([a, b]) as tfl.SymbolicTensor) }));
    expect(isCompressionError(mul, 'UNSUPPORTED_LAYER')).toBe(true);
    expect((mul as Error).message).toMatch(/layer 'gate' has unsupported class 'Multiply'/);

    const shared = tfl.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', name: 'twice' });
    const s1 = shared.apply(inp) as tfl.SymbolicTensor;
    const s2 = shared.apply(s1) as tfl.SymbolicTensor;
    const sh = await refusal(tfl.model({ inputs: inp, outputs: flat(s2) }));
    expect(isCompressionError(sh, 'UNSUPPORTED_LAYER')).toBe(true);
    expect((sh as Error).message).toMatch(/layer 'twice' is called 2 times \(a shared layer\)/);

    const rows = await refusal(tfl.model({ inputs: inp, outputs: flat(tfl.layers.concatenate({ axis: 1, name: 'rows' }).apply([a, b]) as tfl.SymbolicTensor) }));
    expect(isCompressionError(rows, 'UNSUPPORTED_LAYER')).toBe(true);
    expect((rows as Error).message).toMatch(/Concatenate layer 'rows' joins along axis 1; only the last \(channel\) axis/);
  });

  it('a broken functional topology is a typed error naming the layer: a cycle, an unknown inbound layer, a layer with no input, an output cut off from the input', () => {
    const node = (...from: string[]) => [from.map((f) => [f, 0, 0, {}])];
    const dense = (name: string, ...from: string[]) => ({ class_name: 'Dense', name, config: { name, units: 2 }, inbound_nodes: from.length ? node(...from) : [] });
    const input = { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 3] }, inbound_nodes: [] };
    const topo = (layers: unknown[], output = 'b') => ({ class_name: 'Model', config: { name: 'g', layers, input_layers: [['in', 0, 0]], output_layers: [[output, 0, 0]] } });
    const cases: Array<[unknown, string, RegExp]> = [
      [topo([input, dense('a', 'b'), dense('b', 'a')]), 'BAD_MODEL_FILE', /the graph has a cycle through layer '(a|b)'/],
      [topo([input, dense('a', 'in'), dense('b', 'ghost')]), 'BAD_MODEL_FILE', /layer 'b' takes 'ghost', which the model does not define/],
      [topo([input, dense('a'), dense('b', 'a')]), 'UNSUPPORTED_LAYER', /layer 'a' takes no input and is not the model input 'in'/],
      [topo([input, dense('a', 'in'), dense('b', 'a'), dense('c', 'in')], 'b'), 'UNSUPPORTED_LAYER', /layers 'c' do not lead to the output 'b'/],
    ];
    for (const [t, code, message] of cases) {
      const err = (() => {
        try {
          topologyToIR(t, 'broken.json');
        } catch (e) {
          return e;
        }
      })();
      expect(isCompressionError(err, code as 'BAD_MODEL_FILE'), String(message)).toBe(true);
      expect((err as Error).message).toMatch(/^broken\.json: /);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('an IR whose inputs do not fit is a SHAPE_MISMATCH naming the layer', () => {
    const base = { format: 'edge-compress/ir' as const, version: 1 as const, name: 'g', inputShape: [4, 4, 2] };
    const conv = (name: string, filters: number, inputs?: string[]) => conv2dLayer(name, filters, { kernelSize: [1, 1], useBias: false, ...(inputs ? { inputs } : {}) });
    const cases: Array<[ModelIR['layers'], RegExp]> = [
      [[conv('a', 2, ['b']), conv('b', 2)], /layer 'a' .* takes input 'b', which is not an earlier layer/],
      [
        [conv('a', 2), conv('b', 3, ['@input']), { kind: 'add', name: 's', inputs: ['a', 'b'] }],
        /layer 's' \(add, layers\[2\]\) expects inputs of one shape but gets input of shape \[4,4,2\] and \[4,4,3\]/,
      ],
      [[conv('a', 2), { kind: 'add', name: 's', inputs: ['a'] }], /layer 's' .* has 1 inputs; expected two or more/],
      [[conv('a', 2), conv('b', 2, ['a', '@input'])], /layer 'b' .* has 2 inputs; expected one/],
      [[conv('a', 2, ['nowhere'])], /takes input 'nowhere', which is not a layer of the model/],
    ];
    for (const [layers, message] of cases) {
      const err = (() => {
        try {
          inferShapes({ ...base, layers });
        } catch (e) {
          return e;
        }
      })();
      expect(isCompressionError(err, 'SHAPE_MISMATCH'), String(message)).toBe(true);
      expect((err as Error).message).toMatch(message);
    }
    // A concatenation adds up the channels.
    const ok = inferShapes({ ...base, layers: [conv('a', 2), conv('b', 3, ['@input']), { kind: 'concatenate', name: 'c', inputs: ['a', 'b', '@input'] }] });
    expect(ok[2]!.outputShape).toEqual([4, 4, 7]);
    expect(ok[2]!.inputShapes).toEqual([
      [4, 4, 2],
      [4, 4, 3],
      [4, 4, 2],
    ]);
  });
});

describe('depthwise and separable convolutions', () => {
  it('SeparableConv2D reads as a depthwise conv + a 1×1 conv that keeps the layer name; written back as DepthwiseConv2D + Conv2D', async () => {
    const { model } = await loadModelFrom(tf.io.fromMemory(await artifactsOf(depthwiseSeparable())));
    const l = model.ir.layers;
    expect(l.map((x) => x.kind)).toEqual(['conv2d', 'depthwiseConv2d', 'depthwiseConv2d', 'conv2d', 'batchNorm', 'maxPool2d', 'flatten', 'dense']);
    const sep = l[3]!.name;
    expect(l[2]).toMatchObject({ name: `${sep}_depthwise`, depthMultiplier: 1, activation: 'linear', useBias: false });
    expect(l[3]).toMatchObject({ kernelSize: [1, 1], filters: 6, activation: 'relu', useBias: true });
    expect(model.weights[`${l[1]!.name}/depthwise_kernel`]!.shape).toEqual([3, 3, 4, 2]);
    expect(model.weights[`${sep}/kernel`]!.shape).toEqual([1, 1, 8, 6]);
    const written = await writtenBy(model);
    const classes = (written.modelTopology as { config: { layers: Array<{ class_name: string }> } }).config.layers.map((x) => x.class_name);
    expect(classes.filter((c) => c === 'DepthwiseConv2D')).toHaveLength(2);
  });

  it('the Trainer fits a depthwise-separable model on wasm; the depthwise kernels learn', async () => {
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init() }));
    m.add(tfl.layers.separableConv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', depthwiseInitializer: init(), pointwiseInitializer: init() }));
    m.add(tfl.layers.flatten());
    m.add(tfl.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init() }));
    const { model } = await loadModelFrom(tf.io.fromMemory(await artifactsOf(m)));
    const dwName = model.ir.layers[1]!.name;
    const before = Array.from(toDense(model.weights[`${dwName}/depthwise_kernel`]!));
    const t = new Trainer(model as Model);
    const recs = await t.fit(toyData(256, [8, 8, 1], 3), { epochs: 6, batchSize: 32, seed: 1, optimizer: { kind: 'adam', lr: 0.02 } });
    const after = Array.from(toDense(t.toModel().weights[`${dwName}/depthwise_kernel`]!));
    t.dispose();
    expect(recs[recs.length - 1]!.loss).toBeLessThan(recs[0]!.loss * 0.7);
    expect(maxAbsDiff(after, before)).toBeGreaterThan(1e-3);
  });
});

describe('training through every activation on wasm', () => {
  it('the gradient of every weight matches the cpu backend (tfjs-layers formulas, wasm kernels)', async () => {
    const { model } = await loadModelFrom(tf.io.fromMemory(await artifactsOf(everyActivation())));
    const { wasm: onWasm, cpu: onCpu } = await gradientsOnWasmAndCpu(model, images(8, 9), 8, 4);
    expect(tf.getBackend()).toBe('wasm');
    for (const [n, g] of Object.entries(onCpu)) {
      const scale = Math.max(...Array.from(g, Math.abs));
      expect(scale, n).toBeGreaterThan(0); // the gradient reaches every layer
      expect(maxAbsDiff(onWasm[n]!, g) / scale, n).toBeLessThanOrEqual(1e-4);
    }
  });

  it('the Trainer fits a relu6 / leaky-relu / reshape model, with no tensor leak across epochs', async () => {
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ inputShape: [8, 8, 1], filters: 8, kernelSize: 3, padding: 'same', activation: 'relu6', kernelInitializer: init() }));
    m.add(tfl.layers.leakyReLU({ alpha: 0.2 }));
    m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tfl.layers.reshape({ targetShape: [128] }));
    m.add(tfl.layers.dense({ units: 4, activation: 'softmax', kernelInitializer: init() }));
    const { model } = await loadModelFrom(tf.io.fromMemory(await artifactsOf(m)));
    const data = toyData(256, [8, 8, 1], 3);
    const t = new Trainer(model as Model);
    const counts: number[] = [];
    const recs = await t.fit(data, {
      epochs: 6,
      batchSize: 32,
      seed: 1,
      optimizer: { kind: 'adam', lr: 0.02 },
      hooks: { afterEpoch: () => void counts.push(tf.memory().numTensors) },
    });
    t.dispose();
    expect(recs[recs.length - 1]!.loss).toBeLessThan(recs[0]!.loss * 0.7);
    expect(new Set(counts).size).toBe(1);
  });
});

describe('layers still refused, with what to do', () => {
  const topo = (layers: unknown[]) => ({ class_name: 'Sequential', config: { name: 'm', layers } });
  const input = { class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 6, 6, 2] } };
  const conv = { class_name: 'Conv2D', config: { name: 'c', filters: 2, kernel_size: 3 } };
  const refuse = (layers: unknown[], code: 'UNSUPPORTED_LAYER' | 'BAD_MODEL_FILE', text: RegExp) => {
    let err: unknown;
    try {
      topologyToIR(topo(layers), 'm.json');
    } catch (e) {
      err = e;
    }
    expect(isCompressionError(err, code), String(err)).toBe(true);
    expect((err as Error).message).toMatch(text);
  };

  it('a Reshape that is not a flatten, ELU with alpha ≠ 1, ReLU with a negative slope, an unknown activation string', () => {
    refuse(
      [input, conv, { class_name: 'Reshape', config: { name: 'r', target_shape: [4, 8] } }],
      'UNSUPPORTED_LAYER',
      /Reshape layer 'r' to \[4,8\].*only a reshape to one dimension \(\[32\]/,
    );
    refuse([input, { class_name: 'ELU', config: { name: 'e', alpha: 0.5 } }], 'UNSUPPORTED_LAYER', /alpha 0.5; only 1/);
    refuse([input, { class_name: 'ReLU', config: { name: 'r', negative_slope: 0.1 } }], 'UNSUPPORTED_LAYER', /negative_slope/);
    refuse([input, { class_name: 'Activation', config: { name: 'a', activation: 'leaky_relu' } }], 'UNSUPPORTED_LAYER', /activation 'leaky_relu'.*supported: linear, relu/);
    refuse([input, { class_name: 'ReLU', config: { name: 'r', max_value: -1 } }], 'BAD_MODEL_FILE', /max_value: expected a positive number/);
  });

  it('global pooling on a flat input names the shape it got', () => {
    refuse(
      [
        { class_name: 'Dense', config: { name: 'd', units: 3, batch_input_shape: [null, 5] } },
        { class_name: 'GlobalAveragePooling2D', config: { name: 'g' } },
      ],
      'BAD_MODEL_FILE',
      /'g' \(GlobalAveragePooling2D\) needs a rank-3 \[h, w, c\] input, got \[3\]/,
    );
  });
});
