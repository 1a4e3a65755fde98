import { CompressionError, didYouMeanHint } from '../errors.js';
import type { EncodingDef } from './define.js';
import type { Encoding, EncodingBase } from './types.js';
import { BUILTIN_ENCODINGS } from './kinds/index.js';

// One table per process, on the global object (like tfjs' kernel registry), so duplicated copies of core
// (bundlers) still agree on the registered kinds.
const KEY = Symbol.for('@edge-compress/core/encodings');
type Table = Map<string, EncodingDef>;
function table(): Table {
  const g = globalThis as unknown as Record<symbol, Table | undefined>;
  let t = g[KEY];
  if (!t) {
    t = new Map();
    g[KEY] = t;
  }
  if (!t.has('dense')) for (const d of BUILTIN_ENCODINGS) t.set(d.kind, d as EncodingDef);
  return t;
}

/**
 * Installs encoding kinds (createRegistry does it for every compressor's `encodings`). Installing the same
 * definition twice is a no-op; a different definition under a taken kind is DUPLICATE_ENCODING.
 */
export function registerEncodings(defs: ReadonlyArray<EncodingDef<EncodingBase>>): void {
  const t = table();
  for (const d of defs) {
    const old = t.get(d.kind);
    if (old && old !== d && old.provider !== d.provider) {
      throw new CompressionError({
        code: 'DUPLICATE_ENCODING',
        message: `encoding kind '${d.kind}' is registered by ${old.provider} and again by ${d.provider}`,
        hint: 'give the new kind a unique name',
      });
    }
    t.set(d.kind, d as EncodingDef);
  }
}

/** The definition of a kind; UNKNOWN_ENCODING (naming the providing package when known) if none is registered. */
export function encodingDef(kind: string, provider?: string, where?: string): EncodingDef {
  const d = table().get(kind);
  if (d) return d;
  const from = provider ? `it is provided by ${provider}` : 'no registered package provides it';
  throw new CompressionError({
    code: 'UNKNOWN_ENCODING',
    path: where,
    message: `${where ? `${where}: ` : ''}encoding kind '${kind}' is not registered (${from})`,
    hint: provider ? `install ${provider} and add its compressor to your registry (createRegistry([...]))` : didYouMeanHint(kind, [...table().keys()]),
  });
}

export function registeredEncodingKinds(): string[] {
  return [...table().keys()];
}

/** The definition of an encoding object's kind. */
export const defOf = (e: Encoding | EncodingBase): EncodingDef => encodingDef(e.kind);
