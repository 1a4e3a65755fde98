import { toDense, fetchMnist, initBackend, initModel, lenet5, registerWorkerPlatform, subset, Trainer, webWorkerPlatform } from '@edge-compress/core';

/**
 * Data-parallel training in the page: LeNet-5 trained for the same steps in-process and with 2 Web Workers; returns
 * both models' parameters (to compare), the worker count each fit reports, and how far fc2 moved from its init.
 */
const w = window as unknown as { result?: unknown; error?: string };
async function main(): Promise<void> {
  await initBackend('wasm', { wasmPaths: '/wasm/' });
  registerWorkerPlatform(webWorkerPlatform(() => new Worker('/worker.js', { type: 'module' }) as never));
  const d = await fetchMnist(new URL('/mnist/', location.href), { shape: [28, 28, 1] });
  const data = subset(d.train, 64 * 6);
  const init = initModel(lenet5(), 3);
  const run = async (workers: number) => {
    const t = new Trainer(init);
    try {
      const h = await t.fit(data, { epochs: 1, batchSize: 64, seed: 2, optimizer: { kind: 'sgd', lr: 0.05 }, workers });
      const fc2 = t.read('fc2/kernel');
      const before = toDense(init.weights['fc2/kernel']!);
      return { workers: h[0]!.workers, moved: Math.max(...fc2.map((v, i) => Math.abs(v - before[i]!))), fc2: Array.from(fc2), conv1: Array.from(t.read('conv1/kernel')) };
    } finally {
      await t.closeWorkers();
      t.dispose();
    }
  };
  const one = await run(1);
  const two = await run(2);
  w.result = { isolated: (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true, one, two };
}
main().catch((e: unknown) => {
  w.error = String(e instanceof Error ? `${e.message}\n${e.stack}` : e);
});
