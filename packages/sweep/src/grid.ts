/**
 * Grid keys over recipes. A bare key (`sparse_ratio`) names every config_list entry and stage `options`
 * object that already has that key; a path key (`stages[1].config_list[0].quant_scheme`) names exactly one
 * place, whose parent must exist.
 */
export type Seg = string | number;

const BARE_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PATH_RE = /^[A-Za-z_$][A-Za-z0-9_$]*(\[\d+\]|\.[A-Za-z_$][A-Za-z0-9_$]*)*$/;

export function isBareKey(key: string): boolean {
  return BARE_RE.test(key);
}

/** `stages[1].config_list[0].quant_scheme` → ['stages', 1, 'config_list', 0, 'quant_scheme']; undefined if malformed. */
export function parsePathKey(key: string): Seg[] | undefined {
  if (!PATH_RE.test(key)) return undefined;
  const segs: Seg[] = [];
  for (const m of key.matchAll(/([A-Za-z_$][A-Za-z0-9_$]*)|\[(\d+)\]/g)) segs.push(m[2] !== undefined ? Number(m[2]) : m[1]!);
  return segs;
}

export function formatPath(segs: readonly Seg[]): string {
  let s = '';
  for (const p of segs) s += typeof p === 'number' ? `[${p}]` : s === '' ? p : `.${p}`;
  return s;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Where a grid key applies in a recipe (empty when it applies nowhere). */
export function gridLocations(recipe: Record<string, unknown>, key: string): Seg[][] {
  if (isBareKey(key)) {
    const out: Seg[][] = [];
    const stages = Array.isArray(recipe.stages) ? (recipe.stages as unknown[]) : [];
    stages.forEach((s, i) => {
      if (!isObj(s)) return;
      if (Array.isArray(s.config_list)) {
        (s.config_list as unknown[]).forEach((e, j) => {
          if (isObj(e) && key in e) out.push(['stages', i, 'config_list', j, key]);
        });
      }
      if (isObj(s.options) && key in s.options) out.push(['stages', i, 'options', key]);
    });
    return out;
  }
  const segs = parsePathKey(key);
  if (!segs || segs.length < 2) return [];
  let parent: unknown = recipe;
  for (const p of segs.slice(0, -1)) {
    if (typeof p === 'number' ? !Array.isArray(parent) || p >= parent.length : !isObj(parent) || !(p in parent)) return [];
    parent = (parent as Record<Seg, unknown>)[p];
  }
  const last = segs[segs.length - 1]!;
  if (typeof last === 'number' ? !Array.isArray(parent) || last >= parent.length : !isObj(parent)) return [];
  return [segs];
}

/** A copy of the recipe with `value` at every location. */
export function applyAt(recipe: Record<string, unknown>, locations: readonly Seg[][], value: unknown): Record<string, unknown> {
  const copy = structuredClone(recipe);
  for (const segs of locations) {
    let parent = copy as Record<Seg, unknown>;
    for (const p of segs.slice(0, -1)) parent = parent[p] as Record<Seg, unknown>;
    parent[segs[segs.length - 1]!] = structuredClone(value);
  }
  return copy;
}

/** Cartesian product of value lists, in order (the last key varies fastest). */
export function cartesian<T>(lists: ReadonlyArray<readonly T[]>): T[][] {
  let acc: T[][] = [[]];
  for (const l of lists) acc = acc.flatMap((prefix) => l.map((v) => [...prefix, v]));
  return acc;
}

/** Every bare key a recipe offers to a grid (for "did you mean" hints). */
export function recipeKeys(recipe: Record<string, unknown>): string[] {
  const keys = new Set<string>();
  for (const s of Array.isArray(recipe.stages) ? (recipe.stages as unknown[]) : []) {
    if (!isObj(s)) continue;
    for (const e of Array.isArray(s.config_list) ? (s.config_list as unknown[]) : []) if (isObj(e)) Object.keys(e).forEach((k) => keys.add(k));
    if (isObj(s.options)) Object.keys(s.options).forEach((k) => keys.add(k));
  }
  return [...keys].sort();
}
