import { readFile } from 'node:fs/promises';
import type { ModelIR } from '../ir/types.js';
import { sizeReportOf, type SizeReport } from '../io/size.js';

/** Size report of a saved model's files on disk: raw bytes, gzip bytes, and float32 bytes in memory after a stock load. */
export async function sizeReport(files: string[], ir: ModelIR): Promise<SizeReport> {
  const read: Array<{ file: string; data: Uint8Array }> = [];
  for (const file of files) read.push({ file, data: new Uint8Array(await readFile(file)) });
  return sizeReportOf(read, ir);
}
