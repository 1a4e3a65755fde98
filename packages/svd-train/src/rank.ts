/**
 * Singular-value pruning by energy (ALGORITHMS §3.3): the smallest prefix of the singular values sorted by
 * magnitude whose energy Σ s² is at least (1 − e) of the total; at least 1. `e` is the fraction of energy
 * that may be dropped, in (0, 1].
 */
export function energyRank(s: ArrayLike<number>, e: number): number {
  const sq = Array.from(s, (x) => x * x).sort((a, b) => b - a);
  const total = sq.reduce((a, b) => a + b, 0);
  if (total === 0) return 1;
  const need = (1 - e) * total;
  let acc = 0;
  for (let k = 0; k < sq.length; k++) {
    acc += sq[k]!;
    // Relative tolerance so that e→0 keeps everything even with rounding.
    if (acc >= need - 1e-12 * total) return Math.max(1, k + 1);
  }
  return sq.length;
}

/** Fraction of the energy that a rank-r prefix keeps. */
export function energyKept(s: ArrayLike<number>, r: number): number {
  const sq = Array.from(s, (x) => x * x).sort((a, b) => b - a);
  const total = sq.reduce((a, b) => a + b, 0);
  if (total === 0) return 1;
  return sq.slice(0, r).reduce((a, b) => a + b, 0) / total;
}

/**
 * The smallest common energy threshold e ∈ (0, 1] whose total cost `cost(e)` (non-increasing in e) is at
 * most `budget`, by bisection; e = 1 (rank 1 everywhere) when no threshold meets it (`met: false`).
 */
export function thresholdForBudget(cost: (e: number) => number, budget: number, iters = 40): { e: number; met: boolean } {
  if (cost(1) > budget) return { e: 1, met: false };
  let lo = 0,
    hi = 1;
  for (let i = 0; i < iters; i++) {
    const mid = (lo + hi) / 2;
    if (cost(mid) <= budget) hi = mid;
    else lo = mid;
  }
  return { e: hi, met: true };
}

/**
 * Cost-aware rank allocation for a FLOP / parameter budget: starting from full rank, repeatedly drops the
 * singular component with the least energy share per unit of cost (s_k² / Σ_l s² divided by the layer's
 * cost of one rank) until `totalCost(ranks)` ≤ budget. Layers with a `fixed` rank are left alone. Ranks
 * never go below 1. Deterministic (ties: lower layer index first).
 */
export function greedyRanks(
  layers: Array<{ s: ArrayLike<number>; costPerRank: number; fixed?: number }>,
  totalCost: (ranks: number[]) => number,
  budget: number,
): { ranks: number[]; met: boolean } {
  const sq = layers.map((l) => Array.from(l.s, (x) => x * x).sort((a, b) => b - a));
  const tot = sq.map((a) => a.reduce((x, y) => x + y, 0) || 1);
  const ranks = layers.map((l, i) => l.fixed ?? sq[i]!.length);
  const score = (i: number): number => (ranks[i]! <= 1 || layers[i]!.fixed !== undefined ? Infinity : sq[i]![ranks[i]! - 1]! / tot[i]! / layers[i]!.costPerRank);
  while (totalCost(ranks) > budget) {
    let best = -1,
      bestScore = Infinity;
    for (let i = 0; i < layers.length; i++) {
      const sc = score(i);
      if (sc < bestScore) ((best = i), (bestScore = sc));
    }
    if (best < 0) return { ranks, met: false };
    ranks[best]!--;
  }
  return { ranks, met: true };
}
