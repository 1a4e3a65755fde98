/**
 * local-wasm calibration (HWCOST §3.3): time generated single-layer configurations, identity models and a few
 * whole models on this machine (protocol.ts), fit an analytic roofline with per-op overheads, a random-forest
 * residual on log(t_meas / t_analytic), and a model-level linear correction (dispatch / fixed terms).
 * Saved as versioned JSON (no pickles).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CompressionError, type ModelIR } from '@edge-compress/core';
import { RandomForestRegression } from 'ml-random-forest';
import MLR from 'ml-regression-multivariate-linear';
import { z } from 'zod';
import { irFeatures, OPS, type LayerFeatures } from './features.js';
import { identityConfigs, layerConfigs, modelSpecs } from './generate.js';
import type { TimingItem } from './measure.js';
import { deviceState, measureInProcesses, type ProtocolOptions } from './protocol.js';

export const CALIBRATION_VERSION = 2;

const calibrationSchema = z.object({
  format: z.literal('edge-compress/hw-cost-calibration'),
  version: z.literal(CALIBRATION_VERSION),
  device: z.literal('local-wasm'),
  createdAt: z.string(),
  deviceState: z.record(z.string(), z.unknown()),
  protocol: z.object({ processes: z.number(), rounds: z.number(), configs: z.number(), models: z.number() }),
  params: z.object({
    /** Achieved OP/s of conv / matmul kernels and bytes/s of memory-bound ones. */
    peakOps: z.number().positive(),
    bandwidth: z.number().positive(),
    /** Per-op fixed cost of one layer inside predict, ms. */
    overheadMs: z.record(z.string(), z.number().nonnegative()),
    /** Fixed cost of predict + read-back: fixedMs + outMsPerElem · output elements. */
    fixedMs: z.number(),
    outMsPerElem: z.number(),
  }),
  /**
   * Model-level correction in log space (null when too few calibration models):
   * ln T = w0 + Σ_k w_k · feature_k, features named in `features` (CORRECTION_FEATURES).
   */
  correction: z.object({ features: z.array(z.enum(['lnSum', 'lnBatch', 'lnSumLnBatch', 'conv', 'dense', 'pool'])), weights: z.array(z.number()) }).nullable(),
  forest: z.record(z.string(), z.unknown()).nullable(),
  stats: z.record(z.string(), z.number()),
  /** The raw timings (item id → ms) the fit used, for refits and audits. */
  measurements: z.record(z.string(), z.number()).optional(),
});
export type Calibration = z.infer<typeof calibrationSchema>;

/** Default file `cost` reads and `calibrate` writes: $EDGE_COMPRESS_CALIBRATION or ~/.edge-compress/local-wasm.calibration.json. */
export function defaultCalibrationPath(): string {
  return process.env.EDGE_COMPRESS_CALIBRATION ?? join(homedir(), '.edge-compress', 'local-wasm.calibration.json');
}

// ---------------------------------------------------------------------------------------------------------
// Analytic base and features of the residual model

const OP_INDEX = Object.fromEntries(OPS.map((o, i) => [o, i])) as Record<string, number>;

function layerBytes(f: LayerFeatures): number {
  return 4 * (f.actInElems + f.actOutElems) + f.denseWeightBytes;
}

/** Analytic local-wasm time of one layer inside predict (ms): roofline + per-op overhead. */
export function analyticLayerMs(c: Pick<Calibration, 'params'>, f: LayerFeatures): number {
  const weighted = f.op === 'conv2d' || f.op === 'dense';
  const align = weighted ? f.Cout / (Math.ceil(f.Cout / 4) * 4) : 1;
  const compute = (weighted ? 2 * f.macs : f.ops) / (c.params.peakOps * align);
  const memory = f.op === 'flatten' || f.op === 'dropout' ? 0 : layerBytes(f) / c.params.bandwidth;
  return Math.max(compute, memory) * 1e3 + (c.params.overheadMs[f.op] ?? 0.005);
}

const ACTS = ['linear', 'relu', 'softmax', 'sigmoid', 'tanh'];
/** Residual-model features (HWCOST §3.3): sizes, op, kernel, alignment, intensity and the analytic time. */
export function residualFeatures(c: Pick<Calibration, 'params'>, f: LayerFeatures): number[] {
  const l = (x: number) => Math.log(Math.max(1, x));
  const bytes = layerBytes(f);
  return [
    OP_INDEX[f.op] ?? -1,
    l(f.N),
    l(f.H),
    l(f.Cin),
    l(f.Cout),
    f.Kh,
    f.stride,
    f.padding === 'same' ? 1 : 0,
    l(f.macs + f.ops),
    l(bytes),
    Math.log((f.macs + f.ops + 1) / bytes),
    f.Cout % 4,
    f.Cout % 8,
    f.Cout % 16,
    ACTS.indexOf(f.act),
    l(f.actOutElems),
    Math.log(analyticLayerMs(c, f)),
  ];
}

// ---------------------------------------------------------------------------------------------------------
// Prediction

export interface LocalPrediction {
  latencyMs: number;
  layers: Array<{ name: string; op: string; latencyMs: number; analyticMs: number }>;
}

interface TreeJson {
  splitColumn?: number;
  splitValue?: number;
  left?: TreeJson;
  right?: TreeJson;
  distribution?: number;
}
/** A forest flattened to typed arrays: node i splits column col[i] at val[i] (leaf when left[i] < 0, value in val[i]). */
interface FlatForest {
  roots: number[];
  col: Int32Array;
  val: Float64Array;
  left: Int32Array;
  right: Int32Array;
  median: boolean;
}

/**
 * ml-random-forest's own predict converts every row to an ml-matrix per tree (≈ 10 ms per model here); the
 * same trees (its JSON: per-tree column subsets + ml-cart nodes) are evaluated here from flat arrays in µs.
 */
function flatten(json: Record<string, unknown>): FlatForest {
  const base = json.baseModel as { indexes: number[][]; estimators: Array<{ root: TreeJson }> };
  const col: number[] = [],
    val: number[] = [],
    left: number[] = [],
    right: number[] = [];
  const roots: number[] = [];
  const add = (n: TreeJson, idx: number[]): number => {
    const i = col.length;
    (col.push(0), val.push(0), left.push(-1), right.push(-1));
    if (n.left && n.right && n.splitColumn !== undefined) {
      col[i] = idx[n.splitColumn]!;
      val[i] = n.splitValue!;
      const l = add(n.left, idx);
      const r = add(n.right, idx);
      left[i] = l;
      right[i] = r;
    } else val[i] = Number(n.distribution ?? 0);
    return i;
  };
  base.estimators.forEach((e, t) => roots.push(add(e.root, base.indexes[t]!)));
  return { roots, col: Int32Array.from(col), val: Float64Array.from(val), left: Int32Array.from(left), right: Int32Array.from(right), median: json.selectionMethod === 'median' };
}

/** Mean (or median) over trees of the leaf reached by `x`; equals ml-random-forest's predict. */
function predictForest(f: FlatForest, x: readonly number[]): number {
  const out = new Float64Array(f.roots.length);
  for (let t = 0; t < f.roots.length; t++) {
    let i = f.roots[t]!;
    while (f.left[i]! >= 0) i = x[f.col[i]!]! < f.val[i]! ? f.left[i]! : f.right[i]!;
    out[t] = f.val[i]!;
  }
  if (f.median) {
    out.sort();
    const n = out.length;
    return n % 2 ? out[(n - 1) / 2]! : (out[n / 2 - 1]! + out[n / 2]!) / 2;
  }
  let s = 0;
  for (const v of out) s += v;
  return s / Math.max(1, out.length);
}

/** A predictor from ml-random-forest regression JSON (`RandomForestRegression#toJSON()`). */
export function compileForest(json: Record<string, unknown>): (x: readonly number[]) => number {
  const f = flatten(json);
  return (x) => predictForest(f, x);
}

const forestCache = new WeakMap<object, FlatForest>();
function forestOf(c: Calibration): FlatForest | undefined {
  if (!c.forest) return undefined;
  let f = forestCache.get(c.forest);
  if (!f) {
    f = flatten(c.forest);
    forestCache.set(c.forest, f);
  }
  return f;
}

/** Features of the model-level correction (chosen by 6-fold CV on the calibration models, not on held-out data). */
export const CORRECTION_FEATURES = ['lnSum', 'lnBatch', 'lnSumLnBatch', 'conv', 'dense', 'pool'] as const;
type CorrectionFeature = (typeof CORRECTION_FEATURES)[number];
function correctionFeatures(sum: number, features: LayerFeatures[]): Record<CorrectionFeature, number> {
  const lnSum = Math.log(Math.max(1e-6, sum)),
    lnBatch = Math.log(features[0]?.N ?? 1);
  const count = (...ops: string[]) => features.filter((f) => ops.includes(f.op)).length;
  return { lnSum, lnBatch, lnSumLnBatch: lnSum * lnBatch, conv: count('conv2d'), dense: count('dense'), pool: count('maxPool2d', 'avgPool2d') };
}

/** Predicted wall time of one stock `model.predict` call on local wasm for layer features at a batch. */
export function predictLocal(c: Calibration, features: LayerFeatures[], opts: { correct?: boolean } = {}): LocalPrediction {
  const forest = forestOf(c);
  const analytic = features.map((f) => analyticLayerMs(c, f));
  const resid = features.map((f) => (forest ? predictForest(forest, residualFeatures(c, f)) : 0));
  const layers = features.map((f, i) => ({ name: f.name, op: f.op, analyticMs: analytic[i]!, latencyMs: analytic[i]! * Math.exp(resid[i]!) }));
  const last = features[features.length - 1];
  const sum = layers.reduce((a, l) => a + l.latencyMs, 0) + c.params.fixedMs + c.params.outMsPerElem * (last?.actOutElems ?? 0);
  let latencyMs = sum;
  if (c.correction && opts.correct !== false) {
    const x = correctionFeatures(sum, features);
    const w = c.correction.weights;
    latencyMs = Math.exp(c.correction.features.reduce((a, k, i) => a + w[i + 1]! * x[k], w[0]!));
    // The correction adjusts the layer sum (non-additivity, cache state); it never moves it by more than 3×.
    latencyMs = Math.min(Math.max(latencyMs, sum / 3), 3 * sum);
  }
  return { latencyMs, layers };
}

export function predictLocalIR(c: Calibration, ir: ModelIR, batch: number, opts: { correct?: boolean } = {}): LocalPrediction {
  return predictLocal(c, irFeatures(ir, batch), opts);
}

// ---------------------------------------------------------------------------------------------------------
// Fitting

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? s[Math.floor((s.length - 1) / 2)]! : NaN;
}

export interface FitInput {
  layerItems: TimingItem[];
  identityItems: TimingItem[];
  modelItems: TimingItem[];
  ms: Record<string, number>;
}

export interface FitOptions {
  nEstimators?: number;
  seed?: number;
}

/** Fits the calibration from measured times (no timing here: testable on synthetic data). */
export function fitCalibration(input: FitInput, opts: FitOptions = {}): Omit<Calibration, 'createdAt' | 'deviceState' | 'protocol'> {
  // 1. Fixed cost of predict + read-back from identity models: T = a + b · outElems.
  const idPts = input.identityItems.map((it) => ({ x: irFeatures(it.ir, it.batch).at(-1)!.actOutElems, y: input.ms[it.id]! })).filter((p) => Number.isFinite(p.y));
  const mx = idPts.reduce((a, p) => a + p.x, 0) / Math.max(1, idPts.length),
    my = idPts.reduce((a, p) => a + p.y, 0) / Math.max(1, idPts.length);
  const sxx = idPts.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  const b = sxx > 0 ? Math.max(0, idPts.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx) : 0;
  const a = Math.max(0, my - b * mx);
  const params: Calibration['params'] = { peakOps: 1.7e10, bandwidth: 1e10, overheadMs: {}, fixedMs: a, outMsPerElem: b };
  // 2. Per-layer times of the single-layer models.
  const rows = input.layerItems
    .map((it) => {
      const f = irFeatures(it.ir, it.batch)[0]!;
      const T = input.ms[it.id]!;
      const t = Math.max(0.002, 0.05 * T, T - (a + b * f.actOutElems));
      return { f, t };
    })
    .filter((r) => Number.isFinite(r.t));
  // 3. Roofline numbers: achieved OP/s on the largest conv / matmul, bytes/s on the largest memory-bound layers.
  const big = rows
    .filter((r) => r.f.op === 'conv2d' || r.f.op === 'dense')
    .sort((x, y) => y.f.macs - x.f.macs)
    .slice(0, Math.max(3, Math.floor(rows.length / 8)));
  if (big.length) params.peakOps = median(big.map((r) => (2 * r.f.macs) / (r.t * 1e-3)));
  const mem = rows
    .filter((r) => r.f.op !== 'conv2d' && r.f.op !== 'dense')
    .sort((x, y) => layerBytes(y.f) - layerBytes(x.f))
    .slice(0, Math.max(3, Math.floor(rows.length / 16)));
  if (mem.length) params.bandwidth = median(mem.map((r) => layerBytes(r.f) / (r.t * 1e-3)));
  // 4. Per-op overhead: median of what the roofline does not explain.
  const base = { params: { ...params, overheadMs: {} } };
  for (const op of OPS) {
    const rs = rows.filter((r) => r.f.op === op);
    params.overheadMs[op] = rs.length ? Math.max(0.001, median(rs.map((r) => r.t - analyticLayerMs(base, r.f) + 0.005))) : 0.005;
  }
  const c = { params };
  // 5. Residual forest on log(t / t_analytic).
  let forest: RandomForestRegression | undefined;
  const X = rows.map((r) => residualFeatures(c, r.f));
  const Y = rows.map((r) => Math.log(r.t / analyticLayerMs(c, r.f)));
  if (rows.length >= 10) {
    forest = new RandomForestRegression({
      nEstimators: opts.nEstimators ?? 80,
      maxFeatures: 0.8,
      replacement: false,
      seed: opts.seed ?? 42,
      useSampleBagging: true,
      noOOB: true,
      treeOptions: { maxDepth: 14, minNumSamples: 3 },
    });
    forest.train(X, Y);
  }
  const partial: Calibration = {
    format: 'edge-compress/hw-cost-calibration',
    version: CALIBRATION_VERSION,
    device: 'local-wasm',
    createdAt: '',
    deviceState: {},
    protocol: { processes: 0, rounds: 0, configs: 0, models: 0 },
    params,
    correction: null,
    forest: forest ? (forest.toJSON() as unknown as Record<string, unknown>) : null,
    stats: {},
  };
  // 6. Model-level correction from the calibration models, in log space (relative errors count the same for
  //    0.05 ms and 50 ms models): ln T = w0 + w·[ln Σ, ln batch, ln Σ·ln batch, #conv, #dense, #pool].
  const mrows = input.modelItems
    .map((it) => {
      const feats = irFeatures(it.ir, it.batch);
      const x = correctionFeatures(predictLocal(partial, feats).latencyMs, feats);
      return { x: CORRECTION_FEATURES.map((k) => x[k]), b: it.batch, y: input.ms[it.id]! };
    })
    .filter((r) => Number.isFinite(r.y) && r.y > 0);
  if (mrows.length >= 20 && new Set(mrows.map((r) => r.b)).size > 1) {
    const reg = new MLR(
      mrows.map((r) => r.x),
      mrows.map((r) => [Math.log(r.y)]),
      { intercept: true, statistics: false },
    );
    const w = reg.weights.map((x) => x[0]!);
    // ml-regression-multivariate-linear puts the intercept last.
    const weights = [w[w.length - 1]!, ...w.slice(0, -1)];
    if (weights.every(Number.isFinite) && weights[1]! > 0) partial.correction = { features: [...CORRECTION_FEATURES], weights };
  }
  // Training-set figures (in-sample; held-out accuracy is the bench's job).
  const within = (p: number, m: number) => Math.abs(p - m) / m <= 0.1;
  const layerIn = rows.filter((r) => within(predictLocal(partial, [r.f]).layers[0]!.latencyMs, r.t)).length / Math.max(1, rows.length);
  const modelIn = input.modelItems.filter((it) => within(predictLocalIR(partial, it.ir, it.batch).latencyMs, input.ms[it.id]!)).length / Math.max(1, input.modelItems.length);
  partial.stats = { layerConfigs: rows.length, trainLayerWithin10pct: layerIn, calibrationModels: mrows.length, trainModelWithin10pct: modelIn };
  const { createdAt: _c, deviceState: _d, protocol: _p, ...rest } = partial;
  return rest;
}

export interface CalibrateOptions extends ProtocolOptions {
  quick?: boolean;
  /** Numbers of single-layer configs and calibration models (default: 120 / 60, quick 80 / 20). */
  layerConfigs?: number;
  models?: number;
  nEstimators?: number;
}

/** Generates the calibration set, times it on this machine with the protocol, and fits. */
export async function calibrate(opts: CalibrateOptions = {}): Promise<Calibration> {
  const t0 = performance.now();
  const seed = opts.seed ?? 1;
  const layerItems = layerConfigs({ count: opts.layerConfigs ?? (opts.quick ? 80 : 120), seed: 1000 + seed });
  const identityItems = identityConfigs(seed);
  // Calibration models come from seed range 5000+ (held-out validation in the bench uses 9000+).
  const modelItems = modelSpecs(opts.models ?? (opts.quick ? 20 : 60), 5000 + seed).flatMap((s, i) =>
    [1, 32].map((batch) => ({ id: `model-${i}-b${batch}`, ir: s.ir, batch, seed: i, density: s.density })),
  );
  const all = [...identityItems, ...layerItems, ...modelItems];
  const rounds = opts.rounds ?? (opts.quick ? 5 : 7);
  const processes = opts.processes ?? 3;
  const measured = await measureInProcesses(all, { ...opts, rounds, processes });
  const fit = fitCalibration({ layerItems, identityItems, modelItems, ms: measured.ms }, { nEstimators: opts.nEstimators, seed });
  return {
    ...fit,
    createdAt: new Date().toISOString(),
    deviceState: { ...deviceState(), loadBefore: measured.loadBefore, loadAfter: measured.loadAfter },
    protocol: { processes, rounds, configs: layerItems.length + identityItems.length, models: modelItems.length },
    stats: { ...fit.stats, calibrateS: (performance.now() - t0) / 1000 },
    measurements: measured.ms,
  };
}

export async function saveCalibration(c: Calibration, path = defaultCalibrationPath()): Promise<string> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(c));
  await rename(tmp, path);
  return path;
}

export function parseCalibration(raw: unknown, file: string): Calibration {
  const r = calibrationSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const old = (raw as { version?: unknown } | null)?.version;
    const why =
      typeof old === 'number' && old !== CALIBRATION_VERSION
        ? `was written by an older hw-cost (version ${old}, expected ${CALIBRATION_VERSION})`
        : `field '${i.path.join('.') || '(root)'}' ${i.message}`;
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: `${file}: ${i.path.join('.')}`,
      message: `calibration ${file}: ${why}`,
      hint: 'run `edge-compress calibrate` again to rewrite it',
    });
  }
  return r.data;
}

/** Loads a calibration; a missing file is a typed error that says to run calibrate. */
export async function loadCalibration(path = defaultCalibrationPath()): Promise<Calibration> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path,
      message: `device 'local-wasm' needs a calibration and ${path} does not exist`,
      hint: 'run `edge-compress calibrate` (about 2-5 minutes; --quick for a short one) or pass --calibration FILE',
      cause,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    throw new CompressionError({ code: 'BAD_CONFIG', path, message: `calibration ${path} is not valid JSON`, hint: 'run `edge-compress calibrate` again', cause });
  }
  return parseCalibration(raw, path);
}
