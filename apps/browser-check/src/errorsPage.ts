import { createRegistry, fetchModel, initBackend, initModel, magnitudePrune, planRecipe, trainBaseline } from '@edge-compress/core';
import { smallMlp } from './model.js';

/** The page of the error test: three kinds of bad input, each must be a typed CompressionError (never a ReferenceError). */
const w = window as unknown as { result?: unknown; error?: string };
async function main(): Promise<void> {
  await initBackend('wasm', { wasmPaths: '/wasm/' });
  const out: Array<{ name: string; code: string; message: string }> = [];
  const grab = async (f: () => unknown): Promise<void> => {
    try {
      await f();
      out.push({ name: 'none', code: 'none', message: 'did not throw' });
    } catch (e) {
      const x = e as { name: string; code?: string; message: string };
      out.push({ name: x.name, code: String(x.code), message: x.message });
    }
  };
  const registry = createRegistry([magnitudePrune]);
  await grab(() => planRecipe(initModel(smallMlp(), 0), { method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 1.5 }] }, registry, 'mine.json'));
  await grab(() => trainBaseline({ arch: 'lenet300100' }));
  await grab(() => fetchModel('/missing/model.json'));
  w.result = out;
}
main().catch((e: unknown) => {
  w.error = String(e);
});
