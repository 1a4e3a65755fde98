/**
 * BCR (block column-row) sparsity over the GEMM view [rows, cols] of a weight (ALGORITHMS §2): pure functions over
 * typed arrays. Blocks tile the matrix row-major; edge blocks are smaller. Inside each block whole columns, then whole
 * rows are removed by norm, so every block keeps a dense (keptRows × keptCols) sub-matrix.
 */

export interface BlockGrid {
  rows: number;
  cols: number;
  br: number;
  bc: number;
  /** Blocks along rows / cols. */
  nbr: number;
  nbc: number;
}

export function blockGrid(rows: number, cols: number, block: readonly [number, number]): BlockGrid {
  const [br, bc] = block;
  return { rows, cols, br, bc, nbr: Math.ceil(rows / br), nbc: Math.ceil(cols / bc) };
}

/** Rows and columns actually covered by block (i, j) (edge blocks are smaller). */
export function blockExtent(g: BlockGrid, i: number, j: number): { r0: number; c0: number; h: number; w: number } {
  const r0 = i * g.br,
    c0 = j * g.bc;
  return { r0, c0, h: Math.min(g.br, g.rows - r0), w: Math.min(g.bc, g.cols - c0) };
}

/** Kept counts for a block of h×w under pruning rates (γ_r, γ_c): the rounded number of rows/cols removed. */
export function keptCounts(h: number, w: number, rowRate: number, colRate: number): { kr: number; kc: number } {
  return { kr: h - Math.round(rowRate * h), kc: w - Math.round(colRate * w) };
}

/** Indices of the k largest scores (ties: lower index first), ascending. */
function topk(scores: Float64Array, k: number): number[] {
  const idx = Array.from(scores.keys());
  idx.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return idx.slice(0, Math.max(0, k)).sort((a, b) => a - b);
}

export interface BcrRates {
  /** γ_r: fraction of each block's rows removed. */
  rowRate: number;
  /** γ_c: fraction of each block's columns removed. */
  colRate: number;
  /**
   * 'colsFirst' prunes columns by norm then rows on what remains (ALGORITHMS §2.2 (b)); 'rowsFirst' the reverse;
   * 'best' (default) does both and keeps whichever leaves the larger Frobenius norm in the block.
   */
  order?: 'colsFirst' | 'rowsFirst' | 'best';
}

/** One block's BCR selection: kept local row and column indices (ascending). */
function selectBlock(
  w: Float32Array,
  cols: number,
  e: { r0: number; c0: number; h: number; w: number },
  kr: number,
  kc: number,
  order: 'colsFirst' | 'rowsFirst' | 'best',
  weights?: Float32Array,
): { rows: number[]; cols: number[]; norm: number } {
  const sq = (r: number, c: number): number => {
    const v = w[(e.r0 + r) * cols + e.c0 + c]!;
    return v * v * (weights ? weights[(e.r0 + r) * cols + e.c0 + c]! : 1);
  };
  const run = (colsFirst: boolean): { rows: number[]; cols: number[]; norm: number } => {
    let keepR = Array.from({ length: e.h }, (_, i) => i);
    let keepC = Array.from({ length: e.w }, (_, j) => j);
    const pickCols = (): void => {
      const s = new Float64Array(e.w);
      for (const r of keepR) for (let c = 0; c < e.w; c++) s[c]! += sq(r, c);
      keepC = topk(s, kc);
    };
    const pickRows = (): void => {
      const s = new Float64Array(e.h);
      for (let r = 0; r < e.h; r++) for (const c of keepC) s[r]! += sq(r, c);
      keepR = topk(s, kr);
    };
    if (colsFirst) {
      pickCols();
      pickRows();
    } else {
      pickRows();
      pickCols();
    }
    let norm = 0;
    for (const r of keepR) for (const c of keepC) norm += sq(r, c);
    return { rows: keepR, cols: keepC, norm };
  };
  if (order === 'colsFirst') return run(true);
  if (order === 'rowsFirst') return run(false);
  const a = run(true),
    b = run(false);
  return b.norm > a.norm ? b : a;
}

/**
 * BCR mask of a GEMM matrix [rows, cols] (1 kept): in every block exactly keptCounts(h, w) rows and columns survive,
 * chosen by squared norm (optionally weighted elementwise by `importance`, e.g. a Fisher/Taylor score).
 */
export function bcrMask(gemm: Float32Array, rows: number, cols: number, block: readonly [number, number], rates: BcrRates, importance?: Float32Array): Uint8Array {
  const g = blockGrid(rows, cols, block);
  const mask = new Uint8Array(rows * cols);
  for (let i = 0; i < g.nbr; i++) {
    for (let j = 0; j < g.nbc; j++) {
      const e = blockExtent(g, i, j);
      const { kr, kc } = keptCounts(e.h, e.w, rates.rowRate, rates.colRate);
      if (kr === 0 || kc === 0) continue;
      const s = selectBlock(gemm, cols, e, kr, kc, rates.order ?? 'best', importance);
      for (const r of s.rows) for (const c of s.cols) mask[(e.r0 + r) * cols + e.c0 + c] = 1;
    }
  }
  return mask;
}

/** Whole-block pruning ("Mobile or FPGA?"): removes the round(rate·#blocks) blocks of smallest mean squared norm. */
export function wholeBlockMask(gemm: Float32Array, rows: number, cols: number, block: readonly [number, number], rate: number): Uint8Array {
  const g = blockGrid(rows, cols, block);
  const nb = g.nbr * g.nbc;
  const score = new Float64Array(nb);
  for (let i = 0; i < g.nbr; i++) {
    for (let j = 0; j < g.nbc; j++) {
      const e = blockExtent(g, i, j);
      let s = 0;
      for (let r = 0; r < e.h; r++) for (let c = 0; c < e.w; c++) s += gemm[(e.r0 + r) * cols + e.c0 + c]! ** 2;
      score[i * g.nbc + j] = s / (e.h * e.w);
    }
  }
  const keep = new Set(topk(score, nb - Math.round(rate * nb)));
  const mask = new Uint8Array(rows * cols);
  for (const b of keep) {
    const e = blockExtent(g, Math.floor(b / g.nbc), b % g.nbc);
    for (let r = 0; r < e.h; r++) mask.fill(1, (e.r0 + r) * cols + e.c0, (e.r0 + r) * cols + e.c0 + e.w);
  }
  return mask;
}

/** N:M mask along the fan-in: in every row, each group of m consecutive columns keeps its n largest |w| (the last group may be shorter: it keeps min(n, its size)). */
export function nmMask(gemm: Float32Array, rows: number, cols: number, n: number, m: number): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  const s = new Float64Array(m);
  for (let r = 0; r < rows; r++) {
    for (let c0 = 0; c0 < cols; c0 += m) {
      const w = Math.min(m, cols - c0);
      const sc = s.subarray(0, w);
      for (let j = 0; j < w; j++) sc[j] = Math.abs(gemm[r * cols + c0 + j]!);
      for (const j of topk(sc, Math.min(n, w))) mask[r * cols + c0 + j] = 1;
    }
  }
  return mask;
}

/** Structure of a BCR weight (the fields of core's `blockSparse` encoding, with fp32 values). */
export interface BcrLayout {
  shape: number[];
  block: [number, number];
  keptRows: Uint16Array;
  keptCols: Uint16Array;
  rowIdx: Uint16Array;
  colIdx: Uint16Array;
  /** Per block row-major [nr, nc], concatenated in block order. */
  values: Float32Array;
}

/**
 * BCR layout of a GEMM matrix under a mask: per block, the kept rows are the rows with any kept element and the kept
 * columns the columns with any kept element (for a BCR mask this is exactly the mask; for other masks the rectangle
 * covers it and may hold explicit zeros).
 */
export function bcrLayoutFromMask(shape: number[], gemm: Float32Array, rows: number, cols: number, mask: Uint8Array, block: [number, number]): BcrLayout {
  const g = blockGrid(rows, cols, block);
  const nb = g.nbr * g.nbc;
  const keptRows = new Uint16Array(nb),
    keptCols = new Uint16Array(nb);
  const ri: number[] = [],
    ci: number[] = [],
    vals: number[] = [];
  for (let i = 0; i < g.nbr; i++) {
    for (let j = 0; j < g.nbc; j++) {
      const e = blockExtent(g, i, j);
      const rs: number[] = [],
        cs: number[] = [];
      const colAny = new Uint8Array(e.w);
      for (let r = 0; r < e.h; r++) {
        let any = false;
        for (let c = 0; c < e.w; c++)
          if (mask[(e.r0 + r) * cols + e.c0 + c]) {
            any = true;
            colAny[c] = 1;
          }
        if (any) rs.push(r);
      }
      for (let c = 0; c < e.w; c++) if (colAny[c]) cs.push(c);
      const b = i * g.nbc + j;
      keptRows[b] = rs.length;
      keptCols[b] = cs.length;
      ri.push(...rs);
      ci.push(...cs);
      for (const r of rs) for (const c of cs) vals.push(mask[(e.r0 + r) * cols + e.c0 + c] ? gemm[(e.r0 + r) * cols + e.c0 + c]! : 0);
    }
  }
  return { shape: [...shape], block: [...block], keptRows, keptCols, rowIdx: Uint16Array.from(ri), colIdx: Uint16Array.from(ci), values: Float32Array.from(vals) };
}

/** Dense GEMM matrix [rows, cols] of a BCR layout. */
export function bcrLayoutToGemm(l: BcrLayout, rows: number, cols: number): Float32Array {
  const g = blockGrid(rows, cols, l.block);
  const out = new Float32Array(rows * cols);
  let ro = 0,
    co = 0,
    vo = 0;
  for (let b = 0; b < g.nbr * g.nbc; b++) {
    const e = blockExtent(g, Math.floor(b / g.nbc), b % g.nbc);
    const nr = l.keptRows[b]!,
      nc = l.keptCols[b]!;
    for (let i = 0; i < nr; i++) for (let j = 0; j < nc; j++) out[(e.r0 + l.rowIdx[ro + i]!) * cols + e.c0 + l.colIdx[co + j]!] = l.values[vo + i * nc + j]!;
    ro += nr;
    co += nc;
    vo += nr * nc;
  }
  return out;
}

/**
 * Splits a target kept fraction into per-block kept (rows, cols) for this matrix: among the (kr, kc) pairs whose
 * product is closest to keep·h·w for a full block, the one whose BCR mask retains the largest Frobenius norm of W.
 * Returns rates that `keptCounts` turns back into exactly those counts for full blocks.
 */
export function chooseRates(
  gemm: Float32Array,
  rows: number,
  cols: number,
  block: readonly [number, number],
  sparseRatio: number,
  opts: { rowMultiple?: number } = {},
): { rowRate: number; colRate: number; keptFraction: number } {
  const g = blockGrid(rows, cols, block);
  const h = Math.min(g.br, rows),
    w = Math.min(g.bc, cols);
  const target = (1 - sparseRatio) * h * w;
  const mult = opts.rowMultiple ?? 1;
  const candidates: Array<{ kr: number; kc: number }> = [];
  for (let kc = 1; kc <= w; kc++) {
    let kr = Math.max(1, Math.min(h, Math.round(target / kc)));
    if (mult > 1 && kr >= mult && h >= mult) kr = Math.round(kr / mult) * mult;
    candidates.push({ kr, kc });
  }
  // Closest kept count first; among those, best retained norm.
  const bestErr = Math.min(...candidates.map((c) => Math.abs(c.kr * c.kc - target)));
  const tol = Math.max(bestErr, 0.03 * target);
  let best = { rowRate: 0, colRate: 0, keptFraction: 1 },
    bestNorm = -1;
  const seen = new Set<string>();
  for (const c of candidates) {
    if (Math.abs(c.kr * c.kc - target) > tol || seen.has(`${c.kr},${c.kc}`)) continue;
    seen.add(`${c.kr},${c.kc}`);
    const rates = { rowRate: (h - c.kr) / h, colRate: (w - c.kc) / w };
    const m = bcrMask(gemm, rows, cols, block, rates);
    let norm = 0,
      kept = 0;
    for (let i = 0; i < m.length; i++)
      if (m[i]) {
        norm += gemm[i]! ** 2;
        kept++;
      }
    if (norm > bestNorm) {
      bestNorm = norm;
      best = { ...rates, keptFraction: kept / m.length };
    }
  }
  return best;
}
