import { CompressionError, didYouMeanHint } from '../errors.js';
import { inferShapes } from '../ir/shapes.js';
import { LAYER_KINDS, type LayerKind, type ModelIR } from '../ir/types.js';
import { SELECTION_KEYS, type BaseRule } from './schema.js';

/** NNI / Keras spellings of layer kinds accepted in op_types. */
const TYPE_ALIASES: Record<string, LayerKind> = { conv2d: 'conv2d', Conv2d: 'conv2d', Conv2D: 'conv2d', dense: 'dense', Dense: 'dense', Linear: 'dense', linear: 'dense' };
const TARGET_KINDS: readonly LayerKind[] = ['conv2d', 'dense'];

export interface Target<C> {
  layer: string;
  kind: LayerKind;
  /** The weight a method compresses (`<layer>/kernel`). */
  weight: string;
  shape: number[];
  /** Merged settings (selection keys removed); later rules override earlier ones. */
  config: Omit<C, (typeof SELECTION_KEYS)[number]>;
  /** Indices into config_list of the rules that matched, in order. */
  rules: number[];
}

export interface Override {
  layer: string;
  key: string;
  from: number;
  to: number;
  before: unknown;
  after: unknown;
}

function fullMatch(re: string, path: string): RegExp {
  try {
    return new RegExp(`^(?:${re})$`);
  } catch (e) {
    throw new CompressionError({ code: 'RECIPE_INVALID', path, message: `${path}: '${re}' is not a valid regular expression (${(e as Error).message})` });
  }
}

/**
 * NNI v3 selection per rule: (op_names ∪ op_names_re) ∩ op_types − exclude_*, over the model's weighted
 * layers. Unlike NNI v3 (first rule wins), later rules override earlier ones key by key; every override is
 * listed. Rules with only exclude_* keys exclude layers from every rule. Names and types that match
 * nothing are TARGET_NOT_FOUND with a "did you mean".
 */
export function resolveTargets<C extends BaseRule>(ir: ModelIR, rules: C[], where = 'config_list'): { targets: Target<C>[]; overrides: Override[]; warnings: string[] } {
  const shapes = inferShapes(ir);
  const all = ir.layers.map((l) => l.name);
  const weighted = shapes.filter((s) => TARGET_KINDS.includes(s.layer.kind));
  const weightedNames = weighted.map((s) => s.layer.name);
  const notFound = (path: string, got: string, candidates: readonly string[], what: string): never => {
    throw new CompressionError({
      code: 'TARGET_NOT_FOUND',
      path,
      message: `${path}: ${what} '${got}' matches nothing in model '${ir.name}'`,
      hint: didYouMeanHint(got, candidates),
    });
  };
  const checkNames = (names: string[] | undefined, path: string): void => {
    names?.forEach((n, k) => {
      if (!all.includes(n)) notFound(`${path}[${k}]`, n, weightedNames, 'layer');
      if (!weightedNames.includes(n)) {
        throw new CompressionError({
          code: 'TARGET_NOT_FOUND',
          path: `${path}[${k}]`,
          layer: n,
          message: `${path}[${k}]: layer '${n}' has no weights to compress`,
          hint: `weighted layers: ${weightedNames.join(', ')}`,
        });
      }
    });
  };
  const checkTypes = (types: string[] | undefined, path: string): LayerKind[] | undefined =>
    types?.flatMap((t, k) => {
      // NNI v1/v2: 'default' is the pruner's default op types, i.e. every weighted layer.
      if (t === 'default') return [...TARGET_KINDS];
      const kind = TYPE_ALIASES[t] ?? ((LAYER_KINDS as readonly string[]).includes(t) ? (t as LayerKind) : undefined);
      if (!kind) notFound(`${path}[${k}]`, t, [...TARGET_KINDS, 'Conv2d', 'Linear', 'default'], 'op type');
      if (!TARGET_KINDS.includes(kind!))
        throw new CompressionError({
          code: 'TARGET_NOT_FOUND',
          path: `${path}[${k}]`,
          message: `${path}[${k}]: op type '${t}' has no weights to compress`,
          hint: `use ${TARGET_KINDS.join(' or ')}`,
        });
      return [kind!];
    });
  const matchRe = (res: string[] | undefined, path: string, mustMatch: boolean): Set<string> => {
    const out = new Set<string>();
    res?.forEach((r, k) => {
      const re = fullMatch(r, `${path}[${k}]`);
      const hits = weightedNames.filter((n) => re.test(n));
      if (mustMatch && hits.length === 0) notFound(`${path}[${k}]`, r, weightedNames, 'pattern');
      hits.forEach((h) => out.add(h));
    });
    return out;
  };
  const selections: Array<Set<string>> = [];
  const globalExclude = new Set<string>();
  rules.forEach((rule, i) => {
    const p = `${where}[${i}]`;
    checkNames(rule.opNames, `${p}.op_names`);
    checkNames(rule.excludeOpNames, `${p}.exclude_op_names`);
    const types = checkTypes(rule.opTypes, `${p}.op_types`);
    const exTypes = checkTypes(rule.excludeOpTypes, `${p}.exclude_op_types`);
    const byRe = matchRe(rule.opNamesRe, `${p}.op_names_re`, true);
    const exRe = matchRe(rule.excludeOpNamesRe, `${p}.exclude_op_names_re`, false);
    const selects = rule.opNames !== undefined || rule.opNamesRe !== undefined || rule.opTypes !== undefined;
    const excluded = (n: string, kind: LayerKind): boolean => (rule.excludeOpNames?.includes(n) ?? false) || exRe.has(n) || (exTypes?.includes(kind) ?? false);
    const sel = new Set<string>();
    if (!selects) {
      // An exclude-only rule (legacy {exclude: true}) removes layers from every rule.
      for (const s of weighted) if (excluded(s.layer.name, s.layer.kind)) globalExclude.add(s.layer.name);
      selections.push(sel);
      return;
    }
    for (const s of weighted) {
      const n = s.layer.name;
      const byName = rule.opNames === undefined && rule.opNamesRe === undefined ? true : (rule.opNames?.includes(n) ?? false) || byRe.has(n);
      const byType = types === undefined || types.includes(s.layer.kind);
      if (byName && byType && !excluded(n, s.layer.kind)) sel.add(n);
    }
    selections.push(sel);
  });
  const targets: Target<C>[] = [];
  const overrides: Override[] = [];
  const warnings: string[] = [];
  for (const s of weighted) {
    const n = s.layer.name;
    if (globalExclude.has(n)) continue;
    const matched = rules.map((_, i) => i).filter((i) => selections[i]!.has(n));
    if (matched.length === 0) continue;
    const config: Record<string, unknown> = {};
    const setBy: Record<string, number> = {};
    for (const i of matched) {
      for (const [k, v] of Object.entries(rules[i]!)) {
        if ((SELECTION_KEYS as readonly string[]).includes(k) || v === undefined) continue;
        if (k in config && JSON.stringify(config[k]) !== JSON.stringify(v)) {
          overrides.push({ layer: n, key: k, from: setBy[k]!, to: i, before: config[k], after: v });
          warnings.push(`${where}[${i}] overrides entry [${setBy[k]}] for layer '${n}': ${k} ${JSON.stringify(config[k])} → ${JSON.stringify(v)}`);
        }
        config[k] = v;
        setBy[k] = i;
      }
    }
    targets.push({ layer: n, kind: s.layer.kind, weight: `${n}/kernel`, shape: s.weights[`${n}/kernel`]!, config: config as Target<C>['config'], rules: matched });
  }
  rules.forEach((r, i) => {
    if (selections[i]!.size === 0 && (r.opNames || r.opNamesRe || r.opTypes)) warnings.push(`${where}[${i}] selects no layer after exclusions`);
  });
  return { targets, overrides, warnings };
}
