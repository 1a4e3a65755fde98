import { CompressionError } from '../errors.js';
import { concatBytes } from './bytes.js';
import { decodePayload, denseEncoding, encodePayload, storageBits, toDense, type Descriptor } from '../encodings/index.js';
import type { Encoding } from '../encodings/types.js';
import { sizeOf, weightShapes } from '../ir/shapes.js';
import { assertFiniteWeights, type Model, validateModel, weightList } from '../model/model.js';
import { irToTopology, manifestAliases, topologyToIR } from './keras.js';
import { lowerToStock, type StockLossy, type StockWeight } from './stock.js';

export const EXTENSION_KEY = 'edgeCompress';
export const GENERATED_BY = 'edge-compress 0.1.0';

export interface SaveOptions {
  /**
   * 'extended' (default): encodings that stock tfjs cannot express exactly or compactly go, exact, under the
   * `edgeCompress` key (read by our loader); stock loaders still load the file from a fallback shard group.
   * 'stock': only what stock tfjs understands.
   */
  format?: 'extended' | 'stock';
  /** How encodings with no exact stock form are lowered for stock loaders. Default 'float32' (exact). */
  stockLossy?: StockLossy;
  /**
   * Extended format only: an explicit stock-expressible stand-in per weight for the fallback shards that stock
   * loaders read (e.g. a per-tensor uint8 re-quantization chosen so predictions do not change), instead of
   * `stockLossy`. Our loader still reads the exact encoding from the extension.
   */
  stockFallback?: Record<string, Encoding>;
  /** Shard size in bytes (tfjs-converter default 4 MiB). */
  shardBytes?: number;
  /** Extra JSON stored under model.json `userDefinedMetadata`. */
  metadata?: Record<string, unknown>;
  /** Base name of the model.json (without .json); names the extension payload `<name>.ec.bin`. Default 'model'. */
  name?: string;
}

export interface SavedWeight {
  name: string;
  /** Where our loader reads it from. */
  storedAs: 'stock' | 'extension';
  stock: { dtype: StockWeight['dtype']; exact: boolean; maxAbsError: number; note: string; bytes: number };
  extensionBytes?: number;
  storageBits: number;
}

function shardNames(group: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `group${group}-shard${i + 1}of${n}.bin`);
}

/** A model serialized in memory: the model.json (object and text) and every other file's bytes, by name. */
export interface SerializedModel {
  modelJson: Record<string, unknown>;
  /** model.json as written (UTF-8 JSON text). */
  text: string;
  /** The model.json's file name (`<name>.json`). */
  jsonName: string;
  /** Every file but model.json, by its name relative to model.json (shards and the extension payload). */
  shards: Map<string, Uint8Array>;
  /** Names of the files our loader reads (model.json first). */
  files: string[];
  /** Names of the files a stock tfjs loader reads (model.json first). */
  stockFiles: string[];
  /** Every file's name (model.json first). */
  allFiles: string[];
  /** Bytes our loader reads: model.json + shared shards + extension payload. */
  bytes: number;
  /** Bytes a stock tfjs loader reads: model.json + shared + fallback shards. */
  stockBytes: number;
  weights: SavedWeight[];
}

/**
 * Serializes a model in memory as a tfjs LayersModel: model.json + binary shards that stock `tf.loadLayersModel`
 * loads, and (extended format) the exact encodings under the `edgeCompress` key. Works anywhere (Node, browser,
 * worker); `saveModel` (Node) writes the result to files atomically, `saveModelTo` hands it to a tf.io handler.
 */
export function serializeModel(model: Model, opts: SaveOptions = {}): SerializedModel {
  validateModel(model, 'serializeModel');
  assertFiniteWeights(model, 'serializeModel');
  const baseName = opts.name ?? 'model';
  const format = opts.format ?? 'extended';
  const shardBytes = opts.shardBytes ?? 4 * 1024 * 1024;
  const shared: Array<{ name: string; w: StockWeight; shape: number[] }> = [];
  const fallback: Array<{ name: string; w: StockWeight; shape: number[] }> = [];
  const extension: Array<[string, Encoding]> = [];
  const saved: SavedWeight[] = [];
  const stockSchemes: Record<string, { scheme: 'symmetric' | 'affine'; bits: number }> = {};
  for (const { name, encoding } of weightList(model)) {
    const standIn = format === 'extended' ? opts.stockFallback?.[name] : undefined;
    if (standIn && (standIn.shape.length !== encoding.shape.length || standIn.shape.some((d, i) => d !== encoding.shape[i]))) {
      throw new CompressionError({
        code: 'SHAPE_MISMATCH',
        layer: name.split('/')[0],
        message: `serializeModel: stockFallback['${name}'] has shape [${standIn.shape.join(',')}] but the weight has [${encoding.shape.join(',')}]`,
      });
    }
    let stock = standIn ? lowerToStock(standIn, 'float32') : lowerToStock(encoding, opts.stockLossy);
    if (standIn) {
      const ours = toDense(encoding),
        theirs = toDense(standIn);
      let err = 0;
      for (let i = 0; i < ours.length; i++) err = Math.max(err, Math.abs(ours[i]! - theirs[i]!));
      stock = {
        ...stock,
        exact: err === 0,
        native: false,
        maxAbsError: Math.max(err, stock.maxAbsError),
        note: `stock fallback: ${stock.note}, max error ${err.toExponential(2)} vs the exact encoding`,
      };
    }
    const bits = storageBits(encoding);
    const entry = { name, w: stock, shape: encoding.shape };
    const sw: SavedWeight['stock'] = { dtype: stock.dtype, exact: stock.exact, maxAbsError: stock.maxAbsError, note: stock.note, bytes: stock.bytes.byteLength };
    // The extension carries a weight when stock cannot hold it exactly, or holds it in more bytes.
    // Extended format: everything but plain fp32 and per-tensor uniform codes (which stock holds exactly and our
    // loader restores identically) goes, exact, under the extension; stock loaders read the fallback shards.
    const plainStock =
      encoding.kind === 'dense' ||
      (encoding.kind === 'quantized' &&
        (encoding.scheme === 'float16' || ((encoding.scheme === 'affine' || encoding.scheme === 'symmetric') && (encoding.axis === null || encoding.scales.length === 1))));
    const useExt = format === 'extended' && !(plainStock && stock.exact && stock.native);
    if (useExt) {
      extension.push([name, encoding]);
      fallback.push(entry);
    } else shared.push(entry);
    saved.push({ name, storedAs: useExt ? 'extension' : 'stock', stock: sw, storageBits: bits });
    // Stock uint codes of a symmetric weight read back as affine; record the scheme so our loader restores it exactly.
    if (!useExt && format === 'extended' && encoding.kind === 'quantized' && (encoding.scheme === 'symmetric' || (encoding.scheme === 'affine' && encoding.bits % 8 !== 0)))
      stockSchemes[name] = { scheme: encoding.scheme, bits: encoding.bits };
  }
  const files = new Map<string, Uint8Array>();
  const manifest: Array<{ paths: string[]; weights: unknown[] }> = [];
  const addGroup = (entries: typeof shared, forceUneven: boolean): void => {
    if (entries.length === 0) return;
    const buf = concatBytes(entries.map((e) => e.w.bytes));
    const total = buf.byteLength;
    // tfjs-core 4.22's CompositeArrayBuffer assumes every shard but the last has the size of the first one
    // when the first two agree, and then reads zeros from a larger later group. With a second group we
    // make the first two shards differ in size, which sends it down its (correct) search path.
    const cuts: number[] = [];
    let first = Math.min(total, shardBytes);
    if (forceUneven && total >= 3) first = total <= shardBytes ? Math.floor(total / 2) - (total % 2 === 0 ? 1 : 0) : shardBytes - 1;
    for (let c = first; c < total; c += shardBytes) cuts.push(c);
    const bounds = [0, ...cuts, total];
    const names = shardNames(manifest.length + 1, bounds.length - 1);
    names.forEach((f, i) => files.set(f, buf.subarray(bounds[i]!, bounds[i + 1]!)));
    manifest.push({
      paths: names,
      weights: entries.map((e) => ({ name: e.name, shape: e.shape, dtype: 'float32', ...(e.w.quantization ? { quantization: e.w.quantization } : {}) })),
    });
  };
  addGroup(shared, fallback.length > 0);
  const fallbackGroup = fallback.length ? manifest.length : -1;
  addGroup(fallback, false);
  const json: Record<string, unknown> = {
    format: 'layers-model',
    generatedBy: GENERATED_BY,
    convertedBy: null,
    modelTopology: irToTopology(model.ir, GENERATED_BY),
    weightsManifest: manifest,
  };
  if (opts.metadata) json.userDefinedMetadata = opts.metadata;
  let extBytes = 0;
  if (extension.length) {
    const { descriptors, data } = encodePayload(extension);
    const payloadName = `${baseName}.ec.bin`;
    files.set(payloadName, data);
    extBytes = data.byteLength;
    json[EXTENSION_KEY] = {
      version: 1,
      paths: [payloadName],
      byteLength: data.byteLength,
      fallbackGroups: fallbackGroup >= 0 ? [fallbackGroup] : [],
      weights: descriptors,
      ...(Object.keys(stockSchemes).length ? { stockSchemes } : {}),
    };
    const byName = new Map(Object.entries(descriptors));
    for (const s of saved) if (byName.has(s.name)) s.extensionBytes = Math.ceil(s.storageBits / 8);
  }
  if (!extension.length && Object.keys(stockSchemes).length) json[EXTENSION_KEY] = { version: 1, paths: [], byteLength: 0, fallbackGroups: [], weights: {}, stockSchemes };
  const text = JSON.stringify(json);
  const jsonBytes = new TextEncoder().encode(text).byteLength;
  const groupFiles = (g: number): string[] => (g >= 0 && manifest[g] ? manifest[g]!.paths : []);
  const sharedFiles = shared.length ? groupFiles(0) : [];
  const fallbackFiles = groupFiles(fallbackGroup);
  const extFiles = [...files.keys()].filter((f) => f.endsWith('.ec.bin'));
  const bytesOf = (names: string[]): number => names.reduce((a, f) => a + files.get(f)!.byteLength, jsonBytes);
  const jsonName = `${baseName}.json`;
  return {
    modelJson: json,
    text,
    jsonName,
    shards: files,
    files: [jsonName, ...sharedFiles, ...extFiles],
    stockFiles: [jsonName, ...sharedFiles, ...fallbackFiles],
    allFiles: [jsonName, ...files.keys()],
    bytes: bytesOf([...sharedFiles, ...extFiles]),
    stockBytes: bytesOf([...sharedFiles, ...fallbackFiles]),
    weights: saved,
  };
}

export interface LoadOptions {
  /** Accept NaN / Infinity weights. Default false (BAD_MODEL_FILE). */
  allowNonFinite?: boolean;
}

type ManifestEntry = { name: string; shape: number[]; dtype: string; quantization?: { dtype: string; min?: number; scale?: number } };

/**
 * A stock manifest entry as an encoding, losslessly: fp32 → dense; float16 → quantized 'float16'; uint8 / uint16
 * whose zero is exact (the converter's nudged range) → quantized affine 8 / 16 bits (checked bit for bit against
 * the stock decode, else dense fp32 with the stock values).
 */
function decodeStock(e: ManifestEntry, bytes: Uint8Array, where: string): Encoding {
  const n = sizeOf(e.shape);
  const q = e.quantization;
  const copy = bytes.slice();
  if (!q) return denseEncoding(e.shape, new Float32Array(copy.buffer, 0, n));
  if (q.dtype === 'float16') {
    const h = new Uint16Array(copy.buffer, 0, n);
    return {
      kind: 'quantized',
      shape: [...e.shape],
      scheme: 'float16',
      bits: 16,
      axis: null,
      scales: new Float32Array(0),
      zeroPoints: new Int32Array(0),
      codes: Int32Array.from(h),
    };
  }
  if (typeof q.scale !== 'number' || typeof q.min !== 'number') {
    throw new CompressionError({ code: 'BAD_MODEL_FILE', path: where, message: `${where}: ${q.dtype} quantization needs numeric 'scale' and 'min'`, hint: 're-export the model' });
  }
  if (q.dtype !== 'uint8' && q.dtype !== 'uint16')
    throw new CompressionError({
      code: 'BAD_MODEL_FILE',
      path: `${where}.quantization.dtype`,
      message: `${where}: quantization dtype '${q.dtype}' is not supported; expected uint8, uint16 or float16`,
    });
  const { scale, min } = q;
  const codes = q.dtype === 'uint8' ? copy.subarray(0, n) : new Uint16Array(copy.buffer, 0, n);
  const stock = Float32Array.from(codes, (v) => v * scale + min);
  const bits = q.dtype === 'uint8' ? 8 : 16;
  const zp = Math.round(-min / scale);
  if (scale > 0 && zp >= 0 && zp < 2 ** bits) {
    const enc: Encoding = {
      kind: 'quantized',
      shape: [...e.shape],
      scheme: 'affine',
      bits,
      axis: null,
      scales: Float32Array.of(scale),
      zeroPoints: Int32Array.of(zp),
      codes: Int32Array.from(codes),
    };
    const ours = toDense(enc);
    let same = Math.fround(scale) === scale;
    for (let i = 0; same && i < n; i++) same = ours[i] === stock[i];
    if (same) return enc;
  }
  return denseEncoding(e.shape, stock);
}

function bytesPer(e: ManifestEntry): number {
  const q = e.quantization?.dtype;
  return q === 'uint8' ? 1 : q === 'uint16' || q === 'float16' ? 2 : 4;
}

/** A model parsed from model.json + shards, wherever they came from. */
export interface ParsedModel {
  model: Model;
  format: 'stock' | 'extended';
  /** Every file read, by its path relative to model.json (for size reports). */
  paths: string[];
  metadata?: Record<string, unknown>;
}

/** Reads one file named in model.json (a path relative to it); throw a CompressionError to name what failed. */
export type ReadShard = (path: string) => Uint8Array | ArrayBuffer | Promise<Uint8Array | ArrayBuffer>;

/**
 * Parses a tfjs LayersModel (model.json object + a reader for the files it names), written by us or by stock tfjs
 * (Sequential models of the supported layers). Every failure is a CompressionError naming `source` and the field.
 * Works anywhere; `loadModel` (Node) reads files, `loadModelFrom` a tf.io handler (IndexedDB, http, memory).
 */
export async function parseModel(json: unknown, readShard: ReadShard, opts: LoadOptions & { source?: string } = {}): Promise<ParsedModel> {
  const source = opts.source ?? 'model.json';
  const readOne = async (p: string, listedIn: string): Promise<Uint8Array> => {
    try {
      const b = await readShard(p);
      return b instanceof Uint8Array ? b : new Uint8Array(b);
    } catch (cause) {
      if (cause instanceof CompressionError) throw cause;
      throw new CompressionError({
        code: 'BAD_MODEL_FILE',
        path: p,
        message: `${source}: the file '${p}' (listed in ${listedIn}) cannot be read: ${(cause as Error).message}`,
        hint: p.endsWith('.ec.bin') ? 'copy the .ec.bin file next to model.json' : 'copy every shard listed in model.json next to it',
        cause,
      });
    }
  };
  if (!json || typeof json !== 'object' || Array.isArray(json)) throw new CompressionError({ code: 'BAD_MODEL_FILE', path: source, message: `${source}: expected a JSON object` });
  return parseObject(json as Record<string, unknown>, source, readOne, opts);
}

async function parseObject(json: Record<string, unknown>, source: string, readOne: (p: string, listedIn: string) => Promise<Uint8Array>, opts: LoadOptions): Promise<ParsedModel> {
  if (json.format !== undefined && json.format !== 'layers-model') {
    throw new CompressionError({
      code: 'UNSUPPORTED_LAYER',
      path: `${source}: format`,
      message: `${source}: format '${String(json.format)}' is not supported; expected a tfjs 'layers-model'`,
      hint: json.format === 'graph-model' ? 'graph models (tf.loadGraphModel) cannot be compressed; export the Keras model with tfjs.converters.save_keras_model' : undefined,
    });
  }
  const ir = topologyToIR(json.modelTopology, source);
  const expected = weightShapes(ir);
  const manifest = json.weightsManifest;
  if (!Array.isArray(manifest))
    throw new CompressionError({ code: 'BAD_MODEL_FILE', path: `${source}: weightsManifest`, message: `${source}: weightsManifest is missing or not an array` });
  const ext = json[EXTENSION_KEY] as
    | { version?: number; paths?: string[]; weights?: Record<string, Descriptor>; fallbackGroups?: number[]; stockSchemes?: Record<string, { scheme?: string; bits?: number }> }
    | undefined;
  const skipGroups = new Set(ext?.fallbackGroups ?? []);
  const paths: string[] = [];
  const found = new Map<string, Encoding>();
  const byManifestName = new Map<string, Encoding>();
  for (const [g, groupRaw] of manifest.entries()) {
    const group = groupRaw as { paths?: unknown; weights?: unknown };
    const where = `${source}: weightsManifest[${g}]`;
    if (!Array.isArray(group.paths) || !Array.isArray(group.weights))
      throw new CompressionError({ code: 'BAD_MODEL_FILE', path: where, message: `${where}: expected {paths: [...], weights: [...]}` });
    if (ext && skipGroups.has(g)) continue;
    const bufs: Uint8Array[] = [];
    for (const p of group.paths as string[]) {
      paths.push(String(p));
      bufs.push(await readOne(String(p), `${where}.paths`));
    }
    const data = concatBytes(bufs);
    const total = data.byteLength;
    let need = 0;
    const entries = group.weights as ManifestEntry[];
    entries.forEach((e, i) => {
      const ew = `${where}.weights[${i}]`;
      if (!e || typeof e.name !== 'string' || !Array.isArray(e.shape))
        throw new CompressionError({ code: 'BAD_MODEL_FILE', path: ew, message: `${ew}: expected {name, shape, dtype}` });
      if (e.dtype !== 'float32')
        throw new CompressionError({ code: 'BAD_MODEL_FILE', path: `${ew}.dtype`, message: `${ew} ('${e.name}'): dtype '${e.dtype}' is not supported; expected float32 weights` });
      const qd = e.quantization?.dtype;
      if (qd !== undefined && qd !== 'uint8' && qd !== 'uint16' && qd !== 'float16')
        throw new CompressionError({
          code: 'BAD_MODEL_FILE',
          path: `${ew}.quantization.dtype`,
          message: `${ew} ('${e.name}'): quantization dtype '${qd}' is not supported; expected uint8, uint16 or float16`,
        });
      need += sizeOf(e.shape) * bytesPer(e);
    });
    if (need !== total) {
      throw new CompressionError({
        code: 'BAD_MODEL_FILE',
        path: where,
        message: `${where}: the shards ${(group.paths as string[]).join(', ')} hold ${total} bytes but the manifest's weights need ${need}`,
        hint: total < need ? 'a shard is truncated; copy it again' : 'the shards do not belong to this model.json',
      });
    }
    let o = 0;
    for (const [i, e] of entries.entries()) {
      const n = sizeOf(e.shape) * bytesPer(e);
      byManifestName.set(e.name, decodeStock(e, data.subarray(o, o + n), `${where}.weights[${i}]`));
      o += n;
    }
  }
  if (ext && (ext.paths?.length ?? 0) > 0) {
    if (ext.version !== 1)
      throw new CompressionError({
        code: 'BAD_MODEL_FILE',
        path: `${source}: ${EXTENSION_KEY}.version`,
        message: `${source}: ${EXTENSION_KEY}.version ${String(ext.version)} is not supported (expected 1)`,
        hint: 'upgrade edge-compress',
      });
    const payloadFile = String(ext.paths?.[0] ?? '');
    paths.push(payloadFile);
    const data = await readOne(payloadFile, `${EXTENSION_KEY}.paths`);
    for (const [n, e] of Object.entries(decodePayload(ext.weights ?? {}, data, source))) found.set(n, e);
  }
  // Match the IR's weights to manifest names: exact, then a '/layer/param' suffix (converted Keras models).
  const weights: Record<string, Encoding> = {};
  const names = [...byManifestName.keys()];
  const alias = manifestAliases.get(ir);
  for (const [name, shape] of expected) {
    let enc = found.get(name);
    if (!enc) {
      const aka = alias?.get(name);
      const key = byManifestName.has(name) ? name : aka !== undefined && byManifestName.has(aka) ? aka : names.find((m) => m.endsWith(`/${name}`));
      const vals = key !== undefined ? byManifestName.get(key) : undefined;
      if (!vals) {
        throw new CompressionError({
          code: 'BAD_MODEL_FILE',
          path: `${source}: weightsManifest`,
          layer: name.split('/')[0],
          message: `${source}: weight '${name}' (shape [${shape.join(',')}]) of layer '${name.split('/')[0]}' is not in the weights manifest`,
          hint: `manifest has: ${names.slice(0, 10).join(', ')}${names.length > 10 ? ', …' : ''}`,
        });
      }
      const manifestShape = (manifest as Array<{ weights: ManifestEntry[] }>).flatMap((g) => g.weights).find((w) => w.name === key)!.shape;
      if (manifestShape.length !== shape.length || manifestShape.some((d, i) => d !== shape[i])) {
        throw new CompressionError({
          code: 'SHAPE_MISMATCH',
          path: `${source}: weightsManifest`,
          layer: name.split('/')[0],
          message: `${source}: weight '${key}' has shape [${manifestShape.join(',')}] but layer '${name.split('/')[0]}' needs [${shape.join(',')}]`,
          hint: 'the topology and the weights do not match; re-export the model',
        });
      }
      enc = vals;
    } else if (enc.shape.length !== shape.length || enc.shape.some((d, i) => d !== shape[i])) {
      throw new CompressionError({
        code: 'SHAPE_MISMATCH',
        path: `${source}: ${EXTENSION_KEY}.weights`,
        layer: name.split('/')[0],
        message: `${source}: extension weight '${name}' has shape [${enc.shape.join(',')}] but the layer needs [${shape.join(',')}]`,
      });
    }
    const sch = ext?.stockSchemes?.[name];
    if (sch && sch.scheme === 'symmetric' && enc.kind === 'quantized' && enc.scheme === 'affine' && Number.isInteger(sch.bits) && sch.bits! >= 2 && sch.bits! <= enc.bits) {
      const zp = 2 ** (sch.bits! - 1) - 1;
      if (enc.zeroPoints[0] === zp) enc = { ...enc, scheme: 'symmetric', bits: sch.bits!, zeroPoints: Int32Array.of(0), codes: Int32Array.from(enc.codes, (c) => c - zp) };
    } else if (
      sch &&
      sch.scheme === 'affine' &&
      enc.kind === 'quantized' &&
      enc.scheme === 'affine' &&
      Number.isInteger(sch.bits) &&
      sch.bits! >= 1 &&
      sch.bits! < enc.bits &&
      enc.codes.every((c) => c < 2 ** sch.bits!)
    ) {
      enc = { ...enc, bits: sch.bits! };
    }
    weights[name] = enc;
  }
  const model: Model = { ir, weights };
  if (!opts.allowNonFinite) assertFiniteWeights(model, source);
  const out: ParsedModel = { model, format: ext ? 'extended' : 'stock', paths };
  if (json.userDefinedMetadata && typeof json.userDefinedMetadata === 'object') out.metadata = json.userDefinedMetadata as Record<string, unknown>;
  return out;
}
