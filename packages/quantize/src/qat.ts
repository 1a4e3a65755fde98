import * as tf from '@tensorflow/tfjs-core';
import {
  type CompressContext,
  cosineDecay,
  type Encoding,
  fakeQuantSte,
  type Model,
  type QuantParams,
  representableRange,
  straightThrough,
  toDense,
  Trainer,
  type TrainHooks,
} from '@edge-compress/core';
import type { ActivationQuantizer } from './activations.js';
import type { QuantSpec } from './config.js';
import { isElementwise, maskOf, paramsFor, quantizeEncoding, withValues } from './weights.js';

export interface QatOptions {
  epochs: number;
  freezeEpochs: number;
  lr: number;
  batchSize: number;
  /** Activation fake quantization (ranges tracked by EMA, frozen for the last `freezeEpochs`). */
  activations?: ActivationQuantizer;
}

/**
 * Quantization-aware training through core's Trainer: `transform` fake-quantizes each targeted kernel (under
 * its mask) with the clipped straight-through estimator, `layerForward` fake-quantizes activations, and only
 * the targeted layers train. Weight ranges follow the weights: min/max ranges are refreshed after every step,
 * MSE ranges every 20 steps and at each epoch end. Factorized / low-rank targets are not trained: their
 * post-training quantized value is used as a constant. Returns the trained float weights (masks kept).
 */
export async function quantizationAwareTraining(
  model: Model,
  ctx: CompressContext,
  specs: Map<string, QuantSpec>,
  o: QatOptions,
): Promise<{ model: Model; trained: string[]; fixed: string[] }> {
  const trainable = [...specs.keys()].filter((w) => isElementwise(model.weights[w]!));
  const fixed = [...specs.keys()].filter((w) => !trainable.includes(w));
  const trainer = new Trainer(model);
  const masks = new Map(
    trainable.flatMap((w) => (maskOf(model.weights[w]!) ? [[w, tf.keep(tf.tensor(Float32Array.from(maskOf(model.weights[w]!)!), model.weights[w]!.shape))] as const] : [])),
  );
  const constants = new Map(fixed.map((w) => [w, tf.keep(tf.tensor(toDense(quantizeEncoding(model.weights[w]!, specs.get(w)!)), model.weights[w]!.shape))]));
  // Bounds of the clipped STE are held here (not inside a tidy) so the backward pass can still read them.
  const cache = new Map<string, { p: QuantParams; lo: tf.Tensor; hi: tf.Tensor }>();
  const refresh = (w: string): void => {
    const spec = specs.get(w)!;
    const shape = model.weights[w]!.shape;
    const p = paramsFor(trainer.read(w), shape, spec, maskOf(model.weights[w]!));
    const b = representableRange(shape, p);
    const old = cache.get(w);
    cache.set(w, { p, lo: tf.keep(tf.tensor(b.lo, shape)), hi: tf.keep(tf.tensor(b.hi, shape)) });
    if (old) tf.dispose([old.lo, old.hi]);
  };
  const refreshAll = (step: number, force: boolean): void => trainable.forEach((w) => (force || specs.get(w)!.range === 'minmax' || step % 20 === 19 ? refresh(w) : undefined));
  // Masked weights: keep pruned entries at zero before the ranges are taken.
  tf.tidy(() => masks.forEach((m, w) => trainer.params[w]!.assign(tf.mul(trainer.params[w]!, m))));
  refreshAll(0, true);
  let frozen = false;
  const aq = o.activations;
  const hooks: TrainHooks = {
    transform: (p, info) => {
      if (aq) aq.mode = info.training && !frozen ? 'train' : 'eval';
      const out: Record<string, tf.Tensor> = { ...p };
      for (const w of trainable) {
        const c = cache.get(w)!;
        const v = masks.has(w) ? tf.mul(p[w]!, masks.get(w)!) : p[w]!;
        out[w] = straightThrough(v, (x) => fakeQuantSte(x, c.p), c.lo, c.hi);
      }
      for (const [w, t] of constants) out[w] = t;
      return out;
    },
    afterStep: (p, info) => {
      tf.tidy(() => masks.forEach((m, w) => p[w]!.assign(tf.mul(p[w]!, m))));
      const next = info.step === info.stepsPerEpoch - 1 ? info.epoch + 1 : info.epoch;
      frozen = o.epochs > o.freezeEpochs && next >= o.epochs - o.freezeEpochs;
      refreshAll(info.step, info.step === info.stepsPerEpoch - 1);
    },
    layerForward: aq?.layerForward,
  };
  try {
    const layers = new Set(trainable.map((w) => w.split('/')[0]!));
    await trainer.fit(ctx.train, {
      trainable: (n) => layers.has(n.split('/')[0]!),
      epochs: o.epochs,
      batchSize: o.batchSize,
      optimizer: { kind: 'adam', lr: o.lr },
      lrSchedule: cosineDecay(o.lr, o.epochs),
      seed: ctx.seed,
      hooks,
      phase: 'qat',
      signal: ctx.signal,
      onProgress: ctx.onProgress && ((p) => ctx.onProgress!({ ...p, method: 'quantize' })),
    });
    if (aq) aq.mode = 'eval';
    const weights: Record<string, Encoding> = { ...model.weights };
    for (const n of Object.keys(trainer.params)) {
      if (!layers.has(n.split('/')[0]!)) continue;
      weights[n] = withValues(model.weights[n]!, trainer.read(n));
    }
    return { model: { ir: model.ir, weights }, trained: trainable, fixed };
  } finally {
    trainer.dispose();
    tf.dispose([...masks.values(), ...constants.values(), ...[...cache.values()].flatMap((c) => [c.lo, c.hi])]);
  }
}
