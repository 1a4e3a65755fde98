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
  seconds: number;
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
  seed: number;
  baseline: { arch: string; epochs: number; testAccuracy: number; cached: boolean };
  variants: VariantRow[];
  stages: Record<string, unknown>;
  /** Bandit selection over the catalogue, on the simulated device population of bandit-select. */
  selection?: { rounds: number; bestFixedArm: string; oracleMeanQoe: number; policies: Array<{ name: string; meanQoe: number; regretShare: number; optimalArmShare: number }> };
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
  const head = '| variant | method | test acc | Δacc | non-zeros | pruning | weight storage | vs fp32 | files (ours) | gzip | stock files | stock in-memory |';
  const sep = '|---|---|---|---|---|---|---|---|---|---|---|---|';
  const rows = r.variants.map(
    (v) =>
      `| ${v.id} | ${v.method} | ${pct(v.accuracy)} | ${(100 * v.accuracyDrop).toFixed(2)} pp | ${v.nonZeros} | ${v.pruningRatio.toFixed(1)}× | ${kb(v.storageBytes)} | ${v.storageRatio.toFixed(1)}× | ${kb(v.fileBytes)} | ${kb(v.gzipBytes)} | ${kb(v.stockFileBytes)} | ${kb(v.stockInMemoryBytes)} |`,
  );
  const sel = r.selection
    ? [
        '',
        `Per-device selection (bandit-select simulator, ${r.selection.rounds} rounds over the catalogue; oracle mean QoE ${r.selection.oracleMeanQoe.toFixed(3)}; best single variant for everyone: ${r.selection.bestFixedArm}):`,
        '',
        '| policy | mean QoE | regret / oracle reward | optimal variant chosen |',
        '|---|---|---|---|',
        ...r.selection.policies.map((p) => `| ${p.name} | ${p.meanQoe.toFixed(3)} | ${pct(p.regretShare)} | ${pct(p.optimalArmShare)} |`),
      ]
    : [];
  return [
    `LeNet-5 on MNIST (${r.quick ? 'quick' : 'full'} run, seed ${r.seed}); baseline ${pct(r.baseline.testAccuracy)} after ${r.baseline.epochs} epochs`,
    '',
    head,
    sep,
    ...rows,
    '',
    'stock in-memory: tfjs dequantizes every weight to float32 at load, so memory is 4 bytes per parameter whatever the file holds.',
    ...sel,
  ].join('\n');
}
