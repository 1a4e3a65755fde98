import type { EncodingDef } from '../define.js';
import type { EncodingBase } from '../types.js';
import { blockSparseKind } from './blockSparse.js';
import { denseKind } from './dense.js';
import { factorizedKind } from './factorized.js';
import { lowRankKind } from './lowRank.js';
import { maskedKind } from './masked.js';
import { nmKind } from './nm.js';
import { quantizedKind } from './quantized.js';

/** Core's encoding kinds; adding one is a file in this folder plus a line here. */
export const BUILTIN_ENCODINGS: ReadonlyArray<EncodingDef<EncodingBase>> = [
  denseKind,
  maskedKind,
  quantizedKind,
  lowRankKind,
  factorizedKind,
  blockSparseKind,
  nmKind,
] as ReadonlyArray<EncodingDef<EncodingBase>>;
