import { summarize } from './ops.js';
import type { Encoding } from './types.js';

/** A short human description of an encoding, e.g. 'masked 8-bit symmetric per-channel', 'lowRank float32'. */
export function describeEncoding(e: Encoding): string {
  if (e.kind === 'dense') return 'float32';
  if (e.kind === 'quantized') return e.scheme === 'float16' ? 'float16' : `${e.bits}-bit ${e.scheme}${e.axis !== null && e.scales.length > 1 ? ' per-channel' : ''}`;
  if (e.kind === 'masked') return `masked ${describeEncoding(e.base)}`;
  const kids = Object.values(summarize(e).tree.children);
  const leaves = new Set(kids.map((k) => (k.bits === 32 ? 'float32' : `${k.bits ?? '?'}-bit`)));
  return `${e.kind} (${[...leaves].join(' / ')} values)`;
}
