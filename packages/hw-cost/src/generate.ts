/**
 * Seeded generators of timing configurations: single-layer models (the calibration set, nn-Meter style:
 * snapped sizes, log-uniform channels) and whole models (conv + dense, varied widths and depths) for
 * calibration-level correction and for held-out validation (different seeds and families never overlap).
 */
import { createRng, inferShapes, type Activation, type Layer, type ModelIR, type Rng } from '@edge-compress/core';
import type { TimingItem } from './measure.js';

const pick = <T>(rng: Rng, a: readonly T[]): T => a[rng.int(a.length)]!;
const logUniform = (rng: Rng, lo: number, hi: number) => Math.max(lo, Math.min(hi, Math.round(Math.exp(Math.log(lo) + rng.next() * (Math.log(hi) - Math.log(lo))))));

function ir(name: string, inputShape: number[], layers: Layer[]): ModelIR {
  return { format: 'edge-compress/ir', version: 1, name, inputShape, layers };
}

function valid(m: ModelIR): boolean {
  try {
    inferShapes(m);
    return true;
  } catch {
    return false;
  }
}

/** Rough MACs of a model at a batch (to keep timing configs within budget). */
export function irMacs(m: ModelIR, batch: number): number {
  return (
    batch *
    inferShapes(m).reduce(
      (a, s) =>
        a +
        Math.max(
          s.macs,
          s.outputShape.reduce((x, y) => x * y, 1),
        ),
      0,
    )
  );
}

export interface LayerConfigOptions {
  count: number;
  seed: number;
  batches?: number[];
  /** Upper bound of MACs per call. Default 4e7. */
  maxMacs?: number;
}

/** Single-layer models: conv2d, dense, max/avg pooling, batch-norm and activation layers (plus identity models for the fixed cost). */
export function layerConfigs(o: LayerConfigOptions): TimingItem[] {
  const rng = createRng(o.seed);
  const batches = o.batches ?? [1, 1, 4, 32];
  const maxMacs = o.maxMacs ?? 4e7;
  const out: TimingItem[] = [];
  const seen = new Set<string>();
  const acts: Activation[] = ['relu', 'relu', 'linear', 'softmax'];
  let guard = 0;
  while (out.length < o.count && guard++ < o.count * 50) {
    const batch = pick(rng, batches);
    const r = rng.next();
    let m: ModelIR;
    if (r < 0.4) {
      const H = pick(rng, [3, 7, 8, 14, 16, 28, 32]);
      const k = pick(rng, [1, 3, 3, 5, 7]);
      const cin = logUniform(rng, 1, 96),
        cout = logUniform(rng, 2, 128);
      const stride = rng.next() < 0.8 ? 1 : 2;
      const padding = rng.next() < 0.5 ? 'same' : 'valid';
      m = ir(
        'conv',
        [H, H, cin],
        [{ kind: 'conv2d', name: 'l', filters: cout, kernelSize: [k, k], strides: [stride, stride], padding, activation: pick(rng, acts.slice(0, 3)), useBias: rng.next() < 0.9 }],
      );
    } else if (r < 0.72) {
      const cin = logUniform(rng, 4, 3072),
        cout = logUniform(rng, 2, 1024);
      m = ir('dense', [cin], [{ kind: 'dense', name: 'l', units: cout, activation: pick(rng, acts), useBias: rng.next() < 0.9 }]);
    } else if (r < 0.86) {
      const H = pick(rng, [4, 8, 14, 16, 28, 32]);
      const c = logUniform(rng, 1, 128);
      const p = pick(rng, [2, 2, 3]);
      m = ir(
        'pool',
        [H, H, c],
        [
          {
            kind: rng.next() < 0.6 ? 'maxPool2d' : 'avgPool2d',
            name: 'l',
            poolSize: [p, p],
            strides: [p === 3 ? 2 : p, p === 3 ? 2 : p],
            padding: rng.next() < 0.7 ? 'valid' : 'same',
          },
        ],
      );
    } else if (r < 0.93) {
      const sh = rng.next() < 0.6 ? [pick(rng, [4, 8, 14, 28]), pick(rng, [4, 8, 14, 28]), logUniform(rng, 1, 64)] : [logUniform(rng, 8, 2048)];
      m = ir('bn', sh, [{ kind: 'batchNorm', name: 'l', epsilon: 1e-3, momentum: 0.99, center: true, scale: true }]);
    } else {
      const sh = rng.next() < 0.5 ? [pick(rng, [4, 8, 14, 28]), pick(rng, [4, 8, 14, 28]), logUniform(rng, 1, 64)] : [logUniform(rng, 8, 2048)];
      m = ir('act', sh, [{ kind: 'activation', name: 'l', activation: pick(rng, ['relu', 'softmax', 'sigmoid', 'tanh'] as Activation[]) }]);
    }
    if (!valid(m) || irMacs(m, batch) > maxMacs) continue;
    const key = JSON.stringify([m.inputShape, m.layers, batch]);
    if (seen.has(key)) continue; // deduplicate (nn-Meter #124)
    seen.add(key);
    out.push({ id: `layer-${out.length}`, ir: m, batch, seed: o.seed + out.length });
  }
  return out;
}

/** Identity models (one linear activation) over a range of sizes: the fixed cost of predict + read-back. */
export function identityConfigs(seed: number, batches: number[] = [1, 4, 32]): TimingItem[] {
  const out: TimingItem[] = [];
  for (const b of batches)
    for (const n of [10, 256, 4096]) out.push({ id: `ident-${b}-${n}`, ir: ir('ident', [n], [{ kind: 'activation', name: 'l', activation: 'linear' }]), batch: b, seed });
  return out;
}

export const FAMILIES = ['mlp', 'cnn', 'lenet'] as const;
export type Family = (typeof FAMILIES)[number];

export interface ModelSpec {
  ir: ModelIR;
  family: Family;
  /** Kept fraction of kernel weights, weight bits and a low-rank rank fraction of the variant (storage only on stock tfjs). */
  density: number;
  bits: number;
  rankFraction: number;
}

/** One random whole model of a family (widths, depths, kernel sizes, pooling, batch-norm vary). */
export function randomModel(rng: Rng, family: Family, name: string): ModelIR {
  for (;;) {
    const layers: Layer[] = [];
    let inputShape: number[];
    let i = 0;
    const nm = (k: string) => `${k}${++i}`;
    if (family === 'mlp') {
      inputShape = [logUniform(rng, 32, 1024)];
      const depth = 1 + rng.int(4);
      for (let d = 0; d < depth; d++) {
        layers.push({ kind: 'dense', name: nm('fc'), units: logUniform(rng, 16, 1024), activation: 'relu', useBias: true });
        if (rng.next() < 0.15) layers.push({ kind: 'dropout', name: nm('drop'), rate: 0.2 });
      }
    } else if (family === 'lenet') {
      const w = 0.25 + rng.next() * 1.25;
      inputShape = [28, 28, 1];
      const k = pick(rng, [3, 5]);
      layers.push({
        kind: 'conv2d',
        name: nm('conv'),
        filters: Math.max(2, Math.round(20 * w)),
        kernelSize: [k, k],
        strides: [1, 1],
        padding: rng.next() < 0.5 ? 'valid' : 'same',
        activation: 'relu',
        useBias: true,
      });
      layers.push({ kind: 'maxPool2d', name: nm('pool'), poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
      layers.push({
        kind: 'conv2d',
        name: nm('conv'),
        filters: Math.max(2, Math.round(50 * w)),
        kernelSize: [k, k],
        strides: [1, 1],
        padding: 'valid',
        activation: 'relu',
        useBias: true,
      });
      layers.push({ kind: 'maxPool2d', name: nm('pool'), poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
      layers.push({ kind: 'flatten', name: nm('flatten') });
      layers.push({ kind: 'dense', name: nm('fc'), units: Math.max(8, Math.round(500 * w)), activation: 'relu', useBias: true });
    } else {
      const H = pick(rng, [16, 28, 32]);
      inputShape = [H, H, pick(rng, [1, 3])];
      const blocks = 1 + rng.int(3);
      for (let b = 0; b < blocks; b++) {
        const k = pick(rng, [1, 3, 3, 5]);
        layers.push({
          kind: 'conv2d',
          name: nm('conv'),
          filters: logUniform(rng, 4, 64),
          kernelSize: [k, k],
          strides: [1, 1],
          padding: rng.next() < 0.6 ? 'same' : 'valid',
          activation: rng.next() < 0.8 ? 'relu' : 'linear',
          useBias: true,
        });
        if (rng.next() < 0.25) layers.push({ kind: 'batchNorm', name: nm('bn'), epsilon: 1e-3, momentum: 0.99, center: true, scale: true });
        if (rng.next() < 0.2) layers.push({ kind: 'activation', name: nm('act'), activation: 'relu' });
        if (rng.next() < 0.75) layers.push({ kind: rng.next() < 0.7 ? 'maxPool2d' : 'avgPool2d', name: nm('pool'), poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
      }
      layers.push({ kind: 'flatten', name: nm('flatten') });
      if (rng.next() < 0.7) layers.push({ kind: 'dense', name: nm('fc'), units: logUniform(rng, 16, 256), activation: 'relu', useBias: true });
    }
    layers.push({ kind: 'dense', name: nm('out'), units: 10, activation: 'softmax', useBias: true });
    const m = ir(name, inputShape, layers);
    if (valid(m) && irMacs(m, 1) < 2e7) return m;
  }
}

/** `count` whole models cycling through the families, each with a compression variant (density, bits, rank). */
export function modelSpecs(count: number, seed: number): ModelSpec[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, (_, i) => {
    const family = FAMILIES[i % FAMILIES.length]!;
    return {
      ir: randomModel(rng, family, `${family}-${seed}-${i}`),
      family,
      density: pick(rng, [1, 1, 0.5, 0.2, 0.1]),
      bits: pick(rng, [32, 32, 8, 4]),
      rankFraction: pick(rng, [1, 1, 0.5, 0.25]),
    };
  });
}
