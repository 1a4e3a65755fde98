import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import {
  ARCHITECTURES,
  type ArchitectureName,
  CompressionError,
  didYouMeanHint,
  isCompressionError,
  loadMnist,
  loadModel,
  type ModelIR,
  planRecipe,
  type Registry,
} from '@edge-compress/core';
import { applyAt, cartesian, formatPath, gridLocations, isBareKey, parsePathKey, recipeKeys } from './grid.js';
import { canonicalJson, sha256, stableId } from './hash.js';
import { NAME_RE, type SweepSpec } from './spec.js';

export type ModelRef = { kind: 'arch'; arch: ArchitectureName; epochs: number; seed: number } | { kind: 'file'; path: string };

/** A model of the sweep, resolved without training: its IR (for the pre-flight) and a content identity. */
export interface SweepModel {
  name: string;
  ref: ModelRef;
  ir: ModelIR;
  /** sha256 of the baseline settings (arch) or of model.json and every weight file (file). */
  identity: string;
}

/** One unit of work: a model, a recipe with its grid values applied (or none: the uncompressed model), a seed. */
export interface SweepJob {
  /** 16 hex digits: hash of model identity + recipe (as run) + overrides + seed. */
  id: string;
  /** Human-readable and unique within the sweep; also the catalogue arm id and the variant's directory. */
  label: string;
  /** Position in the expansion order (models × recipes × grid × seeds); fixes every output's ordering. */
  index: number;
  model: { name: string; ref: ModelRef; identity: string };
  recipeId: string | null;
  recipeFile: string | null;
  /** The recipe as it runs (grid values applied); null for a baseline (uncompressed) job. */
  recipe: Record<string, unknown> | null;
  overrides: Record<string, unknown>;
  seed: number;
}

export interface ExpandOptions {
  /** Directory that relative paths in the spec are resolved against (the spec file's directory). */
  baseDir: string;
  /** Name of the spec in errors. */
  specFile?: string;
  /** The app's compressors; every job's recipe is planned against its model before anything runs. */
  registry: Registry;
  /** Label of a job (default `<model>.<recipe>[.<key>-<value>…].s<seed>`, baseline `<model>.fp32`). */
  labelOf?: (j: Omit<SweepJob, 'label' | 'index'>) => string;
}

function fail(path: string, message: string, hint?: string, cause?: unknown): never {
  throw new CompressionError({ code: 'RECIPE_INVALID', path, message: `${path}: ${message}`, hint, cause });
}

async function fileIdentity(modelJson: string, files: readonly string[]): Promise<string> {
  const parts: string[] = [];
  for (const f of [modelJson, ...files.filter((f) => f !== modelJson)]) parts.push(`${basename(f)}:${sha256(await readFile(f))}`);
  return sha256(parts.join('\n'));
}

/** Resolves the spec's models (IRs and identities; no training). */
export async function resolveModels(spec: SweepSpec, baseDir: string, specFile = 'sweep spec'): Promise<SweepModel[]> {
  const out: SweepModel[] = [];
  for (const [i, m] of spec.models.entries()) {
    const entry = typeof m === 'string' ? (m in ARCHITECTURES ? { arch: m as ArchitectureName } : { path: m }) : m;
    if ('arch' in entry) {
      const ref: ModelRef = { kind: 'arch', arch: entry.arch, epochs: ('epochs' in entry && entry.epochs) || 20, seed: ('seed' in entry && entry.seed) || 0 };
      const name = ('name' in entry && entry.name) || entry.arch;
      const ir = ARCHITECTURES[entry.arch]();
      // The baseline is core's trainBaseline on core's MNIST split: the split's sizes are part of what the
      // trained model depends on (they change when core's data split does), so they are part of its identity.
      const data = loadMnist({ shape: ir.inputShape });
      const split = Object.fromEntries(Object.entries(data).map(([k, d]) => [k, (d as { count: number }).count]));
      out.push({ name, ref, ir, identity: sha256(canonicalJson({ ...ref, trainer: 'core.trainBaseline', split })) });
    } else {
      const path = resolve(baseDir, entry.path);
      let loaded;
      try {
        loaded = await loadModel(path);
      } catch (e) {
        if (isCompressionError(e)) throw new CompressionError({ code: e.code, path: `${specFile}: models[${i}]`, message: `${specFile}: models[${i}]: ${e.message}`, cause: e });
        throw e;
      }
      const dirName =
        basename(dirname(loaded.modelJson))
          .replace(/[^A-Za-z0-9_.-]/g, '_')
          .replace(/^[.-]+/, '') || `model${i}`;
      const name = entry.name ?? dirName;
      out.push({ name, ref: { kind: 'file', path: loaded.modelJson }, ir: loaded.model.ir, identity: await fileIdentity(loaded.modelJson, loaded.files) });
    }
  }
  const seen = new Map<string, number>();
  out.forEach((m, i) => {
    const j = seen.get(m.name);
    if (j !== undefined) fail(`${specFile}: models[${i}]`, `two models are named '${m.name}' (models[${j}] too)`, 'give one of them a "name"');
    seen.set(m.name, i);
  });
  return out;
}

export interface SweepRecipe {
  id: string;
  file: string;
  recipe: Record<string, unknown>;
  /** Names of the models the recipe runs on (undefined: every model). */
  models?: string[];
}

/** Whether a recipe runs on a model (its `models` list, if any, names it). */
const runsOn = (r: SweepRecipe, m: { name: string }) => !r.models || r.models.includes(m.name);

/** Reads the spec's recipe files. */
export async function loadSweepRecipes(spec: SweepSpec, baseDir: string, specFile = 'sweep spec'): Promise<SweepRecipe[]> {
  const out: SweepRecipe[] = [];
  for (const [i, r] of spec.recipes.entries()) {
    const entry = typeof r === 'string' ? { path: r } : r;
    const file = resolve(baseDir, entry.path);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (cause) {
      fail(
        `${specFile}: recipes[${i}]`,
        `cannot read recipe ${file}: ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message}`,
        'recipe paths are relative to the spec file',
        cause,
      );
    }
    let recipe: unknown;
    try {
      recipe = JSON.parse(text);
    } catch (cause) {
      fail(`${specFile}: recipes[${i}]`, `${file} is not valid JSON (${(cause as Error).message})`, undefined, cause);
    }
    if (!recipe || typeof recipe !== 'object' || Array.isArray(recipe)) fail(`${file}`, 'a recipe must be a JSON object', 'see apps/reference/recipes/ for examples');
    const id = entry.name ?? basename(file, '.json').replace(/[^A-Za-z0-9_.-]/g, '_');
    if (!NAME_RE.test(id)) fail(`${specFile}: recipes[${i}]`, `recipe name '${id}' is not usable as a label`, 'add "name" with A-Z a-z 0-9 _ . -');
    if (out.some((o) => o.id === id)) fail(`${specFile}: recipes[${i}]`, `two recipes are named '${id}'`, 'give one of them a "name"');
    out.push({ id, file, recipe: recipe as Record<string, unknown>, ...('models' in entry && entry.models ? { models: entry.models } : {}) });
  }
  return out;
}

const valueSlug = (v: unknown): string =>
  (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : sha256(canonicalJson(v)).slice(0, 6)).replace(/[^A-Za-z0-9_.-]/g, '_');
const keySlug = (k: string): string => (isBareKey(k) ? k : k.replace(/[^A-Za-z0-9_]+/g, '_').replace(/^_+|_+$/g, ''));

export function defaultLabel(j: Omit<SweepJob, 'label' | 'index'>): string {
  if (!j.recipe) return `${j.model.name}.fp32`;
  const ov = Object.entries(j.overrides)
    .map(([k, v]) => `.${keySlug(k)}-${valueSlug(v)}`)
    .join('');
  return `${j.model.name}.${j.recipeId}${ov}.s${j.seed}`;
}

/** Re-raises a planRecipe error with where in the sweep it came from. */
function rethrow(e: unknown, where: string): never {
  if (isCompressionError(e)) {
    throw new CompressionError({ code: e.code, method: e.method, layer: e.layer, path: `${where} → ${e.path ?? ''}`, message: `${where}: ${e.message}`, cause: e });
  }
  throw e;
}

/**
 * Expands a spec into jobs (models × recipes × grid values × seeds, plus one baseline job per model) and
 * plans every job's recipe against its model with core's planRecipe: every recipe or grid error is thrown
 * before anything runs. A grid key that applies nowhere, or a value a method rejects, is RECIPE_INVALID
 * with the grid's JSON path.
 */
export function expandSweep(spec: SweepSpec, models: readonly SweepModel[], recipes: readonly SweepRecipe[], opts: ExpandOptions): SweepJob[] {
  const specFile = opts.specFile ?? 'sweep spec';
  const gridKeys = Object.keys(spec.grid);
  const names = new Set(models.map((m) => m.name));
  recipes.forEach((r, i) => {
    const unknown = r.models?.find((n) => !names.has(n));
    if (unknown !== undefined)
      fail(`${specFile}: recipes[${i}].models`, `recipe '${r.id}' names model '${unknown}', which the spec does not have`, didYouMeanHint(unknown, [...names]));
  });
  // Every key must be well formed and apply to at least one recipe.
  for (const k of gridKeys) {
    const where = `${specFile}: grid.${k}`;
    if (!isBareKey(k) && !parsePathKey(k)) fail(where, `'${k}' is neither a key name nor a path like stages[0].config_list[0].sparse_ratio`);
    if (!recipes.some((r) => gridLocations(r.recipe, k).length > 0)) {
      const known = [...new Set(recipes.flatMap((r) => recipeKeys(r.recipe)))];
      fail(
        where,
        `grid key '${k}' matches no config_list entry or stage options in any recipe (${recipes.map((r) => r.id).join(', ')})`,
        isBareKey(k) ? didYouMeanHint(k, known) : 'a path key must name a place whose parent exists, e.g. stages[0].options.finetune_epochs',
      );
    }
  }
  // Each grid value alone, so an error names the grid entry that causes it.
  for (const r of recipes) {
    for (const k of gridKeys) {
      const locs = gridLocations(r.recipe, k);
      if (!locs.length) continue;
      spec.grid[k]!.forEach((v, vi) => {
        for (const m of models) {
          if (!runsOn(r, m)) continue;
          try {
            planRecipe(m.ir, applyAt(r.recipe, locs, v), opts.registry, r.file);
          } catch (e) {
            rethrow(e, `${specFile}: grid.${k}[${vi}] (${JSON.stringify(v)} at ${locs.map(formatPath).join(', ')} of ${r.id}, model ${m.name})`);
          }
        }
      });
    }
  }
  const partial: Array<Omit<SweepJob, 'label' | 'index'>> = [];
  for (const m of models) {
    const model = { name: m.name, ref: m.ref, identity: m.identity };
    if (spec.baseline)
      partial.push({ id: stableId({ model: m.identity, recipe: null, overrides: {}, seed: 0 }), model, recipeId: null, recipeFile: null, recipe: null, overrides: {}, seed: 0 });
    for (const r of recipes) {
      if (!runsOn(r, m)) continue;
      const keys = gridKeys.filter((k) => gridLocations(r.recipe, k).length > 0);
      for (const combo of cartesian(keys.map((k) => spec.grid[k]!))) {
        let recipe = r.recipe;
        const overrides: Record<string, unknown> = {};
        keys.forEach((k, i) => {
          recipe = applyAt(recipe, gridLocations(recipe, k), combo[i]);
          overrides[k] = combo[i];
        });
        try {
          planRecipe(m.ir, recipe, opts.registry, r.file);
        } catch (e) {
          rethrow(e, `${specFile}: ${r.id} with ${keys.length ? keys.map((k, i) => `grid.${k}=${JSON.stringify(combo[i])}`).join(', ') : 'no grid values'} on model ${m.name}`);
        }
        for (const seed of spec.seeds) {
          partial.push({ id: stableId({ model: m.identity, recipe, overrides, seed }), model, recipeId: r.id, recipeFile: r.file, recipe, overrides, seed });
        }
      }
    }
  }
  const labelOf = opts.labelOf ?? defaultLabel;
  const ids = new Map<string, string>();
  const labels = new Map<string, string>();
  const jobs: SweepJob[] = [];
  for (const p of partial) {
    const label = labelOf(p);
    if (!NAME_RE.test(label)) fail(`${specFile}`, `job label '${label}' has characters outside A-Z a-z 0-9 _ . -`, 'rename the model or recipe');
    const dupe = ids.get(p.id);
    if (dupe !== undefined)
      fail(`${specFile}`, `jobs '${dupe}' and '${label}' are the same job (same model, recipe as run, and seed)`, 'remove the duplicate model, recipe or grid value');
    const sameLabel = labels.get(label);
    if (sameLabel !== undefined) fail(`${specFile}`, `two different jobs get the label '${label}'`, 'give the models or recipes distinct "name"s');
    ids.set(p.id, label);
    labels.set(label, p.id);
    jobs.push({ ...p, label, index: jobs.length });
  }
  return jobs;
}
