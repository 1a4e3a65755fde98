import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { CompressionError } from '../errors.js';
import type { Model } from '../model/model.js';
import { parseModel, serializeModel, type LoadOptions, type SaveOptions, type SerializedModel } from '../io/serialize.js';

// Node only (reached from '@edge-compress/core' in Node and '@edge-compress/core/node'): the file side of
// serializeModel / parseModel.

/** What `saveModel` wrote: `serializeModel`'s file lists and byte counts, with absolute paths, and model.json's path. */
export type SaveResult = Pick<SerializedModel, 'files' | 'stockFiles' | 'allFiles' | 'bytes' | 'stockBytes' | 'weights'> & { modelJson: string };

/** Writes `data` to `path` atomically (temp file in the same directory, then rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Saves a model as a tfjs LayersModel (model.json + binary shards) that stock `tf.loadLayersModel` loads.
 * Files are written to temporaries and renamed into place, model.json last, so a failure never leaves a
 * half-written artifact. `path` is a directory or a path ending in .json. (In memory: `serializeModel`.)
 */
export async function saveModel(model: Model, path: string, opts: SaveOptions = {}): Promise<SaveResult> {
  const jsonPath = path.endsWith('.json') ? resolve(path) : join(resolve(path), 'model.json');
  return writeSerialized(serializeModel(model, { ...opts, name: basename(jsonPath, '.json') }), jsonPath);
}

/**
 * Writes a serialized model (from `serializeModel` or `serializeExport`) next to `jsonPath`: every shard to a
 * temporary then renamed, model.json last; on failure the files written so far are removed.
 */
export async function writeSerialized(s: SerializedModel, jsonPath: string): Promise<SaveResult> {
  const dir = dirname(jsonPath);
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  try {
    for (const [f, data] of s.shards) {
      await writeFileAtomic(join(dir, f), data);
      written.push(join(dir, f));
    }
    await writeFileAtomic(jsonPath, s.text);
  } catch (cause) {
    await Promise.all(written.map((f) => rm(f, { force: true })));
    throw new CompressionError({
      code: 'BAD_MODEL_FILE',
      path: jsonPath,
      message: `could not write ${jsonPath}: ${(cause as Error).message}`,
      hint: 'check that the directory is writable and the disk has space',
      cause,
    });
  }
  const abs = (names: string[]): string[] => names.map((f) => (f === s.jsonName ? jsonPath : join(dir, f)));
  return { modelJson: jsonPath, files: abs(s.files), stockFiles: abs(s.stockFiles), allFiles: abs(s.allFiles), bytes: s.bytes, stockBytes: s.stockBytes, weights: s.weights };
}

export interface LoadedModel {
  model: Model;
  format: 'stock' | 'extended';
  modelJson: string;
  /** Every file the model needs (for size reports). */
  files: string[];
  metadata?: Record<string, unknown>;
}

/**
 * Loads a tfjs LayersModel (model.json + shards) written by us or by stock tfjs (Sequential models of
 * the supported layers). Every failure is a CompressionError naming the file and field. (From bytes: `parseModel`.)
 */
export async function loadModel(path: string, opts: LoadOptions = {}): Promise<LoadedModel> {
  const jsonPath = resolve(path.endsWith('.json') ? path : join(path, 'model.json'));
  const dir = dirname(jsonPath);
  let text: string;
  try {
    text = await readFile(jsonPath, 'utf8');
  } catch (cause) {
    throw new CompressionError({
      code: 'BAD_MODEL_FILE',
      path: jsonPath,
      message: `cannot read ${jsonPath}: ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message}`,
      hint: 'pass the path of a model.json written by tf.LayersModel.save() or edge-compress',
      cause,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (cause) {
    throw new CompressionError({
      code: 'BAD_MODEL_FILE',
      path: jsonPath,
      message: `${jsonPath} is not valid JSON (${(cause as Error).message})`,
      hint: 'the file is truncated or not a model.json',
      cause,
    });
  }
  const readShard = async (p: string): Promise<Uint8Array> => {
    const f = join(dir, p);
    try {
      return new Uint8Array(await readFile(f));
    } catch (cause) {
      throw new CompressionError({
        code: 'BAD_MODEL_FILE',
        path: f,
        message: `${p.endsWith('.ec.bin') ? 'payload' : 'weight shard'} ${f} (listed in ${jsonPath}) cannot be read: ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message}`,
        hint: p.endsWith('.ec.bin') ? 'copy the .ec.bin file next to model.json' : 'copy every shard listed in model.json next to it',
        cause,
      });
    }
  };
  const parsed = await parseModel(json, readShard, { ...opts, source: jsonPath });
  const out: LoadedModel = { model: parsed.model, format: parsed.format, modelJson: jsonPath, files: [jsonPath, ...parsed.paths.map((p) => join(dir, p))] };
  if (parsed.metadata) out.metadata = parsed.metadata;
  return out;
}
