import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { orthogonalityLoss, sparsityLoss, sparsityValue } from '../src/index.js';

describe('regularisers', () => {
  it('orthogonality: 0 for orthonormal factors; hand-computed for U = diag(1, 2)', () => {
    const eye = tf.eye(2) as tf.Tensor2D;
    const q = tf.tensor2d([
      [0.6, 0.8],
      [-0.8, 0.6],
      [0, 0],
    ]);
    expect(orthogonalityLoss(q, q, eye).dataSync()[0]).toBeCloseTo(0, 6);
    // UᵀU − I = diag(0, 3): 9 / r² = 9/4; V = I contributes 0
    expect(
      orthogonalityLoss(
        tf.tensor2d([
          [1, 0],
          [0, 2],
        ]),
        eye,
        eye,
      ).dataSync()[0],
    ).toBeCloseTo(2.25, 6);
    tf.dispose([eye, q]);
  });
  it('sparsity on s = [3, -4]: L1 7, Hoyer 7/5, Hoyer-Square 49/25; zero (with a finite gradient) for s = 0', () => {
    const s = tf.tensor1d([3, -4]);
    expect(sparsityLoss(s, 'l1').dataSync()[0]).toBeCloseTo(7, 5);
    expect(sparsityLoss(s, 'hoyer').dataSync()[0]).toBeCloseTo(1.4, 5);
    expect(sparsityLoss(s, 'hoyer_square').dataSync()[0]).toBeCloseTo(1.96, 5);
    expect(sparsityValue([3, -4], 'hoyer')).toBeCloseTo(1.4, 9);
    const z = tf.zeros([3]) as tf.Tensor1D;
    expect(sparsityLoss(z, 'hoyer').dataSync()[0]).toBe(0);
    const g = tf.grad((x: tf.Tensor) => sparsityLoss(x as tf.Tensor1D, 'hoyer'))(z);
    expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    tf.dispose([s, z, g]);
  });
  it('the Hoyer gradient shrinks the small singular value and grows the large one', () => {
    const s = tf.tensor1d([5, 0.5]);
    const g = tf
      .grad((x: tf.Tensor) => sparsityLoss(x as tf.Tensor1D, 'hoyer'))(s)
      .dataSync();
    expect(g[1]!).toBeGreaterThan(0); // descent lowers s[1]
    expect(g[0]!).toBeLessThan(0);
    s.dispose();
  });
});
