import { CompressionError, type ModelIR, type Target } from '@edge-compress/core';
import { DEFAULT_BLOCK, type BcrConfig } from './config.js';

const gemmOf = (shape: readonly number[]): { rows: number; cols: number } => {
  const rows = shape[shape.length - 1]!;
  return { rows, cols: shape.reduce((a, b) => a * b, 1) / rows };
};

/** The block a target uses: its granularity [rows, cols], or the default clipped to the layer. */
export function blockOf(t: Pick<Target<BcrConfig>, 'config' | 'shape'>): [number, number] {
  const { rows, cols } = gemmOf(t.shape);
  const g = t.config.granularity;
  if (Array.isArray(g)) return g.length === 2 ? [g[0]!, g[1]!] : [g[0]!, g[0]!];
  return [Math.min(rows, DEFAULT_BLOCK[0]), Math.min(cols, DEFAULT_BLOCK[1])];
}

/** Plan-time checks of one target: typed RECIPE_INVALID errors naming the layer, the field, expected vs got and the fix. */
export function checkBcrTarget(t: Target<BcrConfig>, _ir: ModelIR, path: string): void {
  const fail = (field: string, message: string, hint: string): never => {
    throw new CompressionError({ code: 'RECIPE_INVALID', method: 'bcr', layer: t.layer, path: `${path}.${field}`, message: `${path}.${field}: ${message}`, hint });
  };
  const c = t.config;
  const { rows, cols } = gemmOf(t.shape);
  const g = c.granularity;
  if (g !== undefined && !Array.isArray(g) && g !== 'default')
    fail('granularity', `${JSON.stringify(g)} is not a block size`, 'use [blockRows, blockCols], e.g. [16, 64], or omit it');
  if (Array.isArray(g)) {
    if (!g.every((v) => Number.isInteger(v) && v > 0)) fail('granularity', `block ${JSON.stringify(g)} must be positive integers`, 'use e.g. [16, 64]');
    const [br, bc] = g.length === 2 ? g : [g[0]!, g[0]!];
    if (br! > rows || bc! > cols)
      fail('granularity', `block [${br},${bc}] exceeds layer '${t.layer}' GEMM view [${rows},${cols}] (rows = out channels, cols = fan-in)`, `use at most [${rows},${cols}]`);
    if (br! > 65535 || bc! > 65535) fail('granularity', `block [${br},${bc}] is larger than 65535`, 'use a smaller block');
  }
  for (const k of ['sparseRatio', 'rowRatio', 'colRatio'] as const) {
    const v = c[k];
    const key = k === 'sparseRatio' ? 'sparse_ratio' : k === 'rowRatio' ? 'row_ratio' : 'col_ratio';
    if (v !== undefined && !(v >= 0 && v < 1)) fail(key, `${v} is outside [0, 1)`, `use a fraction such as 0.75 (1 would remove every weight)`);
  }
  const pattern = c.pattern ?? (c.nm ? 'nm' : 'bcr');
  if (c.nm !== undefined) {
    const [n, m] = c.nm as [number, number];
    if (!Number.isInteger(n) || !Number.isInteger(m) || n < 1 || m < 2) fail('nm', `[${n}, ${m}] must be positive integers with m ≥ 2`, 'use e.g. [2, 4]');
    if (n >= m) fail('nm', `N:M needs N < M, got ${n}:${m}`, 'use e.g. [2, 4] (keep 2 of every 4)');
    if (m > 255) fail('nm', `M ${m} exceeds 255`, 'use M ≤ 255');
    if (pattern !== 'nm') fail('pattern', `'${pattern}' with nm set`, "set pattern 'nm' or remove nm");
  }
  if (pattern === 'nm' && c.nm === undefined) fail('nm', 'pattern nm needs nm: [n, m]', 'add "nm": [2, 4]');
  if (pattern === 'block' && (c.rowRatio !== undefined || c.colRatio !== undefined))
    fail('row_ratio', 'whole-block pruning takes sparse_ratio (the fraction of blocks removed), not row/col ratios', 'use sparse_ratio');
  if ((c.rowRatio === undefined) !== (c.colRatio === undefined))
    fail(c.rowRatio === undefined ? 'row_ratio' : 'col_ratio', 'row_ratio and col_ratio go together', 'set both, or use sparse_ratio alone');
  if (c.rowRatio !== undefined && c.sparseRatio !== undefined) fail('sparse_ratio', 'both sparse_ratio and row_ratio/col_ratio are set', 'keep one of them');
}
