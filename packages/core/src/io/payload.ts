import { CompressionError } from '../errors.js';
import { countNonZero } from '../tensor/prune.js';
import { sizeOf } from '../ir/shapes.js';
import { maskFromRelativeSymbols, packBits, packMask, relativeIndexSymbols, unpackBits, unpackMask } from '../tensor/bitpack.js';
import { maskIndexBits } from '../encodings/ops.js';
import type { Encoding, QuantizedEncoding } from '../encodings/types.js';
import { QUANT_SCHEMES } from '../tensor/quant.js';

/**
 * Exact binary form of any encoding (the `edgeCompress` extension of model.json). A descriptor tree (JSON)
 * points into one byte buffer; every array is stored as it is counted by `storageBits()`: fp32 values,
 * bit-packed codes, bitmap or relative mask indices, scales and zero points. Each array starts on a byte.
 */
export interface Ref {
  offset: number;
  byteLength: number;
  /** float32 / int32 raw little-endian; packed = unsigned ints of `bits` bits. */
  dtype: 'float32' | 'int32' | 'packed';
  count: number;
  bits?: number;
}

export type Descriptor =
  | { kind: 'dense'; shape: number[]; values: Ref }
  | { kind: 'masked'; shape: number[]; index: { format: 'bitmap' | 'relative'; gapBits?: number; data: Ref }; kept: number; base: Descriptor }
  | { kind: 'lowRank'; shape: number[]; rank: number; u: Descriptor; s: Ref; v: Descriptor }
  | { kind: 'factorized'; shape: number[]; basis: Descriptor; coeffs: Descriptor }
  | { kind: 'quantized'; shape: number[]; scheme: QuantizedEncoding['scheme']; bits: number; axis: number | null; scales: Ref; zeroPoints?: Ref; codes: Ref };

class Writer {
  chunks: Uint8Array[] = [];
  offset = 0;
  push(bytes: Uint8Array, dtype: Ref['dtype'], count: number, bits?: number): Ref {
    const ref: Ref = { offset: this.offset, byteLength: bytes.byteLength, dtype, count };
    if (bits !== undefined) ref.bits = bits;
    this.chunks.push(bytes);
    this.offset += bytes.byteLength;
    return ref;
  }
  f32(a: Float32Array): Ref {
    return this.push(new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)), 'float32', a.length);
  }
  i32(a: Int32Array): Ref {
    return this.push(new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength)), 'int32', a.length);
  }
  packed(v: ArrayLike<number>, bits: number): Ref {
    return this.push(packBits(v, bits), 'packed', v.length, bits);
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.offset);
    let o = 0;
    for (const c of this.chunks) (out.set(c, o), (o += c.byteLength));
    return out;
  }
}

/** Offset that maps a signed code range onto unsigned b-bit storage. */
export function codeOffset(e: { scheme: QuantizedEncoding['scheme']; bits: number }): number {
  return e.scheme === 'symmetric' || e.scheme === 'pow2' ? 2 ** (e.bits - 1) - 1 : 0;
}

function writeEncoding(w: Writer, e: Encoding, keep?: Uint8Array): Descriptor {
  switch (e.kind) {
    case 'dense': {
      const vals = keep ? e.values.filter((_, i) => keep[i] === 1) : e.values;
      return { kind: 'dense', shape: e.shape, values: w.f32(Float32Array.from(vals)) };
    }
    case 'quantized': {
      const off = codeOffset(e);
      const codes = keep ? e.codes.filter((_, i) => keep[i] === 1) : e.codes;
      const d: Descriptor = { kind: 'quantized', shape: e.shape, scheme: e.scheme, bits: e.bits, axis: e.axis, scales: w.f32(e.scales), codes: w.packed(Array.from(codes, (c) => c + off), e.bits) };
      if (e.scheme === 'affine') d.zeroPoints = w.i32(e.zeroPoints);
      return d;
    }
    case 'masked': {
      const idx = maskIndexBits(e.mask);
      const data = idx.format === 'bitmap' ? w.push(packMask(e.mask), 'packed', e.mask.length, 1) : w.packed(relativeIndexSymbols(e.mask, idx.gapBits!), idx.gapBits!);
      const index = idx.format === 'bitmap' ? { format: 'bitmap' as const, data } : { format: 'relative' as const, gapBits: idx.gapBits!, data };
      return { kind: 'masked', shape: e.shape, index, kept: countNonZero(e.mask), base: writeEncoding(w, e.base, e.mask) };
    }
    case 'lowRank':
      return { kind: 'lowRank', shape: e.shape, rank: e.rank, u: writeEncoding(w, e.u), s: w.f32(e.s), v: writeEncoding(w, e.v) };
    case 'factorized':
      return { kind: 'factorized', shape: e.shape, basis: writeEncoding(w, e.basis), coeffs: writeEncoding(w, e.coeffs) };
  }
}

/** Serialises encodings into descriptors + one buffer. */
export function encodePayload(weights: Array<[string, Encoding]>): { descriptors: Record<string, Descriptor>; data: Uint8Array } {
  const w = new Writer();
  const descriptors: Record<string, Descriptor> = {};
  for (const [name, e] of weights) descriptors[name] = writeEncoding(w, e);
  return { descriptors, data: w.concat() };
}

/** Reads descriptors back into encodings; every field is checked, errors name the weight and field. */
export function decodePayload(descriptors: Record<string, unknown>, data: Uint8Array, file: string): Record<string, Encoding> {
  const out: Record<string, Encoding> = {};
  for (const [name, d] of Object.entries(descriptors)) out[name] = readEncoding(d, data, `${file}: edgeCompress.weights["${name}"]`, undefined);
  return out;
}

function bad(path: string, message: string): never {
  throw new CompressionError({ code: 'BAD_MODEL_FILE', path, message: `${path}: ${message}`, hint: 're-export the model with edge-compress, or load it with --stock-only tooling' });
}

function isShape(s: unknown): s is number[] {
  return Array.isArray(s) && s.every((x) => Number.isInteger(x) && x > 0);
}

function readRef(r: unknown, data: Uint8Array, path: string, count: number, dtype?: Ref['dtype']): Uint8Array {
  const ref = r as Partial<Ref> | undefined;
  if (!ref || typeof ref !== 'object') bad(path, 'missing array reference');
  const { offset, byteLength } = ref as Ref;
  if (!Number.isInteger(offset) || !Number.isInteger(byteLength) || offset < 0 || byteLength < 0) bad(path, `bad offset/byteLength ${offset}/${byteLength}`);
  if (dtype && ref.dtype !== dtype) bad(path, `expected dtype ${dtype}, got ${String(ref.dtype)}`);
  if (ref.count !== count) bad(path, `expected ${count} entries, got ${String(ref.count)}`);
  const need = ref.dtype === 'packed' ? Math.ceil((count * (ref.bits ?? 0)) / 8) : count * 4;
  if (byteLength !== need) bad(path, `byteLength ${byteLength} does not match ${count} entries (${need} bytes)`);
  if (offset + byteLength > data.byteLength) bad(path, `points past the end of the payload (needs bytes up to ${offset + byteLength}, file has ${data.byteLength}); the file is truncated`);
  return data.subarray(offset, offset + byteLength);
}

const f32Of = (b: Uint8Array): Float32Array => new Float32Array(b.slice().buffer);
const i32Of = (b: Uint8Array): Int32Array => new Int32Array(b.slice().buffer);

function readEncoding(dIn: unknown, data: Uint8Array, path: string, keep: Uint8Array | undefined): Encoding {
  const d = dIn as Descriptor;
  if (!d || typeof d !== 'object') bad(path, 'expected an encoding descriptor object');
  if (!isShape(d.shape)) bad(`${path}.shape`, `expected positive integers, got ${JSON.stringify(d.shape)}`);
  const n = sizeOf(d.shape);
  const stored = keep ? countNonZero(keep) : n;
  const scatter = <T extends Float32Array | Int32Array>(vals: T, fill: T): T => {
    if (!keep) return vals;
    let k = 0;
    for (let i = 0; i < n; i++) if (keep[i]) fill[i] = vals[k++]!;
    return fill;
  };
  switch (d.kind) {
    case 'dense':
      return { kind: 'dense', shape: d.shape, values: scatter(f32Of(readRef(d.values, data, `${path}.values`, stored, 'float32')), new Float32Array(n)) };
    case 'quantized': {
      if (!QUANT_SCHEMES.includes(d.scheme)) bad(`${path}.scheme`, `unknown scheme '${String(d.scheme)}'; expected one of ${QUANT_SCHEMES.join(', ')}`);
      if (!Number.isInteger(d.bits) || d.bits < 1 || d.bits > 16) bad(`${path}.bits`, `expected an integer in [1, 16], got ${d.bits}`);
      const axis = d.axis ?? null;
      const channels = axis === null ? 1 : d.shape[axis < 0 ? d.shape.length + axis : axis];
      if (channels === undefined) bad(`${path}.axis`, `axis ${axis} is out of range for shape [${d.shape.join(',')}]`);
      const nScales = d.scheme === 'float16' ? 0 : channels;
      const scales = f32Of(readRef(d.scales, data, `${path}.scales`, nScales, 'float32'));
      const zeroPoints = d.scheme === 'affine' ? i32Of(readRef(d.zeroPoints, data, `${path}.zeroPoints`, nScales, 'int32')) : new Int32Array(nScales);
      const codeRef = d.codes as Ref;
      if (codeRef?.bits !== d.bits) bad(`${path}.codes.bits`, `expected ${d.bits}, got ${String(codeRef?.bits)}`);
      const raw = unpackBits(readRef(d.codes, data, `${path}.codes`, stored, 'packed'), d.bits, stored);
      const off = codeOffset(d);
      const codes = Int32Array.from(raw, (c) => c - off);
      const full = scatter(codes, new Int32Array(n));
      if (keep && d.scheme !== 'float16') {
        // Pruned positions decode to exactly 0: code = zero point (affine) or 0 (symmetric, pow2).
        const inner = axis === null ? 1 : d.shape.slice((axis < 0 ? d.shape.length + axis : axis) + 1).reduce((a, b) => a * b, 1);
        for (let i = 0; i < n; i++) if (!keep[i]) full[i] = d.scheme === 'affine' ? zeroPoints[axis === null ? 0 : Math.floor(i / inner) % channels]! : 0;
      }
      return { kind: 'quantized', shape: d.shape, scheme: d.scheme, bits: d.bits, axis, scales, zeroPoints, codes: full };
    }
    case 'masked': {
      const idx = d.index;
      if (!idx || (idx.format !== 'bitmap' && idx.format !== 'relative')) bad(`${path}.index.format`, `expected 'bitmap' or 'relative', got ${JSON.stringify(idx?.format)}`);
      let mask: Uint8Array;
      if (idx.format === 'bitmap') mask = unpackMask(readRef(idx.data, data, `${path}.index.data`, n, 'packed'), n);
      else {
        const gb = idx.gapBits ?? 0;
        if (!Number.isInteger(gb) || gb < 1 || gb > 16) bad(`${path}.index.gapBits`, `expected an integer in [1, 16], got ${gb}`);
        const count = (idx.data as Ref)?.count ?? -1;
        const symbols = unpackBits(readRef(idx.data, data, `${path}.index.data`, count, 'packed'), gb, count);
        try {
          mask = maskFromRelativeSymbols(symbols, gb, n);
        } catch (e) {
          bad(`${path}.index`, (e as Error).message);
        }
      }
      if (countNonZero(mask) !== d.kept) bad(`${path}.kept`, `the index keeps ${countNonZero(mask)} entries but the descriptor says ${d.kept}`);
      const base = readEncoding(d.base, data, `${path}.base`, mask);
      if (base.kind !== 'dense' && base.kind !== 'quantized') bad(`${path}.base.kind`, `a mask applies over dense or quantized values, got '${base.kind}'`);
      return { kind: 'masked', shape: d.shape, mask, base };
    }
    case 'lowRank': {
      if (!Number.isInteger(d.rank) || d.rank < 1) bad(`${path}.rank`, `expected a positive integer, got ${d.rank}`);
      return { kind: 'lowRank', shape: d.shape, rank: d.rank, u: readEncoding(d.u, data, `${path}.u`, undefined), s: f32Of(readRef(d.s, data, `${path}.s`, d.rank, 'float32')), v: readEncoding(d.v, data, `${path}.v`, undefined) };
    }
    case 'factorized':
      return { kind: 'factorized', shape: d.shape, basis: readEncoding(d.basis, data, `${path}.basis`, undefined), coeffs: readEncoding(d.coeffs, data, `${path}.coeffs`, undefined) };
    default:
      return bad(`${path}.kind`, `unknown encoding kind ${JSON.stringify((d as { kind?: unknown }).kind)}; expected dense, masked, lowRank, factorized or quantized (a newer edge-compress may have written it)`);
  }
}
