// MobileNetV2-style functional model as tf.keras.applications builds it: Conv2D (no bias) + BatchNorm + ReLU(6),
// inverted residual blocks (expand 1x1 → depthwise 3x3 → project 1x1, Add when shapes match), ZeroPadding2D before
// the stride-2 'valid' depthwise convs, global average pooling, dense softmax.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { initBackend, loadMnist, subset } from '@edge-compress/core';
import * as fs from 'node:fs';
await initBackend('wasm');
const save = (m, dir) => m.save({ save: async (art) => { fs.mkdirSync(dir, { recursive: true });
  const { weightData, ...rest } = art; fs.writeFileSync(dir + '/weights.bin', Buffer.from(weightData));
  fs.writeFileSync(dir + '/model.json', JSON.stringify({ modelTopology: rest.modelTopology, format: 'layers-model', generatedBy: 'TensorFlow.js tfjs-layers v4.22.0', convertedBy: null, weightsManifest: [{ paths: ['weights.bin'], weights: rest.weightSpecs }] }));
  return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; } });
const L = tfl.layers;
const bnRelu = (x, relu = true) => { x = L.batchNormalization({ epsilon: 1e-3, momentum: 0.9 }).apply(x); return relu ? L.reLU({ maxValue: 6 }).apply(x) : x; };
const block = (x, cin, cout, stride, expand = 4) => {
  let y = bnRelu(L.conv2d({ filters: cin * expand, kernelSize: 1, padding: 'same', useBias: false }).apply(x));
  if (stride === 2) y = L.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(y);
  y = bnRelu(L.depthwiseConv2d({ kernelSize: 3, strides: stride, padding: stride === 2 ? 'valid' : 'same', useBias: false }).apply(y));
  y = bnRelu(L.conv2d({ filters: cout, kernelSize: 1, padding: 'same', useBias: false }).apply(y), false);
  return stride === 1 && cin === cout ? L.add().apply([x, y]) : y;
};
const inp = tfl.input({ shape: [28, 28, 1] });
let x = L.zeroPadding2d({ padding: [[0, 1], [0, 1]] }).apply(inp);
x = bnRelu(L.conv2d({ filters: 8, kernelSize: 3, strides: 2, padding: 'valid', useBias: false }).apply(x));
x = block(x, 8, 8, 1);
x = block(x, 8, 16, 2);
x = block(x, 16, 16, 1);
x = block(x, 16, 24, 2);
x = block(x, 24, 24, 1);
x = bnRelu(L.conv2d({ filters: 64, kernelSize: 1, useBias: false }).apply(x));
x = L.globalAveragePooling2d({}).apply(x);
x = L.dense({ units: 10, activation: 'softmax' }).apply(x);
const m = tfl.model({ inputs: inp, outputs: x });
const { train, test } = loadMnist({ shape: [28, 28, 1] });
const tr = subset(train, 7000);
const toX = (d) => tf.tensor4d(d.images, [d.count, 28, 28, 1]); const toY = (d) => tf.oneHot(tf.tensor1d(Int32Array.from(d.labels), 'int32'), 10);
m.compile({ optimizer: tf.train.adam(0.003), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
const t0 = Date.now();
await m.fit(toX(tr), toY(tr), { epochs: 4, batchSize: 64, verbose: 0 });
const ev = m.evaluate(toX(test), toY(test));
console.log('params', m.countParams(), 'layers', m.layers.length, 'stock test acc', (await ev[1].data())[0], 'fit s', (Date.now() - t0) / 1000);
await save(m, 'mnv2');
