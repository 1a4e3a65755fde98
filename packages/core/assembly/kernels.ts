// AssemblyScript source of the data-movement halves of core's wasm training kernels (built by
// scripts/build-wasm.mjs into src/backend/kernelsWasm.generated.ts). Memory is imported: the instance is bound to
// the tfjs wasm backend's own heap, so these loops read and write tensors in place (pointers are byte offsets from
// the backend's data map). No static data, no allocation: nothing of the backend's heap is touched but the
// buffers passed in.

import { adam1, adam4 } from './adamLanes';

/**
 * im2col for the filter gradient, [K, M] layout: row (i, j, c) of K = FH·FW·C, column (n, oh, ow) of
 * M = N·OH·OW, holding x[n, oh·SH − padTop + i, ow·SW − padLeft + j, c] or 0 outside the input. Four channels
 * × four output columns at a time go through a 4×4 register transpose (the gather is a transpose of
 * [ow, c] blocks); the remainders are scalar.
 */
export function im2colT(x: usize, cols: usize, N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32, FH: i32, FW: i32, SH: i32, SW: i32, padTop: i32, padLeft: i32): void {
  const M = N * OH * OW;
  const rowBytes = (<usize>M) << 2;
  const step = (<usize>(SW * C)) << 2;
  for (let i = 0; i < FH; i++) {
    for (let j = 0; j < FW; j++) {
      // Output columns [o0, o1) read inside the input row for this filter column; the rest are padding.
      let o0 = ceilDiv(padLeft - j, SW);
      if (o0 < 0) o0 = 0;
      if (o0 > OW) o0 = OW;
      let o1 = floorDiv(W - 1 + padLeft - j, SW) + 1;
      if (o1 > OW) o1 = OW;
      if (o1 < o0) o1 = o0;
      const rowBase = cols + <usize>((i * FW + j) * C) * rowBytes;
      for (let n = 0; n < N; n++) {
        for (let oh = 0; oh < OH; oh++) {
          const m = (<usize>((n * OH + oh) * OW)) << 2;
          const h = oh * SH - padTop + i;
          if (h < 0 || h >= H) {
            for (let c = 0; c < C; c++) memory.fill(rowBase + <usize>c * rowBytes + m, 0, (<usize>OW) << 2);
            continue;
          }
          if (o0 > 0) for (let c = 0; c < C; c++) memory.fill(rowBase + <usize>c * rowBytes + m, 0, (<usize>o0) << 2);
          if (o1 < OW) for (let c = 0; c < C; c++) memory.fill(rowBase + <usize>c * rowBytes + m + ((<usize>o1) << 2), 0, (<usize>(OW - o1)) << 2);
          const src0 = x + ((<usize>(((n * H + h) * W + o0 * SW - padLeft + j) * C)) << 2);
          let c = 0;
          for (; c + 4 <= C; c += 4) {
            const d0 = rowBase + <usize>c * rowBytes + m;
            const d1 = d0 + rowBytes,
              d2 = d1 + rowBytes,
              d3 = d2 + rowBytes;
            let src = src0 + ((<usize>c) << 2);
            let ow = o0;
            for (; ow + 4 <= o1; ow += 4) {
              const r0 = v128.load(src),
                r1 = v128.load(src + step),
                r2 = v128.load(src + 2 * step),
                r3 = v128.load(src + 3 * step);
              const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5),
                t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7),
                t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5),
                t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
              const o = (<usize>ow) << 2;
              v128.store(d0 + o, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
              v128.store(d1 + o, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
              v128.store(d2 + o, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
              v128.store(d3 + o, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
              src += 4 * step;
            }
            for (; ow < o1; ow++, src += step) {
              const o = (<usize>ow) << 2;
              store<f32>(d0 + o, load<f32>(src));
              store<f32>(d1 + o, load<f32>(src, 4));
              store<f32>(d2 + o, load<f32>(src, 8));
              store<f32>(d3 + o, load<f32>(src, 12));
            }
          }
          for (; c < C; c++) {
            const d = rowBase + <usize>c * rowBytes + m;
            let src = src0 + ((<usize>c) << 2);
            let ow = o0;
            if (SW == 1 && C == 1) {
              // One channel, unit stride: the run is contiguous in x as in the row.
              for (; ow + 4 <= o1; ow += 4, src += 16) v128.store(d + ((<usize>ow) << 2), v128.load(src));
            }
            for (; ow < o1; ow++, src += step) store<f32>(d + ((<usize>ow) << 2), load<f32>(src));
          }
        }
      }
    }
  }
}

/**
 * col2im for the input gradient: dx [N, H, W, C] = Σ over the rows (n, oh, ow) of dcol [M, K] of their
 * in-bounds (i, j, c) entries, added to the input position they were read from. Within one filter row the
 * in-bounds (j, c) pairs are contiguous in both, so each (m, i) adds one run of (j1 − j0)·C floats. dx is zeroed
 * first.
 */
export function col2imAdd(dcol: usize, dx: usize, N: i32, H: i32, W: i32, C: i32, OH: i32, OW: i32, FH: i32, FW: i32, SH: i32, SW: i32, padTop: i32, padLeft: i32): void {
  const K = FH * FW * C;
  memory.fill(dx, 0, (<usize>(N * H * W * C)) << 2);
  let m = 0;
  for (let n = 0; n < N; n++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++, m++) {
        const w0 = ow * SW - padLeft;
        let j0 = -w0;
        if (j0 < 0) j0 = 0;
        let j1 = W - w0;
        if (j1 > FW) j1 = FW;
        if (j1 <= j0) continue;
        const len = (j1 - j0) * C;
        for (let i = 0; i < FH; i++) {
          const h = oh * SH - padTop + i;
          if (h < 0 || h >= H) continue;
          addRow(dx + ((<usize>(((n * H + h) * W + w0 + j0) * C)) << 2), dcol + ((<usize>(m * K + (i * FW + j0) * C)) << 2), len);
        }
      }
    }
  }
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
