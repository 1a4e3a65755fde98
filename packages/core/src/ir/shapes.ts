import { CompressionError } from '../errors.js';
import { isMerge, type Layer, layerInputs, MODEL_INPUT, type ModelIR, weightNames } from './types.js';

export interface LayerShapes {
  layer: Layer;
  /** Shape of the (first) input. */
  inputShape: number[];
  /** Shapes of every input, in `inputs` order (one entry except for merges). */
  inputShapes: number[][];
  outputShape: number[];
  /** weight name → shape in tfjs layout (conv [kh,kw,in,out], dense [in,out]). */
  weights: Record<string, number[]>;
  /** Multiply-accumulates per example. */
  macs: number;
}

function convOut(size: number, k: number, s: number, pad: 'same' | 'valid'): number {
  return pad === 'same' ? Math.ceil(size / s) : Math.floor((size - k) / s) + 1;
}

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

/** Propagates shapes through the IR; throws SHAPE_MISMATCH with the layer name when a layer cannot apply. */
export function inferShapes(ir: ModelIR): LayerShapes[] {
  let shape: number[] = [];
  const out: LayerShapes[] = [];
  const seen = new Map<string, number[]>([[MODEL_INPUT, [...ir.inputShape]]]);
  for (const [i, l] of ir.layers.entries()) {
    if (seen.has(l.name)) {
      throw new CompressionError({ code: 'SHAPE_MISMATCH', message: `layers[${i}]: duplicate layer name '${l.name}'`, layer: l.name, hint: 'give every layer a unique name' });
    }
    const inputs = layerInputs(ir, i);
    const bad = (message: string, hint: string): never => {
      throw new CompressionError({ code: 'SHAPE_MISMATCH', layer: l.name, message: `layer '${l.name}' (${l.kind}, layers[${i}]) ${message}`, hint });
    };
    if (l.inputs !== undefined && (!Array.isArray(l.inputs) || !l.inputs.every((n) => typeof n === 'string')))
      bad(`has inputs ${JSON.stringify(l.inputs)}; expected an array of layer names`, `name earlier layers, or '${MODEL_INPUT}' for the model input`);
    for (const n of inputs)
      if (!seen.has(n))
        bad(
          `takes input '${n}', which is not ${ir.layers.some((x) => x.name === n) ? 'an earlier layer (layers must be in topological order)' : 'a layer of the model'}`,
          `name earlier layers, or '${MODEL_INPUT}' for the model input`,
        );
    if (isMerge(l) ? inputs.length < 2 : inputs.length !== 1)
      bad(
        `has ${inputs.length} inputs; expected ${isMerge(l) ? 'two or more' : 'one'}`,
        isMerge(l) ? 'a merge joins several layers' : 'only add / concatenate layers take several inputs',
      );
    const inputShapes = inputs.map((n) => [...seen.get(n)!]);
    shape = [...inputShapes[0]!];
    const fail = (expected: string): never => {
      throw new CompressionError({
        code: 'SHAPE_MISMATCH',
        layer: l.name,
        message: `layer '${l.name}' (${l.kind}, layers[${i}]) expects ${expected} but gets input of shape ${inputShapes.map(fmt).join(' and ')}`,
        hint: 'check the model input shape and the layer order (add a flatten before dense layers)',
      });
    };
    const inShape = [...shape];
    const weights: Record<string, number[]> = {};
    let macs = 0;
    switch (l.kind) {
      case 'conv2d': {
        if (shape.length !== 3) fail('a rank-3 [h,w,c] input');
        const [h, w, c] = shape as [number, number, number];
        const [kh, kw] = l.kernelSize;
        const oh = convOut(h, kh, l.strides[0], l.padding);
        const ow = convOut(w, kw, l.strides[1], l.padding);
        if (oh <= 0 || ow <= 0) fail(`at least ${kh}x${kw} spatial input for a valid ${kh}x${kw} conv`);
        shape = [oh, ow, l.filters];
        weights[`${l.name}/kernel`] = [kh, kw, c, l.filters];
        if (l.useBias) weights[`${l.name}/bias`] = [l.filters];
        macs = oh * ow * l.filters * kh * kw * c;
        break;
      }
      case 'depthwiseConv2d': {
        if (shape.length !== 3) fail('a rank-3 [h,w,c] input');
        const [h, w, c] = shape as [number, number, number];
        const [kh, kw] = l.kernelSize;
        const oh = convOut(h, kh, l.strides[0], l.padding);
        const ow = convOut(w, kw, l.strides[1], l.padding);
        if (oh <= 0 || ow <= 0) fail(`at least ${kh}x${kw} spatial input for a valid ${kh}x${kw} depthwise conv`);
        shape = [oh, ow, c * l.depthMultiplier];
        weights[`${l.name}/depthwise_kernel`] = [kh, kw, c, l.depthMultiplier];
        if (l.useBias) weights[`${l.name}/bias`] = [c * l.depthMultiplier];
        macs = oh * ow * c * l.depthMultiplier * kh * kw;
        break;
      }
      case 'dense': {
        if (shape.length !== 1) fail('a rank-1 [features] input');
        weights[`${l.name}/kernel`] = [shape[0]!, l.units];
        if (l.useBias) weights[`${l.name}/bias`] = [l.units];
        macs = shape[0]! * l.units;
        shape = [l.units];
        break;
      }
      case 'maxPool2d':
      case 'avgPool2d': {
        if (shape.length !== 3) fail('a rank-3 [h,w,c] input');
        const [h, w, c] = shape as [number, number, number];
        const oh = convOut(h, l.poolSize[0], l.strides[0], l.padding);
        const ow = convOut(w, l.poolSize[1], l.strides[1], l.padding);
        if (oh <= 0 || ow <= 0) fail(`at least ${l.poolSize.join('x')} spatial input`);
        shape = [oh, ow, c];
        break;
      }
      case 'flatten':
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'batchNorm': {
        const c = shape[shape.length - 1]!;
        for (const n of weightNames(l)) weights[n] = [c];
        break;
      }
      case 'zeroPad2d': {
        if (shape.length !== 3) fail('a rank-3 [h,w,c] input');
        const [[t, b], [left, r]] = l.padding;
        shape = [shape[0]! + t + b, shape[1]! + left + r, shape[2]!];
        break;
      }
      case 'add':
        if (!inputShapes.every((x) => fmt(x) === fmt(shape))) fail('inputs of one shape');
        macs = sizeOf(shape) * (inputShapes.length - 1);
        break;
      case 'concatenate': {
        const r = shape.length;
        if (!inputShapes.every((x) => x.length === r && x.slice(0, -1).every((d, k) => d === shape[k]))) fail('inputs that agree on every axis but the last');
        shape = [...shape.slice(0, -1), inputShapes.reduce((a, x) => a + x[r - 1]!, 0)];
        break;
      }
      case 'activation':
      case 'dropout':
        break;
    }
    seen.set(l.name, [...shape]);
    out.push({ layer: l, inputShape: inShape, inputShapes, outputShape: [...shape], weights, macs });
  }
  return out;
}

/** All weight names and shapes of a model in layer order. */
export function weightShapes(ir: ModelIR): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (const s of inferShapes(ir)) for (const [k, v] of Object.entries(s.weights)) m.set(k, v);
  return m;
}

export function parameterCount(ir: ModelIR): number {
  let n = 0;
  for (const s of weightShapes(ir).values()) n += s.reduce((a, b) => a * b, 1);
  return n;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
