import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../errors.js';
import { assertFits, type Dataset } from '../data/dataset.js';
import { denseEncoding, toDense } from '../encodings/index.js';
import type { Encoding } from '../encodings/types.js';
import { sizeOf } from '../ir/shapes.js';
import { isTrainableWeight, type ModelIR } from '../ir/types.js';
import { forward, type ForwardOptions, type WeightTensors } from '../model/forward.js';
import type { Model } from '../model/model.js';
import { createRunner, type RunnerOptions } from '../model/runner.js';
import { createRng, type Rng } from '../tensor/rng.js';
import { now, yieldToEventLoop } from '../platform.js';
import { FusedAdamOptimizer } from './fusedAdam.js';
import {
  abortControl,
  adamKernel,
  allocateUpdateMemory,
  blockUntil,
  bufferedShard,
  canBlock,
  canShareMemory,
  combineBnStats,
  controlBlock,
  countHits,
  gradsWord,
  packLayout,
  portableOf,
  reduceAndUpdate,
  resolveWorkers,
  shardCoefs,
  shardSeed,
  shardSizes,
  signal,
  sumShards,
  updatedWord,
  updateRange,
  updateViews,
  workerPlatform,
  WorkerPool,
  type ShardOutcome,
  type UpdateSpec,
  type WeightSlot,
} from './parallel.js';

/** A data-parallel fit's shared buffers and workers (see `Trainer.startParallel`). */
interface ParallelState {
  /** What the buffers were laid out for (a next fit with the same key reuses them). */
  key: string;
  pool: WorkerPool;
  workers: number;
  numClasses: number;
  weightSlots: WeightSlot[];
  gradSlots: WeightSlot[];
  gradTotal: number;
  weights: Float32Array;
  images: Float32Array;
  labels: Int32Array;
  targets?: Float32Array;
  grads: Float32Array;
  state: Float32Array;
  control: Int32Array;
  seq: number;
  kernel?: ReturnType<typeof adamKernel>;
  stale: boolean;
  t: number;
}

export type Params = Record<string, tf.Variable>;

let variableCounter = 0;

export interface StepInfo {
  epoch: number;
  /** Step within the epoch. */
  step: number;
  /** Steps since the start of this fit. */
  globalStep: number;
  stepsPerEpoch: number;
}

/**
 * Per-step hooks: the extension points every compression method trains through.
 * - `transform` maps trainable variables to the weights the forward uses (masks, straight-through fake
 *   quantization, products of factors). It runs inside the gradient tape and in evaluation.
 * - `extraLoss` adds a regulariser (ADMM's ρ/2‖W−Z+U‖², orthogonality terms, group lasso).
 * - `afterStep` runs after each optimizer update (projections, re-applying masks).
 * - `afterEpoch` runs after each epoch (ADMM Z/U updates, re-weighting).
 */
export interface TrainHooks {
  transform?: (params: Params | WeightTensors, info: { training: boolean }) => WeightTensors;
  extraLoss?: (params: Params, info: StepInfo) => tf.Scalar | undefined;
  afterStep?: (params: Params, info: StepInfo) => void;
  afterEpoch?: (params: Params, info: { epoch: number; loss: number; accuracy: number }) => void | Promise<void>;
  /** Replace a weighted layer's forward (custom kernels, factor products); see ForwardOptions.layerForward. */
  layerForward?: ForwardOptions['layerForward'];
}

export type OptimizerSpec = { kind: 'adam'; lr: number; beta1?: number; beta2?: number; epsilon?: number } | { kind: 'sgd'; lr: number; momentum?: number; nesterov?: boolean };

export interface TrainProgress {
  phase: string;
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  /** Set at the end of an epoch. */
  trainAccuracy?: number;
  testAccuracy?: number;
  testLoss?: number;
  done: boolean;
}

export interface FitOptions {
  epochs: number;
  batchSize?: number;
  optimizer?: OptimizerSpec;
  /** Learning-rate schedule; overrides optimizer.lr when given. */
  lrSchedule?: (info: StepInfo) => number;
  /** L2 penalty on kernels (added to the loss as wd/2·Σw²). Default 0. */
  weightDecay?: number;
  /** Seed of shuffling, dropout and augmentation. Default 0. */
  seed?: number;
  /**
   * Random translation of up to ±maxShift pixels. Applies to rank-3 inputs, or to flat inputs when
   * `imageShape` ([h, w, c]) says how to view them (e.g. [28, 28, 1] for a 784-input MLP). Default none.
   */
  augment?: { maxShift: number; imageShape?: [number, number, number] };
  hooks?: TrainHooks;
  /** Evaluated at the end of each epoch (reported in progress and history). */
  test?: Dataset;
  /** Names of the parameters to train; default every parameter. */
  trainable?: (name: string) => boolean;
  onProgress?: (p: TrainProgress) => void;
  /** Progress label (e.g. 'admm', 'finetune'). */
  phase?: string;
  signal?: AbortSignal;
  /**
   * Data-parallel training: each batch is split into this many shards whose gradients are computed on separate
   * threads and summed in a fixed order (deterministic for a seed and a worker count). 'auto' = the cores available;
   * 1 = in-process (the default, or what `setDefaultWorkers` set). A fit with a `layerForward` hook, or on a
   * platform without a registered worker API, runs in-process; `EpochRecord.workers` says what ran.
   */
  workers?: number | 'auto';
  /**
   * Knowledge distillation: train against `(1 − weight)·one-hot + weight·targets[example]` instead of the one-hot
   * label, where `targets` holds a teacher's class probabilities for every training example (train.count ×
   * numClasses, row-major, in the dataset's order; `teacherTargets(teacher, train)` computes them). Runs in-process
   * and in workers alike. Train accuracy is still counted against the true labels.
   */
  distill?: { targets: Float32Array; weight?: number };
}

export interface EpochRecord {
  epoch: number;
  loss: number;
  trainAccuracy: number;
  testAccuracy?: number;
  testLoss?: number;
  seconds: number;
  /** Threads that computed gradients (1 = in-process). */
  workers: number;
}

export interface Evaluation {
  loss: number;
  accuracy: number;
  count: number;
}

/**
 * Trains and evaluates an IR model on the active tfjs backend. Owns one tf.Variable per parameter (by
 * default one per model weight); non-trainable weights (batch-norm moving statistics) are kept apart and
 * updated from batch statistics. Call `dispose()` when done; `toModel()` returns plain data.
 */
export class Trainer {
  readonly ir: ModelIR;
  readonly params: Params = {};
  /** Batch-norm moving statistics (not trained by gradients). */
  readonly stats: Record<string, tf.Variable> = {};
  private disposed = false;
  private pool?: WorkerPool;
  /** The last data-parallel fit's buffers (reused by the next fit of the same layout on the same pool). */
  private parallel?: ParallelState;

  constructor(model: Model | { ir: ModelIR; params: Record<string, { values: Float32Array; shape: number[] } | Encoding> }) {
    this.ir = model.ir;
    const src = 'weights' in model ? model.weights : model.params;
    for (const [name, w] of Object.entries(src)) {
      const values = 'kind' in w ? toDense(w) : w.values;
      const t = tf.tensor(values, w.shape, 'float32');
      const v = tf.variable(t, isTrainableWeight(name), `ec${++variableCounter}_${name}`);
      t.dispose();
      if (isTrainableWeight(name)) this.params[name] = v;
      else this.stats[name] = v;
    }
  }

  private check(): void {
    if (this.disposed) throw new CompressionError({ code: 'BACKEND_NOT_READY', message: 'trainer was disposed', hint: 'create a new Trainer' });
  }

  /** Effective weights for the forward (under `transform`, if any). Tensors are owned by the caller's tidy scope. */
  weights(hooks?: TrainHooks, training = false): WeightTensors {
    const base = hooks?.transform ? hooks.transform(this.params, { training }) : (this.params as WeightTensors);
    return { ...base, ...this.stats };
  }

  private batch(
    d: Dataset,
    idx: ArrayLike<number>,
    from: number,
    to: number,
    rng?: Rng,
    maxShift = 0,
    imageShape?: readonly number[],
    distill?: Distill,
  ): { x: tf.Tensor; y: tf.Tensor; target?: tf.Tensor } {
    const n = to - from;
    const buf = new Float32Array(n * sizeOf(d.shape));
    const lab = new Int32Array(n);
    this.fillBatch(d, idx, from, to, buf, lab, rng, maxShift, imageShape);
    const x = tf.tensor(buf, [n, ...this.ir.inputShape], 'float32');
    const y = tf.tidy(() => tf.oneHot(tf.tensor1d(lab, 'int32'), d.numClasses));
    if (!distill) return { x, y };
    const t = new Float32Array(n * d.numClasses);
    fillTargets(distill, d.numClasses, idx, from, to, lab, t);
    return { x, y, target: tf.tensor2d(t, [n, d.numClasses]) };
  }

  /** Copies examples idx[from..to) (augmented when `rng` and `maxShift` say so) into `buf` and their labels into `lab`. */
  private fillBatch(
    d: Dataset,
    idx: ArrayLike<number>,
    from: number,
    to: number,
    buf: Float32Array,
    lab: Int32Array,
    rng?: Rng,
    maxShift = 0,
    imageShape?: readonly number[],
  ): void {
    const per = sizeOf(d.shape);
    const n = to - from;
    if (rng && maxShift > 0) buf.fill(0, 0, n * per); // shifted-in pixels are 0 (the buffer may be reused)
    const img = imageShape ?? (this.ir.inputShape.length === 3 ? this.ir.inputShape : null);
    if (img && sizeOf(img) !== per) {
      throw new CompressionError({
        code: 'BAD_CONFIG',
        path: 'augment.imageShape',
        message: `augment.imageShape [${img.join(',')}] has ${sizeOf(img)} values but examples have ${per}`,
      });
    }
    for (let i = 0; i < n; i++) {
      const j = idx[from + i]!;
      lab[i] = d.labels[j]!;
      const src = d.images.subarray(j * per, (j + 1) * per);
      if (rng && maxShift > 0 && img) {
        const [H, W, C] = img as [number, number, number];
        const dy = rng.int(2 * maxShift + 1) - maxShift;
        const dx = rng.int(2 * maxShift + 1) - maxShift;
        for (let h = 0; h < H; h++) {
          const sh = h - dy;
          if (sh < 0 || sh >= H) continue;
          for (let w = 0; w < W; w++) {
            const sw = w - dx;
            if (sw < 0 || sw >= W) continue;
            for (let c = 0; c < C; c++) buf[i * per + (h * W + w) * C + c] = src[(sh * W + sw) * C + c]!;
          }
        }
      } else buf.set(src, i * per);
    }
  }

  /** Trains for `opts.epochs` epochs. Tensor count is flat across epochs (tested). */
  async fit(train: Dataset, opts: FitOptions): Promise<EpochRecord[]> {
    this.check();
    assertFits(train, this.ir.inputShape, 'train data');
    if (opts.test) assertFits(opts.test, this.ir.inputShape, 'test data');
    if (!Number.isInteger(opts.epochs) || opts.epochs < 0) {
      throw new CompressionError({ code: 'BAD_CONFIG', path: 'epochs', message: `epochs must be a non-negative integer, got ${opts.epochs}` });
    }
    const batchSize = opts.batchSize ?? 64;
    const hooks = opts.hooks ?? {};
    const distill = opts.distill && checkDistill(opts.distill, train);
    // A layerForward is a closure over this thread's state: workers can run it only when they can rebuild it
    // (portableLayerForward; see train/parallel.ts).
    const requested = resolveWorkers(opts.workers, batchSize);
    const movable = !hooks.layerForward || portableOf(hooks.layerForward) !== undefined;
    let workers = requested > 1 && movable && workerPlatform() && canShareMemory() ? requested : 1;
    const spec: OptimizerSpec = opts.optimizer ?? { kind: 'adam', lr: 1e-3 };
    const optimizer =
      spec.kind === 'adam'
        ? new FusedAdamOptimizer(spec.lr, spec.beta1 ?? 0.9, spec.beta2 ?? 0.999, spec.epsilon ?? 1e-7)
        : spec.momentum
          ? tf.train.momentum(spec.lr, spec.momentum, spec.nesterov ?? false)
          : tf.train.sgd(spec.lr);
    const rng = createRng(opts.seed ?? 0);
    const names = Object.keys(this.params).filter((n) => opts.trainable?.(n) ?? true);
    const varList = names.map((n) => this.params[n]!);
    const kernels = names.filter((n) => n.endsWith('/kernel')).map((n) => this.params[n]!);
    const stepsPerEpoch = Math.ceil(train.count / batchSize);
    const history: EpochRecord[] = [];
    const order = new Uint32Array(train.count);
    let globalStep = 0;
    const bnMomentum = new Map(this.ir.layers.flatMap((l) => (l.kind === 'batchNorm' ? [[l.name, l.momentum] as const] : [])));
    const foldBn = (layer: string, mean: tf.Tensor, variance: tf.Tensor): void => {
      const m = bnMomentum.get(layer) ?? 0.99;
      const mv = this.stats[`${layer}/moving_mean`],
        vv = this.stats[`${layer}/moving_variance`];
      tf.tidy(() => {
        mv?.assign(tf.add(tf.mul(mv, m), tf.mul(mean, 1 - m)));
        vv?.assign(tf.add(tf.mul(vv, m), tf.mul(variance, 1 - m)));
      });
    };
    /** Penalties that depend on parameters only: weight decay and the extraLoss hook. */
    const penalties = (info: StepInfo): tf.Scalar | undefined => {
      const terms: tf.Scalar[] = [];
      if (opts.weightDecay) terms.push(tf.mul(opts.weightDecay / 2, tf.addN(kernels.map((k) => tf.sum(tf.square(k))))) as tf.Scalar);
      const extra = hooks.extraLoss?.(this.params, info);
      if (extra) terms.push(extra);
      return terms.length === 0 ? undefined : terms.length === 1 ? terms[0] : (tf.addN(terms) as tf.Scalar);
    };

    // The fused parallel update (no transform): tfjs's optimizer formulas applied by every thread to its range of
    // the shared buffers (an extraLoss adds its own gradient to the calling thread's shard first).
    const fused: UpdateSpec | undefined = hooks.transform
      ? undefined
      : {
          kind: spec.kind === 'adam' ? 'adam' : spec.momentum ? 'momentum' : 'sgd',
          lr: spec.lr,
          beta1: spec.kind === 'adam' ? (spec.beta1 ?? 0.9) : 0,
          beta2: spec.kind === 'adam' ? (spec.beta2 ?? 0.999) : 0,
          epsilon: spec.kind === 'adam' ? (spec.epsilon ?? 1e-7) : 0,
          momentum: spec.kind === 'sgd' ? (spec.momentum ?? 0) : 0,
          nesterov: spec.kind === 'sgd' ? (spec.nesterov ?? false) : false,
          t: 0,
          weightDecay: opts.weightDecay ?? 0,
        };

    const inProcessStep = (x: tf.Tensor, y: tf.Tensor, target: tf.Tensor | undefined, seed: number, info: StepInfo): { loss: number; hits: number } => {
      const bnStats = new Map<string, { mean: tf.Tensor; variance: tf.Tensor }>();
      let hits = 0;
      const { value, grads } = tf.variableGrads(() => {
        const logits = forward(this.ir, this.weights(hooks, true), x, { training: true, logits: true, dropoutSeed: seed, bnStats, layerForward: hooks.layerForward });
        hits = countHits(logits, y);
        const loss = tf.losses.softmaxCrossEntropy(target ?? y, logits) as tf.Scalar;
        const extra = penalties(info);
        return extra ? (tf.add(loss, extra) as tf.Scalar) : loss;
      }, varList);
      (optimizer as tf.Optimizer).applyGradients(grads as never);
      const loss = value.dataSync()[0]!;
      tf.dispose([value, ...Object.values(grads)]);
      for (const [layer, st] of bnStats) {
        foldBn(layer, st.mean, st.variance);
        tf.dispose([st.mean, st.variance]);
      }
      return { loss, hits };
    };

    let par: ParallelState | undefined;
    let failed = true;
    try {
      if (workers > 1) {
        try {
          par = await this.startParallel(workers, train, batchSize, hooks, names, !!distill);
        } catch (e) {
          // Workers that cannot rebuild the layerForward (its module does not load there): train in-process.
          if (!hooks.layerForward) throw e;
          await this.closeWorkers();
          workers = 1;
        }
      }
      for (let epoch = 0; epoch < opts.epochs; epoch++) {
        const t0 = now();
        for (let i = 0; i < order.length; i++) order[i] = i;
        rng.shuffle(order);
        let lossSum = 0,
          correct = 0,
          seen = 0;
        for (let step = 0; step < stepsPerEpoch; step++) {
          if (opts.signal?.aborted) throw new CompressionError({ code: 'ABORTED', message: 'training was aborted', cause: opts.signal.reason });
          const info: StepInfo = { epoch, step, globalStep, stepsPerEpoch };
          const lr = opts.lrSchedule?.(info);
          if (lr !== undefined) (optimizer as unknown as { learningRate: number }).learningRate = lr;
          const from = step * batchSize,
            to = Math.min(train.count, from + batchSize);
          const augRng = opts.augment ? rng : undefined;
          let r: { loss: number; hits: number };
          if (par) {
            this.fillBatch(train, order, from, to, par.images, par.labels, augRng, opts.augment?.maxShift ?? 0, opts.augment?.imageShape);
            if (distill && par.targets) fillTargets(distill, train.numClasses, order, from, to, par.labels, par.targets);
            r = await this.parallelStep(par, to - from, rng.int(2 ** 30), hooks, varList, optimizer, penalties, fused && { ...fused, lr: lr ?? spec.lr }, info, foldBn);
          } else {
            const { x, y, target } = this.batch(train, order, from, to, augRng, opts.augment?.maxShift ?? 0, opts.augment?.imageShape, distill);
            try {
              r = inProcessStep(x, y, target, rng.int(2 ** 30), info);
            } finally {
              tf.dispose([x, y, ...(target ? [target] : [])]);
            }
          }
          if (hooks.afterStep) {
            hooks.afterStep(this.params, info);
            if (par) par.stale = true;
          }
          if (!Number.isFinite(r.loss)) {
            throw new CompressionError({
              code: 'BAD_CONFIG',
              message: `training diverged: loss is ${r.loss} at epoch ${epoch + 1}, step ${step + 1}`,
              hint: 'lower the learning rate or check the data',
            });
          }
          lossSum += r.loss * (to - from);
          correct += r.hits;
          seen += to - from;
          globalStep++;
          if (opts.onProgress && (step % 10 === 0 || step === stepsPerEpoch - 1)) {
            opts.onProgress({ phase: opts.phase ?? 'train', epoch, epochs: opts.epochs, step: step + 1, stepsPerEpoch, loss: lossSum / seen, done: false });
          }
          if (step % 25 === 24) await yieldToEventLoop();
        }
        const rec: EpochRecord = { epoch: epoch + 1, loss: lossSum / seen, trainAccuracy: correct / seen, seconds: (now() - t0) / 1000, workers };
        if (opts.test) {
          const ev = this.evaluate(opts.test, { hooks });
          rec.testAccuracy = ev.accuracy;
          rec.testLoss = ev.loss;
        }
        history.push(rec);
        await hooks.afterEpoch?.(this.params, { epoch, loss: rec.loss, accuracy: rec.trainAccuracy });
        opts.onProgress?.({
          phase: opts.phase ?? 'train',
          epoch,
          epochs: opts.epochs,
          step: stepsPerEpoch,
          stepsPerEpoch,
          loss: rec.loss,
          trainAccuracy: rec.trainAccuracy,
          testAccuracy: rec.testAccuracy,
          testLoss: rec.testLoss,
          done: epoch === opts.epochs - 1,
        });
      }
      failed = false;
    } finally {
      optimizer.dispose();
      // After an error or an abort the workers may be mid-step: stop them; the next fit starts new ones.
      if (this.pool && failed) await this.closeWorkers();
      else this.pool?.idle();
    }
    return history;
  }

  /**
   * Shared buffers and worker state for a data-parallel fit. Workers are started once per Trainer; the buffers, the
   * update kernels and the workers' setup are kept for the next fit when its layout is the same (methods call `fit`
   * once per epoch or phase), with the optimizer's moments cleared.
   */
  private async startParallel(workers: number, train: Dataset, batchSize: number, hooks: TrainHooks, names: readonly string[], distill: boolean) {
    const shapes = tf.tidy(() => Object.entries(this.weights(hooks, true)).map(([k, t]) => [k, t.shape] as [string, number[]]));
    // Without a transform, effective weights are the parameters: only the trained ones need gradients. With one, any
    // trainable-named effective weight may depend on a trained parameter; the transform's VJP sorts them out.
    const wanted = hooks.transform ? shapes.filter(([k]) => isTrainableWeight(k)) : shapes.filter(([k]) => names.includes(k));
    const layerForward = portableOf(hooks.layerForward);
    const key = JSON.stringify([tf.getBackend(), workers, batchSize, train.numClasses, distill, shapes, wanted.map(([k]) => k), layerForward]);
    if (this.pool && this.pool.size !== workers - 1) await this.closeWorkers();
    const kept = this.parallel;
    if (kept && kept.key === key && kept.pool === this.pool) {
      kept.pool.busy();
      kept.state.fill(0);
      return Object.assign(kept, { stale: true, t: 0 });
    }
    const weightLayout = packLayout(shapes);
    const gradLayout = packLayout(wanted);
    for (const g of gradLayout.slots) g.weightOffset = weightLayout.slots.find((w) => w.name === g.name)!.offset;
    const per = sizeOf(this.ir.inputShape);
    const update = allocateUpdateMemory(weightLayout.total, workers * gradLayout.total, 2 * gradLayout.total);
    const views = updateViews(update);
    const control = controlBlock(workers);
    const sab = {
      images: new SharedArrayBuffer(batchSize * per * 4),
      labels: new SharedArrayBuffer(batchSize * 4),
      targets: distill ? new SharedArrayBuffer(batchSize * train.numClasses * 4) : undefined,
    };
    this.pool ??= new WorkerPool(workers - 1);
    const pool = this.pool;
    await pool.init((slot) => ({
      type: 'init',
      backend: tf.getBackend(),
      ir: this.ir,
      weightSlots: weightLayout.slots,
      gradSlots: gradLayout.slots,
      gradTotal: gradLayout.total,
      ...sab,
      update,
      control: control.buffer as SharedArrayBuffer,
      layerForward,
      numClasses: train.numClasses,
      slot,
    }));
    this.parallel = {
      key,
      pool,
      workers,
      numClasses: train.numClasses,
      weightSlots: weightLayout.slots,
      gradSlots: gradLayout.slots,
      gradTotal: gradLayout.total,
      weights: views.weights,
      images: new Float32Array(sab.images),
      labels: new Int32Array(sab.labels),
      targets: sab.targets && new Float32Array(sab.targets),
      grads: views.grads,
      state: views.state,
      control,
      /** Steps started on this pool and block (the control words count them). */
      seq: 0,
      /** The SIMD Adam kernel bound to the update memory (undefined where the platform has no shared wasm memory). */
      kernel: update.memory && adamKernel(update.memory),
      /** The weights buffer no longer matches the variables (set at the start and by afterStep hooks). */
      stale: true,
      /** Fused updates so far in this fit (Adam's bias correction). */
      t: 0,
    };
    return this.parallel;
  }

  /**
   * One data-parallel step: effective weights to shared memory, shards 1.. on the workers while this thread does
   * shard 0, gradients summed in shard order, mapped onto the parameters through the transform's VJP (plus the
   * penalties' gradients), one optimizer update here.
   */
  private async parallelStep(
    par: ParallelState,
    n: number,
    seed: number,
    hooks: TrainHooks,
    varList: tf.Variable[],
    optimizer: tf.Optimizer,
    penalties: (info: StepInfo) => tf.Scalar | undefined,
    fused: UpdateSpec | undefined,
    info: StepInfo,
    foldBn: (layer: string, mean: tf.Tensor, variance: tf.Tensor) => void,
  ): Promise<{ loss: number; hits: number }> {
    const sizes = shardSizes(n, par.workers);
    const starts = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const shards = sizes.map((sz, i) => ({ from: starts[i]!, to: starts[i]! + sz, seed: shardSeed(seed, i) }));
    const owned = new Set<tf.Tensor>([...Object.values(this.params), ...Object.values(this.stats)]);
    const seq = ++par.seq;
    const spec = fused && { ...fused, t: ++par.t };
    const coefs = shardCoefs(sizes);
    // An extraLoss's gradient goes into shard 0's slot: scaled by n / n_0 there, or, when shard 0 is empty, as the
    // slot's whole content with weight 1.
    if (spec && hooks.extraLoss && sizes[0] === 0) coefs[0] = 1;
    let extraValue = 0;
    // Where this thread may block (Node), it meets the workers on the control words, falling back to their messages
    // (which also report a worker that failed) after a while.
    const meet = (word: (k: number) => number, budgetMs: number): boolean => {
      if (!canBlock()) return false;
      for (let k = 1; k < par.workers; k++) if (!blockUntil(par.control, word(k), seq, budgetMs)) return false;
      return true;
    };
    const eff = tf.tidy(() => this.weights(hooks, true));
    let outcomes: ShardOutcome[];
    let others: ReturnType<WorkerPool['step']>;
    let shardMs = 0;
    try {
      // The fused path updates the weights buffer itself; it is copied only when the variables changed elsewhere.
      if (!fused || par.stale) for (const s of par.weightSlots) par.weights.set(eff[s.name]!.dataSync() as Float32Array, s.offset);
      par.stale = false;
      others = par.pool.step(shards.slice(1), seq, spec && { spec, coefs });
      const t0 = now();
      // A last batch smaller than the worker count leaves shard 0 empty (the workers' shards come first).
      outcomes = [bufferedShard(this.ir, eff, par, 0, sizes[0]!, par.gradSlots, par.grads.subarray(0, par.gradTotal), shards[0]!.seed, hooks.layerForward)];
      shardMs = now() - t0;
      if (spec && hooks.extraLoss) extraValue = this.addPenaltyGradients(par, hooks.extraLoss, varList, info, sizes[0] === 0 ? 0 : n / sizes[0]!);
      signal(par.control, gradsWord(0), seq);
    } catch (e) {
      // The workers may be waiting for this thread's gradients: let them go (the fit then stops the pool).
      abortControl(par.control);
      throw e;
    } finally {
      tf.dispose(Object.values(eff).filter((t) => !owned.has(t)));
    }
    const budget = Math.max(100, 2 * shardMs);
    if (spec) {
      // Every thread reduces and updates its own range of the weights buffer; then the variables take the new values.
      if (!meet(gradsWord, budget)) await others.done;
      const [from, to] = updateRange(par.gradTotal, par.workers, 0);
      reduceAndUpdate(spec, par.gradSlots, par.gradTotal, from, to, coefs, par.grads, par.weights, par.state, par.kernel);
      if (!meet(updatedWord, budget)) await others.updated;
      tf.tidy(() => {
        for (const s of par.gradSlots) this.params[s.name]!.assign(tf.tensor(par.weights.subarray(s.weightOffset!, s.weightOffset! + sizeOf(s.shape)), s.shape, 'float32'));
      });
      return this.finishParallel([...outcomes, ...(await others.done)], sizes, n, extraValue, foldBn);
    }
    if (!meet(gradsWord, budget)) await others.done;
    // Σ_i (n_i / n) · g_i, in shard order; then back through the transform's VJP, plus the penalties' gradients (this
    // path runs only with a transform: without one the update above is fused).
    const g = sumShards(par.grads, par.gradTotal, coefs, 0, par.gradTotal);
    const G: Record<string, tf.Tensor> = {};
    for (const s of par.gradSlots) G[s.name] = tf.tensor(g.subarray(s.offset, s.offset + sizeOf(s.shape)), s.shape, 'float32');
    try {
      const { value, grads } = tf.variableGrads(() => {
        const w = hooks.transform!(this.params, { training: true });
        const dot = tf.addN(par.gradSlots.map((s) => tf.sum(tf.mul(w[s.name]!, G[s.name]!)))) as tf.Scalar;
        const extra = penalties(info);
        if (!extra) return dot;
        extraValue = tf.tidy(() => extra.dataSync()[0]!);
        return tf.add(dot, extra) as tf.Scalar;
      }, varList);
      optimizer.applyGradients(grads as never);
      tf.dispose([value, ...Object.values(grads)]);
    } finally {
      tf.dispose(Object.values(G));
    }
    return this.finishParallel([...outcomes, ...(await others.done)], sizes, n, extraValue, foldBn);
  }

  /**
   * Adds the extraLoss hook's gradient (with respect to the current parameters) to shard 0's gradient slot, times
   * `scale` (n / n_0, so that the slot's weight n_0 / n in the sum gives it weight 1); `scale` 0 means shard 0 is
   * empty and the slot becomes the penalty's gradient alone. Returns the penalty's value (0 when it returned none).
   */
  private addPenaltyGradients(par: ParallelState, extraLoss: NonNullable<TrainHooks['extraLoss']>, varList: tf.Variable[], info: StepInfo, scale: number): number {
    let value = 0;
    const { value: v, grads } = tf.tidy(() =>
      tf.variableGrads(() => {
        const e = extraLoss(this.params, info);
        // none this step: a zero term keeps variableGrads' tape connected
        return e ?? (tf.mul(0, tf.sum(varList[0]!)) as tf.Scalar);
      }, varList),
    );
    try {
      value = v.dataSync()[0]!;
      for (const s of par.gradSlots) {
        const dst = par.grads.subarray(s.offset, s.offset + sizeOf(s.shape));
        const g = grads[this.params[s.name]!.name];
        if (scale === 0) dst.fill(0);
        if (!g) continue;
        const e = g.dataSync() as Float32Array;
        if (scale === 0) dst.set(e);
        else for (let j = 0; j < dst.length; j++) dst[j]! += scale * e[j]!;
      }
    } finally {
      tf.dispose([v, ...Object.values(grads)]);
    }
    return value;
  }

  /** Batch-norm moving statistics from the shards; the step's loss and hits. */
  private finishParallel(
    outcomes: ShardOutcome[],
    sizes: number[],
    n: number,
    extraValue: number,
    foldBn: (layer: string, mean: tf.Tensor, variance: tf.Tensor) => void,
  ): { loss: number; hits: number } {
    for (const b of combineBnStats(outcomes.map((o, i) => ({ count: sizes[i]!, bn: o.bn })))) {
      const mean = tf.tensor(b.mean),
        variance = tf.tensor(b.variance);
      foldBn(b.layer, mean, variance);
      tf.dispose([mean, variance]);
    }
    const ce = outcomes.reduce((a, o, i) => a + (sizes[i]! / n) * o.loss, 0);
    return { loss: ce + extraValue, hits: outcomes.reduce((a, o) => a + o.hits, 0) };
  }

  /** Mean cross-entropy and top-1 accuracy over a dataset, in batches. */
  evaluate(data: Dataset, opts: { hooks?: TrainHooks; batchSize?: number } = {}): Evaluation {
    this.check();
    return evaluateWith(this.ir, () => this.weights(opts.hooks, false), data, { batchSize: opts.batchSize, layerForward: opts.hooks?.layerForward });
  }

  /** The current (effective) weights as a model of dense encodings. */
  toModel(hooks?: TrainHooks): Model {
    this.check();
    const weights: Record<string, Encoding> = {};
    tf.tidy(() => {
      for (const [name, t] of Object.entries(this.weights(hooks, false))) weights[name] = denseEncoding(t.shape, t.dataSync() as Float32Array);
    });
    return { ir: this.ir, weights };
  }

  /** Replaces a parameter's value (shape must match). */
  assign(name: string, values: Float32Array): void {
    const v = this.params[name] ?? this.stats[name];
    if (!v) throw new CompressionError({ code: 'BAD_CONFIG', message: `no parameter '${name}'`, hint: `known: ${Object.keys(this.params).join(', ')}` });
    tf.tidy(() => v.assign(tf.tensor(values, v.shape, 'float32')));
  }

  /** A parameter's current values (a copy). */
  read(name: string): Float32Array {
    const v = this.params[name] ?? this.stats[name];
    if (!v) throw new CompressionError({ code: 'BAD_CONFIG', message: `no parameter '${name}'`, hint: `known: ${Object.keys(this.params).join(', ')}` });
    return v.dataSync().slice() as Float32Array;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const v of [...Object.values(this.params), ...Object.values(this.stats)]) v.dispose();
    // Terminating is asynchronous; `closeWorkers()` awaits it.
    void this.closeWorkers();
  }

  /** Stops this trainer's training workers (if any were started) and waits until they have exited. */
  async closeWorkers(): Promise<void> {
    const p = this.pool;
    this.pool = undefined;
    this.parallel = undefined;
    await p?.close();
  }
}

type Distill = { targets: Float32Array; weight: number };

function checkDistill(d: NonNullable<FitOptions['distill']>, train: Dataset): Distill {
  const fail = (path: string, message: string, hint?: string): never => {
    throw new CompressionError({ code: 'BAD_CONFIG', path: `distill.${path}`, message: `distill.${path}: ${message}`, hint });
  };
  const weight = d.weight ?? 0.5;
  if (!(weight >= 0 && weight <= 1)) fail('weight', `expected a number in [0, 1], got ${d.weight}`);
  if (!(d.targets instanceof Float32Array))
    fail('targets', `expected a Float32Array, got ${Object.prototype.toString.call(d.targets)}`, 'compute them with teacherTargets(teacher, train)');
  const want = train.count * train.numClasses;
  if (d.targets.length !== want) {
    fail(
      'targets',
      `has ${d.targets.length} values, expected ${want} (${train.count} training examples × ${train.numClasses} classes)`,
      'compute them with teacherTargets(teacher, train) on the same training set',
    );
  }
  for (let i = 0; i < d.targets.length; i++) {
    const v = d.targets[i]!;
    if (!(v >= 0 && v <= 1)) fail(`targets[${i}]`, `expected a probability in [0, 1], got ${v}`);
  }
  return { targets: d.targets, weight };
}

/** Rows from..to of the batch's training targets: (1 − w)·one-hot(label) + w·teacher probabilities. */
function fillTargets(d: Distill, k: number, idx: ArrayLike<number>, from: number, to: number, lab: Int32Array, out: Float32Array): void {
  for (let i = 0; i < to - from; i++) {
    const j = idx[from + i]!;
    for (let c = 0; c < k; c++) out[i * k + c] = d.weight * d.targets[j * k + c]!;
    out[i * k + lab[i]!]! += 1 - d.weight;
  }
}

/**
 * A teacher's class probabilities for every example of `data` (data.count × numClasses), for `fit`'s `distill`
 * option. `temperature` > 1 softens them: p^(1/T), renormalised, which is softmax(logits / T).
 */
export function teacherTargets(teacher: Model, data: Dataset, opts: { temperature?: number } & RunnerOptions = {}): Float32Array {
  const T = opts.temperature ?? 1;
  if (!(T > 0) || !Number.isFinite(T)) {
    throw new CompressionError({ code: 'BAD_CONFIG', path: 'temperature', message: `temperature must be a positive number, got ${opts.temperature}` });
  }
  assertFits(data, teacher.ir.inputShape, 'teacher data');
  const p = predict(teacher, data.images, data.count, opts);
  const k = p.length / data.count;
  if (k !== data.numClasses) {
    throw new CompressionError({ code: 'BAD_DATASET', path: 'numClasses', message: `the teacher predicts ${k} classes but the dataset has ${data.numClasses}` });
  }
  if (T !== 1) {
    for (let i = 0; i < data.count; i++) {
      let z = 0;
      for (let c = 0; c < k; c++) z += p[i * k + c] = Math.max(p[i * k + c]!, 1e-30) ** (1 / T);
      for (let c = 0; c < k; c++) p[i * k + c]! /= z;
    }
  }
  return p;
}

/** Evaluation of arbitrary weights (e.g. a decoded artifact) without a trainer. */
export function evaluateWith(
  ir: ModelIR,
  getWeights: () => WeightTensors,
  data: Dataset,
  opts: { batchSize?: number; layerForward?: ForwardOptions['layerForward'] } = {},
): Evaluation {
  assertFits(data, ir.inputShape, 'evaluation data');
  const bs = opts.batchSize ?? 500;
  const per = sizeOf(data.shape);
  let lossSum = 0,
    correct = 0;
  for (let from = 0; from < data.count; from += bs) {
    const to = Math.min(data.count, from + bs);
    const [l, c] = tf.tidy(() => {
      const x = tf.tensor(data.images.subarray(from * per, to * per), [to - from, ...ir.inputShape], 'float32');
      const y = tf.oneHot(tf.tensor1d(data.labels.subarray(from, to) as Int32Array, 'int32'), data.numClasses);
      const logits = forward(ir, getWeights(), x, { logits: true, layerForward: opts.layerForward });
      const loss = tf.mul(tf.losses.softmaxCrossEntropy(y, logits), to - from);
      const hit = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(y, 1)), 'float32'));
      return [loss.dataSync()[0]!, hit.dataSync()[0]!];
    });
    lossSum += l;
    correct += c;
  }
  return { loss: lossSum / data.count, accuracy: correct / data.count, count: data.count };
}

/**
 * Evaluates a model exactly as stored, through `createRunner`: layers whose encoding has an installed kernel
 * run on it (pass `kernels: []` for the dense path).
 */
export function evaluateModel(model: Model, data: Dataset, opts: { batchSize?: number } & RunnerOptions = {}): Evaluation {
  const r = createRunner(model, opts);
  try {
    return r.evaluate(data, opts);
  } finally {
    r.dispose();
  }
}

/** Class probabilities for a batch of examples (Float32Array in the model's input layout), through `createRunner`. */
export function predict(model: Model, images: Float32Array, count: number, opts: RunnerOptions = {}): Float32Array {
  const r = createRunner(model, opts);
  try {
    return r.predict(images, count);
  } finally {
    r.dispose();
  }
}

/** Step-decay schedule: lr·factor at each boundary fraction of training (e.g. [0.75] → ×0.1 for the last 25%). */
export function stepDecay(lr: number, epochs: number, boundaries: number[] = [], factor = 0.1): (i: StepInfo) => number {
  return (i) => {
    const t = (i.epoch + i.step / i.stepsPerEpoch) / Math.max(1, epochs);
    return lr * factor ** boundaries.filter((b) => t >= b).length;
  };
}

/** Cosine decay from lr to lr·floor over training. */
export function cosineDecay(lr: number, epochs: number, floor = 0.01): (i: StepInfo) => number {
  return (i) => {
    const t = Math.min(1, (i.epoch + i.step / i.stepsPerEpoch) / Math.max(1, epochs));
    return lr * (floor + (1 - floor) * 0.5 * (1 + Math.cos(Math.PI * t)));
  };
}

export { yieldToEventLoop };
