// AssemblyScript source of core's wasm training-kernel loops (built by scripts/build-wasm.mjs into
// src/backend/kernelsWasm.generated.ts): direct convolution loops, products, MaxPoolGrad, bias add, sums and the
// Adam step. Memory is imported: the instance is bound to the tfjs wasm backend's own heap, so these loops read and write
// tensors in place (pointers are byte offsets from the backend's data map). No static data, no allocation: nothing
// of the backend's heap is touched but the buffers passed in.

import { adam1, adam4 } from './adamLanes';

/**
 * Input gradient without the [M, K] column matrix: dx[n, h, w, c] = Σ over output pixels (n, oh, ow) and in-bounds
 * taps (i, j) with h = oh·SH − padTop + i, w = ow·SW − padLeft + j of Σ_o dy[n, oh, ow, o]·f[i, j, c, o], with the
 * filter given transposed (wt [OC, FH·FW·C]). Per output pixel and filter row, the in-bounds (j, c) run is
 * contiguous in wt's rows and in dx, so a register block — 4 adjacent pixels × 8 floats of the run, over all OC —
 * is added to dx as vectors: the GEMM and the col2im scatter in one pass, no 4 MB intermediate for LeNet-5's conv2.
 */
export function convInputGradDirect(dy: usize, wt: usize, dx: usize, N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32, OC: i32, FH: i32, FW: i32, SH: i32, SW: i32, padTop: i32, padLeft: i32): void {
  memory.fill(dx, 0, (<usize>(N * H * W * C)) << 2);
  const K = FH * FW * C;
  const kBytes = (<usize>K) << 2,
    ocBytes = (<usize>OC) << 2;
  const px = (<usize>(SW * C)) << 2; // dx distance between adjacent output pixels
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      const dyRow = dy + (<usize>((n * OH + oh) * OW)) * ocBytes;
      for (let i = 0; i < FH; i++) {
        const h = oh * SH - padTop + i;
        if (h < 0 || h >= H) continue;
        const dxRow = dx + ((<usize>((n * H + h) * W * C)) << 2);
        for (let ow = 0; ow < OW; ) {
          if (fourInside(ow, OW, W, FW, SW, padLeft)) {
            // four pixels, every filter column in bounds: the run is the whole filter row, FW·C floats
            inputGradRun4(dyRow + <usize>ow * ocBytes, wt + ((<usize>(i * FW * C)) << 2), dxRow + ((<usize>((ow * SW - padLeft) * C)) << 2), FW * C, OC, ocBytes, kBytes, px);
            ow += 4;
            continue;
          }
          let j0 = padLeft - ow * SW;
          if (j0 < 0) j0 = 0;
          let j1 = W + padLeft - ow * SW;
          if (j1 > FW) j1 = FW;
          if (j1 > j0) inputGradRun1(dyRow + <usize>ow * ocBytes, wt + ((<usize>((i * FW + j0) * C)) << 2), dxRow + ((<usize>((ow * SW - padLeft + j0) * C)) << 2), (j1 - j0) * C, OC, kBytes);
          ow++;
        }
      }
    }
  }
}

/** dx[p·px + t] += Σ_o dy[p, o]·wt[o, t] for the four pixels p and t in [0, L). */
@inline
function inputGradRun4(d: usize, w: usize, x: usize, L: i32, OC: i32, ocBytes: usize, kBytes: usize, px: usize): void {
  let t = 0;
  for (; t + 8 <= L; t += 8) mma4x8(d, ocBytes, 4, 0, w + ((<usize>t) << 2), kBytes, 0, 1, OC, x + ((<usize>t) << 2), px, true);
  for (; t + 4 <= L; t += 4) mma4x4(d, ocBytes, 4, 0, w + ((<usize>t) << 2), kBytes, 0, 1, OC, x + ((<usize>t) << 2), px, true);
  for (; t < L; t++) {
    let a0: f32 = 0,
      a1: f32 = 0,
      a2: f32 = 0,
      a3: f32 = 0;
    let dp = d,
      wp = w + ((<usize>t) << 2);
    for (let o = 0; o < OC; o++, dp += 4, wp += kBytes) {
      const f = load<f32>(wp);
      a0 += load<f32>(dp) * f;
      a1 += load<f32>(dp + ocBytes) * f;
      a2 += load<f32>(dp + 2 * ocBytes) * f;
      a3 += load<f32>(dp + 3 * ocBytes) * f;
    }
    const q = x + ((<usize>t) << 2);
    store<f32>(q, load<f32>(q) + a0);
    store<f32>(q + px, load<f32>(q + px) + a1);
    store<f32>(q + 2 * px, load<f32>(q + 2 * px) + a2);
    store<f32>(q + 3 * px, load<f32>(q + 3 * px) + a3);
  }
}

/** dx[t] += Σ_o dy[o]·wt[o, t] for one pixel and t in [0, L). */
@inline
function inputGradRun1(d: usize, w: usize, x: usize, L: i32, OC: i32, kBytes: usize): void {
  let t = 0;
  for (; t + 8 <= L; t += 8) {
    let a = f32x4.splat(0),
      b = f32x4.splat(0);
    let dp = d,
      wp = w + ((<usize>t) << 2);
    for (let o = 0; o < OC; o++, dp += 4, wp += kBytes) {
      const s = v128.load32_splat(dp);
      a = f32x4.add(a, f32x4.mul(s, v128.load(wp)));
      b = f32x4.add(b, f32x4.mul(s, v128.load(wp, 16)));
    }
    add8(x + ((<usize>t) << 2), a, b);
  }
  for (; t + 4 <= L; t += 4) {
    let a = f32x4.splat(0);
    let dp = d,
      wp = w + ((<usize>t) << 2);
    for (let o = 0; o < OC; o++, dp += 4, wp += kBytes) a = f32x4.add(a, f32x4.mul(v128.load32_splat(dp), v128.load(wp)));
    const q = x + ((<usize>t) << 2);
    v128.store(q, f32x4.add(v128.load(q), a));
  }
  for (; t < L; t++) {
    let a: f32 = 0;
    let dp = d,
      wp = w + ((<usize>t) << 2);
    for (let o = 0; o < OC; o++, dp += 4, wp += kBytes) a += load<f32>(dp) * load<f32>(wp);
    const q = x + ((<usize>t) << 2);
    store<f32>(q, load<f32>(q) + a);
  }
}

/**
 * The register block of the conv and product loops: out[l, 0..8) = (or, with `accumulate`, +=) Σ over `rows` × `cols` steps of
 * s[l]·f[0..8), for the four lanes l. Step (r, k) reads s[l] at s + r·sRow + k·sStep + l·sLane (a splat) and f at
 * f + r·fRow + k·fStep (two vectors); out[l] is at out + l·outLane (a plain store writes its first `count` floats).
 * Eight accumulators stay in registers throughout.
 */
@inline
function mma4x8(s: usize, sLane: usize, sStep: usize, sRow: usize, f: usize, fStep: usize, fRow: usize, rows: i32, cols: i32, out: usize, outLane: usize, accumulate: bool, count: i32 = 8): void {
  const o1 = out + outLane,
    o2 = o1 + outLane,
    o3 = o2 + outLane;
  let a0 = f32x4.splat(0),
    b0 = f32x4.splat(0),
    a1 = f32x4.splat(0),
    b1 = f32x4.splat(0),
    a2 = f32x4.splat(0),
    b2 = f32x4.splat(0),
    a3 = f32x4.splat(0),
    b3 = f32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    let sp = s + <usize>r * sRow,
      fp = f + <usize>r * fRow;
    for (let k = 0; k < cols; k++, sp += sStep, fp += fStep) {
      const f0 = v128.load(fp),
        f1 = v128.load(fp, 16);
      const s0 = v128.load32_splat(sp),
        s1 = v128.load32_splat(sp + sLane),
        s2 = v128.load32_splat(sp + 2 * sLane),
        s3 = v128.load32_splat(sp + 3 * sLane);
      a0 = f32x4.add(a0, f32x4.mul(s0, f0));
      b0 = f32x4.add(b0, f32x4.mul(s0, f1));
      a1 = f32x4.add(a1, f32x4.mul(s1, f0));
      b1 = f32x4.add(b1, f32x4.mul(s1, f1));
      a2 = f32x4.add(a2, f32x4.mul(s2, f0));
      b2 = f32x4.add(b2, f32x4.mul(s2, f1));
      a3 = f32x4.add(a3, f32x4.mul(s3, f0));
      b3 = f32x4.add(b3, f32x4.mul(s3, f1));
    }
  }
  if (accumulate) {
    // lane by lane: the four outputs may overlap (adjacent pixels of a conv whose runs are shorter than 8)
    add8(out, a0, b0);
    add8(o1, a1, b1);
    add8(o2, a2, b2);
    add8(o3, a3, b3);
    return;
  }
  store8(out, a0, b0, count);
  store8(o1, a1, b1, count);
  store8(o2, a2, b2, count);
  store8(o3, a3, b3, count);
}

/** mma4x8 with one vector of f: out[l, 0..4). */
@inline
function mma4x4(s: usize, sLane: usize, sStep: usize, sRow: usize, f: usize, fStep: usize, fRow: usize, rows: i32, cols: i32, out: usize, outLane: usize, accumulate: bool): void {
  const o1 = out + outLane,
    o2 = o1 + outLane,
    o3 = o2 + outLane;
  let a0 = f32x4.splat(0),
    a1 = f32x4.splat(0),
    a2 = f32x4.splat(0),
    a3 = f32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    let sp = s + <usize>r * sRow,
      fp = f + <usize>r * fRow;
    for (let k = 0; k < cols; k++, sp += sStep, fp += fStep) {
      const f0 = v128.load(fp);
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(sp), f0));
      a1 = f32x4.add(a1, f32x4.mul(v128.load32_splat(sp + sLane), f0));
      a2 = f32x4.add(a2, f32x4.mul(v128.load32_splat(sp + 2 * sLane), f0));
      a3 = f32x4.add(a3, f32x4.mul(v128.load32_splat(sp + 3 * sLane), f0));
    }
  }
  if (accumulate) {
    v128.store(out, f32x4.add(v128.load(out), a0));
    v128.store(o1, f32x4.add(v128.load(o1), a1));
    v128.store(o2, f32x4.add(v128.load(o2), a2));
    v128.store(o3, f32x4.add(v128.load(o3), a3));
    return;
  }
  v128.store(out, a0);
  v128.store(o1, a1);
  v128.store(o2, a2);
  v128.store(o3, a3);
}

/** p[0, 8) += (a, b). */
@inline
function add8(p: usize, a: v128, b: v128): void {
  v128.store(p, f32x4.add(v128.load(p), a));
  v128.store(p, f32x4.add(v128.load(p, 16), b), 16);
}

/**
 * MaxPoolGrad of the unpadded 2×2 stride-2 pool: each window's gradient goes to its first maximum in window
 * order (strictly greater replaces; a window of NaN or −∞ gets none), as in the cpu backend. Four channels at a
 * time with lane masks; dx is zeroed first where the windows do not cover it (odd height or width).
 */
export function maxPoolGrad2x2(dx: usize, x: usize, dy: usize, N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32): void {
  if (OH * 2 != H || OW * 2 != W) memory.fill(dx, 0, (<usize>(N * H * W * C)) << 2);
  const o1 = (<usize>C) << 2,
    o2 = (<usize>(W * C)) << 2,
    o3 = (<usize>((W + 1) * C)) << 2;
  const ninf = f32x4.splat(-Infinity);
  let g = dy;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const base = (<usize>(((n * H + oh * 2) * W + ow * 2) * C)) << 2;
        let c = 0;
        for (; c + 4 <= C; c += 4, g += 16) {
          const p = base + ((<usize>c) << 2);
          const a = v128.load(x + p),
            b = v128.load(x + p + o1),
            d = v128.load(x + p + o2),
            e = v128.load(x + p + o3);
          const gv = v128.load(g);
          const ea = f32x4.gt(a, ninf);
          const m0 = v128.bitselect(a, ninf, ea);
          const eb = f32x4.gt(b, m0);
          const m1 = v128.bitselect(b, m0, eb);
          const ed = f32x4.gt(d, m1);
          const m2 = v128.bitselect(d, m1, ed);
          const ee = f32x4.gt(e, m2);
          // The last comparison that succeeded names the first maximum.
          const sd = v128.andnot(ed, ee),
            sb = v128.andnot(v128.andnot(eb, ed), ee),
            sa = v128.andnot(v128.andnot(v128.andnot(ea, eb), ed), ee);
          v128.store(dx + p, v128.and(gv, sa));
          v128.store(dx + p + o1, v128.and(gv, sb));
          v128.store(dx + p + o2, v128.and(gv, sd));
          v128.store(dx + p + o3, v128.and(gv, ee));
        }
        for (; c < C; c++, g += 4) {
          const p = base + ((<usize>c) << 2);
          const gv = load<f32>(g);
          let best: f32 = -Infinity;
          let at: usize = 0;
          let hit = false;
          const a = load<f32>(x + p),
            b = load<f32>(x + p + o1),
            d = load<f32>(x + p + o2),
            e = load<f32>(x + p + o3);
          store<f32>(dx + p, 0);
          store<f32>(dx + p + o1, 0);
          store<f32>(dx + p + o2, 0);
          store<f32>(dx + p + o3, 0);
          if (a > best) {
            best = a;
            at = p;
            hit = true;
          }
          if (b > best) {
            best = b;
            at = p + o1;
            hit = true;
          }
          if (d > best) {
            best = d;
            at = p + o2;
            hit = true;
          }
          if (e > best) {
            at = p + o3;
            hit = true;
          }
          if (hit) store<f32>(dx + at, gv);
        }
      }
    }
  }
}

/**
 * Filter gradient without im2col: dw[i, j, c, o] = Σ_(n, oh, ow) x[n, h, w, c]·dy[n, oh, ow, o] with h = oh·SH − padTop
 * + i, w = ow·SW − padLeft + j in bounds. Output rows are taken in chunks whose dy stays in L1 (~16 KB); for each tap
 * of a chunk, a block of dw stays in registers over all the chunk's pixels: 4 input × 8 output channels (x as four
 * splats, dy as two vectors), then 4 × 4, 4 × 1; channels beyond a multiple of 4 one at a time (16, 4, 1 outputs).
 */
export function convFilterGradDirect(x: usize, dy: usize, dw: usize, N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32, OC: i32, FH: i32, FW: i32, SH: i32, SW: i32, padTop: i32, padLeft: i32): void {
  memory.fill(dw, 0, (<usize>(FH * FW * C * OC)) << 2);
  const ocBytes = (<usize>OC) << 2;
  const xStep = (<usize>(SW * C)) << 2;
  let R = 16384 / (OW * OC * 4);
  if (R < 1) R = 1;
  for (let n = 0; n < N; n++) {
    for (let oh0 = 0; oh0 < OH; oh0 += R) {
      const oh1 = oh0 + R < OH ? oh0 + R : OH;
      for (let i = 0; i < FH; i++) {
        // rows of the chunk whose input row h is in bounds
        let ha = ceilDiv(padTop - i, SH);
        if (ha < oh0) ha = oh0;
        let hb = floorDiv(H - 1 + padTop - i, SH) + 1;
        if (hb > oh1) hb = oh1;
        if (hb <= ha) continue;
        for (let j = 0; j < FW; j++) {
          let o0 = ceilDiv(padLeft - j, SW);
          if (o0 < 0) o0 = 0;
          let o1 = floorDiv(W - 1 + padLeft - j, SW) + 1;
          if (o1 > OW) o1 = OW;
          if (o1 <= o0) continue;
          // x and dy at (row ha, column o0, channel 0); one output row further is xRow / dyRowBytes bytes on
          const xa = x + ((<usize>(((n * H + ha * SH - padTop + i) * W + o0 * SW - padLeft + j) * C)) << 2);
          const da = dy + (<usize>((n * OH + ha) * OW + o0)) * ocBytes;
          const xRow = (<usize>(SH * W * C)) << 2;
          const dyRow = (<usize>OW) * ocBytes;
          const rows = hb - ha,
            cols = o1 - o0;
          const tap = dw + (<usize>((i * FW + j) * C)) * ocBytes;
          let c = 0;
          for (; c + 4 <= C; c += 4) tapBlock4(xa + ((<usize>c) << 2), da, tap + (<usize>c) * ocBytes, rows, cols, xRow, dyRow, xStep, OC);
          for (; c < C; c++) tapChannel(xa + ((<usize>c) << 2), da, tap + (<usize>c) * ocBytes, rows, cols, xRow, dyRow, xStep, OC);
        }
      }
    }
  }
}

/** dw rows c..c+3 of one tap (at `w`, OC floats apart) += Σ over rows × cols pixels of x[c..c+3] ⊗ dy. */
@inline
function tapBlock4(xa: usize, da: usize, w: usize, rows: i32, cols: i32, xRow: usize, dyRow: usize, xStep: usize, OC: i32): void {
  const ocBytes = (<usize>OC) << 2;
  const w1 = w + ocBytes,
    w2 = w1 + ocBytes,
    w3 = w2 + ocBytes;
  let o = 0;
  for (; o + 8 <= OC; o += 8) mma4x8(xa, 4, xStep, xRow, da + ((<usize>o) << 2), ocBytes, dyRow, rows, cols, w + ((<usize>o) << 2), ocBytes, true);
  for (; o + 4 <= OC; o += 4) mma4x4(xa, 4, xStep, xRow, da + ((<usize>o) << 2), ocBytes, dyRow, rows, cols, w + ((<usize>o) << 2), ocBytes, true);
  for (; o < OC; o++) {
    // one output channel: the four input channels as the vector's lanes
    const ob = (<usize>o) << 2;
    let a = f32x4.splat(0);
    for (let r = 0; r < rows; r++) {
      let xp = xa + <usize>r * xRow,
        dp = da + <usize>r * dyRow + ob;
      for (let k = 0; k < cols; k++, xp += xStep, dp += ocBytes) a = f32x4.add(a, f32x4.mul(v128.load(xp), v128.load32_splat(dp)));
    }
    store<f32>(w + ob, load<f32>(w + ob) + f32x4.extract_lane(a, 0));
    store<f32>(w1 + ob, load<f32>(w1 + ob) + f32x4.extract_lane(a, 1));
    store<f32>(w2 + ob, load<f32>(w2 + ob) + f32x4.extract_lane(a, 2));
    store<f32>(w3 + ob, load<f32>(w3 + ob) + f32x4.extract_lane(a, 3));
  }
}

/** dw row c of one tap (at `w`) += Σ over rows × cols pixels of x[c]·dy: 16, then 4, then 1 output channels at a time. */
@inline
function tapChannel(xa: usize, da: usize, w: usize, rows: i32, cols: i32, xRow: usize, dyRow: usize, xStep: usize, OC: i32): void {
  const ocBytes = (<usize>OC) << 2;
  let o = 0;
  for (; o + 16 <= OC; o += 16) {
    const wp = w + ((<usize>o) << 2);
    let a0 = v128.load(wp),
      a1 = v128.load(wp, 16),
      a2 = v128.load(wp, 32),
      a3 = v128.load(wp, 48);
    for (let r = 0; r < rows; r++) {
      let xp = xa + <usize>r * xRow,
        dp = da + <usize>r * dyRow + ((<usize>o) << 2);
      for (let k = 0; k < cols; k++, xp += xStep, dp += ocBytes) {
        const s = v128.load32_splat(xp);
        a0 = f32x4.add(a0, f32x4.mul(s, v128.load(dp)));
        a1 = f32x4.add(a1, f32x4.mul(s, v128.load(dp, 16)));
        a2 = f32x4.add(a2, f32x4.mul(s, v128.load(dp, 32)));
        a3 = f32x4.add(a3, f32x4.mul(s, v128.load(dp, 48)));
      }
    }
    v128.store(wp, a0);
    v128.store(wp, a1, 16);
    v128.store(wp, a2, 32);
    v128.store(wp, a3, 48);
  }
  for (; o + 4 <= OC; o += 4) {
    const wp = w + ((<usize>o) << 2);
    let a0 = v128.load(wp);
    for (let r = 0; r < rows; r++) {
      let xp = xa + <usize>r * xRow,
        dp = da + <usize>r * dyRow + ((<usize>o) << 2);
      for (let k = 0; k < cols; k++, xp += xStep, dp += ocBytes) a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(xp), v128.load(dp)));
    }
    v128.store(wp, a0);
  }
  for (; o < OC; o++) {
    const wp = w + ((<usize>o) << 2);
    let a: f32 = load<f32>(wp);
    for (let r = 0; r < rows; r++) {
      let xp = xa + <usize>r * xRow,
        dp = da + <usize>r * dyRow + ((<usize>o) << 2);
      for (let k = 0; k < cols; k++, xp += xStep, dp += ocBytes) a += load<f32>(xp) * load<f32>(dp);
    }
    store<f32>(wp, a);
  }
}

/** Packs a filter f [FH, FW, C, OC] for convPacked: blocks of 8 output channels, each [FH, FW, C, 8] contiguous (the last block zero-filled past OC). */
export function packFilter(f: usize, p: usize, FH: i32, FW: i32, C: i32, OC: i32): void {
  const blocks = (OC + 7) >> 3;
  const taps = FH * FW * C;
  let q = p;
  for (let b = 0; b < blocks; b++) {
    for (let t = 0; t < taps; t++) {
      for (let l = 0; l < 8; l++, q += 4) {
        const o = b * 8 + l;
        store<f32>(q, o < OC ? load<f32>(f + ((<usize>(t * OC + o)) << 2)) : 0);
      }
    }
  }
}

/**
 * Conv forward over a packed filter (packFilter): y[n, oh, ow, o] = Σ_(i, j, c) x[n, oh·SH − padTop + i, ow·SW −
 * padLeft + j, c]·f[i, j, c, o] over the in-bounds taps. One block of 8 output channels at a time (its packed filter,
 * FH·FW·C·32 bytes, is read in order); within a block, four adjacent pixels with every filter column in bounds share
 * each filter load (8 accumulator vectors in registers over all taps), other pixels go one at a time.
 */
export function convPacked(x: usize, p: usize, y: usize, N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32, OC: i32, FH: i32, FW: i32, SH: i32, SW: i32, padTop: i32, padLeft: i32): void {
  const ocBytes = (<usize>OC) << 2;
  const blockBytes = (<usize>(FH * FW * C)) << 5;
  const px = (<usize>(SW * C)) << 2; // x distance between adjacent output pixels
  const blocks = (OC + 7) >> 3;
  for (let b = 0; b < blocks; b++) {
    const pb = p + <usize>b * blockBytes;
    const count = OC - b * 8 < 8 ? OC - b * 8 : 8;
    for (let n = 0; n < N; n++) {
      for (let oh = 0; oh < OH; oh++) {
        let i0 = padTop - oh * SH;
        if (i0 < 0) i0 = 0;
        let i1 = H + padTop - oh * SH;
        if (i1 > FH) i1 = FH;
        let yp = y + (<usize>((n * OH + oh) * OW)) * ocBytes + ((<usize>(b * 8)) << 2);
        for (let ow = 0; ow < OW; ) {
          // x at (h, w) = (oh·SH − padTop + i, ow·SW − padLeft + j)
          const xBase = x + ((<usize>(((n * H + oh * SH - padTop) * W + ow * SW - padLeft) * C)) << 2);
          if (fourInside(ow, OW, W, FW, SW, padLeft)) {
            // the taps of one filter row are contiguous in x and in the packed filter
            const taps = FW * C;
            if (i1 > i0) mma4x8(xBase + ((<usize>(i0 * W * C)) << 2), px, 4, (<usize>(W * C)) << 2, pb + ((<usize>(i0 * taps)) << 5), 32, (<usize>taps) << 5, i1 - i0, taps, yp, ocBytes, false, count);
            else for (let l: usize = 0; l < 4; l++) store8(yp + l * ocBytes, f32x4.splat(0), f32x4.splat(0), count);
            ow += 4;
            yp += 4 * ocBytes;
            continue;
          }
          let j0 = padLeft - ow * SW;
          if (j0 < 0) j0 = 0;
          let j1 = W + padLeft - ow * SW;
          if (j1 > FW) j1 = FW;
          let a = f32x4.splat(0),
            c4 = f32x4.splat(0);
          for (let i = i0; i < i1; i++) {
            for (let j = j0; j < j1; j++) {
              let xp = xBase + ((<usize>((i * W + j) * C)) << 2);
              let fp = pb + ((<usize>((i * FW + j) * C)) << 5);
              for (let c = 0; c < C; c++, xp += 4, fp += 32) {
                const s = v128.load32_splat(xp);
                a = f32x4.add(a, f32x4.mul(s, v128.load(fp)));
                c4 = f32x4.add(c4, f32x4.mul(s, v128.load(fp, 16)));
              }
            }
          }
          store8(yp, a, c4, count);
          ow++;
          yp += ocBytes;
        }
      }
    }
  }
}

/** Stores the first `count` (1–8) lanes of a then b at p. */
@inline
function store8(p: usize, a: v128, b: v128, count: i32): void {
  if (count == 8) {
    v128.store(p, a);
    v128.store(p, b, 16);
    return;
  }
  if (count >= 4) {
    v128.store(p, a);
    if (count > 4) store<f32>(p, f32x4.extract_lane(b, 0), 16);
    if (count > 5) store<f32>(p, f32x4.extract_lane(b, 1), 20);
    if (count > 6) store<f32>(p, f32x4.extract_lane(b, 2), 24);
    return;
  }
  store<f32>(p, f32x4.extract_lane(a, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(a, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(a, 2), 8);
}

/**
 * C [M, N] = A·B with B [K, N] row-major and A read through strides: A[i, k] at a + (i·rowStride + k·kStride)·4, so
 * A [M, K] (rowStride K, kStride 1) and Aᵀ for A stored [K, M] (rowStride 1, kStride M) run the same loop. Blocks of
 * 4 rows × 8 columns stay in registers over all of K (A as four splats, B as two vectors); then 4-column blocks,
 * single columns, and rows left over one at a time.
 */
export function gemmXN(a: usize, b: usize, c: usize, M: i32, K: i32, N: i32, rowStride: i32, kStride: i32): void {
  const nBytes = (<usize>N) << 2;
  const rs = (<usize>rowStride) << 2,
    ks = (<usize>kStride) << 2;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = a + <usize>i * rs;
    const c0 = c + <usize>i * nBytes;
    let j = 0;
    for (; j + 8 <= N; j += 8) mma4x8(a0, rs, ks, 0, b + ((<usize>j) << 2), nBytes, 0, 1, K, c0 + ((<usize>j) << 2), nBytes, false);
    for (; j + 4 <= N; j += 4) mma4x4(a0, rs, ks, 0, b + ((<usize>j) << 2), nBytes, 0, 1, K, c0 + ((<usize>j) << 2), nBytes, false);
    for (; j < N; j++) {
      let x0: f32 = 0,
        x1: f32 = 0,
        x2: f32 = 0,
        x3: f32 = 0;
      let ap = a0,
        bp = b + ((<usize>j) << 2);
      for (let k = 0; k < K; k++, ap += ks, bp += nBytes) {
        const v = load<f32>(bp);
        x0 += load<f32>(ap) * v;
        x1 += load<f32>(ap + rs) * v;
        x2 += load<f32>(ap + 2 * rs) * v;
        x3 += load<f32>(ap + 3 * rs) * v;
      }
      const cp = c0 + ((<usize>j) << 2);
      store<f32>(cp, x0);
      store<f32>(cp + nBytes, x1);
      store<f32>(cp + 2 * nBytes, x2);
      store<f32>(cp + 3 * nBytes, x3);
    }
  }
  for (; i < M; i++) {
    const a0 = a + <usize>i * rs;
    const c0 = c + <usize>i * nBytes;
    let j = 0;
    for (; j + 4 <= N; j += 4) {
      let x0 = f32x4.splat(0);
      let ap = a0,
        bp = b + ((<usize>j) << 2);
      for (let k = 0; k < K; k++, ap += ks, bp += nBytes) x0 = f32x4.add(x0, f32x4.mul(v128.load32_splat(ap), v128.load(bp)));
      v128.store(c0 + ((<usize>j) << 2), x0);
    }
    for (; j < N; j++) {
      let x0: f32 = 0;
      let ap = a0,
        bp = b + ((<usize>j) << 2);
      for (let k = 0; k < K; k++, ap += ks, bp += nBytes) x0 += load<f32>(ap) * load<f32>(bp);
      store<f32>(c0 + ((<usize>j) << 2), x0);
    }
  }
}

/**
 * C [M, N] = A·Bᵀ with A [M, K] and B [N, K] row-major: dot products along K, four at a time per lane group — blocks of
 * 4 rows × 2 columns (8 vector accumulators), summed across lanes at the end; K beyond a multiple of 4 scalar.
 */
export function gemmNT(a: usize, b: usize, c: usize, M: i32, K: i32, N: i32): void {
  const kBytes = (<usize>K) << 2,
    nBytes = (<usize>N) << 2;
  const K4 = K & ~3;
  let i = 0;
  for (; i + 4 <= M; i += 4) {
    const a0 = a + <usize>i * kBytes;
    let j = 0;
    for (; j + 2 <= N; j += 2) {
      const b0 = b + <usize>j * kBytes;
      let p00 = f32x4.splat(0),
        p01 = f32x4.splat(0),
        p10 = f32x4.splat(0),
        p11 = f32x4.splat(0),
        p20 = f32x4.splat(0),
        p21 = f32x4.splat(0),
        p30 = f32x4.splat(0),
        p31 = f32x4.splat(0);
      for (let k = 0; k < K4; k += 4) {
        const o = (<usize>k) << 2;
        const u = v128.load(b0 + o),
          v = v128.load(b0 + kBytes + o);
        const r0 = v128.load(a0 + o),
          r1 = v128.load(a0 + kBytes + o),
          r2 = v128.load(a0 + 2 * kBytes + o),
          r3 = v128.load(a0 + 3 * kBytes + o);
        p00 = f32x4.add(p00, f32x4.mul(r0, u));
        p01 = f32x4.add(p01, f32x4.mul(r0, v));
        p10 = f32x4.add(p10, f32x4.mul(r1, u));
        p11 = f32x4.add(p11, f32x4.mul(r1, v));
        p20 = f32x4.add(p20, f32x4.mul(r2, u));
        p21 = f32x4.add(p21, f32x4.mul(r2, v));
        p30 = f32x4.add(p30, f32x4.mul(r3, u));
        p31 = f32x4.add(p31, f32x4.mul(r3, v));
      }
      const cp = c + <usize>i * nBytes + ((<usize>j) << 2);
      store<f32>(cp, hsum(p00) + tailDot(a0, b0, K4, K));
      store<f32>(cp, hsum(p01) + tailDot(a0, b0 + kBytes, K4, K), 4);
      store<f32>(cp + nBytes, hsum(p10) + tailDot(a0 + kBytes, b0, K4, K));
      store<f32>(cp + nBytes, hsum(p11) + tailDot(a0 + kBytes, b0 + kBytes, K4, K), 4);
      store<f32>(cp + 2 * nBytes, hsum(p20) + tailDot(a0 + 2 * kBytes, b0, K4, K));
      store<f32>(cp + 2 * nBytes, hsum(p21) + tailDot(a0 + 2 * kBytes, b0 + kBytes, K4, K), 4);
      store<f32>(cp + 3 * nBytes, hsum(p30) + tailDot(a0 + 3 * kBytes, b0, K4, K));
      store<f32>(cp + 3 * nBytes, hsum(p31) + tailDot(a0 + 3 * kBytes, b0 + kBytes, K4, K), 4);
    }
    for (; j < N; j++) for (let r = 0; r < 4; r++) store<f32>(c + <usize>(i + r) * nBytes + ((<usize>j) << 2), dot(a0 + <usize>r * kBytes, b + <usize>j * kBytes, K4, K));
  }
  for (; i < M; i++) for (let j = 0; j < N; j++) store<f32>(c + <usize>i * nBytes + ((<usize>j) << 2), dot(a + <usize>i * kBytes, b + <usize>j * kBytes, K4, K));
}

@inline
function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** Σ x[k]·y[k] for k in [k0, K), scalar. */
@inline
function tailDot(x: usize, y: usize, k0: i32, K: i32): f32 {
  let s: f32 = 0;
  for (let k = k0; k < K; k++) s += load<f32>(x + ((<usize>k) << 2)) * load<f32>(y + ((<usize>k) << 2));
  return s;
}

/** Σ x[k]·y[k] over [0, K): four lanes up to K4, then scalar. */
function dot(x: usize, y: usize, K4: i32, K: i32): f32 {
  let p = f32x4.splat(0);
  for (let k = 0; k < K4; k += 4) p = f32x4.add(p, f32x4.mul(v128.load(x + ((<usize>k) << 2)), v128.load(y + ((<usize>k) << 2))));
  return hsum(p) + tailDot(x, y, K4, K);
}

/**
 * 2×2 stride-2 max pool, unpadded: y[n, oh, ow, c] = the largest of the window's four values, NaN skipped as in the
 * cpu backend (a window of NaN or −∞ gives −∞): f32x4.pmax (b > a ? b : a) from −∞.
 */
export function maxPool2x2(x: usize, y: usize, N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32): void {
  const o1 = (<usize>C) << 2,
    o2 = (<usize>(W * C)) << 2,
    o3 = (<usize>((W + 1) * C)) << 2;
  const ninf = f32x4.splat(-Infinity);
  let q = y;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        const base = x + ((<usize>(((n * H + oh * 2) * W + ow * 2) * C)) << 2);
        let c = 0;
        for (; c + 4 <= C; c += 4, q += 16) {
          const p = base + ((<usize>c) << 2);
          const m = f32x4.pmax(f32x4.pmax(f32x4.pmax(f32x4.pmax(ninf, v128.load(p)), v128.load(p + o1)), v128.load(p + o2)), v128.load(p + o3));
          v128.store(q, m);
        }
        for (; c < C; c++, q += 4) {
          const p = base + ((<usize>c) << 2);
          let m: f32 = -Infinity;
          const a = load<f32>(p),
            b = load<f32>(p + o1),
            d = load<f32>(p + o2),
            e = load<f32>(p + o3);
          if (a > m) m = a;
          if (b > m) m = b;
          if (d > m) m = d;
          if (e > m) m = e;
          store<f32>(q, m);
        }
      }
    }
  }
}

/**
 * Depthwise conv gradients with channel multiplier 1, channel innermost as f32x4 runs: for every in-bounds tap (output
 * pixel (n, oh, ow), filter tap (i, j)), `filter` = false: dx[n, h, w, :] += dy[n, oh, ow, :] ⊙ f[i, j, :];
 * `filter` = true: dw[i, j, :] += x[n, h, w, :] ⊙ dy[n, oh, ow, :]. `a` is f (input gradient) or x (filter gradient);
 * `out` is dx or dw, zeroed first.
 */
export function depthwiseGradM1(a: usize, dy: usize, out: usize, filter: bool, N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32, FH: i32, FW: i32, SH: i32, SW: i32, padTop: i32, padLeft: i32): void {
  memory.fill(out, 0, (<usize>(filter ? FH * FW * C : N * H * W * C)) << 2);
  const cBytes = (<usize>C) << 2;
  let g = dy;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, g += cBytes) {
        for (let i = 0; i < FH; i++) {
          const h = oh * SH - padTop + i;
          if (h < 0 || h >= H) continue;
          for (let j = 0; j < FW; j++) {
            const w = ow * SW - padLeft + j;
            if (w < 0 || w >= W) continue;
            const xo = (<usize>((n * H + h) * W + w)) * cBytes,
              fo = (<usize>(i * FW + j)) * cBytes;
            // input gradient: out at x's offset, a = f at the tap's; filter gradient: out at the tap's, a = x
            const o = filter ? out + fo : out + xo;
            const p = filter ? a + xo : a + fo;
            let c: usize = 0;
            for (; c + 16 <= cBytes; c += 16) v128.store(o + c, f32x4.add(v128.load(o + c), f32x4.mul(v128.load(p + c), v128.load(g + c))));
            for (; c < cBytes; c += 4) store<f32>(o + c, load<f32>(o + c) + load<f32>(p + c) * load<f32>(g + c));
          }
        }
      }
    }
  }
}

/** out[r, c] = x[r, c] + b[c] over rows × cols (a bias added to the last axis). */
export function addBias(x: usize, b: usize, out: usize, rows: i32, cols: i32): void {
  const rowBytes = (<usize>cols) << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowBytes,
      orow = out + <usize>r * rowBytes;
    let t = 0;
    for (; t + 4 <= cols; t += 4) {
      const o = (<usize>t) << 2;
      v128.store(orow + o, f32x4.add(v128.load(xr + o), v128.load(b + o)));
    }
    for (; t < cols; t++) {
      const o = (<usize>t) << 2;
      store<f32>(orow + o, load<f32>(xr + o) + load<f32>(b + o));
    }
  }
}

/** Whether output pixels ow … ow + 3 exist and every filter column of all four lies inside the input row. */
@inline
function fourInside(ow: i32, OW: i32, W: i32, FW: i32, SW: i32, padLeft: i32): bool {
  return ow + 4 <= OW && ow * SW >= padLeft && (ow + 3) * SW - padLeft + FW <= W;
}

function floorDiv(a: i32, b: i32): i32 {
  const q = a / b;
  return q * b > a ? q - 1 : q;
}

function ceilDiv(a: i32, b: i32): i32 {
  return -floorDiv(-a, b);
}

/**
 * out[c] = Σ_r x[r, c] over the rows of x [rows, cols] (a reduction over leading axes: the bias gradient of a conv
 * or dense layer). Rows are summed in order in three levels — 64 rows, 64 such blocks, then the total — so float32
 * rounding grows with about log₆₄ of the row count instead of the row count. `scratch` holds 2·cols floats.
 */
export function sumLeading(x: usize, out: usize, scratch: usize, rows: i32, cols: i32): void {
  const rowBytes = (<usize>cols) << 2;
  const s1 = scratch,
    s2 = scratch + rowBytes;
  memory.fill(out, 0, rowBytes);
  for (let r0 = 0; r0 < rows; r0 += 4096) {
    const r1 = r0 + 4096 < rows ? r0 + 4096 : rows;
    memory.fill(s2, 0, rowBytes);
    for (let b0 = r0; b0 < r1; b0 += 64) {
      const b1 = b0 + 64 < r1 ? b0 + 64 : r1;
      memory.copy(s1, x + <usize>b0 * rowBytes, rowBytes);
      for (let r = b0 + 1; r < b1; r++) addRow(s1, x + <usize>r * rowBytes, cols);
      addRow(s2, s1, cols);
    }
    addRow(out, s2, cols);
  }
}

/** dst[0, n) += src[0, n). */
function addRow(dst: usize, src: usize, n: i32): void {
  let t = 0;
  for (; t + 4 <= n; t += 4) {
    const o = (<usize>t) << 2;
    v128.store(dst + o, f32x4.add(v128.load(dst + o), v128.load(src + o)));
  }
  for (; t < n; t++) {
    const o = (<usize>t) << 2;
    store<f32>(dst + o, load<f32>(dst + o) + load<f32>(src + o));
  }
}

/**
 * One Adam step for n floats into fresh outputs (tfjs's formulas, rearranged): m' = β1·m + (1 − β1)·g,
 * v' = β2·v + (1 − β2)·g², w' = w − step·m' / (√v' · invSqrtC2 + ε) with step = lr / (1 − β1ᵗ) and
 * invSqrtC2 = 1 / √(1 − β2ᵗ). a1 = 1 − β1 and a2 = 1 − β2 come from the caller, computed in double precision as
 * tfjs does (1 − f32(0.999) in f32 is 1.3e-5 off f32(0.001)). Inputs are never written (tensors may share buffers).
 */
export function adamStep(
  w: usize,
  g: usize,
  m: usize,
  v: usize,
  wOut: usize,
  mOut: usize,
  vOut: usize,
  n: i32,
  beta1: f32,
  beta2: f32,
  a1: f32,
  a2: f32,
  step: f32,
  invSqrtC2: f32,
  eps: f32,
): void {
  const vb1 = f32x4.splat(beta1),
    vb2 = f32x4.splat(beta2),
    va1 = f32x4.splat(a1),
    va2 = f32x4.splat(a2),
    vstep = f32x4.splat(step),
    vinv = f32x4.splat(invSqrtC2),
    veps = f32x4.splat(eps);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = (<usize>i) << 2;
    adam4(v128.load(g + o), v128.load(m + o), v128.load(v + o), v128.load(w + o), mOut + o, vOut + o, wOut + o, vb1, vb2, va1, va2, vstep, vinv, veps);
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    adam1(load<f32>(g + o), load<f32>(m + o), load<f32>(v + o), load<f32>(w + o), mOut + o, vOut + o, wOut + o, beta1, beta2, a1, a2, step, invSqrtC2, eps);
  }
}
