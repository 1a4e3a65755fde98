/**
 * The one place that translates NNI config_list keys edge-compress reads differently: legacy (v1/v2) keys to v3
 * keys, and v3's `target_names` / `target_settings` (methods here compress a layer's weight; activation
 * quantization is a method option). Returns the translated entry and a note per translation (plan.warnings).
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
  if ('total_sparsity' in rule && !('sparse_ratio' in rule))
    notes.push(`${path}: legacy 'total_sparsity' is applied to each layer; for one threshold across the layers use magnitude's global_group_id`);
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
  if ('target_settings' in rule) {
    // v3: per-target settings, e.g. {"weight": {"quant_dtype": "int4"}, "_input_": {...}}: the weight's apply to the rule.
    const ts = rule.target_settings;
    const weight = ts && typeof ts === 'object' ? (ts as Record<string, unknown>).weight : undefined;
    const lifted: string[] = [];
    if (weight && typeof weight === 'object')
      for (const [k, v] of Object.entries(weight as Record<string, unknown>)) {
        if (k in rule) notes.push(`${path}: target_settings.weight.${k} ignored because '${k}' is also set on the rule`);
        else ((rule[k] = v), lifted.push(k));
      }
    const others = ts && typeof ts === 'object' ? Object.keys(ts).filter((k) => k !== 'weight') : [];
    notes.push(
      `${path}: 'target_settings'${lifted.length ? `: the weight's ${lifted.join(', ')} apply to the rule` : ''}${others.length ? `; ${others.join(', ')} ignored (activation quantization is set by the method's options, biases stay full precision)` : ''}`,
    );
    delete rule.target_settings;
  }
  if ('target_names' in rule) {
    const t = rule.target_names;
    const others = Array.isArray(t) ? t.filter((x) => x !== 'weight') : [];
    if (Array.isArray(t) && !t.includes('weight'))
      notes.push(`${path}: 'target_names' ${JSON.stringify(t)} has no 'weight', but every method here compresses the selected layers' weights`);
    if (others.length)
      notes.push(
        `${path}: 'target_names' ${JSON.stringify(others)}: activations are quantized as the method's options say (quantize: options.activations), biases stay full precision`,
      );
    delete rule.target_names;
  }
  if (rule.exclude === true) {
    move('op_names', 'exclude_op_names');
    move('op_types', 'exclude_op_types');
    move('op_names_re', 'exclude_op_names_re');
    delete rule.exclude;
  } else if (rule.exclude === false) delete rule.exclude;
  return { rule, notes };
}
