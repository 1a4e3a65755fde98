// The Adam update shared by assembly/adam.ts (the data-parallel step, in place on shared memory) and
// assembly/kernels.ts (FusedAdamOptimizer's step, into fresh outputs on the tfjs heap). tfjs's formulas, rearranged:
// m' = β1·m + a1·g, v' = β2·v + a2·g², w' = w − step·m' / (√v' · invSqrtC2 + ε), with a1 = 1 − β1 and a2 = 1 − β2
// from the caller (double precision, as tfjs computes them), step = lr / (1 − β1ᵗ), invSqrtC2 = 1 / √(1 − β2ᵗ).
// The out pointers may equal the in pointers. Inlined, and free of allocation: these modules run on memory they do
// not own.

/** Four lanes (constants splatted by the caller): the new m, v and w stored at mOut, vOut and wOut. */
@inline
export function adam4(g: v128, m: v128, v: v128, w: v128, mOut: usize, vOut: usize, wOut: usize, b1: v128, b2: v128, a1: v128, a2: v128, step: v128, inv: v128, eps: v128): void {
  const mv = f32x4.add(f32x4.mul(b1, m), f32x4.mul(a1, g));
  const vv = f32x4.add(f32x4.mul(b2, v), f32x4.mul(a2, f32x4.mul(g, g)));
  v128.store(mOut, mv);
  v128.store(vOut, vv);
  v128.store(wOut, f32x4.sub(w, f32x4.div(f32x4.mul(step, mv), f32x4.add(f32x4.mul(f32x4.sqrt(vv), inv), eps))));
}

/** One lane of adam4. */
@inline
export function adam1(g: f32, m: f32, v: f32, w: f32, mOut: usize, vOut: usize, wOut: usize, beta1: f32, beta2: f32, a1: f32, a2: f32, step: f32, inv: f32, eps: f32): void {
  const mv = beta1 * m + a1 * g;
  const vv = beta2 * v + a2 * g * g;
  store<f32>(mOut, mv);
  store<f32>(vOut, vv);
  store<f32>(wOut, w - (step * mv) / (Mathf.sqrt(vv) * inv + eps));
}
