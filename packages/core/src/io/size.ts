import { readFile, stat } from 'node:fs/promises';
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

/** Size report of a saved model: raw bytes, gzip bytes, and float32 bytes in memory after a stock load. */
export async function sizeReport(files: string[], ir: ModelIR): Promise<SizeReport> {
  const rows: SizeReport['files'] = [];
  for (const f of files) {
    const data = await readFile(f);
    rows.push({ file: f, rawBytes: (await stat(f)).size, gzipBytes: gzipSize(new Uint8Array(data)) });
  }
  return {
    rawBytes: rows.reduce((a, r) => a + r.rawBytes, 0),
    gzipBytes: rows.reduce((a, r) => a + r.gzipBytes, 0),
    stockInMemoryBytes: parameterCount(ir) * 4,
    files: rows,
  };
}
