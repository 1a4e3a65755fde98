/**
 * The public cost API: a model (IR + encodings) on device profiles → per-layer and total latency, energy,
 * storage, MACs, bytes and bottleneck; a `CostFn` for methods; break-even pruning ratios (HWCOST §3.2).
 */
import { CompressionError, sizeOf, type CostFn, type EncodingSummary, type LayerCost, type Model } from '@edge-compress/core';
import { estimateAnalytic, estimateLayer, totalEstimate, type LayerEstimate, type ModelEstimate } from './analytic.js';
import { builtinProfiles } from './builtin.js';
import { predictLocal, type Calibration } from './calibration.js';
import { factsFromSummary, irFeatures, modelFeatures, type LayerFeatures, type Pattern } from './features.js';
import { findProfile, type DeviceProfile } from './profile.js';

export interface CostOptions {
  /** Device ids (default: every profile). */
  devices?: string[];
  batch?: number;
  /** Profiles to choose from (default: the bundled ones). */
  profiles?: DeviceProfile[];
  /** Needed for 'local-wasm'. */
  calibration?: Calibration;
}

/** local-wasm: the calibrated predictor for latency (stock tfjs runs the model dense), the profile for energy and bytes. */
function estimateLocal(p: DeviceProfile, c: Calibration, model: Model, batch: number): ModelEstimate {
  const feats = modelFeatures(model, batch);
  const stock = irFeatures(model.ir, batch);
  const pred = predictLocal(c, stock);
  const layers: LayerEstimate[] = feats.map((f, i) => {
    const a = estimateLayer(p, f);
    const t = pred.layers[i]!.latencyMs;
    const w = p.energy.mode === 'powerTime' ? p.energy.activeW.value + p.energy.idleW.value : p.energy.staticW.value;
    return {
      ...a,
      latencyMs: t,
      energyMj: w * t,
      energy: { computeMj: w * t, onChipMj: 0, dramMj: 0, staticMj: 0 },
      overheadMs: Math.max(0, t - Math.max(a.computeMs, a.memoryMs)),
    };
  });
  const extra = pred.latencyMs - layers.reduce((s, l) => s + l.latencyMs, 0);
  return totalEstimate(p, layers, batch, extra, 'calibrated');
}

/** Cost of a model on every requested device. */
export function estimateCost(model: Model, opts: CostOptions = {}): ModelEstimate[] {
  const profiles = opts.profiles ?? builtinProfiles();
  const batch = opts.batch ?? 1;
  const ids = opts.devices ?? profiles.map((p) => p.id);
  const chosen = ids.map((id) => findProfile(profiles, id));
  const feats = modelFeatures(model, batch); // validates batch and layers before any device
  return chosen.map((p) => {
    if (p.kind === 'local-wasm') {
      if (!opts.calibration) {
        throw new CompressionError({
          code: 'BAD_CONFIG',
          path: 'device',
          message: `device '${p.id}' is predicted from measurements on this machine and no calibration was given`,
          hint: 'run `edge-compress calibrate` first (or pass --calibration FILE)',
        });
      }
      return estimateLocal(p, opts.calibration, model, batch);
    }
    return estimateAnalytic(p, feats);
  });
}

/** Layer features reconstructed from what `CostFn` receives (weight summary + MACs per example). */
export function featuresFromSummary(layer: string, kind: string, s: EncodingSummary, macsPerExample: number, batch = 1): LayerFeatures {
  if (kind !== 'conv2d' && kind !== 'dense') {
    throw new CompressionError({
      code: 'UNSUPPORTED_LAYER',
      layer,
      message: `cost: layer '${layer}' of kind '${kind}' has no weight cost model`,
      hint: 'CostFn is called for conv2d and dense layers',
    });
  }
  const facts = factsFromSummary(s);
  const sh = s.shape;
  const [Kh, Kw, Cin, Cout] = kind === 'conv2d' ? (sh as [number, number, number, number]) : [1, 1, sh[0]!, sh[1]!];
  const outPix = Math.max(1, Math.round(macsPerExample / Math.max(1, sizeOf(sh))));
  const side = Math.sqrt(outPix);
  const f: LayerFeatures = {
    name: layer,
    op: kind,
    N: batch,
    H: side,
    W: side,
    Cin,
    Ho: side,
    Wo: side,
    Cout,
    Kh,
    Kw,
    stride: 1,
    padding: 'same',
    act: 'relu',
    macs: macsPerExample * batch,
    ops: 0,
    macsEff: macsPerExample * batch * facts.macFraction,
    weightBytes: facts.valueBits / 8,
    indexBytes: facts.indexBits / 8,
    denseWeightBytes: 4 * sizeOf(sh),
    actInElems: batch * outPix * Cin,
    actOutElems: batch * outPix * Cout,
    pattern: facts.pattern,
    density: facts.density,
    wBits: facts.wBits,
    storageBits: facts.storageBits,
    params: sizeOf(sh),
  };
  if (facts.rank !== undefined) f.rank = facts.rank;
  return f;
}

/**
 * A `CostFn` (core's compressor.ts) for one analytic device: what a method calls to price one layer's weight
 * under an encoding. The app injects it into `CompressContext.cost`.
 */
export function createCostFn(device: string | DeviceProfile, opts: { batch?: number; profiles?: DeviceProfile[] } = {}): CostFn {
  const p = typeof device === 'string' ? findProfile(opts.profiles ?? builtinProfiles(), device) : device;
  if (p.kind === 'local-wasm') {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: 'device',
      message: `createCostFn: '${p.id}' runs every encoding dense (stock tfjs), so per-encoding costs would all be equal`,
      hint: 'price encodings on an analytic device (mobile-cpu, mobile-gpu, edge-fpga, eyeriss, cortex-m7)',
    });
  }
  return (layer: string, kind: string, encoding: EncodingSummary, macs: number): LayerCost => {
    const e = estimateLayer(p, featuresFromSummary(layer, kind, encoding, macs, opts.batch ?? 1));
    return { latencyMs: e.latencyMs, energyMj: e.energyMj, storageBytes: e.storageBytes };
  };
}

export interface BreakEven {
  pattern: Pattern;
  device: string;
  /** Smallest pruning ratio (fraction of zeros) at which the pattern is no slower than dense; null = the device never runs it faster (it computes the zeros). */
  sparsity: number | null;
  /** Same as a compression ratio 1 / (1 − sparsity). */
  ratio: number | null;
  denseMs: number;
  /** d latency / d density at density 0.5 (ms per unit density), for allocating per-layer ratios by saved ms. */
  dLatencyDDensity: number;
  /** Same for energy (mJ per unit density). */
  dEnergyDDensity: number;
}

/** The layer with `pattern` at a density (weights and indices scaled as that format stores them). */
export function withDensity(f: LayerFeatures, pattern: Pattern, density: number): LayerFeatures {
  const elems = f.params;
  const bitsPer = f.wBits;
  const nnz = density * elems;
  const index =
    pattern === 'unstructured' ? Math.min(elems, nnz * 8) : pattern === 'block' ? elems / 16 : pattern === 'nm' ? elems / 2 : pattern === 'channel' ? Math.sqrt(elems) : 0;
  return { ...f, pattern, density, macsEff: f.macs * density, weightBytes: (nnz * bitsPer) / 8, indexBytes: index / 8, storageBits: nnz * bitsPer + index };
}

/**
 * Break-even pruning ratio of a layer for a sparsity pattern on a device (ADMM-NN; HWCOST §3.2): the smallest
 * fraction of zeros whose latency is no worse than the dense layer.
 */
export function breakEven(layer: LayerFeatures, pattern: Pattern, profile: DeviceProfile): BreakEven {
  const dense = estimateLayer(profile, { ...layer, pattern: 'dense', density: 1, macsEff: layer.macs });
  const at = (d: number) => estimateLayer(profile, withDensity(layer, pattern, d));
  const t = (d: number) => at(d).latencyMs;
  const eps = 1e-3;
  const slope = (t(0.5 + eps) - t(0.5 - eps)) / (2 * eps);
  const eslope = (at(0.5 + eps).energyMj - at(0.5 - eps).energyMj) / (2 * eps);
  let sparsity: number | null = null;
  const exploited = pattern !== 'dense' && profile.patterns[pattern].skipsZeros && !profile.dequantizesWeights;
  if (exploited && t(eps) <= dense.latencyMs * (1 + 1e-9)) {
    // t(density) is non-decreasing in density: bisect for the largest density that is no slower than dense.
    let lo = eps,
      hi = 1;
    if (t(hi) <= dense.latencyMs * (1 + 1e-9)) lo = hi;
    else
      for (let i = 0; i < 40; i++) {
        const mid = (lo + hi) / 2;
        if (t(mid) <= dense.latencyMs * (1 + 1e-9)) lo = mid;
        else hi = mid;
      }
    sparsity = 1 - lo;
  }
  return {
    pattern,
    device: profile.id,
    sparsity,
    ratio: sparsity === null ? null : 1 / Math.max(1e-9, 1 - sparsity),
    denseMs: dense.latencyMs,
    dLatencyDDensity: slope,
    dEnergyDDensity: eslope,
  };
}
