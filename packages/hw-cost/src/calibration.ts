/**
 * local-wasm calibration (HWCOST §3.3): time generated single-layer configurations, identity models and
 * whole calibration models on this machine (protocol.ts); fit (1) an analytic roofline with per-op overheads
 * (reported per layer as `analyticMs`), (2) the additive per-kernel model of kernelModel.ts (per-op
 * regressors + per-call and per-layer dispatch cost, non-negative least squares on relative error over all
 * timings) and (3) a model-level random forest on ln(measured / additive sum) from the calibration models
 * (non-additivity: cache state, fusion). Saved as versioned JSON (no pickles).
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CompressionError, type ModelIR } from '@edge-compress/core';
import { RandomForestRegression } from 'ml-random-forest';
import { z } from 'zod';
import { irFeatures, OPS, type LayerFeatures } from './features.js';
import { callVector, dot, fitKernelModel, KERNEL_FEATURE_NAMES, KERNEL_FORM, layerMs } from './kernelModel.js';
import { identityConfigs, layerConfigs, modelSpecs } from './generate.js';
import type { TimingItem } from './measure.js';
import { deviceState, measureInProcesses, type ProtocolOptions } from './protocol.js';

export const CALIBRATION_VERSION = 3;

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
  /** Additive per-kernel model (kernelModel.ts): coefficient per feature name, all ≥ 0. */
  kernel: z.object({ form: z.literal(KERNEL_FORM), features: z.array(z.string()), theta: z.array(z.number().nonnegative()) }),
  /** Model-level residual forest (ml-random-forest JSON) on MODEL_FOREST_FEATURES; null with < 20 calibration model timings. */
  modelForest: z.object({ features: z.array(z.string()), forest: z.record(z.string(), z.unknown()) }).nullable(),
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
function flatOf(json: Record<string, unknown>): FlatForest {
  let f = forestCache.get(json);
  if (!f) {
    f = flatten(json);
    forestCache.set(json, f);
  }
  return f;
}

/** Features of the model-level residual forest (ln of measured / additive sum), in order. */
export const MODEL_FOREST_FEATURES = ['lnSum', 'lnBatch', 'convMacShare', 'conv', 'dense', 'layers', 'lnWeightBytes', 'lnActOut', 'lnMacs'] as const;
function modelForestFeatures(sum: number, features: LayerFeatures[]): number[] {
  const l = (x: number) => Math.log(Math.max(1, x));
  let convMacs = 0,
    denseMacs = 0,
    conv = 0,
    dense = 0,
    weightBytes = 0,
    actOut = 0;
  for (const f of features) {
    if (f.op === 'conv2d') ((convMacs += f.macs), conv++);
    if (f.op === 'dense') ((denseMacs += f.macs), dense++);
    weightBytes += f.denseWeightBytes;
    actOut += f.actOutElems;
  }
  return [
    Math.log(Math.max(1e-6, sum)),
    Math.log(features[0]?.N ?? 1),
    convMacs / (convMacs + denseMacs + 1),
    conv,
    dense,
    features.length,
    l(weightBytes),
    l(actOut),
    l(convMacs + denseMacs + 1),
  ];
}

/** The model-level correction never moves the additive sum by more than this factor either way. */
const MAX_CORRECTION = 3;

/**
 * Predicted wall time of one stock `model.predict` call on local wasm for layer features at a batch: the
 * per-kernel sum (kernelModel.ts) times the model-level residual forest's correction (`correct: false`
 * leaves it out). Layer rows carry their share of the corrected time; the rest is the per-call cost.
 */
export function predictLocal(c: Calibration, features: LayerFeatures[], opts: { correct?: boolean } = {}): LocalPrediction {
  const th = c.kernel.theta;
  const perLayer = features.map((f) => layerMs(f, th));
  const callMs = dot(callVector(features), th);
  const sum = callMs + perLayer.reduce((a, b) => a + b, 0);
  let factor = 1;
  if (c.modelForest && opts.correct !== false) {
    const r = predictForest(flatOf(c.modelForest.forest), modelForestFeatures(sum, features));
    factor = Math.min(MAX_CORRECTION, Math.max(1 / MAX_CORRECTION, Math.exp(r)));
  }
  return {
    latencyMs: sum * factor,
    layers: features.map((f, i) => ({ name: f.name, op: f.op, analyticMs: analyticLayerMs(c, f), latencyMs: perLayer[i]! * factor })),
  };
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
  // 5. Additive per-kernel model on every timing (single layers, identity models, whole models).
  const timed = (items: TimingItem[]) => items.map((it) => ({ features: irFeatures(it.ir, it.batch), ms: input.ms[it.id]! })).filter((r) => Number.isFinite(r.ms) && r.ms > 0);
  const modelRows = timed(input.modelItems);
  const theta = fitKernelModel([...timed(input.layerItems), ...timed(input.identityItems), ...modelRows]);
  const partial: Calibration = {
    format: 'edge-compress/hw-cost-calibration',
    version: CALIBRATION_VERSION,
    device: 'local-wasm',
    createdAt: '',
    deviceState: {},
    protocol: { processes: 0, rounds: 0, configs: 0, models: 0 },
    params,
    kernel: { form: KERNEL_FORM, features: [...KERNEL_FEATURE_NAMES], theta },
    modelForest: null,
    stats: {},
  };
  // 6. Model-level residual forest on ln(measured / additive sum) of the calibration models.
  if (modelRows.length >= 20) {
    const X = modelRows.map((r) => modelForestFeatures(predictLocal(partial, r.features, { correct: false }).latencyMs, r.features));
    const Y = modelRows.map((r, i) => Math.log(r.ms) - X[i]![0]!);
    const rf = new RandomForestRegression({
      nEstimators: opts.nEstimators ?? 100,
      maxFeatures: 0.7,
      replacement: true,
      seed: opts.seed ?? 3,
      useSampleBagging: true,
      noOOB: true,
      treeOptions: { maxDepth: 4, minNumSamples: 4 },
    });
    rf.train(X, Y);
    partial.modelForest = { features: [...MODEL_FOREST_FEATURES], forest: rf.toJSON() as unknown as Record<string, unknown> };
  }
  // Training-set figures (in-sample; held-out accuracy is the bench's job).
  const within = (p: number, m: number) => Math.abs(p - m) / m <= 0.1;
  const layerIn =
    input.layerItems.filter((it) => within(predictLocalIR(partial, it.ir, it.batch, { correct: false }).latencyMs, input.ms[it.id]!)).length / Math.max(1, input.layerItems.length);
  const modelIn = input.modelItems.filter((it) => within(predictLocalIR(partial, it.ir, it.batch).latencyMs, input.ms[it.id]!)).length / Math.max(1, input.modelItems.length);
  partial.stats = { layerConfigs: rows.length, trainLayerWithin10pct: layerIn, calibrationModels: modelRows.length, trainModelWithin10pct: modelIn };
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
      hint: "run `edge-compress calibrate` (the reference app's CLI; --quick takes about 20 s on a 2-core machine, the full one 2-5 minutes), or in code hw-cost's own `await saveCalibration(await calibrate({ quick: true }))` (timing needs @tensorflow/tfjs-layers); or point at another file: --calibration FILE / loadCalibration(FILE)",
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
