import { CompressionError } from '../errors.js';
import { packBits, unpackBits } from '../tensor/bitpack.js';

/**
 * Exact binary form of encodings (the `edgeCompress` extension of model.json): a JSON descriptor tree points
 * into one byte buffer. Every array is stored as `storageBits()` counts it and starts on a byte.
 */
export interface Ref {
  offset: number;
  byteLength: number;
  /** float32 / int32 raw little-endian; packed = unsigned ints of `bits` bits. */
  dtype: 'float32' | 'int32' | 'packed';
  count: number;
  bits?: number;
}

/** A descriptor: JSON with at least `kind` and `shape`; the rest is the kind's own. */
export type Descriptor = { kind: string; shape: number[] } & Record<string, unknown>;

/** Bytes of `count` values of `bits` bits, as the writer stores them. */
export const packedBytes = (count: number, bits: number): number => Math.ceil((count * bits) / 8);

export class PayloadWriter {
  private chunks: Uint8Array[] = [];
  private offset = 0;
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
  /** Unsigned integers of `bits` bits each (values must fit). */
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

/** Reads arrays back from a payload; every check names the descriptor path. */
export class PayloadReader {
  constructor(
    readonly data: Uint8Array,
    readonly file: string,
  ) {}
  bad(path: string, message: string): never {
    throw new CompressionError({ code: 'BAD_MODEL_FILE', path, message: `${path}: ${message}`, hint: 're-export the model with edge-compress' });
  }
  bytes(r: unknown, path: string, count: number, dtype?: Ref['dtype']): Uint8Array {
    const ref = r as Partial<Ref> | undefined;
    if (!ref || typeof ref !== 'object') this.bad(path, 'missing array reference');
    const { offset, byteLength } = ref as Ref;
    if (!Number.isInteger(offset) || !Number.isInteger(byteLength) || offset < 0 || byteLength < 0) this.bad(path, `bad offset/byteLength ${offset}/${byteLength}`);
    if (dtype && ref.dtype !== dtype) this.bad(path, `expected dtype ${dtype}, got ${String(ref.dtype)}`);
    if (ref.count !== count) this.bad(path, `expected ${count} entries, got ${String(ref.count)}`);
    const need = ref.dtype === 'packed' ? packedBytes(count, ref.bits ?? 0) : count * 4;
    if (byteLength !== need) this.bad(path, `byteLength ${byteLength} does not match ${count} entries (${need} bytes)`);
    if (offset + byteLength > this.data.byteLength)
      this.bad(path, `points past the end of the payload (needs bytes up to ${offset + byteLength}, file has ${this.data.byteLength}); the file is truncated`);
    return this.data.subarray(offset, offset + byteLength);
  }
  f32(r: unknown, path: string, count: number): Float32Array {
    return new Float32Array(this.bytes(r, path, count, 'float32').slice().buffer);
  }
  i32(r: unknown, path: string, count: number): Int32Array {
    return new Int32Array(this.bytes(r, path, count, 'int32').slice().buffer);
  }
  packed(r: unknown, path: string, count: number, bits: number): Uint32Array {
    const ref = r as Partial<Ref> | undefined;
    if (ref?.bits !== bits) this.bad(`${path}.bits`, `expected ${bits}, got ${String(ref?.bits)}`);
    return unpackBits(this.bytes(r, path, count, 'packed'), bits, count);
  }
  /** A non-negative integer field of a descriptor. */
  int(v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (!Number.isInteger(v) || (v as number) < min || (v as number) > max) this.bad(path, `expected an integer in [${min}, ${max}], got ${JSON.stringify(v)}`);
    return v as number;
  }
}

/** Bits needed to store an unsigned integer up to `max`. */
export const bitsFor = (max: number): number => Math.max(1, Math.ceil(Math.log2(max + 1)));
