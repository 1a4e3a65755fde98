import type { ModelRef } from './expand.js';

/** What a job runner gets: the job, the model to start from, and where to write the variant's files. */
export interface JobInput {
  id: string;
  label: string;
  /** The model.json the job starts from (a baseline is trained and cached before jobs run). */
  modelJson: string;
  model: { name: string; ref: ModelRef };
  recipeId: string | null;
  recipeFile: string | null;
  /** null: evaluate and export the model as it is (the baseline arm). */
  recipe: Record<string, unknown> | null;
  overrides: Record<string, unknown>;
  seed: number;
}

export interface JobProgress {
  /** e.g. 'magnitude/finetune'. */
  phase: string;
  epoch: number;
  epochs: number;
  step: number;
  stepsPerEpoch: number;
  loss?: number;
}

export interface JobIo {
  /** An empty private directory: write the variant's files here (it is renamed into place on success). */
  dir: string;
  onProgress(p: JobProgress): void;
  signal: AbortSignal;
}

/** What a job returns. Everything here must be deterministic for a given job (no timings). */
export interface JobOutput {
  /** Catalogue features of the variant (bandit-select arm features: acc, macs, params, bytes, bits, density, ...). */
  features: Record<string, number>;
  /** Any further figures (accuracy drop, file sizes, ...). */
  metrics?: Record<string, number | string | boolean | null>;
  /** Free-form JSON (plans, per-stage reports), stored in the variant's result.json. */
  details?: unknown;
}

export interface JobRunner {
  run(job: JobInput, io: JobIo): Promise<JobOutput>;
  close?(): Promise<void> | void;
}

/**
 * A job module is an ES module that exports a factory of job runners (by default named `createJobRunner`).
 * Worker processes import it by path, so the app's method registry is built in one place (the module
 * imports it) and nothing needs to be serialised but the job.
 */
export type JobRunnerFactory = (options?: unknown) => JobRunner | Promise<JobRunner>;

export interface JobModuleRef {
  /** Absolute path (or file: URL) of the module. */
  path: string;
  /** Export name of the factory. Default 'createJobRunner'. */
  export?: string;
  /** Structured-clonable options passed to the factory. */
  options?: unknown;
}

/** An error as it crosses a process or queue boundary. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  path?: string;
  method?: string;
  layer?: string;
  hint?: string;
  stack?: string;
}

/** Structural check (name + code), as core's isCompressionError; this module stays free of core (job processes load it first). */
const typed = (e: unknown): e is Error & { code: string; path?: string; method?: string; layer?: string; hint?: string } =>
  e instanceof Error && e.name === 'CompressionError' && typeof (e as { code?: unknown }).code === 'string';

export function serializeError(e: unknown): SerializedError {
  if (typed(e)) return { name: e.name, message: e.message, code: e.code, path: e.path, method: e.method, layer: e.layer, hint: e.hint, stack: e.stack };
  if (e instanceof Error) return { name: e.name, message: e.message, stack: e.stack };
  return { name: 'Error', message: String(e) };
}

function badModule(path: string, message: string, hint: string, cause?: unknown): Error {
  const e = new Error(`${message}. ${hint}`, cause === undefined ? undefined : { cause });
  return Object.assign(e, { name: 'CompressionError', code: 'BAD_CONFIG', path, hint });
}

/** Resolves the factory of a job module (imported in this process). */
export async function loadJobRunner(ref: JobModuleRef): Promise<JobRunner> {
  const url = ref.path.startsWith('file:') ? ref.path : (await import('node:url')).pathToFileURL(ref.path).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (cause) {
    throw badModule(
      ref.path,
      `cannot import job module ${ref.path}: ${(cause as Error).message}`,
      'the module must be a built ES module (e.g. dist/…js) that exports a job runner factory',
      cause,
    );
  }
  const name = ref.export ?? 'createJobRunner';
  const factory = mod[name] ?? (mod.default as Record<string, unknown> | undefined)?.[name];
  if (typeof factory !== 'function') {
    throw badModule(ref.path, `job module ${ref.path} has no function export '${name}'`, `exports: ${Object.keys(mod).join(', ') || '(none)'}`);
  }
  return (factory as JobRunnerFactory)(ref.options);
}
