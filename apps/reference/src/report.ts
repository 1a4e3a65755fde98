import { nonZeros, storageBits, sizeOf, type Model } from '@edge-compress/core';

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

export interface PipelineReport {
  outDir: string;
  quick: boolean;
  seed: number;
  baseline: { arch: string; epochs: number; testAccuracy: number; cached: boolean };
  variants: VariantRow[];
  stages: Record<string, unknown>;
}

/** Element count, non-zeros and storage of all weights of a model. */
export function modelFigures(m: Model): { elements: number; nonZeros: number; storageBytes: number } {
  let elements = 0, nz = 0, bits = 0;
  for (const e of Object.values(m.weights)) {
    elements += sizeOf(e.shape);
    nz += e.kind === 'lowRank' || e.kind === 'factorized' ? nonZeros(e) : nonZeros(e);
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
  const rows = r.variants.map((v) => `| ${v.id} | ${v.method} | ${pct(v.accuracy)} | ${(100 * v.accuracyDrop).toFixed(2)} pp | ${v.nonZeros} | ${v.pruningRatio.toFixed(1)}× | ${kb(v.storageBytes)} | ${v.storageRatio.toFixed(1)}× | ${kb(v.fileBytes)} | ${kb(v.gzipBytes)} | ${kb(v.stockFileBytes)} | ${kb(v.stockInMemoryBytes)} |`);
  return [`LeNet-5 on MNIST (${r.quick ? 'quick' : 'full'} run, seed ${r.seed}); baseline ${pct(r.baseline.testAccuracy)} after ${r.baseline.epochs} epochs`, '', head, sep, ...rows, '', 'stock in-memory: tfjs dequantizes every weight to float32 at load, so memory is 4 bytes per parameter whatever the file holds.'].join('\n');
}
