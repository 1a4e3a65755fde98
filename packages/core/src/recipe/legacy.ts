/**
 * The one place that translates legacy NNI (v1/v2) config_list keys to v3 keys. Returns the translated
 * entry and a note per translation (shown in plan.warnings).
 */
export function translateLegacyRule(entry: Record<string, unknown>, path: string): { rule: Record<string, unknown>; notes: string[] } {
  const rule: Record<string, unknown> = { ...entry };
  const notes: string[] = [];
  const move = (from: string, to: string, map: (v: unknown) => unknown = (v) => v): void => {
    if (!(from in rule)) return;
    if (to in rule) {
      notes.push(`${path}: legacy '${from}' ignored because '${to}' is also set`);
    } else {
      rule[to] = map(rule[from]);
      notes.push(`${path}: legacy '${from}' translated to '${to}'`);
    }
    delete rule[from];
  };
  move('sparsity', 'sparse_ratio');
  move('sparsity_per_layer', 'sparse_ratio');
  move('total_sparsity', 'sparse_ratio');
  move('quant_bits', 'quant_dtype', (v) => {
    const bits = typeof v === 'object' && v !== null ? (v as Record<string, unknown>).weight : v;
    return typeof bits === 'number' ? `int${bits}` : bits;
  });
  if ('quant_types' in rule) {
    const t = rule.quant_types;
    if (Array.isArray(t) && t.some((x) => x !== 'weight'))
      notes.push(`${path}: 'quant_types' ${JSON.stringify(t)}: only weights are quantized by this key; activation ranges are set by the method's options`);
    delete rule.quant_types;
  }
  if (rule.exclude === true) {
    move('op_names', 'exclude_op_names');
    move('op_types', 'exclude_op_types');
    move('op_names_re', 'exclude_op_names_re');
    delete rule.exclude;
  } else if (rule.exclude === false) delete rule.exclude;
  return { rule, notes };
}
