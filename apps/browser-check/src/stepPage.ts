import { fetchMnist, initBackend } from '@edge-compress/core';
import { createStepper } from './steps.js';

/** The bench page: `window.block()` runs one block of LeNet-5 training steps and returns ms per step. */
const w = window as unknown as { result?: unknown; error?: string; block?: () => Promise<number> };
async function main(): Promise<void> {
  const threads = Number(new URLSearchParams(location.search).get('threads') ?? 0);
  const info = await initBackend('wasm', { wasmPaths: '/wasm/', ...(threads > 0 ? { threads } : {}) });
  const d = await fetchMnist(new URL('/mnist/', location.href), { shape: [28, 28, 1] });
  const s = createStepper(d.train);
  w.block = () => s.block();
  w.result = info;
}
main().catch((e: unknown) => {
  w.error = String(e);
});
