import { gzipSync } from 'fflate';
import { parameterCount } from '../ir/shapes.js';
import type { ModelIR } from '../ir/types.js';

export interface SizeReport {
  /** Bytes on disk of every file the loader reads. */
  rawBytes: number;
  /** The same files gzipped (fflate, level 9), as a web server would send them. */
  gzipBytes: number;
  /**
   * Bytes of weights in memory after a stock tfjs load: tfjs dequantizes every weight (uint8, uint16,
   * float16) to float32 at load time, so this is 4 bytes per parameter whatever the file holds.
   */
  stockInMemoryBytes: number;
  files: Array<{ file: string; rawBytes: number; gzipBytes: number }>;
}

/** Gzipped size of a buffer (fflate, level 9): the one compressor every size figure uses. */
export function gzipSize(data: Uint8Array): number {
  return gzipSync(data, { level: 9 }).byteLength;
}

/** Size report of a serialized model's files (name and bytes each): raw bytes, gzip bytes, float32 bytes after a stock load. */
export function sizeReportOf(files: Array<{ file: string; data: Uint8Array }>, ir: ModelIR): SizeReport {
  const rows: SizeReport['files'] = files.map(({ file, data }) => ({ file, rawBytes: data.byteLength, gzipBytes: gzipSize(data) }));
  return {
    rawBytes: rows.reduce((a, r) => a + r.rawBytes, 0),
    gzipBytes: rows.reduce((a, r) => a + r.gzipBytes, 0),
    stockInMemoryBytes: parameterCount(ir) * 4,
    files: rows,
  };
}

/** The files of a serialized model that `names` lists (model.json as its UTF-8 text), for `sizeReportOf`. */
export function serializedFiles(s: { jsonName: string; text: string; shards: Map<string, Uint8Array> }, names: readonly string[]): Array<{ file: string; data: Uint8Array }> {
  return names.map((file) => ({ file, data: file === s.jsonName ? new TextEncoder().encode(s.text) : s.shards.get(file)! }));
}
