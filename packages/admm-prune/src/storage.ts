/**
 * Storage accounting of a jointly pruned and quantized model, three ways (ALGORITHMS §0, §1.7):
 * - data only: the bits of the surviving weight values alone (how ADMM-NN's 1,910× is counted);
 * - with indices: data + the cheapest mask index core IO writes (bitmap or relative gaps) + one fp32 interval
 *   per quantized layer;
 * - real file bytes come from core's saveModel (see compress.ts), never from these formulas.
 * Biases are not weights here: they are counted separately at 32 bits.
 */
import { maskIndexBits } from '@edge-compress/core';

export interface LayerStorageInput {
  layer: string;
  elements: number;
  mask: Uint8Array;
  /** Bits per stored non-zero: the quantized width, or 32 for fp32 values. */
  bits: number;
  /** Quantized layers store one fp32 interval q. */
  quantized: boolean;
  biasElements?: number;
}

export interface LayerStorage {
  layer: string;
  elements: number;
  nonZeros: number;
  bits: number;
  dataBits: number;
  indexBits: number;
  indexFormat: string;
  scaleBits: number;
}

export interface StorageAccount {
  layers: LayerStorage[];
  elements: number;
  nonZeros: number;
  denseBits: number;
  dataBits: number;
  indexBits: number;
  scaleBits: number;
  biasBits: number;
  /** elements / non-zeros. */
  pruningRatio: number;
  /** 32·elements / dataBits. */
  dataOnlyRatio: number;
  /** 32·elements / (data + index + scale bits). */
  withIndicesRatio: number;
}

export function storageAccount(layers: readonly LayerStorageInput[]): StorageAccount {
  const rows = layers.map((l): LayerStorage => {
    let nz = 0;
    for (let i = 0; i < l.mask.length; i++) nz += l.mask[i] ? 1 : 0;
    const idx = nz === l.elements ? { bits: 0, format: 'none (dense)' } : maskIndexBits(l.mask);
    const fmt = 'gapBits' in idx && idx.gapBits !== undefined ? `${idx.format} ${idx.gapBits}-bit` : idx.format;
    return { layer: l.layer, elements: l.elements, nonZeros: nz, bits: l.bits, dataBits: nz * l.bits, indexBits: idx.bits, indexFormat: fmt, scaleBits: l.quantized ? 32 : 0 };
  });
  const sum = (f: (r: LayerStorage) => number) => rows.reduce((a, r) => a + f(r), 0);
  const elements = sum((r) => r.elements),
    nonZeros = sum((r) => r.nonZeros);
  const dataBits = sum((r) => r.dataBits),
    indexBits = sum((r) => r.indexBits),
    scaleBits = sum((r) => r.scaleBits);
  const biasBits = layers.reduce((a, l) => a + (l.biasElements ?? 0) * 32, 0);
  return {
    layers: rows,
    elements,
    nonZeros,
    denseBits: elements * 32,
    dataBits,
    indexBits,
    scaleBits,
    biasBits,
    pruningRatio: elements / Math.max(1, nonZeros),
    dataOnlyRatio: (32 * elements) / Math.max(1, dataBits),
    withIndicesRatio: (32 * elements) / Math.max(1, dataBits + indexBits + scaleBits),
  };
}
