/**
 * ONNX export (issues 12 and 18): any model, with any weight encoding, as an ONNX ModelProto (IR version 7,
 * opset 13) that onnxruntime runs. Two graphs:
 *
 * - `dense`: every weight as its fp32 value (`toDense`), i.e. exactly what our forward computes.
 * - `int8-qdq`: conv / dense kernels as int8 QuantizeLinear/DequantizeLinear weights (symmetric, per-channel
 *   by default; a weight that is already 8-bit-or-narrower `symmetric`/`affine` is exported with its own codes
 *   and scales, bit-exact), biases as int32 with scale s_in·s_w, and every activation that feeds or leaves a
 *   conv / dense layer quantized to uint8 with ranges calibrated on the data the caller passes (use the
 *   training split, never test). Kernels re-quantized from fp32 use the codes −63..63 (7-bit range in int8,
 *   onnxruntime's `reduce_range`): on x86 CPUs without VNNI, onnxruntime's u8 × s8 kernels add pairs of products in
 *   int16, and 255·127·2 saturates it (measured on an AVX2-only EPYC: 94.7 % top-1 agreement on a LeNet-like net
 *   with the full range, ≥ 99 % with 7 bits). A model's own 8-bit codes are exported as they are (bit-exact), so on
 *   such CPUs they can saturate.
 *
 * Layout: the graph input `input` is NHWC float32 `[N, ...inputShape]` exactly as the tfjs model takes it; a
 * Transpose turns it into ONNX's NCHW before the first conv / pool. Kernels go from tfjs `[fh,fw,in,out]` to
 * `[out,in,fh,fw]`, and the first dense layer after an NCHW flatten gets its rows permuted (HWC → CHW order),
 * so no transpose is needed before the flatten. The output `output` is in the tfjs layout (class
 * probabilities when the model ends in softmax, as `predict` returns).
 */
import * as tf from '@tensorflow/tfjs-core';
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { CompressionError } from '../errors.js';
import { mapLeaves, toDense } from '../encodings/index.js';
import type { Encoding } from '../encodings/types.js';
import { inferShapes, sizeOf } from '../ir/shapes.js';
import { ACTIVATIONS, type Activation, DEFAULT_LEAKY_ALPHA, LAYER_KINDS, type Layer, layerInputs, MODEL_INPUT, type ModelIR } from '../ir/types.js';
import { forward } from '../model/forward.js';
import { type Model, validateModel, weightTensors } from '../model/model.js';
import { chooseQuantParams, nudgedAffine, quantizeWith } from '../tensor/quant.js';

const O = onnxProto.onnx;
const DT = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7 } as const;
const AT = { FLOAT: 1, INT: 2, INTS: 7 } as const;

export const ONNX_IR_VERSION = 7;
export const ONNX_OPSET = 13;
export const ONNX_FORMATS = ['dense', 'int8-qdq'] as const;
export type OnnxFormat = (typeof ONNX_FORMATS)[number];

export interface OnnxCalibration {
  /** `count` examples in the model's input layout (NHWC for images), row-major. Training split only. */
  images: Float32Array;
  count: number;
}

export interface OnnxExportOptions {
  /** 'dense' (default): fp32 weights. 'int8-qdq': int8 weights and uint8 activations as QDQ pairs. */
  format?: OnnxFormat;
  /** Calibration examples for the activation ranges of 'int8-qdq' (required there). */
  calibration?: OnnxCalibration;
  /** 'int8-qdq': granularity of kernels re-quantized from fp32. Default 'per-channel' (out channel). */
  weightGranularity?: 'per-channel' | 'per-tensor';
  /** Graph name; default the IR name. */
  name?: string;
}

export interface OnnxWeightInfo {
  name: string;
  layer: string;
  /** Element type in the file. */
  storedAs: 'float32' | 'int8' | 'uint8' | 'int32';
  /** True when the file's values equal the encoding's `toDense` exactly (int8 from the model's own codes). */
  exact: boolean;
  granularity: 'per-tensor' | 'per-channel' | null;
  /** Bytes of the stored values (scales and zero points excluded). */
  bytes: number;
}

export interface OnnxActivationInfo {
  /** Quantized tensor in the graph. */
  tensor: string;
  /** The tfjs layer whose output it is ('input' for the model input). */
  after: string;
  min: number;
  max: number;
  scale: number;
  zeroPoint: number;
}

export interface OnnxExport {
  bytes: Uint8Array;
  format: OnnxFormat;
  irVersion: number;
  opset: number;
  inputName: 'input';
  outputName: 'output';
  /** NHWC like the tfjs model; 'N' is the dynamic batch dimension. */
  inputShape: Array<number | 'N'>;
  outputShape: Array<number | 'N'>;
  weights: OnnxWeightInfo[];
  activations: OnnxActivationInfo[];
  nodes: number;
}

/** The model as ONNX bytes (see `exportOnnx` for what else the export reports). */
export function toOnnx(model: Model, opts: OnnxExportOptions = {}): Uint8Array {
  return exportOnnx(model, opts).bytes;
}

// ---------------------------------------------------------------------------------------------------------
// Checks

function checkSupported(ir: ModelIR): void {
  const acts = ACTIVATIONS as readonly string[];
  ir.layers.forEach((l, i) => {
    const kind = (l as { kind: string }).kind;
    const name = (l as { name?: string }).name ?? `layers[${i}]`;
    if (!(LAYER_KINDS as readonly string[]).includes(kind)) {
      throw new CompressionError({
        code: 'UNSUPPORTED_LAYER',
        layer: name,
        path: `layers[${i}]`,
        message: `onnx export: layer '${name}' (layers[${i}]) has kind '${kind}', which the ONNX exporter does not support`,
        hint: `supported kinds: ${LAYER_KINDS.join(', ')}; replace the layer or export the model without it`,
      });
    }
    const a = (l as { activation?: string }).activation;
    if (a !== undefined && !acts.includes(a)) {
      throw new CompressionError({
        code: 'UNSUPPORTED_LAYER',
        layer: name,
        path: `layers[${i}].activation`,
        message: `onnx export: activation '${a}' of layer '${name}' (layers[${i}]) is not supported`,
        hint: `supported activations: ${ACTIVATIONS.join(', ')}`,
      });
    }
  });
}

function checkCalibration(ir: ModelIR, c: OnnxCalibration | undefined): OnnxCalibration {
  if (!c) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'calibration',
      message: "onnx export: format 'int8-qdq' needs calibration data for the activation ranges, got none",
      hint: 'pass { calibration: { images, count } } with a few hundred examples of the training split (never test)',
    });
  }
  const per = sizeOf(ir.inputShape);
  if (!Number.isInteger(c.count) || c.count < 1) {
    throw new CompressionError({ code: 'BAD_DATASET', path: 'calibration.count', message: `onnx export: calibration.count must be a positive integer, got ${c.count}` });
  }
  if (!(c.images instanceof Float32Array) || c.images.length < c.count * per) {
    throw new CompressionError({
      code: 'BAD_DATASET',
      path: 'calibration.images',
      message: `onnx export: calibration.images holds ${c.images?.length ?? 0} values but ${c.count} examples of shape [${ir.inputShape.join(',')}] need ${c.count * per}`,
      hint: 'pass a Float32Array in the model input layout (e.g. dataset.images) and a count that fits it',
    });
  }
  for (let i = 0; i < c.count * per; i++) {
    if (!Number.isFinite(c.images[i]!)) {
      throw new CompressionError({
        code: 'BAD_DATASET',
        path: `calibration.images[${i}]`,
        message: `onnx export: calibration.images[${i}] is ${c.images[i]}`,
        hint: 'remove or repair non-finite inputs',
      });
    }
  }
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// Layout helpers (pure)

type Typed = Float32Array | Int32Array;

/** N-D transpose: out has dims shape[perm[j]]. */
export function transposeArray<T extends Typed>(src: T, shape: readonly number[], perm: readonly number[]): T {
  const r = shape.length;
  const outShape = perm.map((p) => shape[p]!);
  const inStrides = new Array<number>(r).fill(1);
  for (let k = r - 2; k >= 0; k--) inStrides[k] = inStrides[k + 1]! * shape[k + 1]!;
  const stride = perm.map((p) => inStrides[p]!);
  const out = new (src.constructor as new (n: number) => T)(src.length);
  const idx = new Array<number>(r).fill(0);
  let off = 0;
  for (let o = 0; o < src.length; o++) {
    out[o] = src[off]!;
    for (let k = r - 1; k >= 0; k--) {
      idx[k]!++;
      off += stride[k]!;
      if (idx[k]! < outShape[k]!) break;
      off -= stride[k]! * outShape[k]!;
      idx[k] = 0;
    }
  }
  return out;
}

/** For a flatten of an NCHW tensor whose tfjs shape is [h,w,c]: ONNX feature index → tfjs (HWC) feature index. */
export function chwToHwcIndex(h: number, w: number, c: number): Int32Array {
  const m = new Int32Array(h * w * c);
  for (let ci = 0; ci < c; ci++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[(ci * h + y) * w + x] = (y * w + x) * c + ci;
  return m;
}

/** Permutes the leading axis (rows) of a row-major array: out row r = src row rowMap[r]. */
function permuteRows<T extends Typed>(src: T, rowMap: Int32Array): T {
  const cols = src.length / rowMap.length;
  const out = new (src.constructor as new (n: number) => T)(src.length);
  for (let r = 0; r < rowMap.length; r++) out.set(src.subarray(rowMap[r]! * cols, (rowMap[r]! + 1) * cols) as never, r * cols);
  return out;
}

/** 'same' padding as TensorFlow computes it: [begin, end] with the extra cell at the end. */
function samePads(size: number, k: number, s: number): [number, number] {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/** ONNX `pads` [top, left, bottom, right] of a conv or pool window [kh, kw] over an [h, w] input (TF's 'same' split). */
function windowPads(padding: 'same' | 'valid', h: number, w: number, kh: number, kw: number, strides: readonly number[]): number[] {
  if (padding !== 'same') return [0, 0, 0, 0];
  const [t, b] = samePads(h, kh, strides[0]!),
    [lf, r] = samePads(w, kw, strides[1]!);
  return [t, lf, b, r];
}

// ---------------------------------------------------------------------------------------------------------
// Quantized weights

/** Integer codes in tfjs layout with their grid (what a DequantizeLinear needs). */
interface IntWeight {
  codes: Int32Array;
  type: 'int8' | 'uint8';
  scales: Float32Array;
  zeroPoints: Int32Array;
  /** tfjs axis of the scales, or null per tensor. */
  axis: number | null;
  exact: boolean;
}

/**
 * The encoding's own integer codes when they are representable exactly by a DequantizeLinear: symmetric with
 * ≤ 8 bits (int8, zero point 0) or affine with ≤ 8 bits (uint8 with zero points), optionally under a mask.
 * A structured weight (block-sparse, N:M, …) whose value leaves are all quantized on one such per-tensor grid
 * is exported exactly too: its dense value is checked to lie on that grid, element by element.
 */
export function exactIntCodes(e: Encoding): IntWeight | null {
  const base = e.kind === 'masked' ? e.base : e;
  if (base.kind !== 'quantized') return onSharedGrid(e);
  const grid = intGrid(base);
  if (!grid) return null;
  const { type, lo, hi } = grid;
  const axis = base.axis === null ? null : base.axis < 0 ? base.shape.length + base.axis : base.axis;
  const zps = base.scheme === 'symmetric' ? new Int32Array(base.scales.length) : Int32Array.from(base.zeroPoints);
  for (const z of zps) if (z < lo || z > hi) return null;
  let codes = base.codes;
  for (let i = 0; i < codes.length; i++) if (codes[i]! < lo || codes[i]! > hi) return null;
  if (e.kind === 'masked') {
    codes = Int32Array.from(codes);
    let inner = 1;
    if (axis !== null) for (let k = axis + 1; k < base.shape.length; k++) inner *= base.shape[k]!;
    const ch = axis === null ? 1 : base.shape[axis]!;
    for (let i = 0; i < codes.length; i++) if (!e.mask[i]) codes[i] = zps[ch === 1 ? 0 : Math.floor(i / inner) % ch]!;
  }
  return { codes, type, scales: Float32Array.from(base.scales), zeroPoints: zps, axis, exact: true };
}

function intGrid(q: { scheme: string; bits: number }): { type: 'int8' | 'uint8'; lo: number; hi: number } | null {
  if (q.bits > 8) return null;
  if (q.scheme === 'symmetric') return { type: 'int8', lo: -127, hi: 127 };
  if (q.scheme === 'affine') return { type: 'uint8', lo: 0, hi: 255 };
  return null;
}

/** Codes of a structured weight whose leaves share one per-tensor int grid, if every dense value is on it. */
function onSharedGrid(e: Encoding): IntWeight | null {
  const leaves: Encoding[] = [];
  mapLeaves(e, (leaf) => (leaves.push(leaf), leaf));
  const first = leaves[0];
  if (!first || first.kind !== 'quantized' || first.axis !== null || first.scales.length !== 1) return null;
  const grid = intGrid(first);
  if (!grid) return null;
  const s = first.scales[0]!;
  const z = first.scheme === 'affine' ? first.zeroPoints[0]! : 0;
  for (const l of leaves) {
    if (l.kind !== 'quantized' || l.scheme !== first.scheme || l.bits > 8 || l.axis !== null || l.scales[0] !== s || (first.scheme === 'affine' && l.zeroPoints[0] !== z))
      return null;
  }
  if (!(s > 0) || z < grid.lo || z > grid.hi) return null;
  const v = toDense(e);
  const codes = new Int32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const q = Math.round(v[i]! / s) + z;
    if (q < grid.lo || q > grid.hi || Math.fround((q - z) * s) !== v[i]) return null;
    codes[i] = q;
  }
  return { codes, type: grid.type, scales: Float32Array.of(s), zeroPoints: Int32Array.of(z), axis: null, exact: true };
}

/** Bits of the kernels re-quantized from fp32: codes −63..63, so u8 × s8 pair sums fit int16 (see the header). */
export const ONNX_REQUANT_BITS = 7;

function requantize(values: Float32Array, shape: number[], granularity: 'per-channel' | 'per-tensor'): IntWeight {
  const axis = granularity === 'per-channel' ? shape.length - 1 : null;
  const p = chooseQuantParams(values, shape, { scheme: 'symmetric', bits: ONNX_REQUANT_BITS, axis });
  return { codes: quantizeWith(values, shape, p), type: 'int8', scales: p.scales, zeroPoints: p.zeroPoints, axis, exact: false };
}

// ---------------------------------------------------------------------------------------------------------
// Graph builder

type Attr = number | number[] | { f: number };

class Graph {
  readonly nodes: onnx.INodeProto[] = [];
  readonly inits: onnx.ITensorProto[] = [];
  private readonly used = new Set<string>(['input', 'output']);
  private counter = 0;

  fresh(base: string): string {
    let n = base;
    while (this.used.has(n)) n = `${base}_${++this.counter}`;
    this.used.add(n);
    return n;
  }

  node(op: string, inputs: string[], out: string, attrs: Record<string, Attr> = {}): string {
    const output = this.fresh(out);
    const attribute: onnx.IAttributeProto[] = Object.entries(attrs).map(([name, v]) =>
      Array.isArray(v) ? { name, type: AT.INTS, ints: v } : typeof v === 'number' ? { name, type: AT.INT, i: v } : { name, type: AT.FLOAT, f: v.f },
    );
    this.nodes.push({ opType: op, input: inputs, output: [output], name: this.fresh(`${op}_${output}`), attribute });
    return output;
  }

  init(name: string, dims: number[], type: keyof typeof DT, data: Float32Array | Int32Array | Int8Array | Uint8Array | BigInt64Array): string {
    const n = this.fresh(name);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
    this.inits.push({ name: n, dims, dataType: DT[type], rawData: bytes });
    return n;
  }
}

type LayoutState =
  | { kind: 'tf' } // same element order as the tfjs tensor
  | { kind: 'nchw' } // 4-D, tfjs NHWC transposed to NCHW
  | { kind: 'flatChw'; h: number; w: number; c: number }; // 2-D, features in C,H,W order

/** Activation ranges (min/max over the calibration set) of the tfjs tensors after each needed layer (-1 = input). */
function calibrate(model: Model, cal: OnnxCalibration, keys: number[]): Map<number, { min: number; max: number }> {
  const ranges = new Map<number, { min: number; max: number }>();
  for (const k of keys) ranges.set(k, { min: Infinity, max: -Infinity });
  const per = sizeOf(model.ir.inputShape);
  const w = weightTensors(model);
  try {
    const chunk = 256;
    for (let from = 0; from < cal.count; from += chunk) {
      const to = Math.min(cal.count, from + chunk);
      const stats = tf.tidy(() => {
        const x = tf.tensor(cal.images.subarray(from * per, to * per), [to - from, ...model.ir.inputShape], 'float32');
        return keys.map((k) => {
          const y = k < 0 ? x : forward({ ...model.ir, layers: model.ir.layers.slice(0, k + 1) }, w, x);
          return [tf.min(y).dataSync()[0]!, tf.max(y).dataSync()[0]!] as const;
        });
      });
      keys.forEach((k, i) => {
        const r = ranges.get(k)!;
        r.min = Math.min(r.min, stats[i]![0]);
        r.max = Math.max(r.max, stats[i]![1]);
      });
    }
  } finally {
    tf.dispose(Object.values(w));
  }
  return ranges;
}

/** Layer indices whose output tensor is quantized in 'int8-qdq' (-1 = the model input). */
function qdqKeys(ir: ModelIR): number[] {
  const keys = new Set<number>();
  const index = new Map(ir.layers.map((l, i) => [l.name, i]));
  ir.layers.forEach((l, i) => {
    if (l.kind === 'conv2d' || l.kind === 'dense') {
      const src = layerInputs(ir, i)[0]!;
      keys.add(src === MODEL_INPUT ? -1 : index.get(src)!);
      if (l.activation !== 'softmax') keys.add(i);
    }
  });
  return [...keys].sort((a, b) => a - b);
}

/**
 * Builds the ONNX graph of `model` and reports what was stored how. Pure apart from running the model on
 * the calibration data ('int8-qdq', on the active tfjs backend). Throws UNSUPPORTED_LAYER naming the layer
 * for anything the exporter cannot express, BAD_CONFIG / BAD_DATASET for missing or malformed calibration.
 */
export function exportOnnx(model: Model, opts: OnnxExportOptions = {}): OnnxExport {
  const format = opts.format ?? 'dense';
  if (!(ONNX_FORMATS as readonly string[]).includes(format)) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'format',
      message: `onnx export: format '${String(format)}' is not supported`,
      hint: `use one of ${ONNX_FORMATS.join(', ')}`,
    });
  }
  const granularity = opts.weightGranularity ?? 'per-channel';
  const ir = model.ir;
  checkSupported(ir);
  validateModel(model, 'onnx export');
  const shapes = inferShapes(ir);
  const int8 = format === 'int8-qdq';
  const ranges = int8 ? calibrate(model, checkCalibration(ir, opts.calibration), qdqKeys(ir)) : new Map<number, { min: number; max: number }>();

  const g = new Graph();
  const weights: OnnxWeightInfo[] = [];
  const activations: OnnxActivationInfo[] = [];
  const dqOutputs = new Set<string>();
  const actQ = new Map<string, { scale: number; zeroPoint: number }>();
  let cur = 'input';
  let rank = ir.inputShape.length + 1;
  let layout = { kind: 'tf' } as LayoutState; // (a cast: closures below reassign it)
  let key = -1; // layer index whose (tfjs) output `cur` holds

  const need = (name: string): Encoding => model.weights[name]!;
  const unsupported = (l: Layer, i: number, why: string, hint: string): never => {
    throw new CompressionError({
      code: 'UNSUPPORTED_LAYER',
      layer: l.name,
      path: `layers[${i}]`,
      message: `onnx export: layer '${l.name}' (${l.kind}, layers[${i}]) ${why}`,
      hint,
    });
  };
  const toNchw = () => {
    if (layout.kind === 'tf' && rank === 4) {
      cur = g.node('Transpose', [cur], 'nchw', { perm: [0, 3, 1, 2] });
      layout = { kind: 'nchw' };
    }
  };
  /** Quantize-dequantize `cur` (uint8, range of layer `key`'s output) unless it already is a DQ output. */
  const qdqActivation = () => {
    if (!int8 || dqOutputs.has(cur)) return;
    const r = ranges.get(key)!;
    const { scale, zeroPoint } = nudgedAffine(r.min, r.max, 8);
    const s = g.init(`${cur}_scale`, [], 'FLOAT', Float32Array.of(scale));
    const z = g.init(`${cur}_zero_point`, [], 'UINT8', Uint8Array.of(zeroPoint));
    const q = g.node('QuantizeLinear', [cur, s, z], `${cur}_q`);
    cur = g.node('DequantizeLinear', [q, s, z], `${cur}_dq`);
    dqOutputs.add(cur);
    actQ.set(cur, { scale: Math.fround(scale), zeroPoint });
    activations.push({ tensor: q, after: key < 0 ? 'input' : ir.layers[key]!.name, min: r.min, max: r.max, scale, zeroPoint });
  };
  /** One activation as ONNX opset-13 nodes, with the same formula tfjs-layers uses. */
  const activate = (a: Activation, base: string, p: { alpha?: number; maxValue?: number } = {}) => {
    if (a === 'linear') return;
    const x = cur,
      n = `${base}_${a}`;
    const scalar = (suffix: string, v: number): string => g.init(`${n}_${suffix}`, [], 'FLOAT', Float32Array.of(v));
    const unary: Partial<Record<Activation, string>> = { sigmoid: 'Sigmoid', tanh: 'Tanh', elu: 'Elu', softplus: 'Softplus', softsign: 'Softsign' };
    switch (a) {
      case 'relu':
        cur = g.node('Relu', [x], n);
        if (p.maxValue !== undefined) cur = g.node('Clip', [cur, scalar('min', 0), scalar('max', p.maxValue)], `${n}_cap`);
        return;
      case 'relu6':
        cur = g.node('Clip', [x, scalar('min', 0), scalar('max', 6)], n);
        return;
      case 'softmax':
        cur = g.node('Softmax', [x], n, { axis: layout.kind === 'nchw' ? 1 : -1 });
        return;
      case 'selu': // tf.selu's constants (ONNX's defaults are rounded differently)
        cur = g.node('Selu', [x], n, { alpha: { f: 1.6732632423543772 }, gamma: { f: 1.0507009873554805 } });
        return;
      case 'hardSigmoid':
        cur = g.node('HardSigmoid', [x], n, { alpha: { f: 0.2 }, beta: { f: 0.5 } });
        return;
      case 'leakyRelu':
        cur = g.node('LeakyRelu', [x], n, { alpha: { f: p.alpha ?? DEFAULT_LEAKY_ALPHA } });
        return;
      case 'swish':
        cur = g.node('Mul', [g.node('Sigmoid', [x], `${n}_sigmoid`), x], n);
        return;
      case 'mish':
        cur = g.node('Mul', [x, g.node('Tanh', [g.node('Softplus', [x], `${n}_softplus`)], `${n}_tanh`)], n);
        return;
      case 'gelu': {
        const erf = g.node('Erf', [g.node('Div', [x, scalar('sqrt2', Math.SQRT2)], `${n}_scaled`)], `${n}_erf`);
        const cdf = g.node('Mul', [scalar('half', 0.5), g.node('Add', [scalar('one', 1), erf], `${n}_1p`)], `${n}_cdf`);
        cur = g.node('Mul', [x, cdf], n);
        return;
      }
      case 'gelu_new': {
        const cube = g.node('Mul', [scalar('c', 0.044715), g.node('Pow', [x, scalar('three', 3)], `${n}_cube`)], `${n}_cubic`);
        const inner = g.node('Mul', [scalar('k', Math.sqrt(2 / Math.PI)), g.node('Add', [x, cube], `${n}_sum`)], `${n}_inner`);
        const t = g.node('Add', [scalar('one', 1), g.node('Tanh', [inner], `${n}_tanh`)], `${n}_1p`);
        cur = g.node('Mul', [scalar('half', 0.5), g.node('Mul', [x, t], `${n}_xt`)], n);
        return;
      }
      default:
        cur = g.node(unary[a]!, [x], n, a === 'elu' ? { alpha: { f: 1 } } : {});
    }
  };

  /**
   * A kernel as an ONNX initializer (fp32, or int8/uint8 behind a DequantizeLinear). `reorder` maps tfjs flat
   * data to ONNX order; `axisMap` maps a tfjs axis to the ONNX axis; `outAxis` is the ONNX out-channel axis
   * (the bias is quantized per out channel only when the weight scales are per tensor or per out channel);
   * `rowMap` permutes ONNX axis 0.
   */
  const kernel = (
    l: Layer,
    e: Encoding,
    onnxDims: number[],
    reorder: <T extends Typed>(a: T) => T,
    axisMap: (a: number) => number,
    outAxis: number,
    rowMap?: Int32Array,
  ): { name: string; scales?: Float32Array } => {
    const wname = `${l.name}/kernel`;
    if (!int8) {
      const v = reorder(Float32Array.from(toDense(e)));
      weights.push({ name: wname, layer: l.name, storedAs: 'float32', exact: true, granularity: null, bytes: v.byteLength });
      return { name: g.init(`${l.name}_kernel`, onnxDims, 'FLOAT', v) };
    }
    const iw = exactIntCodes(e) ?? requantize(toDense(e), e.shape, granularity);
    const codes = reorder(iw.codes);
    const axis = iw.axis === null ? null : axisMap(iw.axis);
    let scales = iw.scales,
      zps = iw.zeroPoints;
    if (axis === 0 && rowMap) ((scales = permuteRows(scales, rowMap)), (zps = permuteRows(zps, rowMap)));
    const w = g.init(`${l.name}_kernel_${iw.type}`, onnxDims, iw.type === 'int8' ? 'INT8' : 'UINT8', iw.type === 'int8' ? Int8Array.from(codes) : Uint8Array.from(codes));
    const sDims = axis === null ? [] : [scales.length];
    const s = g.init(`${l.name}_kernel_scale`, sDims, 'FLOAT', scales);
    const z = g.init(`${l.name}_kernel_zero_point`, sDims, iw.type === 'int8' ? 'INT8' : 'UINT8', iw.type === 'int8' ? Int8Array.from(zps) : Uint8Array.from(zps));
    weights.push({ name: wname, layer: l.name, storedAs: iw.type, exact: iw.exact, granularity: axis === null ? 'per-tensor' : 'per-channel', bytes: codes.length });
    return {
      name: g.node('DequantizeLinear', [w, s, z], `${l.name}_kernel_dq`, axis === null ? {} : { axis }),
      scales: axis === null ? Float32Array.of(scales[0]!) : axis === outAxis ? scales : undefined,
    };
  };
  /** Bias: fp32, or int32 with scale s_in·s_w (zero point 0) in int8 mode, as onnxruntime's quantizer does. */
  const bias = (l: Layer, inputTensor: string, wScales: Float32Array | undefined): string => {
    const b = toDense(need(`${l.name}/bias`));
    const a = actQ.get(inputTensor);
    if (int8 && a && wScales) {
      const n = b.length;
      const scales = new Float32Array(n);
      const codes = new Int32Array(n);
      let ok = true;
      for (let c = 0; c < n; c++) {
        scales[c] = a.scale * (wScales.length === 1 ? wScales[0]! : wScales[c]!);
        const q = scales[c]! > 0 ? Math.round(b[c]! / scales[c]!) : 0;
        if (!Number.isFinite(q) || Math.abs(q) > 2 ** 31 - 1) ok = false;
        codes[c] = q;
      }
      if (ok) {
        weights.push({ name: `${l.name}/bias`, layer: l.name, storedAs: 'int32', exact: false, granularity: 'per-channel', bytes: codes.byteLength });
        const q = g.init(`${l.name}_bias_int32`, [n], 'INT32', codes);
        const s = g.init(`${l.name}_bias_scale`, [n], 'FLOAT', scales);
        const z = g.init(`${l.name}_bias_zero_point`, [n], 'INT32', new Int32Array(n));
        return g.node('DequantizeLinear', [q, s, z], `${l.name}_bias_dq`, { axis: 0 });
      }
    }
    weights.push({ name: `${l.name}/bias`, layer: l.name, storedAs: 'float32', exact: true, granularity: null, bytes: b.byteLength });
    return g.init(`${l.name}_bias`, [b.length], 'FLOAT', Float32Array.from(b));
  };

  // Each layer's output as the graph holds it (tensor, rank, layout, calibration key); a layer starts from its
  // (first) input's. A chain just carries one state from layer to layer.
  const states = new Map<string, { cur: string; rank: number; layout: LayoutState; key: number }>([[MODEL_INPUT, { cur, rank, layout, key }]]);
  for (const [i, s] of shapes.entries()) {
    const l = s.layer;
    const from = layerInputs(ir, i);
    ({ cur, rank, layout, key } = states.get(from[0]!)!);
    switch (l.kind) {
      case 'conv2d': {
        toNchw();
        qdqActivation();
        const [h, w] = s.inputShape as [number, number, number];
        const [kh, kw] = l.kernelSize;
        const e = need(`${l.name}/kernel`);
        const [, , cin, cout] = e.shape as [number, number, number, number];
        const k = kernel(
          l,
          e,
          [cout, cin, kh, kw],
          (a) => transposeArray(a, e.shape, [3, 2, 0, 1]),
          (a) => [3, 2, 0, 1].indexOf(a),
          0,
        );
        const pads = windowPads(l.padding, h, w, kh, kw, l.strides);
        const inTensor = cur;
        const inputs = [cur, k.name];
        if (l.useBias) inputs.push(bias(l, inTensor, k.scales));
        cur = g.node('Conv', inputs, l.name, { kernel_shape: [kh, kw], strides: [...l.strides], pads, dilations: [1, 1], group: 1 });
        activate(l.activation, l.name);
        key = i;
        if (l.activation !== 'softmax') qdqActivation();
        break;
      }
      case 'depthwiseConv2d': {
        // Conv with group = channels; tfjs' [kh, kw, C, M] kernel is ONNX's [C·M, 1, kh, kw] (output channel c·M + q).
        // Exported in fp32 (also in 'int8-qdq': methods do not quantize depthwise kernels).
        toNchw();
        const [h, w, c] = s.inputShape as [number, number, number];
        const [kh, kw] = l.kernelSize;
        const m = l.depthMultiplier;
        const v = transposeArray(Float32Array.from(toDense(need(`${l.name}/depthwise_kernel`))), [kh, kw, c, m], [2, 3, 0, 1]);
        weights.push({ name: `${l.name}/depthwise_kernel`, layer: l.name, storedAs: 'float32', exact: true, granularity: null, bytes: v.byteLength });
        const inputs = [cur, g.init(`${l.name}_depthwise_kernel`, [c * m, 1, kh, kw], 'FLOAT', v)];
        if (l.useBias) inputs.push(bias(l, cur, undefined)); // no weight scales: the fp32 bias
        const pads = windowPads(l.padding, h, w, kh, kw, l.strides);
        cur = g.node('Conv', inputs, l.name, { kernel_shape: [kh, kw], strides: [...l.strides], pads, dilations: [1, 1], group: c });
        activate(l.activation, l.name);
        key = i;
        break;
      }
      case 'dense': {
        if (rank !== 2) unsupported(l, i, `gets a rank-${rank} input`, 'add a flatten before it');
        qdqActivation();
        const e = need(`${l.name}/kernel`);
        const [fin, units] = e.shape as [number, number];
        const rowMap = layout.kind === 'flatChw' ? chwToHwcIndex(layout.h, layout.w, layout.c) : undefined;
        const k = kernel(
          l,
          e,
          [fin, units],
          (a) => (rowMap ? permuteRows(a, rowMap) : a),
          (a) => a,
          1,
          rowMap,
        );
        const inTensor = cur;
        const inputs = [cur, k.name];
        if (l.useBias) inputs.push(bias(l, inTensor, k.scales));
        cur = g.node('Gemm', inputs, l.name, { alpha: { f: 1 }, beta: { f: 1 }, transA: 0, transB: 0 });
        layout = { kind: 'tf' };
        activate(l.activation, l.name);
        key = i;
        if (l.activation !== 'softmax') qdqActivation();
        break;
      }
      case 'maxPool2d':
      case 'avgPool2d': {
        toNchw();
        const [h, w] = s.inputShape as [number, number, number];
        const [ph, pw] = l.poolSize;
        const pads = windowPads(l.padding, h, w, ph, pw, l.strides);
        const attrs: Record<string, Attr> = { kernel_shape: [ph, pw], strides: [...l.strides], pads };
        if (l.kind === 'avgPool2d') attrs.count_include_pad = 0; // TF excludes padding from the average
        cur = g.node(l.kind === 'maxPool2d' ? 'MaxPool' : 'AveragePool', [cur], l.name, attrs);
        key = i;
        break;
      }
      case 'flatten': {
        if (rank > 2) {
          const [h, w, c] = s.inputShape as [number, number, number];
          const wasNchw = layout.kind === 'nchw';
          cur = g.node('Flatten', [cur], l.name, { axis: 1 });
          layout = wasNchw ? { kind: 'flatChw', h, w, c } : { kind: 'tf' };
          rank = 2;
        }
        key = i;
        break;
      }
      case 'activation':
        activate(l.activation, l.name, l);
        key = i;
        break;
      case 'dropout':
        key = i; // identity at inference
        break;
      case 'batchNorm': {
        toNchw();
        if (rank !== 2 && rank !== 4) unsupported(l, i, `gets a rank-${rank} input`, 'batch normalization is exported for [N,C] and [N,H,W,C] inputs');
        const c = s.inputShape[s.inputShape.length - 1]!;
        const rowMap = layout.kind === 'flatChw' ? chwToHwcIndex(layout.h, layout.w, layout.c) : undefined;
        const param = (suffix: string, fill: number | undefined): string => {
          let v = fill === undefined ? Float32Array.from(toDense(need(`${l.name}/${suffix}`))) : new Float32Array(c).fill(fill);
          if (rowMap) v = permuteRows(v, rowMap);
          if (fill === undefined) weights.push({ name: `${l.name}/${suffix}`, layer: l.name, storedAs: 'float32', exact: true, granularity: null, bytes: v.byteLength });
          return g.init(`${l.name}_${suffix}`, [c], 'FLOAT', v);
        };
        const inputs = [
          cur,
          param('gamma', l.scale ? undefined : 1),
          param('beta', l.center ? undefined : 0),
          param('moving_mean', undefined),
          param('moving_variance', undefined),
        ];
        cur = g.node('BatchNormalization', inputs, l.name, { epsilon: { f: l.epsilon } });
        key = i;
        break;
      }
      case 'zeroPad2d': {
        toNchw();
        const [[t, b], [left, r]] = l.padding;
        const pads = g.init(`${l.name}_pads`, [8], 'INT64', BigInt64Array.from([0, 0, t, left, 0, 0, b, r].map(BigInt)));
        cur = g.node('Pad', [cur, pads], l.name);
        key = i;
        break;
      }
      case 'add':
      case 'concatenate': {
        // Image tensors join in NCHW (channel axis 1); flat ones in the tfjs order, or as the same flattened CHW map.
        const parts = from.map((n) => states.get(n)!);
        const names = parts.map((p) => (p.rank === 4 && p.layout.kind === 'tf' ? g.node('Transpose', [p.cur], 'nchw', { perm: [0, 3, 1, 2] }) : p.cur));
        const kinds = new Set(parts.map((p) => (p.rank === 4 ? 'nchw' : JSON.stringify(p.layout))));
        if (kinds.size > 1) unsupported(l, i, 'joins a flattened conv output with a tensor in another order', 'join before the flatten, or flatten both the same way');
        if (l.kind === 'concatenate' && parts[0]!.layout.kind === 'flatChw')
          unsupported(l, i, 'concatenates flattened conv outputs', 'concatenate the feature maps before the flatten');
        rank = parts[0]!.rank;
        layout = rank === 4 ? { kind: 'nchw' } : parts[0]!.layout;
        cur = l.kind === 'add' ? g.node(names.length === 2 ? 'Add' : 'Sum', names, l.name) : g.node('Concat', names, l.name, { axis: rank === 4 ? 1 : -1 });
        key = i;
        break;
      }
    }
    states.set(l.name, { cur, rank, layout, key });
  }

  // Back to the tfjs layout at the output.
  const outShape = shapes.length ? shapes[shapes.length - 1]!.outputShape : [...ir.inputShape];
  if (layout.kind === 'nchw') cur = g.node('Transpose', [cur], 'nhwc', { perm: [0, 2, 3, 1] });
  else if (layout.kind === 'flatChw') {
    const sh = g.init('chw_shape', [4], 'INT64', BigInt64Array.from([-1n, BigInt(layout.c), BigInt(layout.h), BigInt(layout.w)]));
    cur = g.node('Reshape', [cur, sh], 'unflatten');
    cur = g.node('Transpose', [cur], 'nhwc', { perm: [0, 2, 3, 1] });
    cur = g.node('Flatten', [cur], 'flat_hwc', { axis: 1 });
  }
  if (cur === 'input') cur = g.node('Identity', [cur], 'identity');
  const last = g.nodes[g.nodes.length - 1]!;
  last.output = ['output'];

  const dims = (s: Array<number | 'N'>): onnx.TensorShapeProto.IDimension[] => s.map((d) => (d === 'N' ? { dimParam: 'N' } : { dimValue: d }));
  const inputShape: Array<number | 'N'> = ['N', ...ir.inputShape];
  const outputShape: Array<number | 'N'> = ['N', ...outShape];
  const layoutDoc = ir.inputShape.length === 3 ? 'NHWC' : 'the tfjs layout';
  const graph: onnx.IGraphProto = {
    name: opts.name ?? ir.name,
    node: g.nodes,
    initializer: g.inits,
    input: [
      {
        name: 'input',
        docString: `float32 [N,${ir.inputShape.join(',')}] in ${layoutDoc} (as the tfjs model takes it; converted to NCHW inside)`,
        type: { tensorType: { elemType: DT.FLOAT, shape: { dim: dims(inputShape) } } },
      },
    ],
    output: [
      { name: 'output', docString: `float32 [N,${outShape.join(',')}] in the tfjs layout`, type: { tensorType: { elemType: DT.FLOAT, shape: { dim: dims(outputShape) } } } },
    ],
    docString: `edge-compress ${format} export of '${ir.name}'. Input 'input' is ${layoutDoc} float32 [N,${ir.inputShape.join(',')}] exactly as the tfjs model takes it.`,
  };
  const proto = O.ModelProto.create({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'edge-compress',
    producerVersion: '0.1.0',
    docString: graph.docString,
    graph,
    metadataProps: [
      { key: 'edge-compress:format', value: format },
      { key: 'edge-compress:input-layout', value: layoutDoc },
    ],
  });
  const bytes = new Uint8Array(O.ModelProto.encode(proto).finish());
  return {
    bytes,
    format,
    irVersion: ONNX_IR_VERSION,
    opset: ONNX_OPSET,
    inputName: 'input',
    outputName: 'output',
    inputShape,
    outputShape,
    weights,
    activations,
    nodes: g.nodes.length,
  };
}
