/**
 * The platform seam: every timer and scheduling API core uses, so the same code runs in Node, browsers and
 * workers. Nothing here touches a Node built-in or a Node-only global unless it is present.
 */

type Scheduler = (cb: () => void) => void;

const g = globalThis as unknown as { setImmediate?: Scheduler; MessageChannel?: typeof MessageChannel; navigator?: { hardwareConcurrency?: number } };

// Node: setImmediate runs after I/O without the ≥1 ms clamp of setTimeout. Browsers: a MessageChannel message
// (no 4 ms clamp of nested timeouts). Anything else: setTimeout.
let schedule: Scheduler;
if (typeof g.setImmediate === 'function') schedule = (cb) => g.setImmediate!(cb);
else if (typeof g.MessageChannel === 'function') {
  const ch = new g.MessageChannel();
  const queue: Array<() => void> = [];
  (ch.port1 as unknown as { onmessage: (() => void) | null }).onmessage = () => queue.shift()?.();
  schedule = (cb) => {
    queue.push(cb);
    ch.port2.postMessage(0);
  };
} else schedule = (cb) => void setTimeout(cb, 0);

/** Lets timers, progress output and abort signals run during long loops (Node, browsers and workers alike). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise<void>((r) => schedule(r));
}

/** Milliseconds from a monotonic clock. */
export function now(): number {
  return performance.now();
}

/** Logical cores available here (navigator.hardwareConcurrency; Node ≥ 21 has it too), at least 1. */
export function availableCores(): number {
  return Math.max(1, g.navigator?.hardwareConcurrency ?? 1);
}

/** The parts of the WebAssembly API core uses (typed here: core compiles without the DOM library). */
export interface WasmMemory {
  readonly buffer: ArrayBufferLike;
}
export interface WasmApi {
  Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}

/** The platform's WebAssembly API, or undefined where there is none. */
export const wasmApi = (): WasmApi | undefined => (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

const compiled = new Map<string, object | null>();
const instantiated = new WeakMap<object, Map<string, Record<string, unknown> | null>>();

/**
 * The exports of a generated module (base64, compiled once, synchronously: these modules are under 4 KB, which
 * browsers compile on the main thread too) instantiated on `memory` (once per memory), or undefined where the
 * platform cannot compile it or the memory does not fit its import.
 */
export function instantiateOn(base64: string, memory: object): Record<string, unknown> | undefined {
  let perMemory = instantiated.get(memory);
  if (!perMemory) instantiated.set(memory, (perMemory = new Map()));
  if (perMemory.has(base64)) return perMemory.get(base64) ?? undefined;
  let exports: Record<string, unknown> | null = null;
  const api = wasmApi();
  try {
    let mod = compiled.get(base64);
    if (mod === undefined && api) compiled.set(base64, (mod = new api.Module(Uint8Array.from(atob(base64), (c) => c.charCodeAt(0)))));
    if (mod && api) exports = new api.Instance(mod, { env: { memory, abort: () => {} } }).exports;
  } catch {
    if (!compiled.has(base64)) compiled.set(base64, null);
  }
  perMemory.set(base64, exports);
  return exports ?? undefined;
}
