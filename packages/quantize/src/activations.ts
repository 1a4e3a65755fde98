import * as tf from '@tensorflow/tfjs-core';
import {
  type Dataset,
  fakeQuantSte,
  type ForwardOptions,
  forward,
  type Layer,
  layerInputs,
  MODEL_INPUT,
  type ModelIR,
  nudgedAffine,
  type QuantParams,
  representableRange,
  straightThrough,
  type WeightTensors,
} from '@edge-compress/core';

/** Calibrated (or EMA-tracked) range of one activation tensor, and its 8-bit (or b-bit) affine parameters. */
export interface ActivationRange {
  /** `<layer>:input` (the model input, or a layer input after a non grid-preserving op) or `<layer>:output`. */
  tensor: string;
  min: number;
  max: number;
  bits: number;
  scale: number;
  zeroPoint: number;
}

type Mode = 'off' | 'observe' | 'train' | 'eval';

/** Ops that keep values on the quantization grid of their input (max, reshape, identity, relu, zero padding). */
const keepsGrid = (l: Layer): boolean =>
  l.kind === 'maxPool2d' ||
  l.kind === 'zeroPad2d' || // zero is exact on the (nudged) grid
  l.kind === 'flatten' ||
  l.kind === 'dropout' ||
  (l.kind === 'activation' && ((l.activation === 'relu' && l.maxValue === undefined) || l.activation === 'linear'));

/**
 * Activation fake quantization as a forward override (core's `layerForward`): every weighted layer's output
 * is quantized after its activation when that activation is idempotent (relu/linear, as a fused int8 kernel
 * emits it) and before it otherwise (logits under softmax); a layer's input is quantized when it is the model
 * input or comes through an op that leaves the grid. Affine per tensor, ranges nudged so 0 is exact.
 * Modes: 'observe' records min/max (PTQ calibration), 'train' updates an EMA and fake-quantizes with the
 * clipped STE (QAT), 'eval' fake-quantizes with frozen ranges.
 */
export class ActivationQuantizer {
  mode: Mode = 'off';
  private readonly ranges = new Map<string, { min: number; max: number }>();
  private readonly inputs = new Set<string>();

  constructor(
    ir: ModelIR,
    readonly bits: number,
    readonly momentum = 0.99,
  ) {
    // Whether each layer's output is on one quantization grid (that of the quantized op feeding it), by name: a
    // layer after a fork reads a layer other than the previous one; a join (add / concatenate) leaves the grid.
    const onGrid = new Map<string, boolean>([[MODEL_INPUT, false]]);
    ir.layers.forEach((l, i) => {
      const from = layerInputs(ir, i);
      const inOk = from.length === 1 && onGrid.get(from[0]!) === true;
      if (l.kind === 'conv2d' || l.kind === 'dense') {
        if (!inOk) this.inputs.add(l.name);
        onGrid.set(l.name, true);
      } else onGrid.set(l.name, inOk && keepsGrid(l));
    });
  }

  params(key: string): QuantParams {
    const r = this.ranges.get(key) ?? { min: 0, max: 0 };
    const { scale, zeroPoint } = nudgedAffine(r.min, r.max, this.bits);
    return { scheme: 'affine', bits: this.bits, axis: null, scales: Float32Array.of(scale), zeroPoints: Int32Array.of(zeroPoint) };
  }

  private quant(key: string, x: tf.Tensor): tf.Tensor {
    if (this.mode === 'off') return x;
    if (this.mode === 'observe' || this.mode === 'train') {
      const lo = tf.tidy(() => tf.min(x).dataSync()[0]!);
      const hi = tf.tidy(() => tf.max(x).dataSync()[0]!);
      const r = this.ranges.get(key);
      if (!r) this.ranges.set(key, { min: lo, max: hi });
      else if (this.mode === 'observe') this.ranges.set(key, { min: Math.min(r.min, lo), max: Math.max(r.max, hi) });
      else this.ranges.set(key, { min: this.momentum * r.min + (1 - this.momentum) * lo, max: this.momentum * r.max + (1 - this.momentum) * hi });
      if (this.mode === 'observe') return x;
    }
    const p = this.params(key);
    const b = representableRange([1], p);
    return straightThrough(x, (v) => fakeQuantSte(v, p), b.lo[0]!, b.hi[0]!);
  }

  /** The override to pass as `layerForward` (forward, evaluateWith, trainer hooks). */
  readonly layerForward: NonNullable<ForwardOptions['layerForward']> = (layer, input, w) => {
    if (layer.kind !== 'conv2d' && layer.kind !== 'dense') return undefined;
    const x = this.inputs.has(layer.name) ? this.quant(`${layer.name}:input`, input) : input;
    let y =
      layer.kind === 'conv2d'
        ? tf.conv2d(x as tf.Tensor4D, w[`${layer.name}/kernel`] as tf.Tensor4D, layer.strides, layer.padding)
        : tf.matMul(x as tf.Tensor2D, w[`${layer.name}/kernel`] as tf.Tensor2D);
    if (layer.useBias) y = tf.add(y, w[`${layer.name}/bias`]!);
    // relu(fq(relu(y))) = fq(relu(y)): quantizing after an idempotent activation is what a fused kernel emits.
    if (layer.activation === 'relu') y = tf.relu(y);
    return this.quant(`${layer.name}:output`, y);
  };

  /** Records min/max over the first `batches` batches of `data` (PTQ calibration). */
  calibrate(ir: ModelIR, weights: WeightTensors, data: Dataset, batchSize: number, batches: number): void {
    this.ranges.clear();
    this.mode = 'observe';
    const per = data.images.length / data.count;
    for (let b = 0; b < batches && b * batchSize < data.count; b++) {
      const from = b * batchSize,
        to = Math.min(data.count, from + batchSize);
      tf.tidy(
        () => void forward(ir, weights, tf.tensor(data.images.subarray(from * per, to * per), [to - from, ...ir.inputShape]), { logits: true, layerForward: this.layerForward }),
      );
    }
    this.mode = 'eval';
  }

  /** Sets ranges (e.g. from calibration before QAT). */
  setRanges(r: ActivationRange[]): void {
    for (const a of r) this.ranges.set(a.tensor, { min: a.min, max: a.max });
  }

  report(): ActivationRange[] {
    return [...this.ranges.keys()].map((tensor) => {
      const r = this.ranges.get(tensor)!;
      const p = this.params(tensor);
      return { tensor, min: r.min, max: r.max, bits: this.bits, scale: p.scales[0]!, zeroPoint: p.zeroPoints[0]! };
    });
  }
}
