import { WASM_BASE64 } from './wasmBytes.generated.js';

// The WebAssembly JS API, typed locally (the repo's tsconfig has no DOM lib; Node and browsers both provide it).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
type WasmModuleHandle = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModuleHandle;
  Instance: new (m: WasmModuleHandle, imports: object) => { exports: unknown };
  compile(bytes: Uint8Array): Promise<WasmModuleHandle>;
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The compiled AssemblyScript runtime (one per process), instantiated once per runner (each has its own memory). */
let compiled: WasmModuleHandle | undefined;
let compiling: Promise<WasmModuleHandle> | undefined;

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** The embedded wasm bytes, decoded from base64 in plain JS (no Buffer / atob: the same code in Node and browsers). */
export function wasmBytes(): Uint8Array {
  const s = WASM_BASE64;
  const lut = new Uint8Array(128);
  for (let i = 0; i < 64; i++) lut[B64.charCodeAt(i)] = i;
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((s.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < s.length; i += 4) {
    const n = (lut[s.charCodeAt(i)]! << 18) | (lut[s.charCodeAt(i + 1)]! << 12) | (lut[s.charCodeAt(i + 2)]! << 6) | lut[s.charCodeAt(i + 3)]!;
    if (o < out.length) out[o++] = n >> 16;
    if (o < out.length) out[o++] = (n >> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

/**
 * Compiles the runtime asynchronously (required on a browser main thread, where synchronous compilation of modules
 * over 4 KB is refused). Node can skip this: the first runner compiles synchronously.
 */
export async function initSparseRuntime(): Promise<void> {
  if (compiled) return;
  compiling ??= WA.compile(wasmBytes());
  compiled = await compiling;
}

export function wasmModule(): WasmModuleHandle {
  compiled ??= new WA.Module(wasmBytes());
  return compiled;
}

export interface WasmExports {
  memory: WasmMemory;
  heapBase(): number;
  run(prog: number, n: number): void;
}

/** One instance with a bump allocator over its own linear memory. */
export class WasmHeap {
  readonly exports: WasmExports;
  private top: number;

  constructor() {
    this.exports = new WA.Instance(wasmModule(), {}).exports as unknown as WasmExports;
    this.top = (this.exports.heapBase() + 63) & ~63;
  }

  get buffer(): ArrayBuffer {
    return this.exports.memory.buffer;
  }

  /** Allocates `bytes` (zeroed, 64-byte aligned); grows memory as needed. Views taken before may be detached. */
  alloc(bytes: number): number {
    const p = this.top;
    this.top = (p + bytes + 63) & ~63;
    const need = this.top - this.buffer.byteLength;
    if (need > 0) this.exports.memory.grow(Math.ceil(need / 65536));
    return p;
  }

  /** Current end of allocations (for mark/reset of per-batch buffers). */
  mark(): number {
    return this.top;
  }

  /** Frees everything allocated after `mark` and zeroes it (memory is never shrunk). */
  reset(mark: number): void {
    new Uint8Array(this.buffer, mark, this.top - mark).fill(0);
    this.top = mark;
  }

  f32(ptr: number, len: number): Float32Array {
    return new Float32Array(this.buffer, ptr, len);
  }

  i32(ptr: number, len: number): Int32Array {
    return new Int32Array(this.buffer, ptr, len);
  }

  putF32(data: ArrayLike<number>): number {
    const p = this.alloc(data.length * 4);
    this.f32(p, data.length).set(data);
    return p;
  }

  putI32(data: ArrayLike<number>): number {
    const p = this.alloc(data.length * 4);
    this.i32(p, data.length).set(data);
    return p;
  }
}
