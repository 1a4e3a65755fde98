// A minimal dense ONNX graph of a Sequential conv/dense model (used when core's toOnnx is not exported yet), built
// with onnx-proto as STACK-NOTES §9 describes: NCHW Conv/MaxPool, a Transpose back to NHWC before Flatten so the
// dense weights keep the tfjs feature order, MatMul + Add, activations. Input: NCHW float32 [N, C, H, W].
import onnxProto from 'onnx-proto';
import { inferShapes, toDense } from '@edge-compress/core';

const O = onnxProto.onnx;
const FLOAT = 1;

export function denseOnnx(model) {
  const nodes = [],
    inits = [];
  let k = 0;
  const init = (name, dims, data) => {
    inits.push({ name, dims, dataType: FLOAT, rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) });
    return name;
  };
  const node = (op, inputs, attrs = {}) => {
    const out = `t${k++}`;
    nodes.push({
      opType: op,
      input: inputs,
      output: [out],
      name: out,
      attribute: Object.entries(attrs).map(([name, v]) => (Array.isArray(v) ? { name, type: 7, ints: v } : { name, type: 2, i: v })),
    });
    return out;
  };
  let cur = 'input';
  let nchw = true;
  const act = (a) => {
    if (a === 'relu') cur = node('Relu', [cur]);
    else if (a === 'softmax') cur = node('Softmax', [cur], { axis: -1 });
    else if (a === 'tanh') cur = node('Tanh', [cur]);
    else if (a === 'sigmoid') cur = node('Sigmoid', [cur]);
  };
  for (const s of inferShapes(model.ir)) {
    const l = s.layer;
    if (l.kind === 'conv2d') {
      if (l.padding !== 'valid') throw new Error('bench onnx: valid padding only');
      const w = toDense(model.weights[`${l.name}/kernel`]);
      const [kh, kw, cin, cout] = model.weights[`${l.name}/kernel`].shape;
      const t = new Float32Array(w.length); // [kh,kw,cin,cout] → [cout,cin,kh,kw]
      for (let i = 0; i < kh; i++)
        for (let j = 0; j < kw; j++) for (let c = 0; c < cin; c++) for (let o = 0; o < cout; o++) t[((o * cin + c) * kh + i) * kw + j] = w[((i * kw + j) * cin + c) * cout + o];
      const ins = [cur, init(`${l.name}_w`, [cout, cin, kh, kw], t)];
      if (l.useBias) ins.push(init(`${l.name}_b`, [cout], toDense(model.weights[`${l.name}/bias`])));
      cur = node('Conv', ins, { kernel_shape: [kh, kw], strides: l.strides });
      act(l.activation);
    } else if (l.kind === 'maxPool2d') {
      cur = node('MaxPool', [cur], { kernel_shape: l.poolSize, strides: l.strides });
    } else if (l.kind === 'flatten') {
      cur = node('Transpose', [cur], { perm: [0, 2, 3, 1] });
      nchw = false;
      cur = node('Flatten', [cur], { axis: 1 });
    } else if (l.kind === 'dense') {
      const [i, o] = model.weights[`${l.name}/kernel`].shape;
      cur = node('MatMul', [cur, init(`${l.name}_w`, [i, o], toDense(model.weights[`${l.name}/kernel`]))]);
      if (l.useBias) cur = node('Add', [cur, init(`${l.name}_b`, [o], toDense(model.weights[`${l.name}/bias`]))]);
      act(l.activation);
    } else if (l.kind !== 'dropout') throw new Error(`bench onnx: ${l.kind} not supported`);
  }
  nodes[nodes.length - 1].output = ['output'];
  const [h, w, c] = model.ir.inputShape;
  const graph = {
    name: model.ir.name,
    node: nodes,
    initializer: inits,
    input: [{ name: 'input', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: c }, { dimValue: h }, { dimValue: w }] } } } }],
    output: [{ name: 'output', type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'N' }, { dimValue: 10 }] } } } }],
  };
  void nchw;
  return new Uint8Array(O.ModelProto.encode(O.ModelProto.create({ irVersion: 7, opsetImport: [{ domain: '', version: 13 }], producerName: 'bcr-prune-bench', graph })).finish());
}
