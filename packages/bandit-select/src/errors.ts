/**
 * One error type for bandit-select. Recognised by `name` + `code` (not only `instanceof`), because a bundler can
 * duplicate this module (an ESM and a CJS copy of the package loaded together).
 */
export const BanditErrorCodes = {
  BAD_CONTEXT: 'BAD_CONTEXT',
  MISSING_FEATURE: 'MISSING_FEATURE',
  FEATURE_DIM_MISMATCH: 'FEATURE_DIM_MISMATCH',
  UNKNOWN_ARM: 'UNKNOWN_ARM',
  UNKNOWN_EVENT: 'UNKNOWN_EVENT',
  DUPLICATE_FEEDBACK: 'DUPLICATE_FEEDBACK',
  BAD_REWARD: 'BAD_REWARD',
  BAD_CATALOGUE: 'BAD_CATALOGUE',
  BAD_CONFIG: 'BAD_CONFIG',
  BAD_STATE: 'BAD_STATE',
  BAD_LOG: 'BAD_LOG',
  BAD_REQUEST: 'BAD_REQUEST',
  BAD_JSON: 'BAD_JSON',
  BODY_TOO_LARGE: 'BODY_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  NOT_FOUND: 'NOT_FOUND',
  DB_MISMATCH: 'DB_MISMATCH',
  BAD_FILE: 'BAD_FILE',
  IO_ERROR: 'IO_ERROR',
} as const;
export type BanditErrorCode = keyof typeof BanditErrorCodes;

export interface BanditErrorInit {
  code: BanditErrorCode;
  message: string;
  /** JSON path or file path of the offending input, when there is one. */
  path?: string;
  /** How to fix it. Appended to the message. */
  hint?: string;
  cause?: unknown;
}

export class BanditError extends Error {
  override readonly name = 'BanditError';
  readonly code: BanditErrorCode;
  readonly path?: string;
  readonly hint?: string;

  constructor(init: BanditErrorInit) {
    const full = init.hint ? `${init.message}; ${init.hint}` : init.message;
    super(full, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    if (init.path !== undefined) this.path = init.path;
    if (init.hint !== undefined) this.hint = init.hint;
  }

  toJSON(): { name: string; code: BanditErrorCode; message: string; path?: string } {
    return { name: this.name, code: this.code, message: this.message, ...(this.path !== undefined ? { path: this.path } : {}) };
  }
}

export function isBanditError(e: unknown, code?: BanditErrorCode): e is BanditError {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as { name?: unknown; code?: unknown };
  if (o.name !== 'BanditError' || typeof o.code !== 'string' || !(o.code in BanditErrorCodes)) return false;
  return code === undefined || o.code === code;
}

/** Internal consistency check: a failure here is a bug in bandit-select, not bad input. */
export function invariant(cond: unknown, msg: () => string): asserts cond {
  if (!cond) throw new Error(`bandit-select internal error: ${msg()}`);
}

/** Render zod-like issues as `path: message` lines. */
export function formatIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, root = ''): string {
  return issues
    .slice(0, 5)
    .map((i) => `${jsonPath(root, i.path)}: ${i.message}`)
    .join('; ');
}

export function jsonPath(root: string, path: ReadonlyArray<PropertyKey>): string {
  let s = root || '$';
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return s;
}

/** HTTP status for each code (the server uses it; 500 for codes that are not the client's fault). */
export const httpStatusOf: Readonly<Record<BanditErrorCode, number>> = {
  BAD_CONTEXT: 400,
  MISSING_FEATURE: 400,
  FEATURE_DIM_MISMATCH: 400,
  UNKNOWN_ARM: 400,
  UNKNOWN_EVENT: 404,
  DUPLICATE_FEEDBACK: 409,
  BAD_REWARD: 400,
  BAD_CATALOGUE: 400,
  BAD_CONFIG: 400,
  BAD_STATE: 400,
  BAD_LOG: 400,
  BAD_REQUEST: 400,
  BAD_JSON: 400,
  BODY_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  NOT_FOUND: 404,
  DB_MISMATCH: 500,
  BAD_FILE: 400,
  IO_ERROR: 500,
};

/** CLI exit code: 2 for bad input (the user can fix the call), 1 for runtime failures. */
export function exitCodeOf(e: unknown): 1 | 2 {
  if (!isBanditError(e)) return 1;
  return e.code === 'IO_ERROR' ? 1 : 2;
}
