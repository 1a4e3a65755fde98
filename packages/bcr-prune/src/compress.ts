// Core-facing glue of the bcr method: Trainer + hooks with fixed structured masks (intersected with any mask the input
// already has), output as core's blockSparse / nm encodings.
import * as tf from '@tensorflow/tfjs-core';
import {
  blockSparseFromMask,
  CompressionError,
  cosineDecay,
  denseEncoding,
  evaluateModel,
  layerReport,
  maskedEncoding,
  nmFromMask,
  subset,
  toDense,
  toGemm,
  Trainer,
  type CompressContext,
  type CompressResult,
  type Dataset,
  type Encoding,
  type Model,
  type Plan,
  type Target,
  type TrainHooks,
  type TrainProgress,
} from '@edge-compress/core';
import type { BcrConfig, BcrOptions } from './config.js';
import { blockOf } from './plan.js';
import { bcrMask, chooseRates, nmMask, wholeBlockMask } from './sparsity.js';

/** What was decided for one target: the projection onto its sparsity set, in GEMM space. */
export interface LayerChoice {
  layer: string;
  weight: string;
  pattern: 'bcr' | 'block' | 'nm';
  block: [number, number];
  /** Target fraction removed (for bcr: 1 − (1−γ_r)(1−γ_c) of a full block). */
  sparseRatio: number;
  rowRate?: number;
  colRate?: number;
  nm?: [number, number];
  auto: boolean;
}

const gemmDimsOf = (shape: readonly number[]) => {
  const rows = shape[shape.length - 1]!;
  return { rows, cols: shape.reduce((a, b) => a * b, 1) / rows };
};

/** GEMM-space mask of a choice applied to a GEMM matrix. */
export function projectMask(c: LayerChoice, gemm: Float32Array, rows: number, cols: number): Uint8Array {
  if (c.pattern === 'nm') return nmMask(gemm, rows, cols, c.nm![0], c.nm![1]);
  if (c.pattern === 'block') return wholeBlockMask(gemm, rows, cols, c.block, c.sparseRatio);
  return bcrMask(gemm, rows, cols, c.block, { rowRate: c.rowRate ?? 0, colRate: c.colRate ?? 0 });
}

/** The same mask in tfjs layout (weight [.., rows] with rows last). */
function maskToTfjs(m: Uint8Array, rows: number, cols: number): Uint8Array {
  const out = new Uint8Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = m[r * cols + c]!;
  return out;
}

function choose(t: Target<BcrConfig>, values: Float32Array, ratio: number, auto: boolean): LayerChoice {
  const { rows, cols } = gemmDimsOf(t.shape);
  const block = blockOf(t);
  const cfg = t.config;
  const pattern = cfg.pattern ?? (cfg.nm ? 'nm' : 'bcr');
  const base = { layer: t.layer, weight: t.weight, block, auto };
  if (pattern === 'nm') {
    const [n, m] = cfg.nm as [number, number];
    return { ...base, pattern, nm: [n, m], sparseRatio: 1 - n / m };
  }
  if (pattern === 'block') return { ...base, pattern, sparseRatio: ratio };
  if (cfg.rowRatio !== undefined && cfg.colRatio !== undefined) {
    return { ...base, pattern, rowRate: cfg.rowRatio, colRate: cfg.colRatio, sparseRatio: 1 - (1 - cfg.rowRatio) * (1 - cfg.colRatio) };
  }
  if (ratio === 0) return { ...base, pattern, rowRate: 0, colRate: 0, sparseRatio: 0 };
  const r = chooseRates(toGemm(values, t.shape), rows, cols, block, ratio, { rowMultiple: 4 });
  return { ...base, pattern, rowRate: r.rowRate, colRate: r.colRate, sparseRatio: 1 - r.keptFraction };
}

/** Masked copy of a model where each chosen layer is projected (one shot, no training). */
function oneShot(model: Model, choices: LayerChoice[]): Model {
  const weights = { ...model.weights };
  for (const c of choices) {
    const e = model.weights[c.weight]!;
    const { rows, cols } = gemmDimsOf(e.shape);
    const m = maskToTfjs(projectMask(c, toGemm(toDense(e), e.shape), rows, cols), rows, cols);
    weights[c.weight] = maskedEncoding(denseEncoding(e.shape, toDense(e).slice()), m);
  }
  return { ir: model.ir, weights };
}

/** Train / validation data: ctx.val when the context has it, else the last 10% of ctx.train (never test). */
export function splitData(ctx: Pick<CompressContext, 'train'> & { val?: Dataset }): { train: Dataset; val: Dataset } {
  const v = ctx.val;
  if (v) return { train: ctx.train, val: v };
  const nVal = Math.max(1, Math.floor(ctx.train.count / 10));
  const nTrain = ctx.train.count - nVal;
  return {
    train: subset(ctx.train, nTrain),
    val: subset(
      ctx.train,
      Array.from({ length: nVal }, (_, i) => nTrain + i),
    ),
  };
}

/** Per-target choices; targets without a ratio get the largest candidate whose one-shot val accuracy drop ≤ tolerance. */
export function chooseAll(model: Model, plan: Plan<BcrConfig, BcrOptions>, val: Dataset): LayerChoice[] {
  const o = plan.options;
  const explicit = (t: Target<BcrConfig>) => t.config.sparseRatio !== undefined || t.config.rowRatio !== undefined || t.config.nm !== undefined;
  const choices = plan.targets.map((t) => (explicit(t) ? choose(t, toDense(model.weights[t.weight]!), t.config.sparseRatio ?? 0, false) : undefined));
  const pending = plan.targets.filter((_, i) => !choices[i]);
  if (pending.length) {
    const sub = subset(val, Math.min(val.count, 1000));
    const baseAcc = evaluateModel(model, sub).accuracy;
    for (const t of pending) {
      const i = plan.targets.indexOf(t);
      const values = toDense(model.weights[t.weight]!);
      let best = choose(t, values, 0, true);
      if (values.length >= o.minWeights) {
        // The smallest candidate always applies (retraining recovers it); larger ones while the one-shot drop is within tolerance.
        const cands = [...o.autoCandidates].sort((a, b) => a - b);
        best = choose(t, values, cands[0]!, true);
        for (const r of cands.slice(1)) {
          const c = choose(t, values, r, true);
          const acc = evaluateModel(oneShot(model, [c]), sub).accuracy;
          if (baseAcc - acc > o.autoTolerance) break;
          best = c;
        }
      }
      choices[i] = best;
    }
  }
  return choices as LayerChoice[];
}

/**
 * BCR pruning: ADMM-style training towards the sparsity set (Z = Π(W + U), U += W − Z per epoch, penalty ρ/2‖W − Z + U‖²),
 * hard projection, masked retraining. Returns masked encodings whose masks have the chosen structure.
 */
export async function compressBcr(model: Model, ctx: CompressContext, plan: Plan<BcrConfig, BcrOptions>): Promise<CompressResult & { choices: LayerChoice[] }> {
  const o = plan.options;
  if (ctx.signal?.aborted) throw new CompressionError({ code: 'ABORTED', method: 'bcr', message: 'bcr: aborted before it started', cause: ctx.signal.reason });
  const { train, val } = splitData(ctx);
  // A mask the input already has (an earlier pruning stage) stays: pruned entries never come back.
  const prior = new Map<string, Uint8Array>();
  for (const t of plan.targets) {
    const e = model.weights[t.weight]!;
    if (e.kind === 'masked') prior.set(t.weight, e.mask);
  }
  const withPrior = (name: string, m: Uint8Array): Uint8Array => {
    const p = prior.get(name);
    return p ? m.map((v, i) => v & p[i]!) : m;
  };
  const before = evaluateModel(model, val);
  const choices = chooseAll(model, plan, val).filter((c) => c.sparseRatio > 0 || c.pattern === 'nm');
  const byWeight = new Map(choices.map((c) => [c.weight, c]));
  const layers = new Set(choices.map((c) => c.layer));
  const trainer = new Trainer(model);
  const tensors: tf.Tensor[] = [];
  const progress = (phase: string) => ctx.onProgress && ((p: TrainProgress) => ctx.onProgress!({ ...p, phase, method: 'bcr' }));
  const project = (name: string, v: Float32Array): Float32Array => {
    const c = byWeight.get(name)!;
    const shape = model.weights[name]!.shape;
    const { rows, cols } = gemmDimsOf(shape);
    const m = withPrior(name, maskToTfjs(projectMask(c, toGemm(v, shape), rows, cols), rows, cols));
    const out = v.slice();
    for (let i = 0; i < out.length; i++) if (!m[i]) out[i] = 0;
    return out;
  };
  // Shift augmentation as the baseline had it: rank-3 inputs directly, flat 784-inputs viewed as 28×28 digits.
  const augment = () => {
    if (!o.maxShift) return undefined;
    const shape = model.ir.inputShape;
    if (shape.length === 3) return { maxShift: o.maxShift };
    if (shape.length === 1 && shape[0] === 784) return { maxShift: o.maxShift, imageShape: [28, 28, 1] as [number, number, number] };
    return undefined;
  };
  // Reweighted group lasso (ALGORITHMS §2.2 (a)): λ Σ_layers Σ_blocks [Σ_c P_c ‖W_blk,c‖² + Σ_r P_r ‖W_blk,r‖²] with
  // P_g = 1/(‖W_g‖² + ε) re-set every epoch (ε = 1e-3 · mean group norm²), λ = strength · CE₀ / #groups. Groups are the
  // segments of each GEMM column / row inside a block (bcr), or whole blocks (block); N:M targets are not regularised.
  const groupsOf = (v: tf.Tensor, shape: readonly number[], block: [number, number]): { cols: tf.Tensor; rows: tf.Tensor } => {
    const { rows, cols } = gemmDimsOf(shape);
    const [br, bc] = block;
    const nbr = Math.ceil(rows / br),
      nbc = Math.ceil(cols / bc);
    // tfjs layout [.., rows] flattened is [cols, rows]: element (c, r) of the GEMM view.
    const sq = tf.reshape(
      tf.pad(tf.square(tf.reshape(v, [cols, rows])), [
        [0, nbc * bc - cols],
        [0, nbr * br - rows],
      ]),
      [nbc, bc, nbr, br],
    );
    return { cols: tf.sum(sq, 3), rows: tf.sum(sq, 1) };
  };
  async function lassoPhase(fit: (epochs: number, hooks: TrainHooks, phase: string) => Promise<unknown>): Promise<void> {
    const regs = choices.filter((c) => c.pattern !== 'nm');
    if (!regs.length) return;
    const P = new Map<string, { cols: tf.Tensor; rows: tf.Tensor }>();
    const reweight = (): number => {
      let groups = 0;
      for (const c of regs) {
        const g = tf.tidy(() => {
          const w = tf.tensor(trainer.read(c.weight), model.weights[c.weight]!.shape);
          const { cols, rows } = groupsOf(w, model.weights[c.weight]!.shape, c.block);
          const eps = tf.mul(1e-3, tf.mean(tf.concat([tf.reshape(cols, [-1]), tf.reshape(rows, [-1])])));
          // whole-block pruning: one group per block, so only the column terms are summed over the block
          const pc = tf.div(1, tf.add(c.pattern === 'block' ? tf.tile(tf.sum(cols, 1, true), [1, c.block[1], 1]) : cols, eps));
          const pr = c.pattern === 'block' ? tf.zerosLike(rows) : tf.div(1, tf.add(rows, eps));
          return { cols: tf.keep(pc), rows: tf.keep(pr) };
        });
        const old = P.get(c.weight);
        if (old) tf.dispose([old.cols, old.rows]);
        P.set(c.weight, g);
        groups += c.pattern === 'block' ? g.cols.size / c.block[1] : g.cols.size + g.rows.size;
      }
      return groups;
    };
    const groups = reweight();
    const ce0 = evaluateModel(trainer.toModel(), subset(train, Math.min(train.count, 1000))).loss;
    const lambda = (o.lassoStrength * ce0) / Math.max(1, groups);
    const hooks: TrainHooks = {
      extraLoss: (p) =>
        tf.mul(
          lambda,
          tf.addN(
            regs.map((c) => {
              const g = groupsOf(p[c.weight]!, model.weights[c.weight]!.shape, c.block);
              const w = P.get(c.weight)!;
              return tf.add(tf.sum(tf.mul(g.cols, w.cols)), tf.sum(tf.mul(g.rows, w.rows)));
            }),
          ),
        ) as tf.Scalar,
      afterEpoch: () => void reweight(),
    };
    try {
      await fit(o.lassoEpochs, hooks, 'lasso');
    } finally {
      for (const g of P.values()) tf.dispose([g.cols, g.rows]);
    }
  }
  try {
    const fit = (epochs: number, hooks: TrainHooks, phase: string) =>
      trainer.fit(train, {
        trainable: (n) => layers.has(n.split('/')[0]!),
        epochs,
        batchSize: o.batchSize,
        optimizer: { kind: 'adam', lr: o.lr },
        lrSchedule: cosineDecay(o.lr, epochs),
        seed: ctx.seed,
        augment: augment(),
        hooks,
        phase,
        signal: ctx.signal,
        onProgress: progress(phase),
      });
    let gradualMasks: Map<string, tf.Tensor> | undefined;
    if (o.schedule === 'gradual' && o.pruneEpochs > 0 && choices.length) {
      const steps = o.pruneEpochs * Math.ceil(train.count / o.batchSize);
      const every = Math.max(1, Math.floor(Math.ceil(train.count / o.batchSize) / 4));
      const masks = new Map<string, tf.Tensor>();
      const update = (t: number): void => {
        const s = 1 - (1 - Math.min(1, t)) ** 3;
        for (const c of choices) {
          const scaled: LayerChoice = c.pattern === 'nm' ? c : { ...c, rowRate: (c.rowRate ?? 0) * s, colRate: (c.colRate ?? 0) * s, sparseRatio: c.sparseRatio * s };
          if (c.pattern === 'nm' && t < 0.5) continue;
          const shape = model.weights[c.weight]!.shape;
          const { rows, cols } = gemmDimsOf(shape);
          const m = withPrior(c.weight, maskToTfjs(projectMask(scaled, toGemm(trainer.read(c.weight), shape), rows, cols), rows, cols));
          masks.get(c.weight)?.dispose();
          masks.set(c.weight, tf.keep(tf.tensor(Float32Array.from(m), shape, 'float32')));
        }
      };
      const apply = (p: Record<string, tf.Variable>) => tf.tidy(() => masks.forEach((m, n) => p[n]!.assign(tf.mul(p[n]!, m))));
      const hooks: TrainHooks = {
        transform: (p) => Object.fromEntries(Object.entries(p).map(([n, v]) => [n, masks.has(n) ? tf.mul(v, masks.get(n)!) : v])),
        afterStep: (p, info) => {
          if (info.globalStep % every === every - 1) update((info.globalStep + 1) / (0.75 * steps));
          apply(p);
        },
      };
      update(1 / Math.max(1, Math.ceil((0.75 * steps) / every)));
      apply(trainer.params);
      gradualMasks = masks;
      try {
        await fit(o.pruneEpochs, hooks, 'prune');
      } finally {
        for (const t of masks.values()) t.dispose();
      }
    }
    void gradualMasks;
    if (o.schedule === 'admm' && o.admmEpochs > 0 && choices.length) {
      const Z = new Map<string, tf.Tensor>(),
        U = new Map<string, tf.Tensor>();
      for (const c of choices) {
        const v = trainer.read(c.weight);
        Z.set(c.weight, tf.keep(tf.tensor(project(c.weight, v), model.weights[c.weight]!.shape)));
        U.set(c.weight, tf.keep(tf.zerosLike(Z.get(c.weight)!)));
      }
      const hooks: TrainHooks = {
        extraLoss: (p) => tf.mul(o.rho / 2, tf.addN(choices.map((c) => tf.sum(tf.square(tf.add(tf.sub(p[c.weight]!, Z.get(c.weight)!), U.get(c.weight)!)))))) as tf.Scalar,
        afterEpoch: () => {
          for (const c of choices) {
            const w = trainer.read(c.weight);
            const u = U.get(c.weight)!.dataSync() as Float32Array;
            const wu = Float32Array.from(w, (x, i) => x + u[i]!);
            const z = project(c.weight, wu);
            const un = Float32Array.from(wu, (x, i) => x - z[i]!);
            Z.get(c.weight)!.dispose();
            U.get(c.weight)!.dispose();
            Z.set(c.weight, tf.keep(tf.tensor(z, model.weights[c.weight]!.shape)));
            U.set(c.weight, tf.keep(tf.tensor(un, model.weights[c.weight]!.shape)));
          }
        },
      };
      try {
        await fit(o.admmEpochs, hooks, 'admm');
      } finally {
        for (const t of [...Z.values(), ...U.values()]) t.dispose();
      }
    }
    if (o.schedule === 'lasso' && o.lassoEpochs > 0 && choices.length) await lassoPhase(fit);
    // Hard projection, then masked retraining. `structure` is the projection (stored as the encoding's rows × columns);
    // `masks` is what trains: the structure intersected with an earlier stage's mask (explicit zeros inside blocks).
    const masks = new Map<string, Uint8Array>();
    const structure = new Map<string, Uint8Array>();
    for (const c of choices) {
      const shape = model.weights[c.weight]!.shape;
      const { rows, cols } = gemmDimsOf(shape);
      const st = maskToTfjs(projectMask(c, toGemm(trainer.read(c.weight), shape), rows, cols), rows, cols);
      structure.set(c.weight, st);
      masks.set(c.weight, withPrior(c.weight, st));
    }
    const maskT = new Map([...masks].map(([n, m]) => [n, tf.keep(tf.tensor(Float32Array.from(m), model.weights[n]!.shape, 'float32'))]));
    tensors.push(...maskT.values());
    const hooks: TrainHooks = {
      transform: (p) => Object.fromEntries(Object.entries(p).map(([n, v]) => [n, maskT.has(n) ? tf.mul(v, maskT.get(n)!) : v])),
      afterStep: (p) => tf.tidy(() => maskT.forEach((m, n) => p[n]!.assign(tf.mul(p[n]!, m)))),
    };
    hooks.afterStep!(trainer.params, { epoch: 0, step: 0, globalStep: 0, stepsPerEpoch: 1 });
    if (o.finetuneEpochs > 0 && choices.length) await fit(o.finetuneEpochs, hooks, 'finetune');
    const weights: Record<string, Encoding> = { ...model.weights };
    for (const l of layers) {
      for (const n of Object.keys(model.weights)) {
        if (n.split('/')[0] !== l) continue;
        const v = trainer.read(n);
        const m = masks.get(n);
        const shape = model.weights[n]!.shape;
        const c = byWeight.get(n);
        if (!m || !c) weights[n] = denseEncoding(shape, v);
        else if (c.pattern === 'nm')
          weights[n] = nmFromMask(
            shape,
            structure.get(n)!,
            v.map((x, i) => (m[i] ? x : 0)),
            c.nm![0],
            c.nm![1],
          );
        else
          weights[n] = blockSparseFromMask(
            shape,
            structure.get(n)!,
            v.map((x, i) => (m[i] ? x : 0)),
            c.block,
          );
      }
    }
    // Targeted layers whose choice left them dense: their weights stay the identical objects.
    for (const t of plan.targets) if (!byWeight.has(t.weight)) weights[t.weight] = model.weights[t.weight]!;
    const out: Model = { ir: model.ir, weights };
    const after = evaluateModel(out, val);
    const rows = choices.map((c) =>
      layerReport(c.layer, c.weight, model.weights[c.weight]!, weights[c.weight]!, {
        pattern: c.pattern,
        block: c.block,
        rowRatio: c.rowRate,
        colRatio: c.colRate,
        nm: c.nm,
        sparseRatio: c.sparseRatio,
        auto: c.auto,
      }),
    );
    const all = plan.targets.map((t) => t.weight);
    const total = all.reduce((a, n) => a + model.weights[n]!.shape.reduce((x, y) => x * y, 1), 0);
    const kept = all.reduce((a, n) => a + (masks.get(n)?.reduce((x, y) => x + y, 0) ?? toDense(model.weights[n]!).filter((x) => x !== 0).length), 0);
    return {
      model: out,
      choices,
      report: {
        method: 'bcr',
        layers: rows,
        metrics: { valAccuracyBefore: before.accuracy, valAccuracyAfter: after.accuracy, sparsity: 1 - kept / total, pruningRatio: total / Math.max(1, kept) },
        warnings: choices.length ? [] : ['bcr: every target was left dense (automatic ratios found no ratio within auto_tolerance)'],
      },
    };
  } finally {
    trainer.dispose();
    tf.dispose(tensors);
  }
}
