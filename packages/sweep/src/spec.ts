import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ARCHITECTURES, CompressionError, issuePath } from '@edge-compress/core';

/** Characters allowed in names and labels (also the catalogue's arm-id alphabet). */
export const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const ARCHS = Object.keys(ARCHITECTURES) as [keyof typeof ARCHITECTURES, ...Array<keyof typeof ARCHITECTURES>];

const name = z.string().regex(NAME_RE, 'names may use A-Z a-z 0-9 _ . - (no spaces), and not start with . or -');

/** A built-in architecture trained with core's baseline schedule (cached under OUT/.cache). */
export const archModelSchema = z
  .object({
    arch: z.enum(ARCHS).describe('built-in architecture, trained with core trainBaseline'),
    epochs: z.number().int().min(1).default(20).describe('baseline epochs (default 20)'),
    seed: z.number().int().min(0).default(0).describe('baseline seed (default 0); the job seeds below are the compression seeds'),
    name: name.optional().describe('label of the model in job labels (default: the arch)'),
  })
  .strict();

/** A saved tfjs LayersModel (ours or stock), path relative to the spec file. */
export const fileModelSchema = z
  .object({
    path: z.string().min(1).describe('model.json (or its directory), relative to the spec file'),
    name: name.optional().describe('label of the model in job labels (default: the directory name)'),
  })
  .strict();

export const recipeEntrySchema = z.union([
  z.string().min(1).describe('recipe JSON file, relative to the spec file'),
  z
    .object({
      path: z.string().min(1),
      name: name.optional().describe('label of the recipe (default: the file name without .json)'),
      models: z.array(name).min(1).optional().describe('names of the models this recipe runs on (default: every model), e.g. a chain that continues from one variant'),
    })
    .strict(),
]);

const gridValue = z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(z.unknown()), z.record(z.string(), z.unknown())]);

export const sweepSpecSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1),
    description: z.string().optional(),
    models: z
      .array(z.union([z.enum(ARCHS), z.string().min(1), archModelSchema, fileModelSchema]))
      .min(1)
      .describe("'lenet5' / 'lenet300100' (baseline settings), a model.json path, or an object"),
    recipes: z.array(recipeEntrySchema).min(1),
    grid: z
      .record(z.string().min(1), z.array(gridValue).min(1))
      .default({})
      .describe(
        'values to sweep. A bare key (sparse_ratio, quant_dtype, finetune_epochs) replaces that key in every config_list entry and stage options that has it; a path key (stages[1].config_list[0].quant_scheme) sets exactly that place. Jobs are the cartesian product over the keys a recipe has',
      ),
    seeds: z.array(z.number().int().min(0)).min(1).default([0]).describe('compression seeds (runRecipe seed); one job per seed'),
    baseline: z.boolean().default(true).describe('also evaluate and export each model uncompressed (one job per model)'),
    attempts: z.number().int().min(1).max(20).default(3).describe('tries per job before it is reported failed (runtime errors only; bad input fails at once)'),
    pareto: z
      .object({
        maximize: z.array(z.string().min(1)).default(['acc']),
        minimize: z.array(z.string().min(1)).default(['bytes']),
      })
      .strict()
      .default({ maximize: ['acc'], minimize: ['bytes'] })
      .describe('catalogue features that define the Pareto front'),
  })
  .strict();

export type SweepSpec = z.output<typeof sweepSpecSchema>;
export type SweepSpecInput = z.input<typeof sweepSpecSchema>;

/** Validates a sweep spec; errors are BAD_CONFIG with the JSON path, expected and got. */
export function parseSweepSpec(input: unknown, file = 'sweep spec'): SweepSpec {
  const r = sweepSpecSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.slice(0, 6).map((i) => {
    let v: unknown = input;
    for (const k of i.path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[k] : undefined;
    const keys = i.code === 'unrecognized_keys' ? ` '${(i as { keys: string[] }).keys.join("', '")}'` : '';
    return `${issuePath(i.path)}: ${i.message}${keys}${v !== undefined && i.path.length ? ` (got ${JSON.stringify(v)?.slice(0, 60)})` : ''}`;
  });
  const first = r.error.issues[0];
  throw new CompressionError({
    code: 'BAD_CONFIG',
    path: `${file}: ${first ? issuePath(first.path) : '(root)'}`,
    message: `${file}: ${lines.join('; ')}`,
    hint: 'see the sweep spec format in packages/sweep/README.md (or `edge-compress sweep --schema`)',
    cause: r.error,
  });
}

/** Reads and validates a spec file. */
export async function readSweepSpec(file: string): Promise<SweepSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (cause) {
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: file,
      message: `cannot read sweep spec ${file}: ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message}`,
      cause,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new CompressionError({ code: 'BAD_CONFIG', path: file, message: `${file} is not valid JSON (${(cause as Error).message})`, cause });
  }
  return parseSweepSpec(json, file);
}

/** JSON Schema (draft 2020-12) of the sweep spec. */
export function sweepJsonSchema(): Record<string, unknown> {
  return { ...z.toJSONSchema(sweepSpecSchema, { io: 'input', unrepresentable: 'any' }), title: 'edge-compress sweep spec', $id: 'https://edge-compress.dev/schema/sweep-v1.json' };
}
