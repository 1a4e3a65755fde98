// AssemblyScript source of the fused data-parallel optimizer step (built by scripts/build-wasm.mjs into
// src/train/adamWasm.generated.ts). Memory is imported: the trainer's shared weights / gradients / Adam-state
// regions live in one shared WebAssembly.Memory, so every thread runs this on the same buffers.

import { adam1, adam4 } from './adamLanes';

/**
 * Over n floats: g = c0·g0 + c1·g1 (written back to g0, the reduced gradient), g += wd·w (L2), then Adam:
 * m1 = β1·m1 + (1 − β1)·g, m2 = β2·m2 + (1 − β2)·g², w −= step·m1 / (√m2 · invSqrtC2 + ε). Pointers are byte offsets.
 */
export function adam(
  g0: usize,
  g1: usize,
  c0: f32,
  c1: f32,
  w: usize,
  m1: usize,
  m2: usize,
  n: i32,
  beta1: f32,
  beta2: f32,
  a1: f32,
  a2: f32,
  step: f32,
  invSqrtC2: f32,
  eps: f32,
  wd: f32,
): void {
  // a1 = 1 − β1 and a2 = 1 − β2 come from the caller in double precision, as tfjs computes them.
  const vc0 = f32x4.splat(c0),
    vc1 = f32x4.splat(c1),
    vb1 = f32x4.splat(beta1),
    vb2 = f32x4.splat(beta2),
    va1 = f32x4.splat(a1),
    va2 = f32x4.splat(a2),
    vstep = f32x4.splat(step),
    vinv = f32x4.splat(invSqrtC2),
    veps = f32x4.splat(eps),
    vwd = f32x4.splat(wd);
  let i: i32 = 0;
  for (; i + 4 <= n; i += 4) {
    const o = (<usize>i) << 2;
    const wv = v128.load(w + o);
    const g = f32x4.add(f32x4.add(f32x4.mul(vc0, v128.load(g0 + o)), f32x4.mul(vc1, v128.load(g1 + o))), f32x4.mul(vwd, wv));
    v128.store(g0 + o, g);
    adam4(g, v128.load(m1 + o), v128.load(m2 + o), wv, m1 + o, m2 + o, w + o, vb1, vb2, va1, va2, vstep, vinv, veps);
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const wv = load<f32>(w + o);
    const g = c0 * load<f32>(g0 + o) + c1 * load<f32>(g1 + o) + wd * wv;
    store<f32>(g0 + o, g);
    adam1(g, load<f32>(m1 + o), load<f32>(m2 + o), wv, m1 + o, m2 + o, w + o, beta1, beta2, a1, a2, step, invSqrtC2, eps);
  }
}
