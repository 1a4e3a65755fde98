import { sizeOf } from '../ir/shapes.js';
import { type Descriptor, PayloadReader, PayloadWriter } from './payload.js';
import { encodingDef } from './registry.js';
import type { Encoding } from './types.js';

function write(w: PayloadWriter, e: Encoding, keep?: Uint8Array): Descriptor {
  const d = encodingDef(e.kind);
  const desc = d.write(e, w, keep, (_slot, c, k) => write(w, c, k));
  return d.provider === '@edge-compress/core' ? desc : { ...desc, provider: d.provider };
}

/** Serialises encodings into descriptors (JSON) + one buffer, each kind by its own `write`. */
export function encodePayload(weights: Array<[string, Encoding]>): { descriptors: Record<string, Descriptor>; data: Uint8Array } {
  const w = new PayloadWriter();
  const descriptors: Record<string, Descriptor> = {};
  for (const [name, e] of weights) descriptors[name] = write(w, e);
  return { descriptors, data: w.concat() };
}

function read(dIn: unknown, r: PayloadReader, path: string, keep: Uint8Array | undefined): Encoding {
  const d = dIn as Descriptor;
  if (!d || typeof d !== 'object') r.bad(path, 'expected an encoding descriptor object');
  if (typeof d.kind !== 'string') r.bad(`${path}.kind`, `expected a string, got ${JSON.stringify(d.kind)}`);
  if (!Array.isArray(d.shape) || !d.shape.every((x) => Number.isInteger(x) && x > 0)) r.bad(`${path}.shape`, `expected positive integers, got ${JSON.stringify(d.shape)}`);
  if (keep && keep.length !== sizeOf(d.shape)) r.bad(`${path}.shape`, `[${d.shape.join(',')}] does not match the enclosing mask of ${keep.length} entries`);
  const def = encodingDef(d.kind, typeof d.provider === 'string' ? d.provider : undefined, `${path}.kind`);
  if (keep && !def.elementwise) r.bad(`${path}.kind`, `'${d.kind}' cannot sit under a mask (only dense or quantized values can)`);
  return def.read(d, r, path, keep, (slot, k) => read(d[slot], r, `${path}.${slot}`, k)) as Encoding;
}

/** Reads descriptors back into encodings; every field is checked, errors name the weight and field. */
export function decodePayload(descriptors: Record<string, unknown>, data: Uint8Array, file: string): Record<string, Encoding> {
  const r = new PayloadReader(data, file);
  const out: Record<string, Encoding> = {};
  for (const [name, d] of Object.entries(descriptors)) out[name] = read(d, r, `${file}: edgeCompress.weights["${name}"]`, undefined);
  return out;
}
