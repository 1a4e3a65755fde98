import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../errors.js';
import type { EncodingDef } from '../encodings/define.js';
import { toDense } from '../encodings/ops.js';
import { defOf } from '../encodings/registry.js';
import type { Encoding } from '../encodings/types.js';
import { sizeOf } from '../ir/shapes.js';
import type { WeightTensors } from '../model/forward.js';
import type { Model } from '../model/model.js';
import type { Dataset } from '../data/dataset.js';
import { firstLayerForward, portableLayerForward, portableOf } from './parallel.js';
import { type EpochRecord, type FitOptions, type Params, type TrainHooks, Trainer } from './trainer.js';

/**
 * Hooks composed in order: `transform`s chained (each sees the previous one's weights), `extraLoss` summed,
 * `afterStep` / `afterEpoch` run in order, `layerForward` the first that returns a tensor.
 */
export function composeHooks(...all: Array<TrainHooks | undefined>): TrainHooks {
  const hs = all.filter((h): h is TrainHooks => h !== undefined);
  const out: TrainHooks = {};
  const transforms = hs.flatMap((h) => (h.transform ? [h.transform] : []));
  if (transforms.length) out.transform = (params, info) => transforms.reduce<WeightTensors>((w, t) => t(w as Params, info), params as WeightTensors);
  const losses = hs.flatMap((h) => (h.extraLoss ? [h.extraLoss] : []));
  if (losses.length) {
    out.extraLoss = (params, info) => {
      const terms = losses.map((l) => l(params, info)).filter((t): t is tf.Scalar => t !== undefined);
      return terms.length === 0 ? undefined : terms.length === 1 ? terms[0] : (tf.addN(terms) as tf.Scalar);
    };
  }
  const steps = hs.flatMap((h) => (h.afterStep ? [h.afterStep] : []));
  if (steps.length) out.afterStep = (p, i) => steps.forEach((s) => s(p, i));
  const epochs = hs.flatMap((h) => (h.afterEpoch ? [h.afterEpoch] : []));
  if (epochs.length)
    out.afterEpoch = async (p, i) => {
      for (const e of epochs) await e(p, i);
    };
  const lfs = hs.flatMap((h) => (h.layerForward ? [h.layerForward] : []));
  if (lfs.length === 1) out.layerForward = lfs[0];
  else if (lfs.length) {
    out.layerForward = firstLayerForward(lfs);
    // Workers rebuild the composition when they can rebuild every part (in the same order).
    const parts = lfs.map(portableOf);
    if (parts.every((p) => p))
      portableLayerForward(
        out.layerForward,
        parts.flatMap((p) => p!),
      );
  }
  return out;
}

interface Node {
  enc: Encoding;
  def: EncodingDef;
  /** Elementwise leaf: the name of its trainer parameter. */
  param?: string;
  own: Record<string, string>;
  children: Record<string, Node>;
  consts: Record<string, tf.Tensor>;
}

export interface ThroughOptions {
  /** Biases of the targeted layers train too (as dense values). Default true. */
  trainBiases?: boolean;
}

/** What `trainThroughEncodings` returns. Call `dispose()` when done (the trainer and constant tensors). */
export interface TrainThrough {
  readonly trainer: Trainer;
  /** transform (effective weights from each target's encoding) + afterStep (keeps masked entries at 0). */
  readonly hooks: TrainHooks;
  /** The weights that train: the targets plus, by default, their layers' biases. */
  readonly targets: readonly string[];
  /** Trainer parameter names that train (one per elementwise leaf or own array of each target). */
  readonly params: readonly string[];
  /** Trains the targets only (every other weight frozen); `opts.hooks` are composed after ours. */
  fit(train: Dataset, opts: FitOptions): Promise<EpochRecord[]>;
  /** The effective weight of a target, from the trainer's parameters (a new tensor; caller disposes). */
  effective(name: string): tf.Tensor;
  /** Targets re-encoded with the same structure; every other weight is the identical object of the input model. */
  toModel(): Model;
  dispose(): void;
}

/**
 * Turns a model and its targeted weights into trainer parameters and hooks that respect each weight's current
 * encoding: masks stay fixed (pruned values stay 0 and get no gradient), quantized leaves train by a
 * straight-through estimator and are re-encoded on the same grid (scheme, bits, scales), low-rank and
 * factorized weights train as their factors, block-sparse and N:M weights as their stored values. Methods
 * compose their own hooks with `composeHooks(tt.hooks, mine)` (or pass them to `tt.fit`).
 */
export function trainThroughEncodings(model: Model, targetNames: readonly string[], opts: ThroughOptions = {}): TrainThrough {
  const targets = new Set(targetNames);
  for (const t of targetNames) {
    if (!model.weights[t])
      throw new CompressionError({ code: 'BAD_CONFIG', message: `trainThroughEncodings: the model has no weight '${t}'`, hint: `known: ${Object.keys(model.weights).join(', ')}` });
  }
  if (opts.trainBiases ?? true)
    for (const t of targetNames) if (t.endsWith('/kernel') && model.weights[t.replace(/\/kernel$/, '/bias')]) targets.add(t.replace(/\/kernel$/, '/bias'));
  const params: Record<string, { values: Float32Array; shape: number[] }> = {};
  const trainable: string[] = [];
  const roots = new Map<string, Node>();
  const build = (e: Encoding, name: string, path: string, isSoleLeaf: boolean): Node => {
    const def = defOf(e);
    const node: Node = { enc: e, def, own: {}, children: {}, consts: {} };
    if (def.elementwise) {
      const spec = def.train?.leaf;
      if (!spec)
        throw new CompressionError({
          code: 'UNSUPPORTED_LAYER',
          message: `encoding kind '${e.kind}' of '${name}' cannot be trained`,
          hint: `its definition (${def.provider}) has no train.leaf`,
        });
      const p = isSoleLeaf ? name : `${name}#${path}`;
      params[p] = { values: spec.init(e).slice(), shape: [...e.shape] };
      trainable.push(p);
      node.param = p;
      return node;
    }
    const spec = def.train;
    if (!spec?.assemble || !spec.rebuild)
      throw new CompressionError({
        code: 'UNSUPPORTED_LAYER',
        message: `encoding kind '${e.kind}' of '${name}' cannot be trained through`,
        hint: `its definition (${def.provider}) has no train.assemble / train.rebuild`,
      });
    const kids = Object.entries(def.children(e));
    for (const [slot, c] of kids) node.children[slot] = build(c, name, path ? `${path}.${slot}` : slot, isSoleLeaf && kids.length === 1 && !spec.own);
    for (const [k, v] of Object.entries(spec.own?.(e) ?? {})) {
      const p = `${name}#${path ? `${path}.` : ''}${k}`;
      params[p] = { values: v.values.slice(), shape: v.shape };
      trainable.push(p);
      node.own[k] = p;
    }
    node.consts = tf.tidy(() => {
      const c = spec.consts?.(e) ?? {};
      for (const t of Object.values(c)) tf.keep(t);
      return c;
    });
    return node;
  };
  for (const [name, e] of Object.entries(model.weights)) {
    if (targets.has(name)) {
      roots.set(name, build(e, name, '', true));
    } else params[name] = { values: toDense(e), shape: [...e.shape] };
  }
  const trainer = new Trainer({ ir: model.ir, params });
  const trainableSet = new Set(trainable);

  const assemble = (n: Node, ps: Record<string, tf.Tensor>): tf.Tensor => {
    if (n.param) return n.def.train!.leaf!.effective(ps[n.param]!, n.enc);
    const ch: Record<string, tf.Tensor> = {};
    for (const [slot, c] of Object.entries(n.children)) ch[slot] = assemble(c, ps);
    const own: Record<string, tf.Tensor> = {};
    for (const [k, p] of Object.entries(n.own)) own[k] = ps[p]!;
    return n.def.train!.assemble!(n.enc, ch, own, n.consts);
  };
  const masksFor: Array<{ param: string; mask: tf.Tensor }> = [];
  const collectMasks = (n: Node): void => {
    const cm = n.def.train?.childMasks?.(n.enc) ?? {};
    for (const [slot, m] of Object.entries(cm)) {
      const c = n.children[slot];
      if (c?.param) masksFor.push({ param: c.param, mask: tf.keep(tf.tensor(Float32Array.from(m), c.enc.shape, 'float32')) });
    }
    Object.values(n.children).forEach(collectMasks);
  };
  roots.forEach(collectMasks);
  const applyMasks = (p: Params): void =>
    tf.tidy(() => {
      for (const { param, mask } of masksFor) p[param]!.assign(tf.mul(p[param]!, mask));
    });
  applyMasks(trainer.params);

  const hooks: TrainHooks = {
    transform: (ps) => {
      const out: WeightTensors = {};
      for (const [k, v] of Object.entries(ps)) if (!k.includes('#')) out[k] = v;
      for (const [name, n] of roots) out[name] = assemble(n, ps as Record<string, tf.Tensor>);
      return out;
    },
    afterStep: masksFor.length ? (p) => applyMasks(p) : undefined,
  };
  if (!hooks.afterStep) delete hooks.afterStep;

  const rebuild = (n: Node, zeroed?: Uint8Array): Encoding => {
    if (n.param) {
      const v = trainer.read(n.param);
      if (zeroed) for (let i = 0; i < v.length; i++) if (!zeroed[i]) v[i] = 0;
      return n.def.train!.leaf!.rebuild(n.enc, v) as Encoding;
    }
    const cm = n.def.train?.childMasks?.(n.enc) ?? {};
    const ch: Record<string, Encoding> = {};
    for (const [slot, c] of Object.entries(n.children)) ch[slot] = rebuild(c, cm[slot]);
    const own: Record<string, Float32Array> = {};
    for (const [k, p] of Object.entries(n.own)) own[k] = trainer.read(p);
    return n.def.train!.rebuild!(n.enc, ch, own) as Encoding;
  };
  let disposed = false;
  return {
    trainer,
    hooks,
    targets: [...targets],
    params: trainable,
    fit: (train, o) => trainer.fit(train, { ...o, hooks: composeHooks(hooks, o.hooks), trainable: (n) => trainableSet.has(n) && (o.trainable?.(n) ?? true) }),
    effective(name) {
      const n = roots.get(name);
      if (!n) throw new CompressionError({ code: 'BAD_CONFIG', message: `'${name}' is not a target`, hint: `targets: ${[...roots.keys()].join(', ')}` });
      return tf.tidy(() => assemble(n, trainer.params as Record<string, tf.Tensor>));
    },
    toModel() {
      const weights: Record<string, Encoding> = {};
      for (const [name, e] of Object.entries(model.weights)) weights[name] = roots.has(name) ? rebuild(roots.get(name)!) : e;
      for (const [name, e] of Object.entries(weights)) {
        if (sizeOf(e.shape) !== sizeOf(model.weights[name]!.shape))
          throw new CompressionError({ code: 'SHAPE_MISMATCH', message: `trainThroughEncodings: '${name}' changed shape` });
      }
      return { ir: model.ir, weights };
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      trainer.dispose();
      for (const n of roots.values()) {
        const walk = (x: Node): void => {
          tf.dispose(Object.values(x.consts));
          Object.values(x.children).forEach(walk);
        };
        walk(n);
      }
      tf.dispose(masksFor.map((m) => m.mask));
    },
  };
}
