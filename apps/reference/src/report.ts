import type { CostRow, DeviceInfo, Headline, LayerRow, ParetoClass } from './analysis.js';
import type { SelectionReport } from './selection.js';
import { inferShapes, nonZeros, storageBits, sizeOf, summarize, type Model } from '@edge-compress/core';

export interface VariantRow {
  id: string;
  method: string;
  recipe?: string;
  accuracy: number;
  accuracyDrop: number;
  parameters: number;
  nonZeros: number;
  pruningRatio: number;
  /** Weight storage as stored (values + indices + scales + factors), and vs fp32. */
  storageBytes: number;
  storageRatio: number;
  fileBytes: number;
  gzipBytes: number;
  stockFileBytes: number;
  stockInMemoryBytes: number;
  modelJson: string;
  /** Compute seconds of this variant's job (for a chain: the stages after the variant it continues from). */
  seconds: number;
  /** Measured local forward latency (ms, median) with the kernels core has registered, tfjs-wasm. */
  localLatencyMs?: { batch1: number; batch32: number };
}

/** What a cost model and the bandit simulator need to know about a variant. */
export function armFeatures(m: Model, accuracy: number): { acc: number; macs: number; params: number; bytes: number; bits: number; density: number } {
  let macs = 0,
    params = 0,
    nz = 0,
    bitsWeighted = 0,
    kernelElems = 0;
  for (const s of inferShapes(m.ir)) {
    const k = m.weights[`${s.layer.name}/kernel`];
    if (!k) continue;
    const sum = summarize(k);
    macs += s.macs * sum.density;
    bitsWeighted += sum.bits * sum.elements;
    kernelElems += sum.elements;
  }
  for (const e of Object.values(m.weights)) {
    params += sizeOf(e.shape);
    nz += nonZeros(e);
  }
  const bytes = Object.values(m.weights).reduce((a, e) => a + storageBits(e), 0) / 8;
  return { acc: accuracy, macs, params, bytes, bits: bitsWeighted / Math.max(1, kernelElems), density: nz / params };
}

export interface PipelineReport {
  outDir: string;
  quick: boolean;
  full?: boolean;
  seed: number;
  baseline: { arch: string; epochs: number; testAccuracy: number; cached: boolean };
  variants: VariantRow[];
  stages: Record<string, unknown>;
  /** Chains that continued from another recipe's variant: recipe id → the recipe it continued from. */
  chains?: Record<string, string>;
  devices?: DeviceInfo[];
  /** hw-cost latency / energy / storage of every variant on every analytic device profile (batch 1). */
  costs?: CostRow[];
  /** Per-layer weight storage of every variant. */
  layers?: LayerRow[];
  /** Pareto front per device class: accuracy ↑, storage ↓, latency ↓, energy ↓ on that class's profile. */
  pareto?: ParetoClass[];
  headline?: Headline;
  /** Per-device selection over the catalogue on a simulated population spanning hw-cost's device classes. */
  selection?: SelectionReport;
  timing?: { variantsWallSeconds: number; concurrency: number; wallSeconds: number };
}

/** Element count, non-zeros and storage of all weights of a model. */
export function modelFigures(m: Model): { elements: number; nonZeros: number; storageBytes: number } {
  let elements = 0,
    nz = 0,
    bits = 0;
  for (const e of Object.values(m.weights)) {
    elements += sizeOf(e.shape);
    nz += nonZeros(e);
    bits += storageBits(e);
  }
  return { elements, nonZeros: nz, storageBytes: Math.ceil(bits / 8) };
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const kb = (b: number) => `${(b / 1024).toFixed(1)} KB`;

/** A Markdown table of the variants (also printed by `pipeline`). */
export function summaryTable(r: PipelineReport): string {
  const head =
    '| variant | method | test acc | Δacc | non-zeros | pruning | weight storage | vs fp32 | files (ours) | gzip | stock files | stock in-memory | local ms (b1 / b32) |';
  const sep = '|---|---|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = r.variants.map(
    (v) =>
      `| ${v.id} | ${v.method} | ${pct(v.accuracy)} | ${(100 * v.accuracyDrop).toFixed(2)} pp | ${v.nonZeros} | ${v.pruningRatio.toFixed(1)}× | ${kb(v.storageBytes)} | ${v.storageRatio.toFixed(1)}× | ${kb(v.fileBytes)} | ${kb(v.gzipBytes)} | ${kb(v.stockFileBytes)} | ${kb(v.stockInMemoryBytes)} | ${v.localLatencyMs ? `${v.localLatencyMs.batch1.toFixed(2)} / ${v.localLatencyMs.batch32.toFixed(1)}` : '–'} |`,
  );
  const s = r.selection;
  const iv = (i: { mean: number; ci95: [number, number] }) => `${i.mean >= 0 ? '+' : ''}${i.mean.toFixed(3)} [${i.ci95[0].toFixed(3)}, ${i.ci95[1].toFixed(3)}]`;
  const sel = s
    ? [
        '',
        `Per-device selection: ${s.replications} simulated populations × ${s.rounds} rounds (${s.population.deviceTypes} devices over ${s.population.classes.map((c) => c.device).join(', ')}; ${s.population.users} users), QoE accuracy range ${pct(s.qoe.accLo)}–${pct(s.qoe.accHi)} (the catalogue's), deadlines ${s.qoe.deadlineMs[0]}–${s.qoe.deadlineMs[1]} ms.`,
        `Oracle mean QoE ${s.oracleMeanQoe.toFixed(3)}; best single variant ${s.bestFixedArm} ${s.bestFixedMeanQoe.toFixed(3)}; oracle gain ${iv(s.oracleGainVsBestFixed)} (95% interval).`,
        '',
        '| policy | mean QoE | gain vs best single variant [95%] | regret / oracle reward | optimal variant chosen |',
        '|---|---|---|---|---|',
        ...s.policies.map((p) => `| ${p.name} | ${p.meanQoe.toFixed(3)} | ${iv(p.gainVsBestFixed)} | ${pct(p.regretShare)} | ${pct(p.optimalArmShare)} |`),
        '',
        `Best variant per device class: ${s.bestPerClass.map((b) => `${b.cls} → ${b.arm}`).join(', ')}.`,
        '',
        s.verdict,
      ]
    : [];
  const front = r.pareto
    ? ['', 'Pareto front per device class (accuracy ↑, storage ↓, latency ↓, energy ↓):', '', ...r.pareto.map((p) => `- ${p.cls} (${p.device}): ${p.front.join(', ')}`)]
    : [];
  return [
    `${r.baseline.arch} on MNIST (${r.quick ? 'quick' : r.full ? 'full' : 'default'} run, seed ${r.seed}); baseline ${pct(r.baseline.testAccuracy)} after ${r.baseline.epochs} epochs`,
    '',
    head,
    sep,
    ...rows,
    '',
    'stock in-memory: tfjs dequantizes every weight to float32 at load, so memory is 4 bytes per parameter whatever the file holds.',
    ...front,
    ...sel,
  ].join('\n');
}
