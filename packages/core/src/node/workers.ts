/**
 * Node's training-worker platform (worker_threads), registered by the Node entry so `fit({ workers })` can start
 * threads. Each worker runs `trainWorker.js` (built next to this entry) on its own tfjs backend.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { CompressionError } from '../errors.js';
import { registerWorkerPlatform, type WorkerPlatform } from '../train/parallel.js';

function workerScript(): URL {
  // Built: dist/node/index.{js,cjs} → dist/node/trainWorker.js. From source (tests): src/node/workers.ts → the built one.
  const candidates = [new URL('./trainWorker.js', import.meta.url), new URL('../../dist/node/trainWorker.js', import.meta.url)];
  const found = candidates.find((u) => existsSync(fileURLToPath(u)));
  if (!found) {
    throw new CompressionError({
      code: 'BACKEND_NOT_READY',
      message: `the training worker script is missing (looked for ${candidates.map((u) => fileURLToPath(u)).join(', ')})`,
      hint: 'build @edge-compress/core (npm run build), or train with workers: 1',
    });
  }
  return found;
}

export const nodeWorkerPlatform: WorkerPlatform = {
  name: 'node:worker_threads',
  cores: () => availableParallelism(),
  spawn() {
    const w = new Worker(workerScript());
    return {
      postMessage: (m) => w.postMessage(m),
      onMessage: (cb) => void w.on('message', cb),
      onError: (cb) => {
        w.on('error', cb);
        w.on('exit', (code) => cb(new Error(`exited with code ${code}`)));
      },
      ref: () => w.ref(),
      unref: () => w.unref(),
      terminate: () => w.terminate(),
    };
  },
};

registerWorkerPlatform(nodeWorkerPlatform);
