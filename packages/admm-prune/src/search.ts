/**
 * Per-layer ratio choice (pure parts): greedy allocation of a global sparsity target from per-layer
 * sensitivity curves measured on the validation split, and the hardware-aware break-even rule of
 * ALGORITHMS §1.6.
 */

/** Sparsity grid the sensitivity pass measures (0 = dense). */
export const SENSITIVITY_GRID: readonly number[] = [0, 0.5, 0.7, 0.8, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.993, 0.995];

export interface AllocationLayer {
  /** Weights in the layer. */
  size: number;
  /** Validation loss increase after pruning this layer alone to grid[j] (cost[0] is the dense point, usually 0). */
  cost: readonly number[];
}

/**
 * Chooses per-layer sparse ratios whose weighted mean is exactly `target` (Σ s_i·n_i = target·Σ n_i), greedily:
 * from dense, repeatedly move the layer whose next grid point costs the least validation loss per extra
 * pruned weight; the last move is interpolated so the total lands on the target. Costs are made monotone
 * (a running max) first. Deterministic; ties go to the lower layer index. Throws if the target exceeds
 * what the grid allows.
 */
export function allocateSparsity(layers: readonly AllocationLayer[], grid: readonly number[], target: number): number[] {
  const total = layers.reduce((a, l) => a + l.size, 0);
  const need = target * total;
  const maxReach = layers.reduce((a, l) => a + l.size * grid[grid.length - 1]!, 0);
  if (need > maxReach + 1e-9) throw new RangeError(`global target ${target} exceeds the largest grid sparsity ${grid[grid.length - 1]}`);
  const costs = layers.map((l) => {
    const c: number[] = [];
    let m = -Infinity;
    for (let j = 0; j < grid.length; j++) c.push((m = Math.max(m, l.cost[j] ?? m)));
    return c;
  });
  const at = layers.map(() => 0);
  const ratios = layers.map(() => grid[0]!);
  let pruned = layers.reduce((a, l) => a + l.size * grid[0]!, 0);
  while (pruned < need - 1e-9) {
    let best = -1,
      bestRate = Infinity;
    for (let i = 0; i < layers.length; i++) {
      const j = at[i]!;
      if (j + 1 >= grid.length) continue;
      const gain = layers[i]!.size * (grid[j + 1]! - grid[j]!);
      if (gain <= 0) continue;
      const rate = Math.max(0, costs[i]![j + 1]! - costs[i]![j]!) / gain;
      if (rate < bestRate) ((bestRate = rate), (best = i));
    }
    if (best < 0) break;
    const j = at[best]!;
    const gain = layers[best]!.size * (grid[j + 1]! - grid[j]!);
    if (pruned + gain >= need) {
      ratios[best] = grid[j]! + (need - pruned) / layers[best]!.size;
      pruned = need;
      break;
    }
    at[best] = j + 1;
    ratios[best] = grid[j + 1]!;
    pruned += gain;
  }
  return ratios;
}

/** Global targets `global_sparse_ratio: 'auto'` chooses from (ascending). */
export const AUTO_SPARSITY_CANDIDATES: readonly number[] = [0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97];

/**
 * Index of the last candidate that passes, by bisection over `n` candidates sorted so that passing is monotone
 * (every candidate before a passing one passes): ⌈log2(n + 1)⌉ calls of `pass` at most. −1 when none passes.
 */
export async function largestPassing(n: number, pass: (index: number) => Promise<boolean>): Promise<number> {
  let lo = -1,
    hi = n;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (await pass(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** Pruning ratio r = total / non-zeros for a sparse ratio s: 1/(1−s). */
export const pruningRatioOf = (sparse: number): number => 1 / Math.max(1e-12, 1 - sparse);

/** Ratio grid (total / non-zeros) swept for the break-even point. */
export const BREAK_EVEN_GRID: readonly number[] = [1.25, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 32, 50, 64, 100, 200];

/**
 * Break-even pruning ratio r* = min{ r : T_sparse(r) ≤ T_dense } over `grid` (ALGORITHMS §1.6); Infinity when
 * the sparse form never catches up on the grid.
 */
export function breakEvenRatio(sparseLatency: (ratio: number) => number, denseLatency: number, grid: readonly number[] = BREAK_EVEN_GRID): number {
  for (const r of grid) if (sparseLatency(r) <= denseLatency) return r;
  return Infinity;
}

/**
 * ADMM-NN's hardware rule: a compute-dominant (conv) layer is pruned only if its ratio is at least
 * margin·r*; otherwise it stays dense (a little pruning only adds index overhead). Other layers keep their
 * ratio (they are pruned for storage). Returns the sparse ratio to use.
 */
export function hardwareAwareRatio(sparse: number, breakEven: number, computeDominant: boolean, margin = 1.2): number {
  if (!computeDominant || sparse === 0) return sparse;
  return pruningRatioOf(sparse) >= margin * breakEven ? sparse : 0;
}
