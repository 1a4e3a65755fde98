// AssemblyScript source of the fused data-parallel optimizer step (built by scripts/build-wasm.mjs into
// src/train/adamWasm.generated.ts). Memory is imported: the trainer's shared weights / gradients / Adam-state
// regions live in one shared WebAssembly.Memory, so every thread runs this on the same buffers.

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
    const m = f32x4.add(f32x4.mul(vb1, v128.load(m1 + o)), f32x4.mul(va1, g));
    const v = f32x4.add(f32x4.mul(vb2, v128.load(m2 + o)), f32x4.mul(va2, f32x4.mul(g, g)));
    v128.store(m1 + o, m);
    v128.store(m2 + o, v);
    v128.store(w + o, f32x4.sub(wv, f32x4.div(f32x4.mul(vstep, m), f32x4.add(f32x4.mul(f32x4.sqrt(v), vinv), veps))));
  }
  for (; i < n; i++) {
    const o = (<usize>i) << 2;
    const wv = load<f32>(w + o);
    const g = c0 * load<f32>(g0 + o) + c1 * load<f32>(g1 + o) + wd * wv;
    store<f32>(g0 + o, g);
    const m = beta1 * load<f32>(m1 + o) + a1 * g;
    const v = beta2 * load<f32>(m2 + o) + a2 * g * g;
    store<f32>(m1 + o, m);
    store<f32>(m2 + o, v);
    store<f32>(w + o, wv - (step * m) / (Mathf.sqrt(v) * invSqrtC2 + eps));
  }
}
