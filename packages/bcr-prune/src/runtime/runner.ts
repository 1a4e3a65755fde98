import { CompressionError, firstGraphLayer, inferShapes, type Activation, type ModelIR } from '@edge-compress/core';
import { WasmHeap } from './module.js';
import { type KernelWeight, packWeight } from './pack.js';

/** What the wasm runtime runs: the IR, each weighted layer's kernel in GEMM form, and the other fp32 parameters. */
export interface SparseModelSpec {
  ir: ModelIR;
  /** Weighted layer name → its kernel (GEMM view [out, fanIn], fan-in in (kh, kw, cin) order). */
  kernels: Record<string, KernelWeight>;
  /** Weight name → fp32 values in tfjs layout for biases and batch-norm parameters. */
  params: Record<string, Float32Array>;
}

const OP = { IN: 1, IM2COL: 2, BCR: 3, POOL: 4, AFFINE: 5, ACT: 6, FLATTEN: 7, OUT: 8, CSR: 9, BCR_CONV: 10 } as const;
const OP_WORDS = 20;
/** Activations the wasm runtime computes (fused or stand-alone); a model with another one is refused at construction. */
const ACT: Partial<Record<Activation, number>> = { linear: 0, relu: 1, softmax: 2, sigmoid: 3, tanh: 4 };

/** Leading dimension of a [rows, M] activation: M rounded up to 8 for the SIMD kernels, or M itself below 4. */
export const ldmOf = (m: number): number => (m < 4 ? m : Math.ceil(m / 8) * 8);

function samePad(size: number, k: number, s: number, out: number): number {
  return Math.floor(Math.max((out - 1) * s + k - size, 0) / 2);
}

interface Program {
  n: number;
  prog: number;
  ops: number;
  input: number;
  output: number;
  outSize: number;
}

type Buf = { region: 0 | 1 } | { fixed: 'input' | 'output' };
interface OpDraft {
  code: number;
  args: Array<number | Buf>;
}

/**
 * A compiled model on the wasm runtime: a whole forward is one call into wasm (an op list interpreted in wasm:
 * layout change, im2col, BCR / dense / CSR GEMM with bias and activation fused, pooling, batch-norm, flatten).
 * Activations are kept channel-major [C, N·H·W] so the GEMM kernels vectorise over the batch and spatial positions.
 */
export class SparseRunner {
  readonly ir: ModelIR;
  private readonly heap = new WasmHeap();
  private readonly layers = new Map<string, { record: number; op: 'bcr' | 'csr'; rows: number; cols: number; bias: number; nonZeros: number; needed: number; nNeeded: number }>();
  private readonly affine = new Map<string, { scale: number; shift: number }>();
  private readonly programs = new Map<number, Program>();
  private readonly shapes;
  /** Elements per example of the output ([classes] for a classifier). */
  readonly outputSize: number;
  /** Kept weights the kernels multiply, per layer. */
  readonly nonZeros: Record<string, number> = {};

  private readonly directConv: boolean;
  /** Per-example output shape (tfjs layout). */
  readonly outputShape: number[];

  constructor(
    spec: SparseModelSpec,
    private readonly opts: { logits?: boolean; directConv?: boolean } = {},
  ) {
    this.ir = spec.ir;
    this.directConv = opts.directConv ?? true;
    this.shapes = inferShapes(spec.ir);
    const graphAt = firstGraphLayer(spec.ir);
    if (graphAt >= 0) {
      const l = spec.ir.layers[graphAt]!;
      throw new CompressionError({
        code: 'UNSUPPORTED_LAYER',
        layer: l.name,
        message: `the bcr-prune wasm runtime runs chains of layers; layer '${l.name}' (${l.kind}) takes ${l.inputs!.map((n) => `'${n}'`).join(' + ')}, so the model is a graph`,
        hint: "run this model with core's createRunner (the bcr kernel per layer) instead",
      });
    }
    for (const s of this.shapes) {
      const l = s.layer;
      if (l.kind === 'zeroPad2d')
        throw new CompressionError({
          code: 'UNSUPPORTED_LAYER',
          layer: l.name,
          message: `the bcr-prune wasm runtime has no zero padding layer (layer '${l.name}')`,
          hint: "run this model with core's createRunner (the bcr kernel per layer) instead",
        });
      if (l.kind === 'depthwiseConv2d')
        throw new CompressionError({
          code: 'UNSUPPORTED_LAYER',
          layer: l.name,
          message: `the bcr-prune wasm runtime has no depthwise convolution (layer '${l.name}')`,
          hint: "run this model with core's createRunner (the bcr kernel per layer) instead",
        });
      if (l.kind === 'conv2d' || l.kind === 'dense') {
        const k = spec.kernels[l.name];
        if (!k)
          throw new CompressionError({
            code: 'BAD_MODEL_FILE',
            layer: l.name,
            message: `sparse runtime: no kernel for layer '${l.name}'`,
            hint: 'pass every conv2d/dense layer in spec.kernels',
          });
        const wShape = s.weights[`${l.name}/kernel`]!;
        const rows = wShape[wShape.length - 1]!,
          cols = wShape.slice(0, -1).reduce((a, b) => a * b, 1);
        if (k.format === 'bcr' && (k.layout.shape.length !== wShape.length || k.layout.shape.some((d, i) => d !== wShape[i]))) {
          throw new CompressionError({
            code: 'SHAPE_MISMATCH',
            layer: l.name,
            message: `sparse runtime: layer '${l.name}' kernel has shape [${k.layout.shape.join(',')}] but the layer needs [${wShape.join(',')}]`,
          });
        }
        const p = packWeight(this.heap, k, rows, cols);
        const b = l.useBias ? spec.params[`${l.name}/bias`] : undefined;
        this.layers.set(l.name, {
          ...p,
          rows,
          cols,
          bias: b ? this.heap.putF32(b) : 0,
          needed: this.heap.putI32(p.usedCols.length ? p.usedCols : [0]),
          nNeeded: p.usedCols.length,
        });
        this.nonZeros[l.name] = p.nonZeros;
      } else if (l.kind === 'batchNorm') {
        const C = s.outputShape[s.outputShape.length - 1]!;
        const get = (n: string, fill: number): Float32Array => spec.params[`${l.name}/${n}`] ?? new Float32Array(C).fill(fill);
        const mean = get('moving_mean', 0),
          variance = get('moving_variance', 1);
        const gamma = l.scale ? get('gamma', 1) : new Float32Array(C).fill(1);
        const beta = l.center ? get('beta', 0) : new Float32Array(C);
        const scale = new Float32Array(C),
          shift = new Float32Array(C);
        for (let c = 0; c < C; c++) {
          scale[c] = gamma[c]! / Math.sqrt(variance[c]! + l.epsilon);
          shift[c] = beta[c]! - mean[c]! * scale[c]!;
        }
        this.affine.set(l.name, { scale: this.heap.putF32(scale), shift: this.heap.putF32(shift) });
      }
    }
    const last = this.shapes[this.shapes.length - 1]?.outputShape ?? spec.ir.inputShape;
    this.outputShape = [...last];
    this.outputSize = last.reduce((a, b) => a * b, 1);
  }

  private build(N: number): Program {
    const drafts: OpDraft[] = [];
    const size: [number, number] = [0, 0];
    let cur: Buf = { fixed: 'input' };
    let region: 0 | 1 = 1; // the next region to write
    const next = (floats: number): Buf => {
      const b: Buf = { region };
      size[region] = Math.max(size[region], floats);
      region = region === 0 ? 1 : 0;
      return b;
    };
    const inShape = this.ir.inputShape;
    let st: { spatial: true; C: number; H: number; W: number } | { spatial: false; K: number } =
      inShape.length === 1 ? { spatial: false, K: inShape[0]! } : { spatial: true, H: inShape[0]!, W: inShape[1]!, C: inShape[2] ?? 1 };
    const M = (): number => (st.spatial ? N * st.H * st.W : N);
    const rowsOf = (): number => (st.spatial ? st.C : st.K);
    {
      const dst = next(rowsOf() * ldmOf(M()));
      drafts.push({ code: OP.IN, args: [cur, dst, M(), rowsOf(), ldmOf(M())] });
      cur = dst;
    }
    const lastSoftmax = this.finalSoftmax();
    for (const [i, s] of this.shapes.entries()) {
      const l = s.layer;
      const act = (a: Activation): number => {
        const code = this.opts.logits && i === lastSoftmax && a === 'softmax' ? ACT.linear : ACT[a];
        if (code === undefined || (l.kind === 'activation' && l.maxValue !== undefined))
          throw new CompressionError({
            code: 'UNSUPPORTED_LAYER',
            layer: l.name,
            message: `the bcr-prune wasm runtime has no '${a}${l.kind === 'activation' && l.maxValue !== undefined ? ` capped at ${l.maxValue}` : ''}' activation (layer '${l.name}')`,
            hint: `it runs ${Object.keys(ACT).join(', ')}; run this model with core's createRunner (the bcr kernel per layer) instead`,
          });
        return code!;
      };
      switch (l.kind) {
        case 'conv2d': {
          if (!st.spatial) throw new Error('conv2d on flat input');
          const [oh, ow] = s.outputShape as [number, number, number];
          const [kh, kw] = l.kernelSize;
          const [sh, sw] = l.strides;
          const pt = l.padding === 'same' ? samePad(st.H, kh, sh, oh) : 0;
          const pl = l.padding === 'same' ? samePad(st.W, kw, sw, ow) : 0;
          const Mo = N * oh * ow,
            ldo = ldmOf(Mo);
          const ldi = ldmOf(M());
          const kk = this.layers.get(l.name)!;
          if (kk.op === 'bcr' && this.directConv && sh === 1 && sw === 1 && pt === 0 && pl === 0 && oh - 1 + kh <= st.H && ow - 1 + kw <= st.W && ow % 8 === 0 && Mo >= 4) {
            // implicit im2col: per-column offsets into the input plane
            const off = new Int32Array(kh * kw * st.C);
            for (let i = 0; i < kh; i++) for (let j = 0; j < kw; j++) for (let c = 0; c < st.C; c++) off[(i * kw + j) * st.C + c] = c * ldi + i * st.W + j;
            const y = next((kk.rows + 1) * ldo);
            drafts.push({ code: OP.BCR_CONV, args: [kk.record, cur, y, N, oh, ow, st.H, st.W, ldo, act(l.activation), kk.bias, kk.rows, this.heap.putI32(off)] });
            cur = y;
            st = { spatial: true, C: l.filters, H: oh, W: ow };
            break;
          }
          let x = cur;
          if (!(kh === 1 && kw === 1 && sh === 1 && sw === 1 && ldi === ldo)) {
            x = next(kh * kw * st.C * ldo);
            const k = this.layers.get(l.name)!;
            drafts.push({ code: OP.IM2COL, args: [cur, x, st.C, N, st.H, st.W, kh, kw, sh, sw, pt, pl, oh, ow, ldi, ldo, k.needed, k.nNeeded] });
          }
          const k = this.layers.get(l.name)!;
          const y = next((k.rows + 1) * ldo);
          drafts.push({ code: k.op === 'bcr' ? OP.BCR : OP.CSR, args: [k.record, x, y, Mo, ldo, act(l.activation), k.bias, k.rows] });
          cur = y;
          st = { spatial: true, C: l.filters, H: oh, W: ow };
          break;
        }
        case 'dense': {
          if (st.spatial) throw new Error('dense on spatial input');
          const k = this.layers.get(l.name)!;
          const y = next((k.rows + 1) * ldmOf(N));
          drafts.push({ code: k.op === 'bcr' ? OP.BCR : OP.CSR, args: [k.record, cur, y, N, ldmOf(N), act(l.activation), k.bias, k.rows] });
          cur = y;
          st = { spatial: false, K: l.units };
          break;
        }
        case 'maxPool2d':
        case 'avgPool2d': {
          if (!st.spatial) throw new Error('pool on flat input');
          const [oh, ow] = s.outputShape as [number, number, number];
          const [ph, pw] = l.poolSize;
          const [sh, sw] = l.strides;
          const pt = l.padding === 'same' ? samePad(st.H, ph, sh, oh) : 0;
          const pl = l.padding === 'same' ? samePad(st.W, pw, sw, ow) : 0;
          const ldi = ldmOf(M()),
            ldo = ldmOf(N * oh * ow);
          const y = next(st.C * ldo);
          drafts.push({ code: OP.POOL, args: [cur, y, st.C, N, st.H, st.W, ph, pw, sh, sw, pt, pl, oh, ow, ldi, ldo, l.kind === 'maxPool2d' ? 1 : 0] });
          cur = y;
          st = { spatial: true, C: st.C, H: oh, W: ow };
          break;
        }
        case 'flatten': {
          if (!st.spatial) break;
          const K = st.H * st.W * st.C;
          const y = next(K * ldmOf(N));
          drafts.push({ code: OP.FLATTEN, args: [cur, y, st.C, N, st.H * st.W, ldmOf(M()), ldmOf(N)] });
          cur = y;
          st = { spatial: false, K };
          break;
        }
        case 'activation':
          drafts.push({ code: OP.ACT, args: [cur, rowsOf(), M(), ldmOf(M()), act(l.activation)] });
          break;
        case 'batchNorm': {
          const a = this.affine.get(l.name)!;
          drafts.push({ code: OP.AFFINE, args: [cur, rowsOf(), M(), ldmOf(M()), a.scale, a.shift] });
          break;
        }
        case 'dropout':
          break;
      }
    }
    if (st.spatial && !(st.H === 1 && st.W === 1)) {
      const K = st.H * st.W * st.C;
      const y = next(K * ldmOf(N));
      drafts.push({ code: OP.FLATTEN, args: [cur, y, st.C, N, st.H * st.W, ldmOf(M()), ldmOf(N)] });
      cur = y;
      st = { spatial: false, K };
    }
    const outRows = rowsOf();
    drafts.push({ code: OP.OUT, args: [cur, { fixed: 'output' }, outRows, N, ldmOf(N)] });
    // Allocate: input, output, the two ping-pong regions, then the op list.
    const inFloats = N * inShape.reduce((a, b) => a * b, 1);
    const ptr = {
      input: this.heap.alloc(inFloats * 4),
      output: this.heap.alloc(N * outRows * 4),
      r0: this.heap.alloc(size[0] * 4 + 64),
      r1: this.heap.alloc(size[1] * 4 + 64),
    };
    const words = new Int32Array(drafts.length * OP_WORDS);
    drafts.forEach((d, k) => {
      words[k * OP_WORDS] = d.code;
      d.args.forEach((a, j) => {
        words[k * OP_WORDS + 1 + j] = typeof a === 'number' ? a : 'fixed' in a ? ptr[a.fixed] : a.region === 0 ? ptr.r0 : ptr.r1;
      });
    });
    return { n: N, prog: this.heap.putI32(words), ops: drafts.length, input: ptr.input, output: ptr.output, outSize: outRows };
  }

  private finalSoftmax(): number {
    for (let i = this.ir.layers.length - 1; i >= 0; i--) {
      const l = this.ir.layers[i]!;
      if (l.kind === 'dropout' || l.kind === 'flatten') continue;
      if ((l.kind === 'dense' || l.kind === 'conv2d' || l.kind === 'activation') && l.activation === 'softmax') return i;
      return -1;
    }
    return -1;
  }

  private program(n: number): Program {
    let p = this.programs.get(n);
    if (!p) {
      p = this.build(n);
      this.programs.set(n, p);
    }
    return p;
  }

  /**
   * Forward of `count` examples (row-major in the model's input layout, NHWC for images). Returns [count, outputSize]
   * (probabilities, or logits with `logits: true` at construction). Batches above `maxBatch` run in chunks.
   */
  predict(images: Float32Array, count: number, maxBatch = 64): Float32Array {
    const per = this.ir.inputShape.reduce((a, b) => a * b, 1);
    if (images.length < count * per) {
      throw new CompressionError({ code: 'SHAPE_MISMATCH', message: `sparse runtime: ${images.length} input values for ${count} examples of ${per}` });
    }
    const out = new Float32Array(count * this.outputSize);
    for (let from = 0; from < count; from += maxBatch) {
      const n = Math.min(maxBatch, count - from);
      const p = this.program(n);
      this.heap.f32(p.input, n * per).set(images.subarray(from * per, (from + n) * per));
      this.heap.exports.run(p.prog, p.ops);
      out.set(this.heap.f32(p.output, n * p.outSize), from * this.outputSize);
    }
    return out;
  }

  /** Forward of one batch into a caller-owned output (no allocation; for latency measurements). */
  predictInto(images: Float32Array, count: number, out: Float32Array): void {
    const p = this.program(count);
    this.heap.f32(p.input, images.length).set(images);
    this.heap.exports.run(p.prog, p.ops);
    out.set(this.heap.f32(p.output, count * p.outSize));
  }
}
