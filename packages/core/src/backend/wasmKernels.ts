/**
 * Fast training kernels for the tfjs wasm backend (STACK-NOTES §3). Registered only by `initBackend('wasm')`;
 * each is checked against the cpu backend in wasmKernels.test.ts.
 *
 * - Conv2DBackpropFilter: missing from tfjs-backend-wasm; one direct register-blocked loop over the wasm heap
 *   (no im2col): 1.3–1.9× faster than im2col + XNNPACK's GEMM from LeNet-5's convs to 3×3 convs of 64 → 128
 *   channels. The JavaScript fallback is im2col + the backend's BatchMatMul.
 * - Conv2D with ≤ 4 input channels: a direct loop (XNNPACK is badly shaped for them); others stock.
 * - Add of a bias over the last axis: one SIMD pass; other broadcasts stock.
 * - Conv2DBackpropInput (NHWC, any stride, no dilation): one direct loop — the product with the transposed filter and
 *   the scatter into dx in one pass, no column matrix (LeNet-5's conv2 at batch 32: 4.8 → 3.7 ms with tfjs's
 *   overhead, 6.9 → 4.6 at batch 64). The JavaScript fallback is dy·Wᵀ, then a col2im scatter-add of runs.
 * - BatchMatMul: a single product of moderate size (directGemmFits: dense layers in training) runs as a
 *   register-blocked loop on the heap (A·B, Aᵀ·B, A·Bᵀ), with no packing of the new weights; otherwise, with
 *   transposes, transpose first (wasm Transpose), then the fast non-transposed path; a single product with a large,
 *   new right-hand operand runs transposed so that XNNPACK packs only the small one.
 * - MaxPoolGrad: a direct scatter of dy onto the first maximum of each window (2×2 stride-2 pools unrolled).
 * - DepthwiseConv2dNativeBackpropInput / BackpropFilter: missing from tfjs-backend-wasm; direct loops, channel innermost
 *   (channel multiplier 1 as SIMD heap loops, others in JavaScript).
 *
 * - Identity, and Cast to the same dtype: share the input's buffer (reference count) instead of copying it.
 * - MaxPool 2×2 stride 2 unpadded: one SIMD pass (0.10–0.15 → 0.04–0.06 ms for LeNet-5's conv1 output at batch 32).
 * - Sum over leading axes (bias gradients): one blocked pass, no transpose.
 * - EdgeCompressAdamStep: one Adam step per variable, for FusedAdamOptimizer.
 *
 * The conv and product loops, 2×2 MaxPoolGrad, bias Add, Sum and Adam loops run in wasm SIMD (assembly/kernels.ts) on the backend's
 * own heap; the JavaScript loops here are the fallback.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { instantiateOn, wasmApi } from '../platform.js';
import { KERNELS_WASM_BASE64 } from './kernelsWasm.generated.js';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
  incRef(dataId: object): void;
  wasm?: { asm?: { memory?: unknown } };
  dataIdMap?: { get(dataId: object): { memoryOffset: number } | undefined };
}

/** The conv loops' geometry: N, H, W, C, OH, OW, OC, FH, FW, SH, SW, padTop, padLeft (x [N, H, W, C], y [N, OH, OW, OC]). */
type ConvGeom = [number, number, number, number, number, number, number, number, number, number, number, number, number];
interface HeapLoops {
  packFilter(f: number, p: number, FH: number, FW: number, C: number, OC: number): void;
  convPacked(x: number, p: number, y: number, ...g: ConvGeom): void;
  convInputGradDirect(dy: number, wt: number, dx: number, ...g: ConvGeom): void;
  addBias(x: number, b: number, out: number, rows: number, cols: number): void;
  depthwiseGradM1(
    a: number,
    dy: number,
    out: number,
    filter: boolean,
    N: number,
    H: number,
    W: number,
    C: number,
    OH: number,
    OW: number,
    FH: number,
    FW: number,
    SH: number,
    SW: number,
    padTop: number,
    padLeft: number,
  ): void;
  maxPool2x2(x: number, y: number, N: number, H: number, W: number, C: number, OH: number, OW: number): void;
  gemmXN(a: number, b: number, c: number, M: number, K: number, N: number, rowStride: number, kStride: number): void;
  gemmNT(a: number, b: number, c: number, M: number, K: number, N: number): void;
  convFilterGradDirect(x: number, dy: number, dw: number, ...g: ConvGeom): void;
  maxPoolGrad2x2(dx: number, x: number, dy: number, N: number, H: number, W: number, C: number, OH: number, OW: number): void;
  sumLeading(x: number, out: number, scratch: number, rows: number, cols: number): void;
  adamStep(
    w: number,
    g: number,
    m: number,
    v: number,
    wOut: number,
    mOut: number,
    vOut: number,
    n: number,
    beta1: number,
    beta2: number,
    a1: number,
    a2: number,
    step: number,
    invSqrtC2: number,
    eps: number,
  ): void;
}

/** The fused Adam step's kernel name (wasm only; FusedAdamOptimizer runs it while `fusedAdamActive()`). */
export const ADAM_STEP_KERNEL = 'EdgeCompressAdamStep';

/** Whether the fused Adam kernel can run now: on wasm, registered (not removed by unregisterFastWasmKernels), with the heap loops active. */
export function fusedAdamActive(): boolean {
  return tf.getBackend() === 'wasm' && tf.getKernel(ADAM_STEP_KERNEL, 'wasm') !== undefined && heapLoopsActive();
}

let heapLoopsEnabled = true;

/** Turns the wasm heap loops on or off (default on); returns the previous setting. For tests and benchmarks. */
export function useHeapLoops(enabled: boolean): boolean {
  const was = heapLoopsEnabled;
  heapLoopsEnabled = enabled;
  return was;
}

/** Whether the fast kernels on the current wasm backend run the heap loops (false on another backend, or when turned off). */
export function heapLoopsActive(): boolean {
  return tf.getBackend() === 'wasm' && heapLoops(tf.backend() as unknown as WasmBackendLike) !== undefined;
}

/**
 * The loops of assembly/kernels.ts (wasm SIMD) instantiated on the backend's own heap, so they read and write tensors
 * in place: 3–5× faster than the same loops in JavaScript (LeNet-5's conv2 at batch 32). Undefined where the heap
 * cannot be imported (another tfjs build, no wasm SIMD) or `useHeapLoops(false)`: the JavaScript loops run instead.
 */
function heapLoops(backend: WasmBackendLike): HeapLoops | undefined {
  if (!heapLoopsEnabled) return undefined;
  const api = wasmApi();
  const memory = backend.wasm?.asm?.memory;
  if (!api || !(memory instanceof api.Memory) || !backend.dataIdMap) return undefined;
  return instantiateOn(KERNELS_WASM_BASE64, memory) as HeapLoops | undefined;
}

/** The byte offset of a tensor's data in the backend's heap. */
function ptr(backend: WasmBackendLike, t: TensorInfo): number {
  return backend.dataIdMap!.get(t.dataId)!.memoryOffset;
}

type Args = { inputs: Record<string, TensorInfo>; backend: WasmBackendLike; attrs: Record<string, unknown> };

const stock = new Map<string, KernelFunc>();
const call = (name: string, args: Args): TensorInfo => (stock.get(name) as unknown as (a: Args) => TensorInfo)(args);

/** The NHWC conv geometry both conv-gradient kernels use, and the im2col sizes: K = FH·FW·C rows, M = N·OH·OW columns. */
function convGeometry(info: tf.backend_util.Conv2DInfo) {
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    outChannels: OC,
    filterHeight: FH,
    filterWidth: FW,
    strideHeight: SH,
    strideWidth: SW,
  } = info;
  return { N, H, W, C, OH, OW, OC, FH, FW, SH, SW, padTop: info.padInfo.top, padLeft: info.padInfo.left, K: FH * FW * C, M: N * OH * OW };
}

function conv2DBackpropFilter({ inputs, backend, attrs }: Args): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const { strides, pad, dimRoundingMode, filterShape } = attrs as {
    strides: [number, number] | number;
    pad: 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    filterShape: [number, number, number, number];
  };
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad as never, dimRoundingMode, false, 'channelsLast');
  const geo = convGeometry(info);
  const { N, H, W, C, OH, OW, OC, FH, FW, SH, SW, padTop, padLeft, K, M } = geo;
  const loops = heapLoops(backend);
  if (loops) {
    const out = backend.makeOutput([...filterShape], 'float32');
    if (out.shape.every((d) => d > 0)) loops.convFilterGradDirect(ptr(backend, x), ptr(backend, dy), ptr(backend, out), N, H, W, C, OH, OW, OC, FH, FW, SH, SW, padTop, padLeft);
    return out;
  }
  const col = backend.makeOutput([1, K, M], 'float32');
  // Heap views only after allocating: the heap may grow and detach older views.
  im2colJs(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(col), geo);
  const dy3: TensorInfo = { dataId: dy.dataId, shape: [1, M, OC], dtype: 'float32' };
  const out = call(tf.BatchMatMul, { inputs: { a: col, b: dy3 }, backend, attrs: { transposeA: false, transposeB: false } });
  backend.disposeData(col.dataId);
  out.shape = [...filterShape];
  return out;
}

/**
 * Conv2D (NHWC, no dilation) with at most DIRECT_CONV_MAX_CHANNELS input channels as one direct loop over a packed
 * filter; XNNPACK's convolution is badly shaped for them (LeNet-5's conv1, C = 1: 1.3 → 0.7–0.8 ms at batch 32).
 * With more input channels the same loop only ties XNNPACK (LeNet-5's conv2 3.49 vs 3.47 ms, a 3×3 conv of 64 → 128
 * channels 11.05 vs 11.09 ms, medians in one process), so those stay stock. Run over dy with the filter rotated, as an
 * input gradient, it was slower than even the GEMM + col2im that convInputGradDirect replaced (7.97 vs 7.43 ms with
 * the forward, conv2).
 */
const DIRECT_CONV_MAX_CHANNELS = 4;

function conv2D(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x, filter } = inputs as { x: TensorInfo; filter: TensorInfo };
  const { strides, pad, dataFormat, dilations, dimRoundingMode } = attrs as {
    strides: [number, number] | number;
    pad: 'same' | 'valid' | number;
    dataFormat?: string;
    dilations?: [number, number] | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const undilated = dilations === undefined || (Array.isArray(dilations) ? dilations.every((d) => d === 1) : dilations === 1);
  const loops =
    x.dtype === 'float32' && filter.dtype === 'float32' && x.shape.length === 4 && (dataFormat ?? 'NHWC') === 'NHWC' && undilated && x.shape[3]! <= DIRECT_CONV_MAX_CHANNELS
      ? heapLoops(backend)
      : undefined;
  if (!loops) return call(tf.Conv2D, args);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    'channelsLast',
  );
  const { N, H, W, C, OH, OW, OC, FH, FW, SH, SW, padTop, padLeft } = convGeometry(info);
  const out = backend.makeOutput([N, OH, OW, OC], 'float32');
  if (N * OH * OW * OC === 0) return out;
  // the filter in blocks of 8 output channels (assembly/kernels.ts packFilter), for this call only
  const packed = backend.makeOutput([Math.ceil(OC / 8) * FH * FW * C * 8], 'float32');
  loops.packFilter(ptr(backend, filter), ptr(backend, packed), FH, FW, C, OC);
  loops.convPacked(ptr(backend, x), ptr(backend, packed), ptr(backend, out), N, H, W, C, OH, OW, OC, FH, FW, SH, SW, padTop, padLeft);
  backend.disposeData(packed.dataId);
  return out;
}

/**
 * Add of a float32 tensor and a bias over its last axis (b's other dimensions 1) as one SIMD pass: the stock
 * kernel's broadcasting loop takes 0.31 ms for conv1's [32, 24, 24, 20] + [20] at batch 32. Anything else goes to
 * the stock kernel.
 */
function add(args: Args): TensorInfo {
  const { inputs, backend } = args;
  const { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const cols = a.shape[a.shape.length - 1] ?? 0;
  const bias =
    a.dtype === 'float32' &&
    b.dtype === 'float32' &&
    a.shape.length >= 2 &&
    b.shape.length >= 1 &&
    b.shape.length <= a.shape.length &&
    b.shape[b.shape.length - 1] === cols &&
    b.shape.slice(0, -1).every((d) => d === 1);
  const loops = bias && cols > 0 ? heapLoops(backend) : undefined;
  if (!loops) return call(tf.Add, args);
  const out = backend.makeOutput([...a.shape], 'float32');
  const rows = a.shape.slice(0, -1).reduce((p, d) => p * d, 1);
  if (rows > 0) loops.addBias(ptr(backend, a), ptr(backend, b), ptr(backend, out), rows, cols);
  return out;
}

/** The JavaScript im2col ([K, M] layout), where the heap loops are not available. */
function im2colJs(xs: Float32Array, cols: Float32Array, g: ReturnType<typeof convGeometry>): void {
  const { N, H, W, C, OH, OW, FH, FW, SH, SW, padTop, padLeft, M } = g;
  for (let i = 0; i < FH; i++) {
    for (let j = 0; j < FW; j++) {
      // Output columns [o0, o1) read inside the input row for this filter column; the rest are padding (0).
      const o0 = Math.min(OW, Math.max(0, Math.ceil((padLeft - j) / SW))),
        o1 = Math.max(o0, Math.min(OW, Math.floor((W - 1 + padLeft - j) / SW) + 1));
      const step = SW * C;
      for (let c = 0; c < C; c++) {
        let m = ((i * FW + j) * C + c) * M;
        for (let n = 0; n < N; n++) {
          const xn = n * H * W * C;
          for (let oh = 0; oh < OH; oh++, m += OW) {
            const h = oh * SH - padTop + i;
            if (h < 0 || h >= H) {
              cols.fill(0, m, m + OW);
              continue;
            }
            if (o0 > 0) cols.fill(0, m, m + o0);
            if (o1 < OW) cols.fill(0, m + o1, m + OW);
            let src = xn + h * W * C + (o0 * SW - padLeft + j) * C + c;
            for (let ow = o0; ow < o1; ow++, src += step) cols[m + ow] = xs[src]!;
          }
        }
      }
    }
  }
}

function conv2DBackpropInput(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const { strides, pad, dimRoundingMode, inputShape, dataFormat } = attrs as {
    strides: [number, number] | number;
    pad: 'same' | 'valid' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
    inputShape: [number, number, number, number];
    dataFormat?: string;
  };
  if (dataFormat !== undefined && dataFormat !== 'NHWC') return call(tf.Conv2DBackpropInput, args);
  const fs = filter.shape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(inputShape, fs, strides, 1, pad as never, dimRoundingMode, false, 'channelsLast');
  const geo = convGeometry(info);
  const { N, H, W, C, OH, OW, OC, FH, FW, SH, SW, padTop, padLeft, K, M } = geo;
  const loops = heapLoops(backend);
  if (loops) {
    // One direct pass (assembly/kernels.ts): the product with the transposed filter and the scatter into dx
    // together, over in-bounds taps only.
    const wt = transpose2d(filter, K, OC, backend);
    const dx = backend.makeOutput([N, H, W, C], 'float32');
    if (N * H * W * C > 0) loops.convInputGradDirect(ptr(backend, dy), ptr(backend, wt), ptr(backend, dx), N, H, W, C, OH, OW, OC, FH, FW, SH, SW, padTop, padLeft);
    backend.disposeData(wt.dataId);
    return dx;
  }
  // Fallback: dcol [M, K] = dy [M, OC] · Wᵀ [OC, K], then a col2im scatter-add of contiguous runs — the exact
  // transpose of the forward im2col, so no multiply-adds are spent on padding.
  const dy3: TensorInfo = { dataId: dy.dataId, shape: [1, M, OC], dtype: 'float32' };
  const w3: TensorInfo = { dataId: filter.dataId, shape: [1, K, OC], dtype: 'float32' };
  const dcol = batchMatMul({ inputs: { a: dy3, b: w3 }, backend, attrs: { transposeA: false, transposeB: true } });
  const dx = backend.makeOutput([N, H, W, C], 'float32');
  // Heap views only after allocating: the heap may grow and detach older views.
  col2imJs(backend.typedArrayFromHeap(dcol), backend.typedArrayFromHeap(dx), geo);
  backend.disposeData(dcol.dataId);
  return dx;
}

/** The JavaScript col2im scatter-add, where the heap loops are not available. */
function col2imJs(cols: Float32Array, out: Float32Array, g: ReturnType<typeof convGeometry>): void {
  const { N, H, W, C, OH, OW, FH, FW, SH, SW, padTop, padLeft, K } = g;
  out.fill(0);
  let m = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, m++) {
        // In-bounds filter columns [j0, j1): within one filter row their (j, c) pairs are contiguous in both a
        // row of dcol and the NHWC output, so each (m, i) adds one run of (j1 − j0)·C floats.
        const w0 = ow * SW - padLeft;
        const j0 = Math.max(0, -w0),
          j1 = Math.min(FW, W - w0);
        if (j1 <= j0) continue;
        for (let i = 0; i < FH; i++) {
          const h = oh * SH - padTop + i;
          if (h < 0 || h >= H) continue;
          const src = m * K + (i * FW + j0) * C;
          const dst = ((n * H + h) * W + w0 + j0) * C;
          const len = (j1 - j0) * C;
          for (let t = 0; t < len; t++) out[dst + t]! += cols[src + t]!;
        }
      }
    }
  }
}

/** A rank-2 view [rows, cols] of `t`'s buffer transposed by the wasm Transpose kernel: a new [cols, rows] buffer. */
function transpose2d(t: TensorInfo, rows: number, cols: number, backend: WasmBackendLike): TensorInfo {
  const view: TensorInfo = { dataId: t.dataId, shape: [rows, cols], dtype: 'float32' };
  return call(tf.Transpose, { inputs: { x: view }, backend, attrs: { perm: [1, 0] } });
}

/**
 * Right-hand operands (by dataId) already used once in a plain product: XNNPACK packs the right-hand operand of
 * every product and caches the packed copy per tensor, which pays off only when the same tensor comes back
 * (weights at inference); a tensor's second use goes to that cached path.
 */
const seenRhs = new WeakSet<object>();

/**
 * Whether a single (unbatched) product with a large right-hand operand should run transposed. XNNPACK packs its
 * right-hand operand on every new tensor — 1.2 ms for a dense layer's [800, 500] kernel, more than the product
 * itself at batch 32 — and a transposed [N, K] operand must be copied first. In training the kernel is a new tensor
 * every step, so (A·B)ᵀ = Bᵀ·Aᵀ and (A·Bᵀ)ᵀ = B·Aᵀ put the large operand on the left, which is read in place, and
 * pack only the small activation. The same product on LeNet-5's fc1 at batch 32: forward 1.67 → 1.03 ms,
 * input gradient 1.92 → 0.75 ms (measured).
 */
/** The product of a matrix operand's leading (batch) dimensions. */
function batchOf(t: TensorInfo): number {
  return t.shape.slice(0, -2).reduce((x, y) => x * y, 1);
}

function transposedRoute(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): { M: number; K: number; N: number } | undefined {
  if (transposeA || a.shape.length < 2 || b.shape.length < 2) return undefined;
  if (batchOf(a) !== 1 || batchOf(b) !== 1) return undefined;
  const M = a.shape[a.shape.length - 2]!,
    K = a.shape[a.shape.length - 1]!;
  const N = transposeB ? b.shape[b.shape.length - 2]! : b.shape[b.shape.length - 1]!;
  if (M < 8 || N < 2 * M || K * N < 1 << 14) return undefined;
  if (transposeB) return { M, K, N }; // the stock route copies B transposed and packs the copy, every call
  if (seenRhs.has(b.dataId)) return undefined;
  seenRhs.add(b.dataId);
  return { M, K, N };
}

/**
 * Which single float32 products the register-blocked heap loops run instead of XNNPACK: the right-hand operand at
 * most 2 MB and at most 64 M multiply-adds (beyond, XNNPACK's cache blocking wins: 512×1024×1024 47.7 vs 50.7 ms), and
 * for A·Bᵀ (dot products) K ≥ 128 (conv2's input-gradient product, K = 50: 4.2 vs 4.8 ms). Inside these bounds the
 * loops win because training hands XNNPACK a new right-hand operand every step, which it must pack (or we transpose)
 * first: LeNet-5's fc1 at batch 32, fresh weights, medians in one process — forward 1.10 → 0.58 ms, input gradient
 * 0.76 → 0.55, weight gradient 1.43 → 1.14; a 256³ product 1.24 → 0.89 ms.
 */
function directGemmFits(M: number, K: number, N: number, transposeB: boolean): boolean {
  return K * N <= 1 << 19 && M * K * N <= 1 << 26 && (!transposeB || K >= 128);
}

/** A single float32 product that the register-blocked heap loops run (directGemmFits), or undefined. */
function directGemm(a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean, backend: WasmBackendLike): TensorInfo | undefined {
  if (a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2 || (transposeA && transposeB)) return undefined;
  if (batchOf(a) !== 1 || batchOf(b) !== 1) return undefined;
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const M = transposeA ? ac : ar,
    K = transposeA ? ar : ac,
    N = transposeB ? br : bc;
  if (M * K * N === 0 || !directGemmFits(M, K, N, transposeB)) return undefined;
  const loops = heapLoops(backend);
  if (!loops) return undefined;
  const out = backend.makeOutput([...tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), M, N], 'float32');
  if (transposeB) loops.gemmNT(ptr(backend, a), ptr(backend, b), ptr(backend, out), M, K, N);
  else if (transposeA) loops.gemmXN(ptr(backend, a), ptr(backend, b), ptr(backend, out), M, K, N, 1, M);
  else loops.gemmXN(ptr(backend, a), ptr(backend, b), ptr(backend, out), M, K, N, K, 1);
  return out;
}

function batchMatMul(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
  let { a, b } = inputs as { a: TensorInfo; b: TensorInfo };
  const direct = directGemm(a, b, transposeA, transposeB, backend);
  if (direct) return direct;
  const route = transposedRoute(a, b, transposeA, transposeB);
  if (route) {
    const { M, K, N } = route;
    // left = B as [N, K] (B itself when transposed, else a transposed copy); right = Aᵀ [K, M]; out = (left·right)ᵀ.
    const bt = transposeB ? undefined : transpose2d(b, K, N, backend);
    const at = transpose2d(a, M, K, backend);
    const left: TensorInfo = { dataId: (bt ?? b).dataId, shape: [1, N, K], dtype: 'float32' };
    const right: TensorInfo = { dataId: at.dataId, shape: [1, K, M], dtype: 'float32' };
    const outT = call(tf.BatchMatMul, { inputs: { a: left, b: right }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
    const out = transpose2d(outT, N, M, backend);
    for (const t of [bt, at, outT]) if (t) backend.disposeData(t.dataId);
    out.shape = [...tf.backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)), M, N];
    return out;
  }
  if (!transposeA && !transposeB) {
    seenRhs.add(b.dataId);
    return call(tf.BatchMatMul, args);
  }
  const swapLast = (t: TensorInfo): TensorInfo => {
    const r = t.shape.length;
    const perm = [...Array(r).keys()];
    [perm[r - 2], perm[r - 1]] = [perm[r - 1]!, perm[r - 2]!];
    return call(tf.Transpose, { inputs: { x: t }, backend, attrs: { perm } });
  };
  const tmp: TensorInfo[] = [];
  if (transposeA) tmp.push((a = swapLast(a)));
  if (transposeB) tmp.push((b = swapLast(b)));
  const out = call(tf.BatchMatMul, { inputs: { a, b }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
  for (const t of tmp) backend.disposeData(t.dataId);
  return out;
}

/** Whether a pool is the unpadded 2×2 stride-2 one, its windows tiling the input (the heap loops' case). */
function tilesTwoByTwo(info: tf.backend_util.Conv2DInfo): boolean {
  const { padInfo, effectiveFilterHeight: fh, effectiveFilterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
  return padInfo.top === 0 && padInfo.left === 0 && fh === 2 && fw === 2 && sh === 2 && sw === 2 && info.outHeight * 2 <= info.inHeight && info.outWidth * 2 <= info.inWidth;
}

function maxPoolGrad(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { dy, input } = inputs as { dy: TensorInfo; input: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as {
    filterSize: [number, number] | number;
    strides: [number, number] | number;
    pad: 'same' | 'valid' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  const info = tf.backend_util.computePool2DInfo(input.shape as [number, number, number, number], filterSize, strides, 1, pad as never, dimRoundingMode);
  const {
    batchSize: N,
    inHeight: H,
    inWidth: W,
    inChannels: C,
    outHeight: OH,
    outWidth: OW,
    strideHeight: SH,
    strideWidth: SW,
    effectiveFilterHeight: FH,
    effectiveFilterWidth: FW,
  } = info;
  const pt = info.padInfo.top,
    pl = info.padInfo.left;
  const dx = backend.makeOutput([...input.shape], 'float32');
  const tiles2x2 = tilesTwoByTwo(info);
  const loops = tiles2x2 ? heapLoops(backend) : undefined;
  if (loops) {
    loops.maxPoolGrad2x2(ptr(backend, dx), ptr(backend, input), ptr(backend, dy), N, H, W, C, OH, OW);
    return dx;
  }
  const out = backend.typedArrayFromHeap(dx);
  const xs = backend.typedArrayFromHeap(input);
  const g = backend.typedArrayFromHeap(dy);
  out.fill(0);
  if (tiles2x2) {
    maxPoolGrad2x2(out, xs, g, N, H, W, C, OH, OW);
    return dx;
  }
  // Channel-innermost scan: every read is contiguous. Ties go to the first maximum in window order, as in
  // the cpu backend.
  const best = new Float32Array(C);
  const bestIdx = new Int32Array(C);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const h0 = oh * SH - pt;
      for (let ow = 0; ow < OW; ow++) {
        const w0 = ow * SW - pl;
        best.fill(-Infinity);
        bestIdx.fill(-1);
        for (let i = 0; i < FH; i++) {
          const h = h0 + i;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < FW; j++) {
            const w = w0 + j;
            if (w < 0 || w >= W) continue;
            const base = ((n * H + h) * W + w) * C;
            for (let c = 0; c < C; c++) {
              const v = xs[base + c]!;
              if (v > best[c]!) {
                best[c] = v;
                bestIdx[c] = base + c;
              }
            }
          }
        }
        const gBase = ((n * OH + oh) * OW + ow) * C;
        for (let c = 0; c < C; c++) if (bestIdx[c]! >= 0) out[bestIdx[c]!]! += g[gBase + c]!;
      }
    }
  }
  return dx;
}

/**
 * MaxPoolGrad for the 2×2 stride-2 unpadded pool (LeNet's): the windows are disjoint, so each one writes its
 * channel's gradient once to the first maximum in window order — the general scan's result and tie rule, unrolled,
 * without its per-window bookkeeping. `out` is zero-filled.
 */
function maxPoolGrad2x2(out: Float32Array, xs: Float32Array, g: Float32Array, N: number, H: number, W: number, C: number, OH: number, OW: number): void {
  const o1 = C,
    o2 = W * C,
    o3 = (W + 1) * C;
  let gi = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const base = ((n * H + oh * 2) * W + ow * 2) * C;
        for (let c = 0; c < C; c++, gi++) {
          const p = base + c;
          let best = -Infinity;
          let at = -1;
          if (xs[p]! > best) ((best = xs[p]!), (at = p));
          if (xs[p + o1]! > best) ((best = xs[p + o1]!), (at = p + o1));
          if (xs[p + o2]! > best) ((best = xs[p + o2]!), (at = p + o2));
          if (xs[p + o3]! > best) at = p + o3;
          if (at >= 0) out[at] = g[gi]!;
        }
      }
    }
  }
}

type DepthwiseAttrs = {
  strides: [number, number] | number;
  pad: 'same' | 'valid' | number;
  dilations?: [number, number] | number;
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
};

/** Depthwise geometry (NHWC, kernel [FH, FW, C, M]); dilation other than 1 is refused (the Keras reader refuses it too). */
function depthwiseGeometry(xShape: number[], filterShape: number[], a: DepthwiseAttrs) {
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad as never,
    a.dimRoundingMode,
    true,
  );
  if (info.dilationHeight !== 1 || info.dilationWidth !== 1) throw new Error('edge-compress depthwise gradient kernels support dilation 1 only');
  const g = convGeometry(info);
  return { ...g, CM: info.outChannels, M: info.outChannels / g.C };
}

/**
 * Every in-bounds tap of a depthwise conv: `tap(gBase, xBase, fBase)` with the offsets of dy[n, oh, ow, 0], of
 * x[n, h, w, 0] and of W[i, j, 0, 0]; channel c's values sit at +c (x) and +c·M + q (dy, W).
 */
function forEachDepthwiseTap(g: ReturnType<typeof depthwiseGeometry>, tap: (gBase: number, xBase: number, fBase: number) => void): void {
  const { N, H, W, C, OH, OW, FH, FW, SH, SW, padTop, padLeft, CM } = g;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const gBase = ((n * OH + oh) * OW + ow) * CM;
        for (let i = 0; i < FH; i++) {
          const h = oh * SH - padTop + i;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < FW; j++) {
            const w = ow * SW - padLeft + j;
            if (w < 0 || w >= W) continue;
            tap(gBase, ((n * H + h) * W + w) * C, (i * FW + j) * CM);
          }
        }
      }
    }
  }
}

/** DepthwiseConv2dNativeBackpropInput (missing from tfjs-backend-wasm): dx[n,h,w,c] = Σ_{i,j,q} dy[n,oh,ow,c·M+q] · W[i,j,c,q]. */
function depthwiseBackpropInput({ inputs, backend, attrs }: Args): TensorInfo {
  const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
  const inputShape = attrs.inputShape as [number, number, number, number];
  const geo = depthwiseGeometry(inputShape, filter.shape, attrs as DepthwiseAttrs);
  const { C, M } = geo;
  const dx = backend.makeOutput([...inputShape], 'float32');
  const loops = M === 1 ? heapLoops(backend) : undefined;
  if (loops) {
    const { N, H, W, OH, OW, FH, FW, SH, SW, padTop, padLeft } = geo;
    loops.depthwiseGradM1(ptr(backend, filter), ptr(backend, dy), ptr(backend, dx), false, N, H, W, C, OH, OW, FH, FW, SH, SW, padTop, padLeft);
    return dx;
  }
  const out = backend.typedArrayFromHeap(dx);
  const g = backend.typedArrayFromHeap(dy);
  const f = backend.typedArrayFromHeap(filter);
  out.fill(0);
  forEachDepthwiseTap(geo, (gBase, xBase, fBase) => {
    if (M === 1) for (let c = 0; c < C; c++) out[xBase + c]! += g[gBase + c]! * f[fBase + c]!;
    else
      for (let c = 0; c < C; c++) {
        let acc = 0;
        for (let q = 0; q < M; q++) acc += g[gBase + c * M + q]! * f[fBase + c * M + q]!;
        out[xBase + c]! += acc;
      }
  });
  return dx;
}

/** DepthwiseConv2dNativeBackpropFilter (missing from tfjs-backend-wasm): dW[i,j,c,q] = Σ_{n,oh,ow} x[n,h,w,c] · dy[n,oh,ow,c·M+q]. */
function depthwiseBackpropFilter({ inputs, backend, attrs }: Args): TensorInfo {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const filterShape = attrs.filterShape as [number, number, number, number];
  const geo = depthwiseGeometry(x.shape, filterShape, attrs as DepthwiseAttrs);
  const { C, M } = geo;
  const dw = backend.makeOutput([...filterShape], 'float32');
  const loops = M === 1 ? heapLoops(backend) : undefined;
  if (loops) {
    const { N, H, W, OH, OW, FH, FW, SH, SW, padTop, padLeft } = geo;
    loops.depthwiseGradM1(ptr(backend, x), ptr(backend, dy), ptr(backend, dw), true, N, H, W, C, OH, OW, FH, FW, SH, SW, padTop, padLeft);
    return dw;
  }
  const out = backend.typedArrayFromHeap(dw);
  const xs = backend.typedArrayFromHeap(x);
  const g = backend.typedArrayFromHeap(dy);
  out.fill(0);
  forEachDepthwiseTap(geo, (gBase, xBase, fBase) => {
    if (M === 1) for (let c = 0; c < C; c++) out[fBase + c]! += xs[xBase + c]! * g[gBase + c]!;
    else
      for (let c = 0; c < C; c++) {
        const xv = xs[xBase + c]!;
        for (let q = 0; q < M; q++) out[fBase + c * M + q]! += xv * g[gBase + c * M + q]!;
      }
  });
  return dw;
}

/**
 * UnsortedSegmentSum (missing from tfjs-backend-wasm; the gradient of tf.gather needs it): out[s] = Σ x[i] over
 * the leading positions i with segmentIds[i] = s (ids outside [0, numSegments) are dropped, as in TF).
 */
function unsortedSegmentSum({ inputs, backend, attrs }: Args): TensorInfo {
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const numSegments = attrs.numSegments as number;
  const lead = segmentIds.shape.reduce((a, b) => a * b, 1);
  const inner = x.shape.slice(segmentIds.shape.length).reduce((a, b) => a * b, 1);
  const out = backend.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], 'float32');
  const o = backend.typedArrayFromHeap(out);
  const xs = backend.typedArrayFromHeap(x);
  const ids = backend.typedArrayFromHeap(segmentIds) as unknown as Int32Array;
  o.fill(0);
  for (let i = 0; i < lead; i++) {
    const s = ids[i]!;
    if (s < 0 || s >= numSegments) continue;
    const src = i * inner,
      dst = s * inner;
    for (let k = 0; k < inner; k++) o[dst + k]! += xs[src + k]!;
  }
  return out;
}

/** MaxPool 2×2 stride 2 unpadded (float32, NHWC) as one SIMD pass; other pools stock. */
function maxPool(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  const { filterSize, strides, pad, dimRoundingMode } = attrs as {
    filterSize: [number, number] | number;
    strides: [number, number] | number;
    pad: 'same' | 'valid' | number;
    dimRoundingMode?: 'floor' | 'round' | 'ceil';
  };
  if (x.dtype !== 'float32' || x.shape.length !== 4) return call(tf.MaxPool, args);
  const info = tf.backend_util.computePool2DInfo(x.shape as [number, number, number, number], filterSize, strides, 1, pad as never, dimRoundingMode);
  const { batchSize: N, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW } = info;
  const loops = tilesTwoByTwo(info) ? heapLoops(backend) : undefined;
  if (!loops) return call(tf.MaxPool, args);
  const y = backend.makeOutput([N, OH, OW, C], 'float32');
  if (N * OH * OW * C > 0) loops.maxPool2x2(ptr(backend, x), ptr(backend, y), N, H, W, C, OH, OW);
  return y;
}

/** Cast to the tensor's own dtype (tfjs's ReLU gradient casts its float32 mask) shares the buffer, as Identity does. */
function cast(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  if ((attrs as { dtype: string }).dtype !== x.dtype || x.dtype === 'string') return call(tf.Cast, args);
  return share(backend, x);
}

/**
 * Identity shares the input's buffer (reference-counted, as the cpu and webgl backends do) instead of copying it:
 * tfjs clones every tensor a gradient needs, so the stock copy moved ~9 MB per LeNet-5 step at batch 32. Tensors
 * are immutable and every kernel writes only its own outputs, so sharing is safe.
 */
function identity({ inputs, backend }: Args): TensorInfo {
  const { x } = inputs as { x: TensorInfo };
  if (x.dtype === 'string') return call(tf.Identity, { inputs, backend, attrs: {} });
  return share(backend, x);
}

/** A new tensor on x's buffer (one more reference to it). */
function share(backend: WasmBackendLike, x: TensorInfo): TensorInfo {
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
}

/**
 * Sum over leading axes of a float32 tensor (bias gradients) as one pass over the rows with the heap loops; the stock
 * kernel transposes first (0.5 ms for conv1's [32, 24, 24, 20] at batch 32). Anything else goes to the stock kernel.
 */
function sum(args: Args): TensorInfo {
  const { inputs, backend, attrs } = args;
  const { x } = inputs as { x: TensorInfo };
  const { axis, keepDims } = attrs as { axis: number | number[]; keepDims: boolean };
  const rank = x.shape.length;
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const lead = axes.length;
  const loops = x.dtype === 'float32' && lead > 0 && lead < rank && [...axes].sort((a, b) => a - b).every((a, i) => a === i) ? heapLoops(backend) : undefined;
  if (!loops) return call(tf.Sum, args);
  const rows = x.shape.slice(0, lead).reduce((a, b) => a * b, 1),
    rest = x.shape.slice(lead),
    cols = rest.reduce((a, b) => a * b, 1);
  const out = backend.makeOutput(keepDims ? [...x.shape.slice(0, lead).map(() => 1), ...rest] : rest, 'float32');
  if (rows === 0 || cols === 0) {
    if (cols > 0) backend.typedArrayFromHeap(out).fill(0);
    return out;
  }
  const scratch = backend.makeOutput([2 * cols], 'float32');
  loops.sumLeading(ptr(backend, x), ptr(backend, out), ptr(backend, scratch), rows, cols);
  backend.disposeData(scratch.dataId);
  return out;
}

/**
 * One Adam step over a float32 variable as one SIMD pass: inputs w, g, m, v; outputs [w', m', v'] (new buffers:
 * inputs may share buffers with other tensors, so nothing is written in place). Attrs: beta1, beta2, step =
 * lr / (1 − β1ᵗ), invSqrtC2 = 1 / √(1 − β2ᵗ), eps.
 */
function adamStep({ inputs, backend, attrs }: Args): TensorInfo[] {
  const { w, g, m, v } = inputs as Record<'w' | 'g' | 'm' | 'v', TensorInfo>;
  const { beta1, beta2, step, invSqrtC2, eps } = attrs as Record<'beta1' | 'beta2' | 'step' | 'invSqrtC2' | 'eps', number>;
  const loops = heapLoops(backend);
  if (!loops) throw new Error(`${ADAM_STEP_KERNEL} needs the wasm heap loops`);
  const shape = [...w.shape];
  const outs = [backend.makeOutput(shape, 'float32'), backend.makeOutput(shape, 'float32'), backend.makeOutput(shape, 'float32')];
  const n = shape.reduce((a, b) => a * b, 1);
  const [wo, mo, vo] = outs.map((t) => ptr(backend, t)) as [number, number, number];
  loops.adamStep(ptr(backend, w), ptr(backend, g), ptr(backend, m), ptr(backend, v), wo, mo, vo, n, beta1, beta2, 1 - beta1, 1 - beta2, step, invSqrtC2, eps);
  return outs;
}

const overrides: Array<[string, (a: Args) => TensorInfo | TensorInfo[]]> = [
  [ADAM_STEP_KERNEL, adamStep],
  [tf.Identity, identity],
  [tf.Sum, sum],
  [tf.Conv2D, conv2D],
  [tf.Add, add],
  [tf.Cast, cast],
  [tf.MaxPool, maxPool],
  [tf.UnsortedSegmentSum, unsortedSegmentSum],
  [tf.Conv2DBackpropFilter, conv2DBackpropFilter],
  [tf.Conv2DBackpropInput, conv2DBackpropInput],
  [tf.BatchMatMul, batchMatMul],
  [tf.MaxPoolGrad, maxPoolGrad],
  [tf.DepthwiseConv2dNativeBackpropInput, depthwiseBackpropInput],
  [tf.DepthwiseConv2dNativeBackpropFilter, depthwiseBackpropFilter],
];

/** Installs the fast kernels into the (already initialised) wasm backend. Idempotent. */
export function registerFastWasmKernels(): void {
  for (const [name, fn] of overrides) {
    const existing = tf.getKernel(name, 'wasm');
    if (existing && (existing as KernelConfig & { edgeCompress?: boolean }).edgeCompress) continue;
    if (existing) {
      stock.set(name, existing.kernelFunc);
      tf.unregisterKernel(name, 'wasm');
    }
    const cfg = { kernelName: name, backendName: 'wasm', kernelFunc: fn as unknown as KernelFunc, edgeCompress: true };
    tf.registerKernel(cfg as KernelConfig);
  }
  for (const dep of [tf.BatchMatMul, tf.Transpose, tf.Sum, tf.Identity]) {
    if (!stock.has(dep)) {
      const k = tf.getKernel(dep, 'wasm');
      if (k && !(k as KernelConfig & { edgeCompress?: boolean }).edgeCompress) stock.set(dep, k.kernelFunc);
    }
  }
}

/**
 * Removes edge-compress's wasm kernels and puts the stock ones back (for benchmarks that measure what the custom
 * kernels gain). Stock tfjs-backend-wasm has no Conv2DBackpropFilter or UnsortedSegmentSum, so conv training
 * fails without them; dense-only models still train. `registerFastWasmKernels()` installs them again.
 */
export function unregisterFastWasmKernels(): void {
  for (const [name] of overrides) {
    const k = tf.getKernel(name, 'wasm');
    if (!k || !(k as KernelConfig & { edgeCompress?: boolean }).edgeCompress) continue;
    tf.unregisterKernel(name, 'wasm');
    const orig = stock.get(name);
    if (orig) tf.registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: orig });
  }
}
