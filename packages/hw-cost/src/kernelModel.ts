/**
 * The additive per-kernel latency model of local wasm (nn-Meter's "sum of kernel predictions", with the
 * per-call and per-layer fixed costs of tfjs-layers `model.predict` as explicit terms):
 *
 *   T(model, batch) = θ_call + θ_out · outElems + Σ_layers θ_op · φ_op(layer)
 *
 * Every op type has its own features (MACs, MACs with the output channels padded to XNNPACK's 8-wide tiles
 * and the batch rows to 4, indirection entries, activation and weight sizes) and its own coefficients,
 * fitted by non-negative least squares on relative error jointly over single-layer models, identity
 * models and whole calibration models. The whole models pin down the per-layer dispatch cost that a
 * single-layer timing cannot separate from the per-call cost. Non-negative coefficients keep every
 * layer's share ≥ 0, so per-layer rows are meaningful.
 */
import type { LayerFeatures } from './features.js';

/** Feature form of this file; a calibration with another form is refused. */
export const KERNEL_FORM = 'pad8-v1';

const up = (x: number, m: number) => Math.ceil(x / m) * m;
const M = 1e-6;

type Group = 'conv2d' | 'dense' | 'pool' | 'batchNorm' | 'activation' | 'reshape';
const GROUP_OF: Record<LayerFeatures['op'], Group> = {
  conv2d: 'conv2d',
  // no depthwise layers among the generated calibration models: predicted with the pooling group (window ops)
  depthwiseConv2d: 'pool',
  dense: 'dense',
  maxPool2d: 'pool',
  avgPool2d: 'pool',
  batchNorm: 'batchNorm',
  activation: 'activation',
  flatten: 'reshape',
  dropout: 'reshape',
  // padding and joins: memory-bound passes over their inputs (no calibration model has them)
  zeroPad2d: 'activation',
  add: 'activation',
  concatenate: 'activation',
};

/** Per-op features: the first is 1 (per-layer dispatch cost, ms), the rest are counts scaled by 1e-6. */
const GROUP_FEATURES: Record<Group, { names: string[]; f: (l: LayerFeatures) => number[] }> = {
  conv2d: {
    names: ['layer', 'macs', 'macsPad8', 'indirection', 'actIn', 'actOut'],
    f: (l) => [1, l.macs, l.N * l.Ho * l.Wo * up(l.Cout, 8) * l.Cin * l.Kh * l.Kw, l.N * l.Ho * l.Wo * l.Kh * l.Kw, l.actInElems, l.actOutElems],
  },
  dense: {
    names: ['layer', 'macs', 'macsPad', 'weightBytes', 'actOut'],
    f: (l) => [1, l.macs, up(l.N, 4) * up(l.Cout, 8) * l.Cin, l.denseWeightBytes, l.actOutElems],
  },
  pool: { names: ['layer', 'windowOps', 'actIn', 'actOut'], f: (l) => [1, l.ops, l.actInElems, l.actOutElems] },
  batchNorm: { names: ['layer', 'actIn'], f: (l) => [1, l.actInElems] },
  activation: { names: ['layer', 'actIn'], f: (l) => [1, l.actInElems] },
  reshape: { names: ['layer'], f: () => [1] },
};
const GROUPS = Object.keys(GROUP_FEATURES) as Group[];

/** Names of every coefficient, in order (global terms first). */
export const KERNEL_FEATURE_NAMES: string[] = ['call', 'outElems', ...GROUPS.flatMap((g) => GROUP_FEATURES[g].names.map((n) => `${g}.${n}`))];

const OFFSET: Record<Group, number> = (() => {
  const o = {} as Record<Group, number>;
  let n = 2;
  for (const g of GROUPS) {
    o[g] = n;
    n += GROUP_FEATURES[g].names.length;
  }
  return o;
})();

/** One layer's feature vector in the full coefficient space (zeros outside its op's block). */
export function layerVector(l: LayerFeatures): number[] {
  const v = new Array<number>(KERNEL_FEATURE_NAMES.length).fill(0);
  const g = GROUP_OF[l.op];
  GROUP_FEATURES[g].f(l).forEach((x, k) => (v[OFFSET[g] + k] = k === 0 ? x : x * M));
  return v;
}

/** One layer's predicted ms under coefficients θ (= dot(layerVector(l), θ), without allocating the full vector). */
export function layerMs(l: LayerFeatures, theta: readonly number[]): number {
  const g = GROUP_OF[l.op];
  const o = OFFSET[g];
  const x = GROUP_FEATURES[g].f(l);
  let s = x[0]! * (theta[o] ?? 0);
  for (let k = 1; k < x.length; k++) s += x[k]! * M * (theta[o + k] ?? 0);
  return s;
}

/** The per-call terms of a model (call + read-back of the output). */
export function callVector(features: LayerFeatures[]): number[] {
  const v = new Array<number>(KERNEL_FEATURE_NAMES.length).fill(0);
  v[0] = 1;
  v[1] = (features[features.length - 1]?.actOutElems ?? 0) * M;
  return v;
}

/** Whole-model feature vector: call terms + Σ layer vectors. */
export function modelVector(features: LayerFeatures[]): number[] {
  const v = callVector(features);
  for (const l of features) layerVector(l).forEach((x, i) => (v[i] = v[i]! + x));
  return v;
}

export const dot = (a: readonly number[], b: readonly number[]) => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);

/**
 * Non-negative least squares min ‖Xθ − y‖², θ ≥ 0, by cyclic coordinate descent on the normal equations
 * (columns scaled to unit norm first). Deterministic; exact enough for a few dozen coefficients.
 */
export function nnls(X: number[][], y: number[], opts: { maxIter?: number; tol?: number } = {}): number[] {
  const n = X[0]?.length ?? 0;
  const norm = Array.from({ length: n }, (_, j) => Math.sqrt(X.reduce((a, r) => a + r[j]! * r[j]!, 0)) || 1);
  const A = X.map((r) => r.map((x, j) => x / norm[j]!));
  const G = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => A.reduce((a, r) => a + r[i]! * r[j]!, 0)));
  const h = Array.from({ length: n }, (_, i) => A.reduce((a, r, k) => a + r[i]! * y[k]!, 0));
  const th = new Array<number>(n).fill(0);
  const maxIter = opts.maxIter ?? 5000,
    tol = opts.tol ?? 1e-11;
  for (let it = 0; it < maxIter; it++) {
    let delta = 0;
    for (let j = 0; j < n; j++) {
      const gjj = G[j]![j]!;
      if (!(gjj > 0)) continue;
      let g = -h[j]!;
      for (let k = 0; k < n; k++) g += G[j]![k]! * th[k]!;
      const nv = Math.max(0, th[j]! - g / gjj);
      delta = Math.max(delta, Math.abs(nv - th[j]!));
      th[j] = nv;
    }
    if (delta < tol) break;
  }
  return th.map((t, j) => t / norm[j]!);
}

/** Fits θ ≥ 0 on (features, measured ms) pairs, minimising squared relative error. */
export function fitKernelModel(rows: Array<{ features: LayerFeatures[]; ms: number }>): number[] {
  const ok = rows.filter((r) => r.ms > 0 && Number.isFinite(r.ms));
  const X = ok.map((r) => modelVector(r.features).map((x) => x / r.ms));
  return nnls(
    X,
    ok.map(() => 1),
  );
}
