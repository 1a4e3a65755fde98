import * as tf from '@tensorflow/tfjs-core';
import { CompressionError } from '../errors.js';
import { registerFastWasmKernels } from './wasmKernels.js';

export { registerFastWasmKernels, unregisterFastWasmKernels, useHeapLoops } from './wasmKernels.js';

export type BackendName = 'wasm' | 'cpu';

export interface BackendInfo {
  backend: BackendName;
  simd: boolean;
  threads: boolean;
  fastKernels: boolean;
}

/**
 * Selects and initialises a tfjs backend. On wasm it registers the fast training kernels
 * (Conv2DBackpropFilter, Conv2DBackpropInput, transposed BatchMatMul, MaxPoolGrad). The only place in
 * edge-compress that touches stock kernels. Call once before training; safe to call again.
 */
export interface InitBackendOptions {
  /**
   * Where the tfjs-backend-wasm `.wasm` files are served from (browser): a URL prefix ending in '/', or a map of
   * file name to URL; passed to `setWasmPaths`. Node finds them in node_modules without it. Bundlers do not copy
   * them: serve `node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm` and point this at them.
   */
  wasmPaths?: string | Record<string, string>;
  /** Threads of the wasm backend (needs the threaded build: browser with COOP/COEP headers). Default: tfjs's choice. */
  threads?: number;
}

export async function initBackend(name: BackendName = 'wasm', opts: InitBackendOptions = {}): Promise<BackendInfo> {
  if (name !== 'wasm' && name !== 'cpu') {
    throw new CompressionError({ code: 'BACKEND_NOT_READY', message: `unknown backend '${String(name)}'`, hint: "use 'wasm' (fast, default) or 'cpu'" });
  }
  let ok: boolean;
  try {
    // Side effects happen here, not at import time: gradients, then the backend's kernel registrations.
    await import('@tensorflow/tfjs-core/dist/register_all_gradients');
    if (name === 'wasm') {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (opts.wasmPaths !== undefined) wasm.setWasmPaths(opts.wasmPaths as string);
      if (opts.threads !== undefined) wasm.setThreadsCount(opts.threads);
    } else await import('@tensorflow/tfjs-backend-cpu');
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (cause) {
    throw new CompressionError({
      code: 'BACKEND_NOT_READY',
      message: `tfjs backend '${name}' failed to initialise`,
      hint: name === 'wasm' ? "check that @tensorflow/tfjs-backend-wasm's .wasm files are installed, or use 'cpu'" : undefined,
      cause,
    });
  }
  if (!ok) throw new CompressionError({ code: 'BACKEND_NOT_READY', message: `tfjs backend '${name}' is not available`, hint: "use 'cpu'" });
  if (name === 'wasm') registerFastWasmKernels();
  return {
    backend: name,
    simd: name === 'wasm' ? Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) : false,
    threads: name === 'wasm' ? Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) : false,
    fastKernels: name === 'wasm',
  };
}

export function assertBackendReady(): void {
  const b = tf.getBackend();
  if (b !== 'wasm' && b !== 'cpu') {
    throw new CompressionError({
      code: 'BACKEND_NOT_READY',
      message: `no edge-compress backend is active (tfjs backend is '${String(b)}')`,
      hint: "call `await initBackend('wasm')` from @edge-compress/core first",
    });
  }
}
