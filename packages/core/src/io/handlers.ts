import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../errors.js';
import type { Model } from '../model/model.js';
import { concatBytes } from './bytes.js';
import { EXTENSION_KEY, parseModel, serializeModel, type LoadOptions, type ParsedModel, type SaveOptions, type SerializedModel } from './serialize.js';

type WeightsGroup = { paths: string[]; weights: tf.io.WeightsManifestEntry[] };

/** Bytes ↔ base64 without Buffer (browser and Node). */
function toBase64(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}
function fromBase64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * A serialized model as tf.io `ModelArtifacts`: topology, the weights stock tfjs reads (shared and fallback
 * shards, in one buffer), and our exact encodings (extended format) under `userDefinedMetadata.edgeCompress`
 * with the payload inlined as base64, because a tf.io handler stores one weight buffer and no other files.
 */
export function toModelArtifacts(s: SerializedModel): tf.io.ModelArtifacts {
  const json = s.modelJson;
  const manifest = json.weightsManifest as WeightsGroup[];
  const ext = json[EXTENSION_KEY] as { paths: string[]; fallbackGroups: number[] } | undefined;
  const weightSpecs = manifest.flatMap((g) => g.weights);
  const weightData = concatBytes(manifest.flatMap((g) => g.paths.map((p) => s.shards.get(p)!)));
  const metadata = { ...((json.userDefinedMetadata as Record<string, unknown> | undefined) ?? {}) };
  if (ext) metadata[EXTENSION_KEY] = { ...ext, payloads: ext.paths.map((p) => toBase64(s.shards.get(p)!)) };
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts['modelTopology'],
    format: 'layers-model',
    generatedBy: String(json.generatedBy),
    convertedBy: null,
    weightSpecs,
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength) as ArrayBuffer,
    userDefinedMetadata: metadata as Record<string, {}>,
  };
}

function handlerFor(target: string | tf.io.IOHandler, save: boolean): tf.io.IOHandler {
  if (typeof target !== 'string') return target;
  const hs = save ? tf.io.getSaveHandlers(target) : tf.io.getLoadHandlers(target);
  if (hs.length === 0)
    throw new CompressionError({
      code: 'BAD_CONFIG',
      path: target,
      message: `no tf.io ${save ? 'save' : 'load'} handler for '${target}'`,
      hint: "use 'indexeddb://NAME', 'localstorage://NAME' or 'downloads://NAME' in a browser, an http(s) URL to load, or pass a tf.io handler",
    });
  return hs[0]!;
}

/**
 * Saves a model through a tf.io handler or URL scheme (`indexeddb://name`, `downloads://name`, `localstorage://…`, an
 * `http` request, or `tf.io.withSaveHandler(...)`). Stock `tf.loadLayersModel(sameUrl)` loads the result (stock
 * forms of every weight); `loadModelFrom(sameUrl)` restores our exact encodings.
 */
export async function saveModelTo(model: Model, target: string | tf.io.IOHandler, opts: SaveOptions = {}): Promise<tf.io.SaveResult> {
  const artifacts = toModelArtifacts(serializeModel(model, opts));
  const h = handlerFor(target, true);
  if (!h.save) throw new CompressionError({ code: 'BAD_CONFIG', path: String(target), message: `the tf.io handler for '${String(target)}' cannot save` });
  return h.save(artifacts);
}

/** Parses tf.io `ModelArtifacts` (ours or stock tfjs's) into a model, with the exact encodings when present. */
export async function fromModelArtifacts(a: tf.io.ModelArtifacts, opts: LoadOptions & { source?: string } = {}): Promise<ParsedModel> {
  const source = opts.source ?? 'model artifacts';
  const meta = { ...((a.userDefinedMetadata as Record<string, unknown> | undefined) ?? {}) };
  const ext = meta[EXTENSION_KEY] as ({ paths?: string[]; payloads?: string[] } & Record<string, unknown>) | undefined;
  delete meta[EXTENSION_KEY];
  const data =
    a.weightData === undefined ? new Uint8Array(0) : Array.isArray(a.weightData) ? concatBytes(a.weightData.map((b) => new Uint8Array(b))) : new Uint8Array(a.weightData);
  const files = new Map<string, Uint8Array>([['weights.bin', data]]);
  const json: Record<string, unknown> = {
    format: a.format ?? 'layers-model',
    modelTopology: a.modelTopology,
    // One group holding every weight tfjs stored; extension weights come from the payload and take precedence.
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs ?? [] }],
    ...(Object.keys(meta).length ? { userDefinedMetadata: meta } : {}),
  };
  if (ext) {
    const { payloads, ...rest } = ext;
    (payloads ?? []).forEach((p, i) => files.set(rest.paths?.[i] ?? `payload${i}`, fromBase64(p)));
    json[EXTENSION_KEY] = { ...rest, fallbackGroups: [] };
  }
  const parsed = await parseModel(
    json,
    (p) => {
      const f = files.get(p);
      if (!f) throw new CompressionError({ code: 'BAD_MODEL_FILE', path: `${source}: ${p}`, message: `${source}: '${p}' is missing from the stored artifacts` });
      return f;
    },
    { ...opts, source },
  );
  return parsed;
}

/**
 * Loads a model.json and the files it names over HTTP (or any URL `fetch` understands): exact encodings included.
 * Relative shard paths resolve against the model.json URL, as tfjs does.
 */
export async function fetchModel(url: string | URL, opts: LoadOptions & { fetchFn?: typeof fetch } = {}): Promise<ParsedModel> {
  const f = opts.fetchFn ?? fetch;
  const src = String(url);
  const get = async (u: string): Promise<Response> => {
    let res: Response;
    try {
      res = await f(u);
    } catch (cause) {
      throw new CompressionError({ code: 'BAD_MODEL_FILE', path: u, message: `cannot fetch ${u}: ${(cause as Error).message}`, cause });
    }
    if (!res.ok)
      throw new CompressionError({
        code: 'BAD_MODEL_FILE',
        path: u,
        message: `cannot fetch ${u}: HTTP ${res.status}`,
        hint: 'check the URL and that every file model.json lists is served next to it',
      });
    return res;
  };
  let json: unknown;
  try {
    json = await (await get(src)).json();
  } catch (cause) {
    if (cause instanceof CompressionError) throw cause;
    throw new CompressionError({
      code: 'BAD_MODEL_FILE',
      path: src,
      message: `${src} is not valid JSON (${(cause as Error).message})`,
      hint: 'the file is truncated or not a model.json',
      cause,
    });
  }
  const base = new URL(src, (globalThis as { location?: { href: string } }).location?.href);
  return parseModel(json, async (p) => new Uint8Array(await (await get(new URL(p, base).href)).arrayBuffer()), { ...opts, source: src });
}

/**
 * Loads a model through a tf.io handler or URL scheme (`indexeddb://name`, `localstorage://name`,
 * `tf.io.fromMemory(...)`), or over HTTP(S) with `fetchModel`: saved by us or by stock tfjs.
 */
export async function loadModelFrom(source: string | tf.io.IOHandler, opts: LoadOptions = {}): Promise<ParsedModel> {
  if (typeof source === 'string' && /^https?:\/\//.test(source)) return fetchModel(source, opts);
  const h = handlerFor(source, false);
  if (!h.load) throw new CompressionError({ code: 'BAD_CONFIG', path: String(source), message: `the tf.io handler for '${String(source)}' cannot load` });
  const artifacts = await h.load();
  return fromModelArtifacts(artifacts, { ...opts, source: typeof source === 'string' ? source : 'tf.io handler' });
}
