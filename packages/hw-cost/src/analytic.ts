/**
 * Per-device analytic model (HWCOST §3.2, §3.4): roofline latency with SIMD/PE alignment, per-pattern
 * efficiency, fixed per-layer and per-inference overheads; energy as power × time or per action.
 */
import type { LayerFeatures, Pattern } from './features.js';
import { computePrecision, PRECISIONS, type DeviceProfile, type Precision } from './profile.js';

export type Bottleneck = 'compute' | 'memory' | 'overhead';

export interface LayerEstimate {
  name: string;
  op: string;
  pattern: Pattern;
  precision: Precision;
  /** Dense-equivalent MACs and the MACs this device executes. */
  macs: number;
  macsExecuted: number;
  weightBytesMoved: number;
  activationBytesMoved: number;
  indexBytesMoved: number;
  computeMs: number;
  memoryMs: number;
  overheadMs: number;
  latencyMs: number;
  energyMj: number;
  energy: { computeMj: number; onChipMj: number; dramMj: number; staticMj: number };
  storageBytes: number;
  bottleneck: Bottleneck;
}

const TRIVIAL = new Set(['flatten', 'dropout']);

/** Energy per MAC at a precision: the entry for it, else the nearest wider one, else the widest listed. */
function macEnergyPj(m: Partial<Record<Precision, { value: number }>>, prec: Precision): number {
  if (m[prec]) return m[prec]!.value;
  const bits = PRECISIONS[prec];
  const keys = (Object.keys(m) as Precision[]).filter((k) => m[k]).sort((a, b) => PRECISIONS[a] - PRECISIONS[b]);
  const k = keys.find((x) => PRECISIONS[x] >= bits) ?? keys[keys.length - 1];
  return k ? m[k]!.value : 0;
}

function patternOf(p: DeviceProfile, f: LayerFeatures) {
  return p.patterns[f.pattern];
}

/** Analytic estimate of one layer on one device. */
export function estimateLayer(p: DeviceProfile, f: LayerFeatures): LayerEstimate {
  const weighted = f.op === 'conv2d' || f.op === 'dense';
  const prec = computePrecision(p, weighted ? f.wBits : 32);
  const cBits = PRECISIONS[prec];
  const peak = p.peakOps[prec]!.value;
  const pat = patternOf(p, f);
  const exploits = weighted && f.pattern !== 'dense' && pat.skipsZeros;
  const macsExecuted = exploits ? f.macsEff : f.macs;
  const kpat = exploits ? Math.max(1, pat.kpat.value) : 1;
  // ηutil: output channels padded to the SIMD / PE width (the staircase).
  const simd = Math.max(1, p.simdWidth.value);
  const align = weighted ? f.Cout / (Math.ceil(f.Cout / simd) * simd) : 1;
  const eta = p.computeEfficiency.value * align;
  const computeS = TRIVIAL.has(f.op) ? 0 : (2 * macsExecuted * kpat + f.ops) / (peak * eta);
  // Bytes: weights as this device holds them, activations at the compute width (≥ 1 byte).
  const aBytes = Math.max(1, cBits / 8);
  let wBytes = f.weightBytes;
  let iBytes = f.indexBytes;
  if (p.dequantizesWeights || (weighted && !exploits && f.pattern !== 'dense' && f.indexBytes + (f.rank ? 1 : 0) > 0)) {
    // The runtime cannot use the format (index / factors): it expands it to dense at its compute width.
    wBytes = (f.denseWeightBytes * cBits) / 32;
    iBytes = 0;
  } else if (cBits < f.wBits) wBytes = (wBytes * cBits) / f.wBits; // quantized for the device at deploy time
  const actBytes = TRIVIAL.has(f.op) ? 0 : (f.actInElems + f.actOutElems) * aBytes;
  // Weights re-fetched per output tile when they and a tile of activations do not fit on chip.
  const onChip = Math.max(1, p.onChipBytes.value);
  const tiles = wBytes + iBytes > onChip / 2 ? Math.max(1, Math.ceil((f.actOutElems * aBytes) / (onChip / 2))) : 1;
  const dramBytes = (wBytes + iBytes) * tiles + actBytes;
  const memoryS = dramBytes / (p.dramBandwidth.value * p.memoryEfficiency.value);
  const overheadS = TRIVIAL.has(f.op) ? 0 : p.layerOverheadS.value;
  const latencyS = Math.max(computeS, memoryS) + overheadS;
  const bottleneck: Bottleneck = overheadS > Math.max(computeS, memoryS) ? 'overhead' : computeS >= memoryS ? 'compute' : 'memory';
  let energy: LayerEstimate['energy'];
  if (p.energy.mode === 'powerTime') {
    const w = p.energy.activeW.value + p.energy.idleW.value;
    energy = { computeMj: w * latencyS * 1e3, onChipMj: 0, dramMj: 0, staticMj: 0 };
  } else {
    const e = p.energy;
    const macPj = macEnergyPj(e.macPj, prec);
    energy = {
      computeMj: (macsExecuted + f.ops / 4) * macPj * 1e-9,
      onChipMj: actBytes * e.sramPjPerByte.value * 1e-9,
      dramMj: (wBytes + iBytes) * tiles * e.dramPjPerByte.value * 1e-9,
      staticMj: e.staticW.value * latencyS * 1e3,
    };
  }
  return {
    name: f.name,
    op: f.op,
    pattern: f.pattern,
    precision: prec,
    macs: f.macs,
    macsExecuted,
    weightBytesMoved: wBytes * tiles,
    activationBytesMoved: actBytes,
    indexBytesMoved: iBytes * tiles,
    computeMs: computeS * 1e3,
    memoryMs: memoryS * 1e3,
    overheadMs: overheadS * 1e3,
    latencyMs: latencyS * 1e3,
    energyMj: energy.computeMj + energy.onChipMj + energy.dramMj + energy.staticMj,
    energy,
    storageBytes: f.storageBits / 8,
    bottleneck,
  };
}

export interface ModelEstimate {
  device: string;
  kind: string;
  batch: number;
  latencyMs: number;
  energyMj: number;
  storageBytes: number;
  /** Dense-equivalent MACs and executed MACs for the whole batch. */
  macs: number;
  macsExecuted: number;
  bytesMoved: number;
  bottleneck: Bottleneck;
  /** Dense-equivalent GOP/s, and GOP/s per watt (average power = energy / latency). */
  effectiveGops: number;
  gopsPerWatt: number;
  averageW: number;
  inferencesPerJ: number;
  /** 'calibrated' for local-wasm with a calibration, else 'analytic'. */
  method: 'analytic' | 'calibrated';
  warnings: string[];
  layers: LayerEstimate[];
}

/** Sums layer estimates into a model estimate with the per-inference overhead. */
export function totalEstimate(
  p: DeviceProfile,
  layers: LayerEstimate[],
  batch: number,
  extraMs = p.inferenceOverheadS.value * 1e3,
  method: ModelEstimate['method'] = 'analytic',
): ModelEstimate {
  const sum = (k: (l: LayerEstimate) => number) => layers.reduce((a, l) => a + k(l), 0);
  const latencyMs = sum((l) => l.latencyMs) + extraMs;
  const staticW = p.energy.mode === 'powerTime' ? p.energy.activeW.value + p.energy.idleW.value : p.energy.staticW.value;
  const energyMj = sum((l) => l.energyMj) + staticW * extraMs;
  const macs = sum((l) => l.macs);
  const t = {
    compute: sum((l) => (l.bottleneck === 'compute' ? l.latencyMs : 0)),
    memory: sum((l) => (l.bottleneck === 'memory' ? l.latencyMs : 0)),
    overhead: sum((l) => (l.bottleneck === 'overhead' ? l.latencyMs : 0)) + extraMs,
  };
  const bottleneck = (Object.entries(t) as Array<[Bottleneck, number]>).sort((a, b) => b[1] - a[1])[0]![0];
  const averageW = latencyMs > 0 ? energyMj / latencyMs : 0;
  const effectiveGops = latencyMs > 0 ? (2 * macs) / (latencyMs * 1e-3) / 1e9 : 0;
  const warnings: string[] = [];
  const storageBytes = sum((l) => l.storageBytes);
  if (p.memoryBytes && storageBytes > p.memoryBytes.value)
    warnings.push(`${p.id}: weights need ${Math.round(storageBytes)} bytes but the device has ${p.memoryBytes.value} bytes (${p.memoryBytes.src})`);
  return {
    device: p.id,
    kind: p.kind,
    batch,
    latencyMs,
    energyMj,
    storageBytes,
    macs,
    macsExecuted: sum((l) => l.macsExecuted),
    bytesMoved: sum((l) => l.weightBytesMoved + l.activationBytesMoved + l.indexBytesMoved),
    bottleneck,
    effectiveGops,
    gopsPerWatt: averageW > 0 ? effectiveGops / averageW : 0,
    averageW,
    inferencesPerJ: energyMj > 0 ? batch / (energyMj * 1e-3) : 0,
    method,
    warnings,
    layers,
  };
}

export function estimateAnalytic(p: DeviceProfile, features: LayerFeatures[]): ModelEstimate {
  return totalEstimate(
    p,
    features.map((f) => estimateLayer(p, f)),
    features[0]?.N ?? 1,
  );
}
