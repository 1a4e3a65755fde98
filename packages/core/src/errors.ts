/**
 * One error type for the whole toolkit. Recognised by `name` + `code` (not only `instanceof`), because
 * bundlers can duplicate this module (STACK-NOTES §2).
 */
export const ErrorCodes = {
  RECIPE_INVALID: 'RECIPE_INVALID',
  TARGET_NOT_FOUND: 'TARGET_NOT_FOUND',
  UNSUPPORTED_LAYER: 'UNSUPPORTED_LAYER',
  SHAPE_MISMATCH: 'SHAPE_MISMATCH',
  BAD_MODEL_FILE: 'BAD_MODEL_FILE',
  BAD_DATASET: 'BAD_DATASET',
  BAD_CONFIG: 'BAD_CONFIG',
  METHOD_NOT_REGISTERED: 'METHOD_NOT_REGISTERED',
  DUPLICATE_METHOD: 'DUPLICATE_METHOD',
  BACKEND_NOT_READY: 'BACKEND_NOT_READY',
  ABORTED: 'ABORTED',
  UNKNOWN_ENCODING: 'UNKNOWN_ENCODING',
  DUPLICATE_ENCODING: 'DUPLICATE_ENCODING',
  CHAIN_INVALID: 'CHAIN_INVALID',
  TEST_DATA_ACCESSED: 'TEST_DATA_ACCESSED',
} as const;
export type ErrorCode = keyof typeof ErrorCodes;

export interface CompressionErrorInit {
  code: ErrorCode;
  message: string;
  method?: string;
  path?: string;
  layer?: string;
  hint?: string;
  cause?: unknown;
}

export class CompressionError extends Error {
  override readonly name = 'CompressionError';
  readonly code: ErrorCode;
  readonly method?: string;
  readonly path?: string;
  readonly layer?: string;
  readonly hint?: string;

  constructor(init: CompressionErrorInit) {
    const full = init.hint ? `${init.message}. ${init.hint}` : init.message;
    super(full, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    if (init.method !== undefined) this.method = init.method;
    if (init.path !== undefined) this.path = init.path;
    if (init.layer !== undefined) this.layer = init.layer;
    if (init.hint !== undefined) this.hint = init.hint;
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, method: this.method, path: this.path, layer: this.layer };
  }
}

export function isCompressionError(e: unknown, code?: ErrorCode): e is CompressionError {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as { name?: unknown; code?: unknown };
  if (o.name !== 'CompressionError' || typeof o.code !== 'string' || !(o.code in ErrorCodes)) return false;
  return code === undefined || o.code === code;
}

/** Internal consistency check: a failure here is a bug in edge-compress, not bad input. */
export function invariant(cond: unknown, msg: () => string): asserts cond {
  if (!cond) throw new Error(`edge-compress internal error: ${msg()}`);
}

/** Closest candidates by edit distance, for "did you mean" hints. */
export function didYouMean(got: string, candidates: readonly string[], max = 3): string[] {
  const d = (a: string, b: string): number => {
    const m = a.length,
      n = b.length;
    const row = Array.from({ length: n + 1 }, (_, j) => j);
    for (let i = 1; i <= m; i++) {
      let prev = row[0]!;
      row[0] = i;
      for (let j = 1; j <= n; j++) {
        const tmp = row[j]!;
        row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
        prev = tmp;
      }
    }
    return row[n]!;
  };
  return candidates
    .map((c) => ({ c, s: d(got.toLowerCase(), c.toLowerCase()) }))
    .filter((x) => x.s <= Math.max(2, Math.floor(got.length / 2)))
    .sort((a, b) => a.s - b.s)
    .slice(0, max)
    .map((x) => x.c);
}

export function didYouMeanHint(got: string, candidates: readonly string[]): string {
  const near = didYouMean(got, candidates);
  const list = candidates.length > 12 ? `${candidates.slice(0, 12).join(', ')}, …` : candidates.join(', ');
  return near.length > 0 ? `did you mean ${near.map((n) => `'${n}'`).join(' or ')}? Known: ${list}` : `known: ${list}`;
}

/** Throws ABORTED when `signal` is aborted (call it at the start of each phase of a long method). */
export function throwIfAborted(signal: AbortSignal | undefined, what = 'compression'): void {
  if (signal?.aborted) throw new CompressionError({ code: 'ABORTED', message: `${what} was aborted`, cause: signal.reason });
}
