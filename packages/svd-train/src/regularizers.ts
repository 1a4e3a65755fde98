import * as tf from '@tensorflow/tfjs-core';

export const SPARSITY_KINDS = ['l1', 'hoyer', 'hoyer_square'] as const;
export type SparsityKind = (typeof SPARSITY_KINDS)[number];

/**
 * Orthogonality regulariser of one factored layer (ALGORITHMS §3.2): ‖UᵀU − I‖_F²/r² + ‖VᵀV − I‖_F²/r²,
 * with the r×r Gram matrices. `eye` is an r×r identity the caller keeps (not created per step).
 */
export function orthogonalityLoss(u: tf.Tensor2D, v: tf.Tensor2D, eye: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const r = u.shape[1];
    const gu = tf.sub(tf.matMul(u, u, true, false), eye);
    const gv = tf.sub(tf.matMul(v, v, true, false), eye);
    return tf.div(tf.add(tf.sum(tf.square(gu)), tf.sum(tf.square(gv))), r * r) as tf.Scalar;
  });
}

/**
 * Sparsity-inducing regulariser on the singular values: L1 ‖s‖₁, Hoyer ‖s‖₁/‖s‖₂ (scale-invariant: pushes
 * small values to zero without shrinking large ones) or Hoyer-Square ‖s‖₁²/‖s‖₂². Zero for an all-zero s,
 * as in the paper's code.
 */
export function sparsityLoss(s: tf.Tensor1D, kind: SparsityKind): tf.Scalar {
  return tf.tidy(() => {
    const l1 = tf.sum(tf.abs(s));
    if (kind === 'l1') return l1 as tf.Scalar;
    // An all-zero s gives 0/ε = 0, so no branch (and no non-differentiable op) is needed.
    const safe = tf.maximum(tf.sum(tf.square(s)), 1e-12);
    return (kind === 'hoyer' ? tf.div(l1, tf.sqrt(safe)) : tf.div(tf.square(l1), safe)) as tf.Scalar;
  });
}

/** Plain-number versions (for tests and reports). */
export function sparsityValue(s: ArrayLike<number>, kind: SparsityKind): number {
  let l1 = 0,
    sq = 0;
  for (let i = 0; i < s.length; i++) ((l1 += Math.abs(s[i]!)), (sq += s[i]! * s[i]!));
  if (kind === 'l1') return l1;
  if (sq === 0) return 0;
  return kind === 'hoyer' ? l1 / Math.sqrt(sq) : (l1 * l1) / sq;
}
