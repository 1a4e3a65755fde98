import { CompressionError, ErrorCodes, type ErrorCode, isCompressionError } from '@edge-compress/core';
import type { SerializedError } from './runner.js';

/** Back to a CompressionError when it was one (recognised by name + code), else an Error. */
export function deserializeError(s: SerializedError): Error {
  if (s.name === 'CompressionError' && s.code && s.code in ErrorCodes) {
    // The message already carries the hint; keep it out of the constructor so it is not appended twice.
    const e = new CompressionError({ code: s.code as ErrorCode, message: s.message, path: s.path, method: s.method, layer: s.layer });
    if (s.hint !== undefined) Object.defineProperty(e, 'hint', { value: s.hint, enumerable: true });
    return e;
  }
  const e = new Error(s.message);
  e.name = s.name;
  if (s.stack) e.stack = s.stack;
  return e;
}

/** Bad input fails the same way every time: it is reported at once, never retried. */
const PERMANENT: readonly string[] = [
  'RECIPE_INVALID',
  'TARGET_NOT_FOUND',
  'UNSUPPORTED_LAYER',
  'SHAPE_MISMATCH',
  'BAD_MODEL_FILE',
  'BAD_DATASET',
  'BAD_CONFIG',
  'METHOD_NOT_REGISTERED',
  'DUPLICATE_METHOD',
  'UNKNOWN_ENCODING',
  'DUPLICATE_ENCODING',
  'CHAIN_INVALID',
  'TEST_DATA_ACCESSED',
];
export function isPermanent(e: unknown): boolean {
  return isCompressionError(e) && PERMANENT.includes(e.code);
}
