import { fetchMnist, initBackend, subset } from '@edge-compress/core';
import { runScenario, SIZES, type Store } from './scenario.js';

/** The page: runs the scenario in the browser on the digits served at /mnist/, stores models in IndexedDB. */
const w = window as unknown as { result?: unknown; error?: string; logs: string[] };
w.logs = [];
async function main(): Promise<void> {
  const info = await initBackend('wasm', { wasmPaths: '/wasm/' });
  const d = await fetchMnist(new URL('/mnist/', location.href), { shape: [784] });
  const data = { train: subset(d.train, SIZES.train), val: subset(d.val, SIZES.val), test: subset(d.test, SIZES.test) };
  const store: Store = { save: (n) => `indexeddb://ec-${n}`, load: (n) => `indexeddb://ec-${n}` };
  w.result = { info, scenario: await runScenario(data, store, (s) => w.logs.push(s)) };
}
main().catch((e: unknown) => {
  w.error = `${(e as Error).name}: ${(e as Error).message}\n${(e as Error).stack ?? ''}`;
});
