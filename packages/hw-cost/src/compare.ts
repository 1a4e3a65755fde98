/** The seed paper's question (Mobile or FPGA?): one model and its compressed variants on every device. */
import type { Model } from '@edge-compress/core';
import { estimateCost, type CostOptions } from './cost.js';

export interface ComparisonRow {
  variant: string;
  device: string;
  latencyMs: number;
  energyMj: number;
  averageW: number;
  effectiveGops: number;
  gopsPerWatt: number;
  inferencesPerJ: number;
  storageBytes: number;
  macsExecuted: number;
  bottleneck: string;
}

export interface Comparison {
  batch: number;
  rows: ComparisonRow[];
  /** variant → energy(edge-fpga) / energy(mobile-gpu) when both devices are present. */
  fpgaVsMobileGpuEnergy: Record<string, number>;
}

export function compareDevices(variants: Array<{ name: string; model: Model }>, opts: CostOptions = {}): Comparison {
  const rows: ComparisonRow[] = [];
  const ratio: Record<string, number> = {};
  for (const v of variants) {
    const est = estimateCost(v.model, opts);
    for (const e of est) {
      rows.push({
        variant: v.name,
        device: e.device,
        latencyMs: e.latencyMs,
        energyMj: e.energyMj,
        averageW: e.averageW,
        effectiveGops: e.effectiveGops,
        gopsPerWatt: e.gopsPerWatt,
        inferencesPerJ: e.inferencesPerJ,
        storageBytes: e.storageBytes,
        macsExecuted: e.macsExecuted,
        bottleneck: e.bottleneck,
      });
    }
    const f = est.find((e) => e.kind === 'fpga'),
      g = est.find((e) => e.kind === 'mobile-gpu');
    if (f && g && g.energyMj > 0) ratio[v.name] = f.energyMj / g.energyMj;
  }
  return { batch: opts.batch ?? 1, rows, fpgaVsMobileGpuEnergy: ratio };
}
