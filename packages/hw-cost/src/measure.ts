/**
 * Ground truth on this machine: wall time of one stock tfjs-layers `model.predict(x)` + `dataSync()` on the
 * active tfjs backend (wasm), for IR models with seeded weights. In-process part; `protocol.ts` repeats it
 * in child processes.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  CompressionError,
  createRng,
  DEFAULT_LEAKY_ALPHA,
  initModel,
  isChain,
  layerInputs,
  MODEL_INPUT,
  toDense,
  weightNames,
  type Activation,
  type Layer,
  type ModelIR,
} from '@edge-compress/core';

export interface TimingItem {
  id: string;
  ir: ModelIR;
  batch: number;
  /** Fraction of kernel weights kept (the rest set to 0, as a pruned model stores them for stock tfjs). Default 1. */
  density?: number;
  seed?: number;
}

export interface TimingOptions {
  /** Timed rounds per item (items are interleaved in a new seeded order each round). Default 7. */
  rounds?: number;
  /** Target length of one block of individually timed calls in ms (calls per block adapt to it, 1–200). Default 8. */
  blockMs?: number;
  warmup?: number;
  seed?: number;
}

export interface ItemTiming {
  id: string;
  /**
   * The figure: min(wall, cpu) where wall = minimum over every individually timed call and cpu = minimum
   * over blocks of this process's CPU time per call. Short calls often run uninterrupted (wall is exact);
   * long ones are always preempted on a loaded machine, but their CPU time is not. Both only overestimate.
   */
  minMs: number;
  wallMinMs: number;
  cpuMinMs: number;
  medianMs: number;
  /** Time of the very first call (XNNPACK packs weights on it), ms. */
  coldMs: number;
  callsPerBlock: number;
}

type Tfl = typeof import('@tensorflow/tfjs-layers');
let tflCache: Tfl | undefined;
export async function loadTfl(): Promise<Tfl> {
  if (tflCache) return tflCache;
  try {
    tflCache = await import('@tensorflow/tfjs-layers');
    return tflCache;
  } catch (cause) {
    throw new CompressionError({
      code: 'BACKEND_NOT_READY',
      message: 'timing stock model.predict needs @tensorflow/tfjs-layers, which is not installed',
      hint: 'npm install @tensorflow/tfjs-layers@4.22.0',
      cause,
    });
  }
}

function layerOf(tfl: Tfl, l: Layer, inputShape: number[] | undefined) {
  const base = inputShape ? { inputShape, name: l.name } : { name: l.name };
  // leakyRelu is only ever a stand-alone layer (core's Keras reader never puts it on a conv / dense).
  const fused = (a: Activation) => a as Exclude<Activation, 'leakyRelu'>;
  switch (l.kind) {
    case 'conv2d':
      return tfl.layers.conv2d({
        ...base,
        filters: l.filters,
        kernelSize: l.kernelSize,
        strides: l.strides,
        padding: l.padding,
        activation: fused(l.activation),
        useBias: l.useBias,
      });
    case 'depthwiseConv2d':
      return tfl.layers.depthwiseConv2d({
        ...base,
        kernelSize: l.kernelSize,
        strides: l.strides,
        padding: l.padding,
        depthMultiplier: l.depthMultiplier,
        activation: fused(l.activation),
        useBias: l.useBias,
      });
    case 'dense':
      return tfl.layers.dense({ ...base, units: l.units, activation: fused(l.activation), useBias: l.useBias });
    case 'maxPool2d':
      return tfl.layers.maxPooling2d({ ...base, poolSize: l.poolSize, strides: l.strides, padding: l.padding });
    case 'avgPool2d':
      return tfl.layers.averagePooling2d({ ...base, poolSize: l.poolSize, strides: l.strides, padding: l.padding });
    case 'flatten':
      return tfl.layers.flatten(base);
    case 'activation':
      if (l.activation === 'leakyRelu') return tfl.layers.leakyReLU({ ...base, alpha: l.alpha ?? DEFAULT_LEAKY_ALPHA });
      if (l.maxValue !== undefined) return tfl.layers.reLU({ ...base, maxValue: l.maxValue });
      return tfl.layers.activation({ ...base, activation: l.activation });
    case 'batchNorm':
      return tfl.layers.batchNormalization({ ...base, epsilon: l.epsilon, momentum: l.momentum, center: l.center, scale: l.scale });
    case 'dropout':
      return tfl.layers.dropout({ ...base, rate: l.rate });
    case 'zeroPad2d':
      return tfl.layers.zeroPadding2d({ ...base, padding: l.padding });
    case 'add':
      return tfl.layers.add(base);
    case 'concatenate':
      return tfl.layers.concatenate({ ...base, axis: -1 });
  }
}

/**
 * A stock tfjs-layers model of the IR with seeded weights (kernels thinned to `density`): Sequential for a chain,
 * a functional model (tf.model) for a graph with forks and joins.
 */
export async function buildStockModel(ir: ModelIR, seed = 0, density = 1): Promise<import('@tensorflow/tfjs-layers').LayersModel> {
  const tfl = await loadTfl();
  const init = initModel(ir, seed);
  const rng = createRng(seed + 17);
  let m: import('@tensorflow/tfjs-layers').LayersModel;
  if (isChain(ir)) {
    const seq = tfl.sequential({ name: `m${seed}` });
    ir.layers.forEach((l, i) => seq.add(layerOf(tfl, l, i === 0 ? ir.inputShape : undefined)));
    m = seq;
  } else {
    type Sym = import('@tensorflow/tfjs-layers').SymbolicTensor;
    const input = tfl.input({ shape: ir.inputShape });
    const outs = new Map<string, Sym>([[MODEL_INPUT, input]]);
    ir.layers.forEach((l, i) => {
      const from = layerInputs(ir, i).map((n) => outs.get(n)!);
      outs.set(l.name, layerOf(tfl, l, undefined).apply(from.length === 1 ? from[0]! : from) as Sym);
    });
    m = tfl.model({ inputs: input, outputs: outs.get(ir.layers[ir.layers.length - 1]!.name)!, name: `m${seed}` });
  }
  for (const l of ir.layers) {
    const names = weightNames(l);
    if (!names.length) continue;
    const ts = names.map((n) => {
      const e = init.weights[n]!;
      const v = toDense(e).slice();
      if (density < 1 && n.endsWith('/kernel')) for (let i = 0; i < v.length; i++) if (rng.next() >= density) v[i] = 0;
      return tf.tensor(v, e.shape, 'float32');
    });
    m.getLayer(l.name).setWeights(ts);
    ts.forEach((t) => t.dispose());
  }
  return m;
}

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  const n = s.length;
  return n ? (n % 2 ? s[(n - 1) / 2]! : (s[n / 2 - 1]! + s[n / 2]!) / 2) : NaN;
}

/**
 * Times every item in this process: warm-up, then `rounds` rounds in which every item (in a fresh seeded
 * order) runs one block of calls; per item the minimum and median block mean. Zero / NaN timings are errors.
 */
export async function timeItems(items: TimingItem[], opts: TimingOptions = {}): Promise<ItemTiming[]> {
  const rounds = opts.rounds ?? 7;
  const blockMs = opts.blockMs ?? 8;
  const warmup = opts.warmup ?? 3;
  const rng = createRng(opts.seed ?? 0);
  const built = [] as Array<{ item: TimingItem; model: import('@tensorflow/tfjs-layers').LayersModel; x: tf.Tensor; k: number; cold: number; blocks: number[]; cpu: number[] }>;
  try {
    for (const item of items) {
      const model = await buildStockModel(item.ir, item.seed ?? 0, item.density ?? 1);
      const xr = createRng((item.seed ?? 0) + 1);
      const n = item.batch * item.ir.inputShape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(
        Float32Array.from({ length: n }, () => xr.normal()),
        [item.batch, ...item.ir.inputShape],
      );
      built.push({ item, model, x, k: 1, cold: 0, blocks: [], cpu: [] });
    }
    const call = (b: (typeof built)[number]) => {
      const y = b.model.predict(b.x) as tf.Tensor;
      y.dataSync();
      y.dispose();
    };
    for (const b of built) {
      let t = performance.now();
      call(b);
      b.cold = performance.now() - t;
      let last = b.cold;
      for (let i = 0; i < warmup; i++) {
        t = performance.now();
        call(b);
        last = performance.now() - t;
      }
      b.k = Math.max(1, Math.min(200, Math.round(blockMs / Math.max(last, 1e-3))));
    }
    for (let r = 0; r < rounds; r++) {
      const order = rng.shuffle(built.map((_, i) => i));
      for (const i of order) {
        const b = built[i]!;
        // Each call timed on its own: on a loaded machine the fastest calls are the ones no other process
        // interrupted, so the minimum over many single calls is the most repeatable figure.
        const c0 = process.cpuUsage();
        for (let c = 0; c < b.k; c++) {
          const t = performance.now();
          call(b);
          b.blocks.push(performance.now() - t);
        }
        const cu = process.cpuUsage(c0);
        b.cpu.push((cu.user + cu.system) / 1000 / b.k);
      }
    }
    return built.map((b) => {
      const wallMinMs = Math.min(...b.blocks);
      const cpuMinMs = Math.min(...b.cpu.filter((v) => v > 0));
      const minMs = Math.min(wallMinMs, cpuMinMs);
      if (!(minMs > 0) || !Number.isFinite(minMs))
        throw new CompressionError({
          code: 'BACKEND_NOT_READY',
          message: `timing of '${b.item.id}' gave ${minMs} ms`,
          hint: 'the timer or backend is broken; zero or NaN timings are rejected (nn-Meter #77)',
        });
      return { id: b.item.id, minMs, wallMinMs, cpuMinMs, medianMs: median(b.blocks), coldMs: b.cold, callsPerBlock: b.k };
    });
  } finally {
    for (const b of built) {
      b.x.dispose();
      b.model.dispose();
    }
  }
}
