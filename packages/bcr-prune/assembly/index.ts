// AssemblyScript source of the bcr-prune runtime: y = W·x for BCR (block column-row) sparse, CSR and dense
// weights, plus the few ops a Sequential CNN needs (im2col, pooling, batch-norm, activations, layout
// changes), driven by a small op-list interpreter so a whole forward is ONE call into wasm.
//
// Layout: activations are "channel-major" [C, ldm] with M = N·H·W positions per channel (batch outermost) and
// ldm = M rounded up to 8 (the SIMD kernels vectorise over M), or ldm = M when M < 4 (the gather-dot kernels
// vectorise over the kept columns of a block instead). All pointers are byte offsets into this module's memory,
// which the host manages (runtime stub; nothing here allocates).

// ---- op codes (keep in step with src/runtime/program.ts) ----
const OP_IN_NHWC: i32 = 1; // a0 src [N, P, C] row-major → dst [C, ldm]; a1 dst, a2 N·P (=M), a3 C, a4 ldm
const OP_IM2COL: i32 = 2; // a0 src [C,N,H,W], a1 dst [(kh,kw,c), ldmOut], a2 C, a3 N, a4 H, a5 W, a6 kh, a7 kw, a8 sh, a9 sw, a10 padTop, a11 padLeft, a12 OH, a13 OW, a14 ldmIn, a15 ldmOut, a16 needed-rows list, a17 its length
const OP_BCR: i32 = 3; // a0 layer record, a1 x, a2 y, a3 M, a4 ldm, a5 activation, a6 bias ptr (0 = none), a7 rows
const OP_POOL: i32 = 4; // a0 src, a1 dst, a2 C, a3 N, a4 H, a5 W, a6 ph, a7 pw, a8 sh, a9 sw, a10 padTop, a11 padLeft, a12 OH, a13 OW, a14 ldmIn, a15 ldmOut, a16 isMax
const OP_AFFINE: i32 = 5; // a0 buf [C, ldm], a1 C, a2 M, a3 ldm, a4 scale ptr, a5 shift ptr (batch-norm at inference)
const OP_ACT: i32 = 6; // a0 buf, a1 C, a2 M, a3 ldm, a4 activation
const OP_FLATTEN: i32 = 7; // a0 src [C,N,H,W], a1 dst [(h,w,c), ldmOut], a2 C, a3 N, a4 H·W, a5 ldmIn, a6 ldmOut
const OP_OUT: i32 = 8; // a0 src [C, ldm], a1 dst [M, C] row-major, a2 C, a3 M, a4 ldm
const OP_CSR: i32 = 9; // a0 record, a1 x, a2 y, a3 M, a4 ldm, a5 activation, a6 bias, a7 rows
const OP_BCR_CONV: i32 = 10; // a0 record, a1 x [C,N,H,W], a2 y, a3 N, a4 OH, a5 OW, a6 H, a7 W, a8 ldmOut, a9 activation, a10 bias, a11 rows, a12 colOff ptr
const OP_WORDS: i32 = 20;
const MT_BYTES: usize = 128 * 4; // position tile of the M-vectorised BCR kernel (a multiple of 32 bytes)

const ACT_LINEAR: i32 = 0;
const ACT_RELU: i32 = 1;
const ACT_SOFTMAX: i32 = 2;
const ACT_SIGMOID: i32 = 3;
const ACT_TANH: i32 = 4;

// @ts-ignore: decorator
@inline function arg(op: usize, i: i32): i32 {
  return load<i32>(op + (<usize>(i + 1) << 2));
}

export function heapBase(): usize {
  return __heap_base;
}

/** Runs `n` ops of OP_WORDS i32 each starting at `prog`. */
export function run(prog: usize, n: i32): void {
  for (let k = 0; k < n; k++) {
    const op = prog + (<usize>(k * OP_WORDS) << 2);
    const code = load<i32>(op);
    if (code == OP_IN_NHWC) inNhwc(arg(op, 0), arg(op, 1), arg(op, 2), arg(op, 3), arg(op, 4));
    else if (code == OP_IM2COL) im2col(op);
    else if (code == OP_BCR) bcr(arg(op, 0), arg(op, 1), arg(op, 2), arg(op, 3), arg(op, 4), arg(op, 5), arg(op, 6), arg(op, 7));
    else if (code == OP_POOL) pool(op);
    else if (code == OP_AFFINE) affine(arg(op, 0), arg(op, 1), arg(op, 2), arg(op, 3), arg(op, 4), arg(op, 5));
    else if (code == OP_ACT) activate(arg(op, 0), arg(op, 1), arg(op, 2), arg(op, 3), arg(op, 4));
    else if (code == OP_FLATTEN) flatten(arg(op, 0), arg(op, 1), arg(op, 2), arg(op, 3), arg(op, 4), arg(op, 5), arg(op, 6));
    else if (code == OP_OUT) outRows(arg(op, 0), arg(op, 1), arg(op, 2), arg(op, 3), arg(op, 4));
    else if (code == OP_BCR_CONV) bcrConv(op);
    else if (code == OP_CSR) csr(arg(op, 0), arg(op, 1), arg(op, 2), arg(op, 3), arg(op, 4), arg(op, 5), arg(op, 6), arg(op, 7));
    else unreachable();
  }
}

function inNhwc(src: usize, dst: usize, M: i32, C: i32, ldm: i32): void {
  if (C == 1) {
    memory.copy(dst, src, <usize>M << 2);
    return;
  }
  for (let m = 0; m < M; m++) {
    const s = src + (<usize>(m * C) << 2);
    for (let c = 0; c < C; c++) store<f32>(dst + (<usize>(c * ldm + m) << 2), load<f32>(s + (<usize>c << 2)));
  }
}

// @ts-ignore: decorator
@inline function copyRow(o: usize, i: usize, n: i32): void {
  const bytes = <usize>n << 2;
  let k: usize = 0;
  for (; k + 16 <= bytes; k += 16) v128.store(o + k, v128.load(i + k));
  for (; k < bytes; k += 4) store<f32>(o + k, load<f32>(i + k));
}

function im2col(op: usize): void {
  const src = <usize>arg(op, 0), dst = <usize>arg(op, 1);
  const C = arg(op, 2), N = arg(op, 3), H = arg(op, 4), W = arg(op, 5), KW = arg(op, 7);
  const sh = arg(op, 8), sw = arg(op, 9), pt = arg(op, 10), pl = arg(op, 11), OH = arg(op, 12), OW = arg(op, 13);
  const ldmIn = arg(op, 14), ldmOut = arg(op, 15);
  const need = <usize>arg(op, 16), nNeed = arg(op, 17); // rows of the column matrix the kernel reads, (kh, kw, cin) order
  for (let q = 0; q < nNeed; q++) {
    const k = load<i32>(need + (<usize>q << 2));
    const c = k % C, ij = k / C, j = ij % KW, i = ij / KW;
    const row = dst + (<usize>(k * ldmOut) << 2);
    const plane = src + (<usize>(c * ldmIn) << 2);
    for (let n = 0; n < N; n++) {
      for (let oh = 0; oh < OH; oh++) {
        const h = oh * sh + i - pt;
        const o = row + (<usize>((n * OH + oh) * OW) << 2);
        if (h < 0 || h >= H) {
          memory.fill(o, 0, <usize>OW << 2);
          continue;
        }
        const irow = plane + (<usize>((n * H + h) * W) << 2);
        if (sw == 1 && j - pl >= 0 && j - pl + OW <= W) {
          copyRow(o, irow + (<usize>(j - pl) << 2), OW);
        } else {
          for (let ow = 0; ow < OW; ow++) {
            const w = ow * sw + j - pl;
            store<f32>(o + (<usize>ow << 2), w >= 0 && w < W ? load<f32>(irow + (<usize>w << 2)) : 0);
          }
        }
      }
    }
  }
}

// BCR layer record (i32 words): [0] nBlocks, [1] blocks ptr, [2] scratch ptr (gather buffer, ≥ max nc4 floats)
// block record (8 i32): nr, nc, nr4 (nr rounded up to 4), nc4, rowIdx ptr (i32 global rows, nr4 entries,
// padded with the trash row), colIdx ptr (i32 global cols, nc entries), valsT ptr ([nr4/4][nc][4] f32,
// for the M-vectorised kernel), valsR ptr ([nr][nc4] f32, rows zero-padded, for the gather-dot kernel)
function bcr(rec: usize, x: usize, y: usize, M: i32, ldm: i32, act: i32, bias: usize, rows: i32): void {
  initBias(y, bias, rows, ldm);
  const nb = load<i32>(rec);
  const blocks = <usize>load<i32>(rec, 4);
  const scratch = <usize>load<i32>(rec, 8);
  if (M >= 4) {
    // Tiles of MT positions across all blocks, so the gathered X rows of a tile stay in cache for every block.
    const ldb = <usize>ldm << 2;
    for (let m0: usize = 0; m0 < ldb; m0 += MT_BYTES) {
      const m1 = min(ldb, m0 + MT_BYTES);
      for (let b = 0; b < nb; b++) blockSimdM(blocks + (<usize>(b * 8) << 2), x, y, ldm, m0, m1);
    }
  } else {
    for (let b = 0; b < nb; b++) blockDot(blocks + (<usize>(b * 8) << 2), x, y, M, ldm, scratch);
  }
  activate(y, rows, M, ldm, act);
}

function initBias(y: usize, bias: usize, rows: i32, ldm: i32): void {
  for (let r = 0; r < rows; r++) {
    const b: f32 = bias ? load<f32>(bias + (<usize>r << 2)) : 0;
    const row = y + (<usize>(r * ldm) << 2);
    if (ldm & 3) {
      for (let m = 0; m < ldm; m++) store<f32>(row + (<usize>m << 2), b);
    } else {
      const v = f32x4.splat(b);
      for (let m = 0; m < ldm; m += 4) v128.store(row + (<usize>m << 2), v);
    }
  }
}

/** 4 kept rows × 8 positions per step; X rows of the block's kept columns are read in place (transposed layout). */
function blockSimdM(blk: usize, x: usize, y: usize, ldm: i32, m0: usize, m1: usize): void {
  const nc = load<i32>(blk, 4);
  const nr4 = load<i32>(blk, 8);
  const rowIdx = <usize>load<i32>(blk, 16);
  const colIdx = <usize>load<i32>(blk, 20);
  const valsT = <usize>load<i32>(blk, 24);
  const ldb = <usize>ldm << 2;
  for (let g = 0; g < nr4; g += 4) {
    const y0 = y + <usize>load<i32>(rowIdx + (<usize>g << 2)) * ldb;
    const y1 = y + <usize>load<i32>(rowIdx + (<usize>(g + 1) << 2)) * ldb;
    const y2 = y + <usize>load<i32>(rowIdx + (<usize>(g + 2) << 2)) * ldb;
    const y3 = y + <usize>load<i32>(rowIdx + (<usize>(g + 3) << 2)) * ldb;
    const wg = valsT + (<usize>(g * nc) << 2);
    for (let m: usize = m0; m < m1; m += 32) {
      let a0 = v128.load(y0 + m), a1 = v128.load(y0 + m, 16);
      let b0 = v128.load(y1 + m), b1 = v128.load(y1 + m, 16);
      let c0 = v128.load(y2 + m), c1 = v128.load(y2 + m, 16);
      let d0 = v128.load(y3 + m), d1 = v128.load(y3 + m, 16);
      let w = wg;
      for (let j = 0; j < nc; j++) {
        const xp = x + <usize>load<i32>(colIdx + (<usize>j << 2)) * ldb + m;
        const x0 = v128.load(xp), x1 = v128.load(xp, 16);
        const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8), w3 = v128.load32_splat(w, 12);
        a0 = f32x4.add(a0, f32x4.mul(w0, x0)); a1 = f32x4.add(a1, f32x4.mul(w0, x1));
        b0 = f32x4.add(b0, f32x4.mul(w1, x0)); b1 = f32x4.add(b1, f32x4.mul(w1, x1));
        c0 = f32x4.add(c0, f32x4.mul(w2, x0)); c1 = f32x4.add(c1, f32x4.mul(w2, x1));
        d0 = f32x4.add(d0, f32x4.mul(w3, x0)); d1 = f32x4.add(d1, f32x4.mul(w3, x1));
        w += 16;
      }
      v128.store(y0 + m, a0); v128.store(y0 + m, a1, 16);
      v128.store(y1 + m, b0); v128.store(y1 + m, b1, 16);
      v128.store(y2 + m, c0); v128.store(y2 + m, c1, 16);
      v128.store(y3 + m, d0); v128.store(y3 + m, d1, 16);
    }
  }
}

/** Small M: gather x[colIdx] of the block once into a contiguous buffer, then one SIMD dot per kept row. */
function blockDot(blk: usize, x: usize, y: usize, M: i32, ldm: i32, s: usize): void {
  const nr = load<i32>(blk);
  const nc = load<i32>(blk, 4);
  const nc4 = load<i32>(blk, 12);
  const rowIdx = <usize>load<i32>(blk, 16);
  const colIdx = <usize>load<i32>(blk, 20);
  const valsR = <usize>load<i32>(blk, 28);
  for (let m = 0; m < M; m++) {
    for (let j = 0; j < nc; j++) store<f32>(s + (<usize>j << 2), load<f32>(x + (<usize>(load<i32>(colIdx + (<usize>j << 2)) * ldm + m) << 2)));
    for (let j = nc; j < nc4; j++) store<f32>(s + (<usize>j << 2), 0);
    const bytes = <usize>nc4 << 2;
    let w = valsR;
    for (let i = 0; i < nr; i++) {
      let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
      let j: usize = 0;
      for (; j + 32 <= bytes; j += 32) {
        acc0 = f32x4.add(acc0, f32x4.mul(v128.load(w + j), v128.load(s + j)));
        acc1 = f32x4.add(acc1, f32x4.mul(v128.load(w + j, 16), v128.load(s + j, 16)));
      }
      if (j < bytes) acc0 = f32x4.add(acc0, f32x4.mul(v128.load(w + j), v128.load(s + j)));
      const acc = f32x4.add(acc0, acc1);
      const sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
      const yp = y + (<usize>(load<i32>(rowIdx + (<usize>i << 2)) * ldm + m) << 2);
      store<f32>(yp, load<f32>(yp) + sum);
      w += bytes;
    }
  }
}

/**
 * Stride-1 valid conv without im2col: the column (i, j, c) of the GEMM view at output (n, oh, ow) is the input at
 * (c, n, oh + i, ow + j), so the kernel reads the input plane at a per-column offset (colOff[k] = c·ldmIn + i·W + j)
 * plus the output row's base. Needs OW % 8 == 0 (tiles of 8 positions never cross an output row).
 */
function bcrConv(op: usize): void {
  const rec = <usize>arg(op, 0), x = <usize>arg(op, 1), y = <usize>arg(op, 2);
  const N = arg(op, 3), OH = arg(op, 4), OW = arg(op, 5), H = arg(op, 6), W = arg(op, 7), ldo = arg(op, 8);
  const act = arg(op, 9), bias = <usize>arg(op, 10), rows = arg(op, 11), colOff = <usize>arg(op, 12);
  initBias(y, bias, rows, ldo);
  const nb = load<i32>(rec);
  const blocks = <usize>load<i32>(rec, 4);
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const inBase = <usize>((n * H + oh) * W) << 2;
      const outBase = <usize>((n * OH + oh) * OW) << 2;
      for (let b = 0; b < nb; b++) blockConv(blocks + (<usize>(b * 8) << 2), x + inBase, y + outBase, ldo, colOff, <usize>OW << 2);
    }
  }
  activate(y, rows, N * OH * OW, ldo, act);
}

function blockConv(blk: usize, x: usize, y: usize, ldm: i32, colOff: usize, rowBytes: usize): void {
  const nc = load<i32>(blk, 4);
  const nr4 = load<i32>(blk, 8);
  const rowIdx = <usize>load<i32>(blk, 16);
  const colIdx = <usize>load<i32>(blk, 20);
  const valsT = <usize>load<i32>(blk, 24);
  const ldb = <usize>ldm << 2;
  for (let g = 0; g < nr4; g += 4) {
    const y0 = y + <usize>load<i32>(rowIdx + (<usize>g << 2)) * ldb;
    const y1 = y + <usize>load<i32>(rowIdx + (<usize>(g + 1) << 2)) * ldb;
    const y2 = y + <usize>load<i32>(rowIdx + (<usize>(g + 2) << 2)) * ldb;
    const y3 = y + <usize>load<i32>(rowIdx + (<usize>(g + 3) << 2)) * ldb;
    const wg = valsT + (<usize>(g * nc) << 2);
    for (let m: usize = 0; m < rowBytes; m += 32) {
      let a0 = v128.load(y0 + m), a1 = v128.load(y0 + m, 16);
      let b0 = v128.load(y1 + m), b1 = v128.load(y1 + m, 16);
      let c0 = v128.load(y2 + m), c1 = v128.load(y2 + m, 16);
      let d0 = v128.load(y3 + m), d1 = v128.load(y3 + m, 16);
      let w = wg;
      for (let j = 0; j < nc; j++) {
        const xp = x + (<usize>load<i32>(colOff + (<usize>load<i32>(colIdx + (<usize>j << 2)) << 2)) << 2) + m;
        const x0 = v128.load(xp), x1 = v128.load(xp, 16);
        const w0 = v128.load32_splat(w), w1 = v128.load32_splat(w, 4), w2 = v128.load32_splat(w, 8), w3 = v128.load32_splat(w, 12);
        a0 = f32x4.add(a0, f32x4.mul(w0, x0)); a1 = f32x4.add(a1, f32x4.mul(w0, x1));
        b0 = f32x4.add(b0, f32x4.mul(w1, x0)); b1 = f32x4.add(b1, f32x4.mul(w1, x1));
        c0 = f32x4.add(c0, f32x4.mul(w2, x0)); c1 = f32x4.add(c1, f32x4.mul(w2, x1));
        d0 = f32x4.add(d0, f32x4.mul(w3, x0)); d1 = f32x4.add(d1, f32x4.mul(w3, x1));
        w += 16;
      }
      v128.store(y0 + m, a0); v128.store(y0 + m, a1, 16);
      v128.store(y1 + m, b0); v128.store(y1 + m, b1, 16);
      v128.store(y2 + m, c0); v128.store(y2 + m, c1, 16);
      v128.store(y3 + m, d0); v128.store(y3 + m, d1, 16);
    }
  }
}

// CSR record: [0] rowPtr ptr (rows+1 i32), [1] colIdx ptr (i32), [2] vals ptr (f32)
function csr(rec: usize, x: usize, y: usize, M: i32, ldm: i32, act: i32, bias: usize, rows: i32): void {
  initBias(y, bias, rows, ldm);
  const rp = <usize>load<i32>(rec);
  const ci = <usize>load<i32>(rec, 4);
  const vs = <usize>load<i32>(rec, 8);
  const ldb = <usize>ldm << 2;
  for (let r = 0; r < rows; r++) {
    const k0 = load<i32>(rp + (<usize>r << 2)), k1 = load<i32>(rp + (<usize>(r + 1) << 2));
    const yr = y + <usize>r * ldb;
    if (M >= 4) {
      for (let m: usize = 0; m < ldb; m += 32) {
        let a0 = v128.load(yr + m), a1 = v128.load(yr + m, 16);
        for (let k = k0; k < k1; k++) {
          const xp = x + <usize>load<i32>(ci + (<usize>k << 2)) * ldb + m;
          const w = v128.load32_splat(vs + (<usize>k << 2));
          a0 = f32x4.add(a0, f32x4.mul(w, v128.load(xp)));
          a1 = f32x4.add(a1, f32x4.mul(w, v128.load(xp, 16)));
        }
        v128.store(yr + m, a0); v128.store(yr + m, a1, 16);
      }
    } else {
      for (let m = 0; m < M; m++) {
        let acc: f32 = 0;
        for (let k = k0; k < k1; k++) acc += load<f32>(vs + (<usize>k << 2)) * load<f32>(x + (<usize>(load<i32>(ci + (<usize>k << 2)) * ldm + m) << 2));
        const yp = yr + (<usize>m << 2);
        store<f32>(yp, load<f32>(yp) + acc);
      }
    }
  }
  activate(y, rows, M, ldm, act);
}

function pool(op: usize): void {
  const src = <usize>arg(op, 0), dst = <usize>arg(op, 1);
  const C = arg(op, 2), N = arg(op, 3), H = arg(op, 4), W = arg(op, 5), PH = arg(op, 6), PW = arg(op, 7);
  const sh = arg(op, 8), sw = arg(op, 9), pt = arg(op, 10), pl = arg(op, 11), OH = arg(op, 12), OW = arg(op, 13);
  const ldmIn = arg(op, 14), ldmOut = arg(op, 15), isMax = arg(op, 16);
  if (PH == 2 && PW == 2 && sh == 2 && sw == 2 && pt == 0 && pl == 0 && 2 * OH <= H && 2 * OW <= W) {
    pool2x2(src, dst, C, N, H, W, OH, OW, ldmIn, ldmOut, isMax);
    return;
  }
  for (let c = 0; c < C; c++) {
    const plane = src + (<usize>(c * ldmIn) << 2);
    const out = dst + (<usize>(c * ldmOut) << 2);
    for (let n = 0; n < N; n++) {
      for (let oh = 0; oh < OH; oh++) {
        for (let ow = 0; ow < OW; ow++) {
          let best: f32 = isMax ? -Infinity : 0;
          let cnt = 0;
          for (let i = 0; i < PH; i++) {
            const h = oh * sh + i - pt;
            if (h < 0 || h >= H) continue;
            for (let j = 0; j < PW; j++) {
              const w = ow * sw + j - pl;
              if (w < 0 || w >= W) continue;
              const v = load<f32>(plane + (<usize>((n * H + h) * W + w) << 2));
              if (isMax) best = max(best, v);
              else best += v;
              cnt++;
            }
          }
          store<f32>(out + (<usize>((n * OH + oh) * OW + ow) << 2), isMax ? best : best / <f32>max(cnt, 1));
        }
      }
    }
  }
}

function pool2x2(src: usize, dst: usize, C: i32, N: i32, H: i32, W: i32, OH: i32, OW: i32, ldmIn: i32, ldmOut: i32, isMax: i32): void {
  const quarter = f32x4.splat(0.25);
  const ow4 = OW & ~3;
  for (let c = 0; c < C; c++) {
    const plane = src + (<usize>(c * ldmIn) << 2);
    const out = dst + (<usize>(c * ldmOut) << 2);
    for (let n = 0; n < N; n++) {
      for (let oh = 0; oh < OH; oh++) {
        const r0 = plane + (<usize>((n * H + 2 * oh) * W) << 2);
        const r1 = r0 + (<usize>W << 2);
        const o = out + (<usize>((n * OH + oh) * OW) << 2);
        let ow = 0;
        for (; ow < ow4; ow += 4) {
          const off = <usize>ow << 3;
          const a0 = v128.load(r0 + off), a1 = v128.load(r0 + off, 16);
          const b0 = v128.load(r1 + off), b1 = v128.load(r1 + off, 16);
          const ae = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6), ao = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
          const be = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6), bo = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
          const v = isMax ? f32x4.max(f32x4.max(ae, ao), f32x4.max(be, bo)) : f32x4.mul(f32x4.add(f32x4.add(ae, ao), f32x4.add(be, bo)), quarter);
          v128.store(o + (<usize>ow << 2), v);
        }
        for (; ow < OW; ow++) {
          const p = <usize>ow << 3;
          const x0 = load<f32>(r0 + p), x1 = load<f32>(r0 + p, 4), x2 = load<f32>(r1 + p), x3 = load<f32>(r1 + p, 4);
          store<f32>(o + (<usize>ow << 2), isMax ? max(max(x0, x1), max(x2, x3)) : (x0 + x1 + x2 + x3) * 0.25);
        }
      }
    }
  }
}

function affine(buf: usize, C: i32, M: i32, ldm: i32, scale: usize, shift: usize): void {
  for (let c = 0; c < C; c++) {
    const a = load<f32>(scale + (<usize>c << 2)), b = load<f32>(shift + (<usize>c << 2));
    const row = buf + (<usize>(c * ldm) << 2);
    for (let m = 0; m < M; m++) {
      const p = row + (<usize>m << 2);
      store<f32>(p, load<f32>(p) * a + b);
    }
  }
}

function activate(buf: usize, C: i32, M: i32, ldm: i32, act: i32): void {
  if (act == ACT_LINEAR) return;
  if (act == ACT_RELU) {
    const z = f32x4.splat(0);
    if (ldm & 3) {
      for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) {
        const p = buf + (<usize>(c * ldm + m) << 2);
        store<f32>(p, max(load<f32>(p), 0));
      }
    } else {
      const end = buf + (<usize>(C * ldm) << 2);
      for (let p = buf; p < end; p += 16) v128.store(p, f32x4.max(v128.load(p), z));
    }
    return;
  }
  if (act == ACT_SOFTMAX) {
    // over the channel axis (rows), independently for each position m
    for (let m = 0; m < M; m++) {
      let mx: f32 = -Infinity;
      for (let c = 0; c < C; c++) mx = max(mx, load<f32>(buf + (<usize>(c * ldm + m) << 2)));
      let sum: f32 = 0;
      for (let c = 0; c < C; c++) {
        const p = buf + (<usize>(c * ldm + m) << 2);
        const e = Mathf.exp(load<f32>(p) - mx);
        store<f32>(p, e);
        sum += e;
      }
      for (let c = 0; c < C; c++) {
        const p = buf + (<usize>(c * ldm + m) << 2);
        store<f32>(p, load<f32>(p) / sum);
      }
    }
    return;
  }
  for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) {
    const p = buf + (<usize>(c * ldm + m) << 2);
    const v = load<f32>(p);
    store<f32>(p, act == ACT_SIGMOID ? <f32>1 / (<f32>1 + Mathf.exp(-v)) : Mathf.tanh(v));
  }
}

function flatten(src: usize, dst: usize, C: i32, N: i32, P: i32, ldmIn: i32, ldmOut: i32): void {
  // dst[(p·C + c), n] = src[c, n·P + p]
  for (let c = 0; c < C; c++) {
    const plane = src + (<usize>(c * ldmIn) << 2);
    for (let n = 0; n < N; n++) {
      for (let p = 0; p < P; p++) {
        store<f32>(dst + (<usize>((p * C + c) * ldmOut + n) << 2), load<f32>(plane + (<usize>(n * P + p) << 2)));
      }
    }
  }
}

function outRows(src: usize, dst: usize, C: i32, M: i32, ldm: i32): void {
  for (let c = 0; c < C; c++) {
    const row = src + (<usize>(c * ldm) << 2);
    for (let m = 0; m < M; m++) store<f32>(dst + (<usize>(m * C + c) << 2), load<f32>(row + (<usize>m << 2)));
  }
}
