import { z } from 'zod';
import { CompressionError } from '../errors.js';

/** snake_case → camelCase, at the type level and at run time (recipes are snake_case in JSON only). */
export type CamelCase<S extends string> = S extends `${infer H}_${infer T}` ? `${H}${Capitalize<CamelCase<T>>}` : S;
export type Camelize<T> = { [K in keyof T as K extends string ? CamelCase<K> : K]: T[K] };
export const camelCase = (s: string): string => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export function camelizeKeys<T extends Record<string, unknown>>(o: T): Camelize<T> {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [camelCase(k), v])) as Camelize<T>;
}

export const GRANULARITIES = ['default', 'in_channel', 'out_channel', 'per_channel'] as const;

/**
 * NNI v3 selection keys, shared by every method: they pick layers and nothing else. Each method extends them
 * with its own setting keys (`ruleSchema({...})`), so an unknown key is an error naming the method's keys.
 */
export const baseRuleShape = {
  op_names: z.array(z.string().min(1)).optional().describe('layer names to target'),
  op_names_re: z.array(z.string().min(1)).optional().describe('regular expressions over layer names (full match)'),
  op_types: z.array(z.string().min(1)).optional().describe("layer kinds to target: 'conv2d', 'dense' (NNI's 'Conv2d' and 'Linear' are accepted)"),
  exclude_op_names: z.array(z.string().min(1)).optional(),
  exclude_op_names_re: z.array(z.string().min(1)).optional(),
  exclude_op_types: z.array(z.string().min(1)).optional(),
} as const;

/** NNI's pruning setting keys, for methods that prune (`ruleSchema({ ...pruningRuleShape, ... })`). */
export const pruningRuleShape = {
  sparse_ratio: z.number().min(0).lt(1, 'sparse_ratio must be below 1 (1 would remove every weight)').optional().describe('fraction of weights to remove (0.9 keeps 10%)'),
  granularity: z
    .union([z.enum(GRANULARITIES), z.array(z.number().int().positive()).min(1).max(2)], {
      error: `expected ${GRANULARITIES.map((g) => `'${g}'`).join(', ')} or a block [rows, cols] of positive integers`,
    })
    .optional()
    .describe("'default' (unstructured), 'in_channel', 'out_channel', 'per_channel' or a block [rows, cols]"),
} as const;

/** NNI's quantization setting keys, for methods that quantize. */
export const quantRuleShape = {
  quant_dtype: z
    .string()
    .regex(/^(u?int([1-9]|1[0-6])|float16)$/, "expected 'int2'…'int16', 'uint2'…'uint16' or 'float16'")
    .optional(),
  quant_scheme: z.enum(['affine', 'symmetric', 'pow2']).optional(),
} as const;

export const SELECTION_KEYS = ['opNames', 'opNamesRe', 'opTypes', 'excludeOpNames', 'excludeOpNamesRe', 'excludeOpTypes'] as const;

export type BaseRuleInput = z.input<z.ZodObject<typeof baseRuleShape>>;
export type BaseRule = Camelize<z.output<z.ZodObject<typeof baseRuleShape>>>;

/** A method's rule schema: the base keys plus `extra`, strict (unknown keys are errors), camelCased on parse. */
export function ruleSchema<E extends z.ZodRawShape>(extra: E) {
  return z
    .object({ ...baseRuleShape, ...extra })
    .strict()
    .transform((o) => camelizeKeys(o as Record<string, unknown>) as Camelize<z.output<z.ZodObject<typeof baseRuleShape & E>>>);
}

/** The selection keys alone, strict, camelCased (a method with no setting keys of its own). */
export const baseRule = ruleSchema({});

/** A method's stage options schema (snake_case, strict, camelCased on parse). */
export function optionsSchema<E extends z.ZodRawShape>(shape: E) {
  return z
    .object(shape)
    .strict()
    .transform((o) => camelizeKeys(o as Record<string, unknown>) as Camelize<z.output<z.ZodObject<E>>>);
}

const stageSchema = z
  .object({
    method: z.string().min(1).describe('compressor id, e.g. magnitude, admm, bcr, svd, quantize, smartdeal'),
    config_list: z.array(z.record(z.string(), z.unknown())).min(1).describe('NNI v3 config_list; later entries override earlier ones'),
    options: z.record(z.string(), z.unknown()).optional().describe('method options (training epochs, learning rate, ...)'),
  })
  .strict();

export const recipeSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    seed: z.number().int().min(0).default(0),
    description: z.string().optional(),
    stages: z.array(stageSchema).min(1),
  })
  .strict();

/** A parsed recipe; `shorthand` when it was written as one stage (`{ method, config_list }`). */
export type Recipe = z.output<typeof recipeSchema> & { shorthand?: boolean };
export type RecipeInput = z.input<typeof recipeSchema>;
export type Stage = Recipe['stages'][number];

/** JSON path of a zod issue, e.g. `stages[0].config_list[1].sparse_ratio`. */
export function issuePath(path: ReadonlyArray<PropertyKey>, root = ''): string {
  let s = root;
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : s === '' ? String(p) : `.${String(p)}`;
  return s || '(root)';
}

/** Converts a zod error into RECIPE_INVALID with the JSON path, what was expected and what was found. */
export function zodToRecipeError(err: z.ZodError, file: string, root = '', input?: unknown): CompressionError {
  const lines = err.issues.slice(0, 6).map((i) => {
    const p = issuePath(i.path, root);
    let got = '';
    if (input !== undefined) {
      let v: unknown = input;
      for (const k of i.path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
      if (v !== undefined) got = ` (got ${JSON.stringify(v)?.slice(0, 60)})`;
    }
    const keys = i.code === 'unrecognized_keys' ? ` '${(i as { keys: string[] }).keys.join("', '")}'` : '';
    return `${p}: ${i.message}${keys}${got}`;
  });
  const first = err.issues[0];
  return new CompressionError({ code: 'RECIPE_INVALID', path: first ? `${file}: ${issuePath(first.path, root)}` : file, message: `${file}: ${lines.join('; ')}`, cause: err });
}

/** Top-level keys of the one-stage shorthand `{ "method": …, "config_list": [...], "options"?: … }` that are not stage keys. */
const TOP_KEYS = new Set(['$schema', 'version', 'seed', 'description']);

/** True for the one-stage shorthand: an object with `method` and no `stages` (NNI-style: method + config_list). */
export function isShorthandRecipe(input: unknown): input is Record<string, unknown> {
  return Boolean(input) && typeof input === 'object' && !Array.isArray(input) && !('stages' in (input as object)) && 'method' in (input as object);
}

/**
 * Parses and validates a recipe object (the stage config_lists are validated per method at plan time). Accepts
 * the full form `{ version: 1, stages: [...] }` and the one-stage shorthand `{ method, config_list, options? }`
 * (version optional), whose errors name paths as the user wrote them (`config_list[0]…`, not `stages[0]…`).
 */
export function parseRecipe(input: unknown, file = 'recipe'): Recipe {
  if (Array.isArray(input))
    throw new CompressionError({
      code: 'RECIPE_INVALID',
      path: `${file}: (root)`,
      message: `${file}: expected a recipe object, got an array (a bare NNI config_list?)`,
      hint: 'name the method: {"method": "magnitude", "config_list": [...]} (one stage), or {"version": 1, "stages": [{"method": …, "config_list": [...]}, …]}',
    });
  if (isShorthandRecipe(input)) {
    const top: Record<string, unknown> = { version: 1 };
    const stage: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input)) (TOP_KEYS.has(k) ? top : stage)[k] = v;
    const r = recipeSchema.safeParse({ ...top, stages: [stage] });
    if (!r.success) {
      const issues = r.error.issues.map((i) => (i.path[0] === 'stages' && i.path[1] === 0 ? { ...i, path: i.path.slice(2) } : i));
      throw zodToRecipeError(new z.ZodError(issues), file, '', input);
    }
    return { ...r.data, shorthand: true } as Recipe;
  }
  const r = recipeSchema.safeParse(input);
  if (!r.success) throw zodToRecipeError(r.error, file, '', input);
  return r.data;
}

/**
 * JSON Schema (draft 2020-12) of the recipe format, for editors and other tools. With `compressors`, each stage
 * is checked against its method's own config_list and options keys.
 */
export function recipeJsonSchema(compressors: ReadonlyArray<{ name: string; config: z.ZodType; options: z.ZodType }> = []): Record<string, unknown> {
  const base = z.object(baseRuleShape).catchall(z.unknown());
  const generic = stageSchema.extend({ config_list: z.array(base).min(1) });
  const opts = { io: 'input', unrepresentable: 'any' } as const;
  const stage = compressors.length
    ? {
        anyOf: compressors.map((c) => ({
          type: 'object',
          description: `a '${c.name}' stage`,
          properties: { method: { const: c.name }, config_list: { type: 'array', minItems: 1, items: z.toJSONSchema(c.config, opts) }, options: z.toJSONSchema(c.options, opts) },
          required: ['method', 'config_list'],
          additionalProperties: false,
        })),
      }
    : z.toJSONSchema(generic, opts);
  const top = z.toJSONSchema(recipeSchema.omit({ stages: true }), opts) as { properties: Record<string, unknown>; required?: string[] };
  return {
    ...top,
    properties: { ...top.properties, stages: { type: 'array', minItems: 1, items: stage } },
    required: [...(top.required ?? []), 'stages'],
    title: 'edge-compress recipe',
    $id: 'https://edge-compress.dev/schema/recipe-v1.json',
  };
}
