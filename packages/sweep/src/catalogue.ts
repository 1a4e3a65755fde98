export interface Arm {
  id: string;
  features: Record<string, number>;
}

export interface ParetoObjectives {
  maximize: readonly string[];
  minimize: readonly string[];
}

/** a dominates b: no worse in every objective and better in at least one. */
export function dominates(a: Record<string, number>, b: Record<string, number>, o: ParetoObjectives): boolean {
  let better = false;
  for (const k of o.maximize) {
    if (a[k]! < b[k]!) return false;
    if (a[k]! > b[k]!) better = true;
  }
  for (const k of o.minimize) {
    if (a[k]! > b[k]!) return false;
    if (a[k]! < b[k]!) better = true;
  }
  return better;
}

/**
 * The arms no other arm dominates, in the order given (so the front is as deterministic as the input).
 * Arms that lack one of the objectives' features are left out (listed in `incomplete`).
 */
export function paretoFront(arms: readonly Arm[], o: ParetoObjectives): { front: string[]; incomplete: string[] } {
  const keys = [...o.maximize, ...o.minimize];
  const complete = arms.filter((a) => keys.every((k) => Number.isFinite(a.features[k])));
  const front = complete.filter((a) => !complete.some((b) => b !== a && dominates(b.features, a.features, o))).map((a) => a.id);
  return { front, incomplete: arms.filter((a) => !complete.includes(a)).map((a) => a.id) };
}

/** Catalogue in bandit-select's format (`edge-select serve --catalogue`): arms in job order. */
export function buildCatalogue(arms: readonly Arm[]): { arms: Arm[] } {
  return {
    arms: arms.map((a) => ({
      id: a.id,
      features: Object.fromEntries(
        Object.keys(a.features)
          .sort()
          .map((k) => [k, a.features[k]!]),
      ),
    })),
  };
}
