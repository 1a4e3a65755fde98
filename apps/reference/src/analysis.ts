/**
 * What the pipeline reports about its variants, from the saved models: hw-cost's latency / energy / storage on
 * every analytic device profile, measured local latency (core's runner, batch 1 and 32), per-layer storage, the
 * Pareto front per device class and the headline figures. Wiring only: costs come from hw-cost, fronts from
 * the sweep package.
 */
import { createRunner, loadModel, storageBits, sizeOf, type Dataset, type Model } from '@edge-compress/core';
import { builtinProfiles, estimateCost } from '@edge-compress/hw-cost';
import { paretoFront } from '@edge-compress/sweep';
import type { Progress } from './progress.js';
import type { VariantRow } from './report.js';

export interface DeviceInfo {
  /** hw-cost profile id (cortex-m7, mobile-cpu, …). */
  id: string;
  name: string;
  kind: string;
  /** Device class as a feature name (the profile kind with '-' → '_'): mcu, mobile_cpu, mobile_gpu, fpga, accelerator. */
  cls: string;
}

export interface CostRow {
  variant: string;
  device: string;
  cls: string;
  latencyMs: number;
  energyMj: number;
  storageBytes: number;
  averageW: number;
  bottleneck: string;
}

export interface LayerRow {
  variant: string;
  layer: string;
  fp32Bytes: number;
  storageBytes: number;
  ratio: number;
}

export interface ParetoClass {
  cls: string;
  device: string;
  objectives: { maximize: string[]; minimize: string[] };
  front: string[];
}

export interface Headline {
  variants: number;
  /** Variants on the Pareto front of at least one device class. */
  paretoVariants: number;
  /** Best test accuracy among variants with weight storage ≥ 10× smaller than fp32 (null: none). */
  bestAccAt10xSmaller: { variant: string; accuracy: number; storageRatio: number } | null;
  /** Largest storage ratio among variants within 0.5 percentage points of the baseline's test accuracy. */
  bestSizeRatioAt05ptDrop: { variant: string; storageRatio: number; accuracyDrop: number } | null;
}

export interface Analysis {
  devices: DeviceInfo[];
  variants: VariantRow[];
  costs: CostRow[];
  layers: LayerRow[];
  pareto: ParetoClass[];
  headline: Headline;
  /** Catalogue features per variant (armFeatures from the jobs are not needed: recomputed here from the files). */
  macs: Record<string, number>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Median wall time (ms) of the model's forward at a batch size with the kernels core has registered. */
function timeForward(model: Model, images: Float32Array, batch: number, repeats: number): number {
  const runner = createRunner(model);
  try {
    const x = images.subarray(0, batch * sizeOf(model.ir.inputShape));
    runner.predict(x, batch); // warm-up
    const ts: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const t = performance.now();
      runner.predict(x, batch);
      ts.push(performance.now() - t);
    }
    return median(ts);
  } finally {
    runner.dispose();
  }
}

/** Per-layer weight storage (every weight of the layer: kernel, bias, factors). */
function layerStorage(model: Model): Map<string, { elements: number; bits: number }> {
  const out = new Map<string, { elements: number; bits: number }>();
  for (const [name, e] of Object.entries(model.weights)) {
    const layer = name.split('/')[0]!;
    const r = out.get(layer) ?? { elements: 0, bits: 0 };
    r.elements += sizeOf(e.shape);
    r.bits += storageBits(e);
    out.set(layer, r);
  }
  return out;
}

export async function analyseVariants(o: { variants: VariantRow[]; data: { test: Dataset }; progress?: Progress; timing?: boolean }): Promise<Analysis> {
  const profiles = builtinProfiles().filter((p) => p.kind !== 'local-wasm');
  const devices: DeviceInfo[] = profiles.map((p) => ({ id: p.id, name: p.name, kind: p.kind, cls: p.kind.replace(/-/g, '_') }));
  const costs: CostRow[] = [];
  const layers: LayerRow[] = [];
  const macs: Record<string, number> = {};
  const variants = o.variants.map((v) => ({ ...v }));
  const images = o.data.test.images.subarray(0, 32 * (o.data.test.images.length / o.data.test.count));
  for (const [i, v] of variants.entries()) {
    const { model } = await loadModel(v.modelJson);
    const est = estimateCost(model, { profiles, batch: 1 });
    for (const e of est) {
      const d = devices.find((x) => x.id === e.device)!;
      costs.push({
        variant: v.id,
        device: e.device,
        cls: d.cls,
        latencyMs: e.latencyMs,
        energyMj: e.energyMj,
        storageBytes: e.storageBytes,
        averageW: e.averageW,
        bottleneck: e.bottleneck,
      });
      macs[v.id] = e.macsExecuted;
    }
    for (const [layer, s] of layerStorage(model))
      layers.push({ variant: v.id, layer, fp32Bytes: s.elements * 4, storageBytes: s.bits / 8, ratio: (s.elements * 32) / Math.max(1, s.bits) });
    if (o.timing !== false) {
      v.localLatencyMs = { batch1: timeForward(model, images, 1, 30), batch32: timeForward(model, images, 32, 8) };
    }
    o.progress?.onTrain({ phase: 'cost+time', epoch: 0, epochs: 1, step: i + 1, stepsPerEpoch: variants.length, loss: 0, done: i + 1 === variants.length });
  }
  const pareto: ParetoClass[] = devices.map((d) => {
    const objectives = { maximize: ['acc'], minimize: ['bytes', 'latency_ms', 'energy_mj'] };
    const arms = variants.map((v) => {
      const c = costs.find((x) => x.variant === v.id && x.device === d.id)!;
      return { id: v.id, features: { acc: v.accuracy, bytes: v.storageBytes, latency_ms: c.latencyMs, energy_mj: c.energyMj } };
    });
    return { cls: d.cls, device: d.id, objectives, front: paretoFront(arms, objectives).front };
  });
  const onFront = new Set(pareto.flatMap((p) => p.front));
  const compressed = variants.slice(1);
  const small = compressed.filter((v) => v.storageRatio >= 10).sort((a, b) => b.accuracy - a.accuracy)[0];
  const close = compressed.filter((v) => v.accuracyDrop <= 0.005).sort((a, b) => b.storageRatio - a.storageRatio)[0];
  return {
    devices,
    variants,
    costs,
    layers,
    pareto,
    macs,
    headline: {
      variants: variants.length,
      paretoVariants: onFront.size,
      bestAccAt10xSmaller: small ? { variant: small.id, accuracy: small.accuracy, storageRatio: small.storageRatio } : null,
      bestSizeRatioAt05ptDrop: close ? { variant: close.id, storageRatio: close.storageRatio, accuracyDrop: close.accuracyDrop } : null,
    },
  };
}
