/**
 * Data-parallel training: one batch split into shards, each shard's gradient computed on its own tfjs backend
 * (the calling thread computes shard 0, worker threads the rest), summed in a fixed order through shared memory.
 *
 * What runs where. Workers compute only the data-dependent part: the forward and backward of the plain model
 * on the *effective* weights, giving ∂loss/∂W_eff for their shard. The hooks run on the calling thread, where they
 * live: `transform` (its vector–Jacobian product maps the summed ∂loss/∂W_eff back onto the parameters, then tfjs'
 * optimizer updates them there), `extraLoss` (its gradient joins the calling thread's shard), `afterStep` and
 * `afterEpoch`. Without a transform the optimizer update is fused: every thread reduces and updates its own range of
 * the shared weights. So every method's hooks keep working unchanged. `layerForward` replaces a layer's computation
 * inside the forward, so workers need it too: a closure cannot be sent to another thread, but one marked with
 * `portableLayerForward` names a module and a factory the workers import to rebuild it. A fit with an unmarked
 * `layerForward` runs in-process (EpochRecord.workers says 1), as does one whose workers fail to rebuild it.
 *
 * Platform-neutral: the thread API comes from a `WorkerPlatform` registered by the Node entry (worker_threads).
 */
import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../errors.js';
import { sizeOf } from '../ir/shapes.js';
import type { ModelIR } from '../ir/types.js';
import { forward, type ForwardOptions, type WeightTensors } from '../model/forward.js';
import { ADAM_WASM_BASE64 } from './adamWasm.generated.js';
import { instantiateOn, wasmApi, type WasmMemory } from '../platform.js';

/** One started worker, as the platform gives it. */
export interface TrainWorkerHandle {
  postMessage(msg: unknown): void;
  onMessage(cb: (msg: unknown) => void): void;
  onError(cb: (err: unknown) => void): void;
  /** Keeps the process alive while a step is in flight (Node); no-op elsewhere. */
  ref?(): void;
  unref?(): void;
  terminate(): Promise<unknown> | void;
}

/** How a platform starts training workers (Node's entry registers worker_threads). */
export interface WorkerPlatform {
  readonly name: string;
  spawn(): TrainWorkerHandle;
  /** Cores available to this process (what `workers: 'auto'` means). */
  cores(): number;
}

let platform: WorkerPlatform | undefined;
let defaultWorkers: number | 'auto' = 1;

/** Registers the thread API used by `workers > 1` (the Node entry does this for worker_threads). */
export function registerWorkerPlatform(p: WorkerPlatform | undefined): void {
  platform = p;
}

export function workerPlatform(): WorkerPlatform | undefined {
  return platform;
}

/**
 * Process-wide default of `FitOptions.workers` for fits that do not set it (a CLI's `--workers` sets this, so
 * every method's training gets it without passing options through). Default 1.
 */
export function setDefaultWorkers(workers: number | 'auto'): void {
  checkWorkers(workers);
  defaultWorkers = workers;
}

export function getDefaultWorkers(): number | 'auto' {
  return defaultWorkers;
}

function checkWorkers(w: unknown): asserts w is number | 'auto' {
  if (w === 'auto') return;
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 1) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'workers',
      message: `workers must be 'auto' or an integer ≥ 1, got ${JSON.stringify(w)}`,
      hint: "use 'auto' for one worker per core, or 1 to train in-process",
    });
  }
}

export type LayerForward = NonNullable<ForwardOptions['layerForward']>;

/**
 * How a worker rebuilds a `layerForward`: the ES module at `module` (a URL, e.g. `new URL('./forward.js',
 * import.meta.url).href`, or a bare specifier the worker can import) exports `export`, a factory that takes `args`
 * (anything structured-clone can copy) and returns the same layerForward the calling thread uses.
 */
export interface PortableLayerForward {
  module: string;
  export: string;
  args?: unknown;
}

const portables = new WeakMap<LayerForward, PortableLayerForward[]>();

/**
 * Marks `fn` as rebuildable in training workers (see PortableLayerForward), so a fit with it as its `layerForward`
 * hook runs data-parallel. Returns `fn`. A layerForward without this mark runs in-process (a closure cannot move).
 */
export function portableLayerForward(fn: LayerForward, how: PortableLayerForward | PortableLayerForward[]): LayerForward {
  portables.set(fn, Array.isArray(how) ? how : [how]);
  return fn;
}

/** How workers rebuild `fn` (composeHooks keeps it when every part is portable), or undefined. */
export function portableOf(fn: LayerForward | undefined): PortableLayerForward[] | undefined {
  return fn && portables.get(fn);
}

/** Several layerForwards as one: the first that returns a tensor for a layer wins (composeHooks' rule). */
export function firstLayerForward(fns: readonly LayerForward[]): LayerForward {
  return (layer, input, weights, info) => {
    for (const f of fns) {
      const y = f(layer, input, weights, info);
      if (y) return y;
    }
    return undefined;
  };
}

/** Builds a portable layerForward in this thread: each part's factory, the first part that returns a tensor wins. */
async function rebuildLayerForward(parts: PortableLayerForward[]): Promise<LayerForward> {
  const fns = await Promise.all(
    parts.map(async (p) => {
      const mod = (await import(/* @vite-ignore */ p.module)) as Record<string, unknown>;
      const make = mod[p.export];
      if (typeof make !== 'function') throw new Error(`${p.module} has no export '${p.export}' (a layerForward factory)`);
      return make(p.args) as LayerForward;
    }),
  );
  return firstLayerForward(fns);
}

/** A Web Worker as far as training needs it (no DOM types needed). */
export interface WebWorkerLike {
  postMessage(msg: unknown): void;
  addEventListener(type: 'message', cb: (e: { data: unknown }) => void): void;
  addEventListener(type: 'error', cb: (e: { message?: string }) => void): void;
  terminate(): void;
}

/**
 * The browser's platform: `create` starts a module Web Worker whose script calls `startWebTrainWorker` (bundle it
 * like any entry). Needs `SharedArrayBuffer`, i.e. a cross-origin-isolated page (COOP/COEP headers); without it fits
 * run in-process. Register it with `registerWorkerPlatform(webWorkerPlatform(() => new Worker(url, { type: 'module' })))`.
 */
export function webWorkerPlatform(create: () => WebWorkerLike): WorkerPlatform {
  return {
    name: 'web-workers',
    cores: () => Math.max(1, (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1),
    spawn() {
      const w = create();
      return {
        postMessage: (m) => w.postMessage(m),
        onMessage: (cb) => w.addEventListener('message', (e) => cb(e.data)),
        onError: (cb) => w.addEventListener('error', (e) => cb(new Error(e.message ?? 'worker error'))),
        terminate: () => w.terminate(),
      };
    },
  };
}

/** Body of a Web Worker script for `webWorkerPlatform`: serves a data-parallel fit's shard requests. */
export function startWebTrainWorker(initBackend: (name: string) => Promise<unknown>): void {
  const scope = globalThis as unknown as { postMessage(m: unknown): void; addEventListener(t: 'message', cb: (e: { data: ToWorker }) => void): void };
  serveTrainWorker({ postMessage: (m) => scope.postMessage(m), onMessage: (cb) => scope.addEventListener('message', (e) => cb(e.data)) }, initBackend);
}

/** True when threads can share memory here (Node; a cross-origin-isolated page). */
export function canShareMemory(): boolean {
  return typeof SharedArrayBuffer === 'function';
}

/** Resolves `workers` ('auto' = the cores of the registered platform, 1 without one) and checks it against the batch. */
export function resolveWorkers(w: number | 'auto' | undefined, batchSize: number): number {
  const v = w ?? defaultWorkers;
  checkWorkers(v);
  const n = v === 'auto' ? (platform?.cores() ?? 1) : v;
  if (n > batchSize) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'workers',
      message: `workers (${n}) is more than the batch size (${batchSize}): every worker needs at least one example per step`,
      hint: `use at most ${batchSize} workers, or a larger batchSize`,
    });
  }
  return n;
}

/** Sizes of the shards of a batch of `n` (shard 0 runs on the calling thread, which also does the update: it gets the smallest). */
export function shardSizes(n: number, shards: number): number[] {
  const base = Math.floor(n / shards),
    extra = n % shards;
  // extra < shards: shards 1..extra get one more example each.
  return Array.from({ length: shards }, (_, i) => base + (i > 0 && i <= extra ? 1 : 0));
}

/** Dropout seed of shard `i` of a step (deterministic for a seed and a worker count). */
export function shardSeed(seed: number, i: number): number {
  return i === 0 ? seed : (seed + Math.imul(i, 0x9e3779b1)) >>> 2;
}

export interface WeightSlot {
  name: string;
  shape: number[];
  offset: number;
  /** Gradient slots: where the same tensor sits in the weights buffer. */
  weightOffset?: number;
}

/** Layout of named tensors packed one after the other in one Float32Array. */
export function packLayout(entries: Array<[string, readonly number[]]>): { slots: WeightSlot[]; total: number } {
  let offset = 0;
  const slots = entries.map(([name, shape]) => {
    const s = { name, shape: [...shape], offset };
    offset += sizeOf(shape);
    return s;
  });
  return { slots, total: offset };
}

/** One optimizer update, as the fused path applies it (same formulas as tfjs' optimizers). */
export interface UpdateSpec {
  kind: 'adam' | 'sgd' | 'momentum';
  lr: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  momentum: number;
  nesterov: boolean;
  /** Updates so far in this fit, this one included (Adam's bias correction). */
  t: number;
  /** L2 on kernels (wd/2·Σw², so the gradient gains wd·w). */
  weightDecay: number;
}

// The WebAssembly JS API, typed locally (the repo's tsconfig has no DOM lib; Node and browsers both provide it).

/**
 * The fused update's shared memory: the effective weights, one gradient slot per shard and the optimizer's two
 * moments, at these float offsets of one buffer. When the platform can make a shared WebAssembly.Memory (Node; a
 * cross-origin-isolated page) the buffer is that memory's, and Adam runs as one SIMD wasm pass per thread.
 */
export interface UpdateMemory {
  memory?: WasmMemory;
  buffer: SharedArrayBuffer;
  weights: number;
  grads: number;
  state: number;
  floats: number;
}

/** Allocates the fused update's regions (`weights`, `grads`, `state` floats) in one shared buffer. */
export function allocateUpdateMemory(weights: number, grads: number, state: number): UpdateMemory {
  const floats = weights + grads + state;
  const pages = Math.max(1, Math.ceil((floats * 4) / 65536));
  let memory: WasmMemory | undefined;
  try {
    const m = new (wasmApi()!.Memory)({ initial: pages, maximum: pages, shared: true });
    if (adamKernel(m)) memory = m;
  } catch {
    // no shared wasm memory here: plain shared buffers and the JS update
  }
  const buffer = memory ? (memory.buffer as SharedArrayBuffer) : new SharedArrayBuffer(floats * 4);
  return { memory, buffer, weights: 0, grads: weights, state: weights + grads, floats };
}

/** Views of an UpdateMemory's three regions (each runs to the next one's offset). */
export function updateViews(m: UpdateMemory): { weights: Float32Array; grads: Float32Array; state: Float32Array } {
  const view = (from: number, to: number) => new Float32Array(m.buffer, from * 4, to - from);
  return { weights: view(m.weights, m.grads), grads: view(m.grads, m.state), state: view(m.state, m.floats) };
}

type AdamFn = (
  g0: number,
  g1: number,
  c0: number,
  c1: number,
  w: number,
  m1: number,
  m2: number,
  n: number,
  beta1: number,
  beta2: number,
  a1: number,
  a2: number,
  step: number,
  invSqrtC2: number,
  eps: number,
  wd: number,
) => void;
/** The SIMD Adam kernel (assembly/adam.ts) bound to a shared memory, or undefined where wasm SIMD / threads are missing. */
export function adamKernel(memory: WasmMemory): AdamFn | undefined {
  return instantiateOn(ADAM_WASM_BASE64, memory)?.adam as AdamFn | undefined;
}

/** The contiguous range of gradient indices that shard `i` of `k` reduces and updates. */
export function updateRange(total: number, k: number, i: number): [number, number] {
  return [Math.floor((total * i) / k), Math.floor((total * (i + 1)) / k)];
}

/** Each shard's weight in the batch's mean gradient: n_i / n. */
export function shardCoefs(sizes: readonly number[]): number[] {
  const n = sizes.reduce((a, b) => a + b, 0);
  return sizes.map((sz) => sz / n);
}

/**
 * Σ c_i·g_i over gradient indices [from, to), in slot order (slots with c_i = 0 skipped), written in place into the
 * first summed slot of `grads` (one slot of `total` floats per shard); returns that range. With c = shardCoefs(sizes)
 * this is the batch's mean gradient. Threads may sum disjoint ranges at once.
 */
export function sumShards(grads: Float32Array, total: number, coefs: readonly number[], from: number, to: number): Float32Array {
  const parts = coefs.flatMap((c, i) => (c !== 0 ? [{ c, v: grads.subarray(i * total + from, i * total + to) }] : []));
  const [first, ...rest] = parts;
  const g = first!.v,
    c0 = first!.c;
  // Tight loops: locals only, specialised for the common case of two shards.
  if (rest.length === 1) {
    const c1 = rest[0]!.c,
      g1 = rest[0]!.v;
    for (let j = 0; j < g.length; j++) g[j] = c0 * g[j]! + c1 * g1[j]!;
  } else if (rest.length > 1 || c0 !== 1) {
    for (let j = 0; j < g.length; j++) {
      let acc = c0 * g[j]!;
      for (const r of rest) acc += r.c * r.v[j]!;
      g[j] = acc;
    }
  }
  return g;
}

/**
 * Sums the shards' gradients with weights `coefs` over gradient indices [from, to) (`sumShards`) and applies the optimizer to the same
 * range of the weights buffer. `state` holds the optimizer's moments: [0, total) first, [total, 2·total) second.
 * Threads run disjoint ranges at the same time.
 */
export function reduceAndUpdate(
  u: UpdateSpec,
  slots: readonly WeightSlot[],
  total: number,
  from: number,
  to: number,
  coefs: readonly number[],
  grads: Float32Array,
  weights: Float32Array,
  state: Float32Array,
  /** The SIMD kernel bound to the memory all three arrays live in (`adamKernel`): Adam over two shards runs there. */
  kernel?: AdamFn,
): void {
  const step = u.lr / (1 - u.beta1 ** u.t),
    invSqrtC2 = 1 / Math.sqrt(1 - u.beta2 ** u.t);
  const shards = coefs.flatMap((c, i) => (c !== 0 ? [i] : []));
  if (kernel && u.kind === 'adam' && shards.length === 2 && grads.buffer === weights.buffer && grads.buffer === state.buffer) {
    const [s0, s1] = shards as [number, number];
    const at = (arr: Float32Array, i: number) => arr.byteOffset + 4 * i;
    for (const s of slots) {
      const a = Math.max(from, s.offset),
        b = Math.min(to, s.offset + sizeOf(s.shape));
      if (a >= b) continue;
      const wd = s.name.endsWith('/kernel') ? u.weightDecay : 0;
      const w = a + s.weightOffset! - s.offset;
      kernel(
        at(grads, s0 * total + a),
        at(grads, s1 * total + a),
        coefs[s0]!,
        coefs[s1]!,
        at(weights, w),
        at(state, a),
        at(state, total + a),
        b - a,
        u.beta1,
        u.beta2,
        1 - u.beta1,
        1 - u.beta2,
        step,
        invSqrtC2,
        u.epsilon,
        wd,
      );
    }
    return;
  }
  const sum = sumShards(grads, total, coefs, from, to);
  const { beta1, beta2, epsilon, momentum, lr } = u;
  for (const s of slots) {
    const a = Math.max(from, s.offset),
      b = Math.min(to, s.offset + sizeOf(s.shape));
    if (a >= b) continue;
    const g = sum.subarray(a - from, b - from),
      w = weights.subarray(a + s.weightOffset! - s.offset, b + s.weightOffset! - s.offset);
    const wd = s.name.endsWith('/kernel') ? u.weightDecay : 0;
    if (wd !== 0) for (let j = 0; j < g.length; j++) g[j]! += wd * w[j]!;
    const m1 = state.subarray(a, b);
    if (u.kind === 'adam') {
      const m2 = state.subarray(total + a, total + b);
      for (let j = 0; j < g.length; j++) {
        const gj = g[j]!;
        const m = beta1 * m1[j]! + (1 - beta1) * gj;
        const v = beta2 * m2[j]! + (1 - beta2) * gj * gj;
        m1[j] = m;
        m2[j] = v;
        w[j]! -= (step * m) / (Math.sqrt(v) * invSqrtC2 + epsilon);
      }
    } else if (u.kind === 'momentum') {
      const nesterov = u.nesterov;
      for (let j = 0; j < g.length; j++) {
        const acc = momentum * m1[j]! + g[j]!;
        m1[j] = acc;
        w[j]! -= lr * (nesterov ? g[j]! + momentum * acc : acc);
      }
    } else for (let j = 0; j < g.length; j++) w[j]! -= lr * g[j]!;
  }
}

/**
 * A float32 tensor's data as a view of the wasm heap (no copy), or undefined on other backends. The view is valid
 * until the next allocation (the heap may grow), so use it at once.
 */
function heapView(): ((t: tf.TensorInfo) => Float32Array) | undefined {
  const b = tf.backend() as unknown as { typedArrayFromHeap?: (t: tf.TensorInfo) => Float32Array };
  return b.typedArrayFromHeap ? (t) => b.typedArrayFromHeap!(t) : undefined;
}

// ---------------------------------------------------------------------------------------------------------------
// Control words: the threads of a step meet through these instead of messages where they can block (Node, any
// worker), which saves an event-loop round trip per meeting.

/** Word 0 of the control block: set when the calling thread gives up on a step (the workers stop waiting). */
const CTL_ABORT = 0;
/** The word shard k sets to the step's number once its gradients are written. */
export const gradsWord = (k: number): number => 1 + 2 * k;
/** The word shard k sets to the step's number once its range of the fused update is done. */
export const updatedWord = (k: number): number => 2 + 2 * k;

/** A control block for `shards` shards (all words 0). */
export function controlBlock(shards: number): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4 * (1 + 2 * shards)));
}

/** Sets a control word to `seq` and wakes whoever waits on it. */
export function signal(ctl: Int32Array, word: number, seq: number): void {
  Atomics.store(ctl, word, seq);
  Atomics.notify(ctl, word);
}

/** Tells every thread waiting on the block to stop (the calling thread failed or was aborted mid-step). */
export function abortControl(ctl: Int32Array): void {
  Atomics.store(ctl, CTL_ABORT, 1);
  for (let i = 0; i < ctl.length; i++) Atomics.notify(ctl, i);
}

/**
 * Blocks until control word `word` reaches `seq`. Returns false when `budgetMs` runs out first (the caller then waits
 * for the worker's message instead, which also reports a worker that died); throws when the block was aborted.
 */
export function blockUntil(ctl: Int32Array, word: number, seq: number, budgetMs = Infinity): boolean {
  const end = performance.now() + budgetMs;
  for (;;) {
    const v = Atomics.load(ctl, word);
    if (v >= seq) return true;
    if (Atomics.load(ctl, CTL_ABORT) !== 0) throw new Error('the step was abandoned by the calling thread');
    const left = end - performance.now();
    if (left <= 0) return false;
    Atomics.wait(ctl, word, v, Math.min(left, 50));
  }
}

let blocking: boolean | undefined;
/** Whether this thread may block in Atomics.wait (Node and workers: yes; a browser page's main thread: no). */
export function canBlock(): boolean {
  if (blocking === undefined) {
    try {
      // A value that does not match returns at once where waiting is allowed, and throws where it is not.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
      blocking = true;
    } catch {
      blocking = false;
    }
  }
  return blocking;
}

/** Top-1 hits of a batch's logits against one-hot labels (a number; no tensor left behind). */
export function countHits(logits: tf.Tensor, y: tf.Tensor): number {
  return tf.tidy(() => tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'int32')).dataSync()[0]!);
}

export interface BnStat {
  layer: string;
  mean: Float32Array;
  variance: Float32Array;
}

export interface ShardOutcome {
  /** Mean cross-entropy over the shard. */
  loss: number;
  hits: number;
  bn: BnStat[];
}

/**
 * The data-dependent part of one training step on one shard: ∂(mean cross-entropy)/∂W for each of `gradSlots`,
 * written into `gradOut` at the slots' offsets. Used by workers and by the calling thread for shard 0.
 */
export function shardGradients(
  ir: ModelIR,
  weights: WeightTensors,
  x: tf.Tensor,
  y: tf.Tensor,
  gradSlots: readonly WeightSlot[],
  gradOut: Float32Array,
  dropoutSeed: number,
  /** Training targets when they differ from the one-hot labels `y` (distillation); hits are still counted against `y`. */
  target?: tf.Tensor,
  layerForward?: LayerForward,
): ShardOutcome {
  const bnStats = new Map<string, { mean: tf.Tensor; variance: tf.Tensor }>();
  let hits = 0;
  const loss = tf.tidy(() => {
    const f = (...ws: tf.Tensor[]): tf.Scalar => {
      const w: WeightTensors = { ...weights };
      gradSlots.forEach((s, i) => (w[s.name] = ws[i]!));
      const logits = forward(ir, w, x, { training: true, logits: true, dropoutSeed, bnStats, layerForward });
      hits = countHits(logits, y);
      return tf.losses.softmaxCrossEntropy(target ?? y, logits) as tf.Scalar;
    };
    const { value, grads } = tf.valueAndGrads(f)(gradSlots.map((s) => weights[s.name]!));
    // On wasm, read each gradient straight from the heap (no copy into a fresh array, no garbage per step).
    const heap = heapView();
    grads.forEach((g, i) => gradOut.set(heap && g.dtype === 'float32' ? heap(g) : (g.dataSync() as Float32Array), gradSlots[i]!.offset));
    return value.dataSync()[0]!;
  });
  const bn: BnStat[] = [];
  for (const [layer, s] of bnStats) {
    bn.push({ layer, mean: s.mean.dataSync().slice() as Float32Array, variance: s.variance.dataSync().slice() as Float32Array });
    tf.dispose([s.mean, s.variance]);
  }
  return { loss, hits, bn };
}

/** The batch buffers a data-parallel fit shares between its threads. */
export interface BatchBuffers {
  images: Float32Array;
  labels: Int32Array;
  /** Training targets (batch × numClasses) when distilling. */
  targets?: Float32Array;
  numClasses: number;
}

/**
 * `shardGradients` on examples [from, to) of the shared batch buffers (the tensors made here are disposed here); an
 * empty range computes nothing and writes no gradient.
 */
export function bufferedShard(
  ir: ModelIR,
  weights: WeightTensors,
  b: BatchBuffers,
  from: number,
  to: number,
  gradSlots: readonly WeightSlot[],
  gradOut: Float32Array,
  seed: number,
  layerForward?: LayerForward,
): ShardOutcome {
  const n = to - from;
  if (n <= 0) return { loss: 0, hits: 0, bn: [] };
  const per = sizeOf(ir.inputShape);
  const k = b.numClasses;
  const x = tf.tensor(b.images.subarray(from * per, to * per), [n, ...ir.inputShape], 'float32');
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(b.labels.subarray(from, to), 'int32'), k));
  const target = b.targets && tf.tensor2d(b.targets.subarray(from * k, to * k), [n, k]);
  try {
    return shardGradients(ir, weights, x, y, gradSlots, gradOut, seed, target, layerForward);
  } finally {
    tf.dispose([x, y, ...(target ? [target] : [])]);
  }
}

/** Batch-norm statistics of the whole batch from its shards' (exact: biased variance = mean of variances + variance of means). */
export function combineBnStats(parts: Array<{ count: number; bn: BnStat[] }>): BnStat[] {
  const total = parts.reduce((a, p) => a + p.count, 0);
  const first = parts.find((p) => p.count > 0);
  if (!first) return [];
  return first.bn.map(({ layer, mean }) => {
    const m = new Float32Array(mean.length),
      v = new Float32Array(mean.length);
    const of = (p: { bn: BnStat[] }): BnStat => p.bn.find((b) => b.layer === layer)!;
    for (const p of parts) if (p.count > 0) for (let c = 0; c < m.length; c++) m[c]! += (p.count / total) * of(p).mean[c]!;
    for (const p of parts) {
      if (p.count === 0) continue;
      const s = of(p);
      for (let c = 0; c < m.length; c++) v[c]! += (p.count / total) * (s.variance[c]! + (s.mean[c]! - m[c]!) ** 2);
    }
    return { layer, mean: m, variance: v };
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Messages between the calling thread and a worker.

export interface InitMessage {
  type: 'init';
  backend: string;
  ir: ModelIR;
  weightSlots: WeightSlot[];
  gradSlots: WeightSlot[];
  gradTotal: number;
  /**
   * Effective weights (and batch-norm statistics, written by the calling thread before each step), one gradient slot
   * of gradTotal floats per shard and the fused update's optimizer moments (2 × gradTotal floats).
   */
  update: UpdateMemory;
  /** The batch's examples and labels. */
  images: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  /** Training targets (batch × numClasses floats) when distilling. */
  targets?: SharedArrayBuffer;
  /** Control words (`gradsWord`, `updatedWord`; Int32), one pair per shard. */
  control: SharedArrayBuffer;
  /** The fit's `layerForward`, as the worker rebuilds it (portableLayerForward). */
  layerForward?: PortableLayerForward[];
  numClasses: number;
  slot: number;
}

export interface StepMessage {
  type: 'step';
  /** The step's number (what the control words are set to). */
  seq: number;
  /** Examples [from, to) of the batch buffer (empty: only the update range below). */
  from: number;
  to: number;
  seed: number;
  /**
   * The fused path: once every shard's gradients are in, reduce them and update this worker's range of the weights
   * (`updateRange(gradTotal, shards, slot)`), then set its `updatedWord`.
   */
  update?: { spec: UpdateSpec; coefs: number[] };
}

export type ToWorker = InitMessage | StepMessage | { type: 'close' };
/** 'done' follows a step's gradients; 'updated' its update range (fused path). */
export type FromWorker = { type: 'ready' } | { type: 'updated' } | ({ type: 'done' } & ShardOutcome) | { type: 'error'; message: string; stack?: string };

/** The worker side: answers init and step messages. `initBackend` selects the same backend as the caller's. */
export function serveTrainWorker(port: { postMessage(m: FromWorker): void; onMessage(cb: (m: ToWorker) => void): void }, initBackend: (name: string) => Promise<unknown>): void {
  type State = InitMessage & {
    w: Float32Array;
    batch: BatchBuffers;
    g: Float32Array;
    all: Float32Array;
    opt: Float32Array;
    ctl: Int32Array;
    kernel?: AdamFn;
    lf?: LayerForward;
  };
  let st: State | undefined;
  let queue = Promise.resolve();
  port.onMessage((m) => {
    queue = queue.then(async () => {
      try {
        if (m.type === 'init') {
          if (tf.getBackend() !== m.backend) await initBackend(m.backend);
          const views = updateViews(m.update);
          st = {
            ...m,
            w: views.weights,
            batch: { images: new Float32Array(m.images), labels: new Int32Array(m.labels), targets: m.targets && new Float32Array(m.targets), numClasses: m.numClasses },
            g: views.grads.subarray(m.slot * m.gradTotal, (m.slot + 1) * m.gradTotal),
            all: views.grads,
            opt: views.state,
            ctl: new Int32Array(m.control),
            kernel: m.update.memory && adamKernel(m.update.memory),
            lf: m.layerForward && (await rebuildLayerForward(m.layerForward)),
          };
          port.postMessage({ type: 'ready' });
        } else if (m.type === 'step') {
          if (!st) throw new Error('step before init');
          const s = st;
          let out: ShardOutcome = { loss: 0, hits: 0, bn: [] };
          if (m.to > m.from) {
            // Fresh tensors each step: tfjs-backend-wasm's XNNPACK kernels cache weights packed per tensor, so
            // writing new values into an existing tensor's memory would leave them computing with the old ones.
            const weights: WeightTensors = {};
            for (const w of s.weightSlots) weights[w.name] = tf.tensor(s.w.subarray(w.offset, w.offset + sizeOf(w.shape)), w.shape, 'float32');
            try {
              out = bufferedShard(s.ir, weights, s.batch, m.from, m.to, s.gradSlots, s.g, m.seed, s.lf);
            } finally {
              tf.dispose(Object.values(weights));
            }
          }
          signal(s.ctl, gradsWord(s.slot), m.seq);
          port.postMessage({ type: 'done', ...out });
          if (m.update) {
            // Every shard's gradients must be in before this range is reduced: the calling thread's and the other workers'.
            const k = m.update.coefs.length;
            for (let i = 0; i < k; i++) if (i !== s.slot) blockUntil(s.ctl, gradsWord(i), m.seq);
            const [from, to] = updateRange(s.gradTotal, k, s.slot);
            reduceAndUpdate(m.update.spec, s.gradSlots, s.gradTotal, from, to, m.update.coefs, s.all, s.w, s.opt, s.kernel);
            signal(s.ctl, updatedWord(s.slot), m.seq);
            port.postMessage({ type: 'updated' });
          }
        }
      } catch (e) {
        port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e), stack: e instanceof Error ? e.stack : undefined });
      }
    });
  });
}

// ---------------------------------------------------------------------------------------------------------------
// The calling thread's side.

interface Member {
  handle: TrainWorkerHandle;
  /** Answers expected from this worker, in the order it sends them. */
  waiting: Array<{ resolve: (m: FromWorker) => void; reject: (e: unknown) => void }>;
  failed?: unknown;
}

/**
 * Started workers (all but shard 0's), reused across fits of one Trainer; `close()` terminates them. After an error
 * or an abort the pool is closed and the next fit starts a new one.
 */
export class WorkerPool {
  private readonly members: Member[] = [];
  private closed = false;

  constructor(readonly size: number) {
    const p = platform;
    if (!p) throw new CompressionError({ code: 'BACKEND_NOT_READY', message: 'no worker platform is registered', hint: 'import @edge-compress/core in Node, or use workers: 1' });
    for (let i = 0; i < size; i++) {
      const m: Member = { handle: p.spawn(), waiting: [] };
      m.handle.onMessage((msg) => {
        const fm = msg as FromWorker;
        if (fm.type === 'error') {
          // A failed request ends the others expected from it (a step's 'updated' after a failed 'done').
          const err = new CompressionError({ code: 'BACKEND_NOT_READY', message: `training worker ${i + 1} failed: ${fm.message}`, cause: fm.stack });
          for (const w of m.waiting.splice(0)) w.reject(err);
        } else m.waiting.shift()?.resolve(fm);
      });
      m.handle.onError((e) => {
        m.failed = e;
        const err = new CompressionError({ code: 'BACKEND_NOT_READY', message: `training worker ${i + 1} stopped: ${e instanceof Error ? e.message : String(e)}`, cause: e });
        for (const w of m.waiting.splice(0)) w.reject(err);
      });
      this.members.push(m);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Posts `msg` to worker i; resolves with its next `answers` messages, in order (rejects if it fails or stops). */
  private request(i: number, msg: ToWorker, answers = 1): Array<Promise<FromWorker>> {
    const m = this.members[i]!;
    const replies = Array.from({ length: answers }, () =>
      m.failed
        ? Promise.reject(new CompressionError({ code: 'BACKEND_NOT_READY', message: `training worker ${i + 1} stopped`, cause: m.failed }))
        : new Promise<FromWorker>((resolve, reject) => m.waiting.push({ resolve, reject })),
    );
    if (!m.failed) m.handle.postMessage(msg);
    return replies;
  }

  /** Keeps the process alive while the pool works (Node): a fit calls this first and `idle()` when it ends. */
  busy(): void {
    this.members.forEach((m) => m.handle.ref?.());
  }

  /** Sends each worker its init message and waits until all are ready. */
  async init(make: (slot: number) => InitMessage): Promise<void> {
    this.busy();
    await Promise.all(this.members.map((_, i) => this.request(i, make(i + 1))[0]));
  }

  /**
   * Starts step `seq` on every worker (shard i + 1 on worker i; with `update`, each worker then reduces and updates
   * its range). `done` resolves with their outcomes in shard order; `updated` once every range is updated.
   */
  step(shards: Array<{ from: number; to: number; seed: number }>, seq: number, update?: StepMessage['update']): { done: Promise<ShardOutcome[]>; updated: Promise<void> } {
    const replies = this.members.map((_, i) => this.request(i, { type: 'step', seq, ...shards[i]!, update }, update ? 2 : 1));
    const expect = (r: FromWorker, type: FromWorker['type'], i: number): FromWorker => {
      if (r.type !== type) throw new CompressionError({ code: 'BACKEND_NOT_READY', message: `training worker ${i + 1} answered '${r.type}' where '${type}' was due` });
      return r;
    };
    const done = Promise.all(
      replies.map(async ([d], i) => {
        const r = expect(await d!, 'done', i) as { type: 'done' } & ShardOutcome;
        return { loss: r.loss, hits: r.hits, bn: r.bn };
      }),
    );
    const updated = Promise.all(replies.map(async ([, u], i) => u && expect(await u, 'updated', i))).then(() => undefined);
    // Whichever the caller does not await (it failed first) must not surface as an unhandled rejection.
    done.catch(() => {});
    updated.catch(() => {});
    return { done, updated };
  }

  /** Lets the process exit while the pool is idle (Node). */
  idle(): void {
    this.members.forEach((m) => m.handle.unref?.());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.members.map((m) => m.handle.terminate()));
  }
}
