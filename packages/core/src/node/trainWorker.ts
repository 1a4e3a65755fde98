/** Entry of a Node training worker (worker_threads): serves shard-gradient requests of a data-parallel fit. */
import { parentPort } from 'node:worker_threads';
import { initBackend, type BackendName } from '../backend/index.js';
import { serveTrainWorker, type FromWorker, type ToWorker } from '../train/parallel.js';

const port = parentPort;
if (!port) throw new Error('trainWorker.js runs as a worker thread (started by Trainer.fit with workers > 1)');
serveTrainWorker({ postMessage: (m: FromWorker) => port.postMessage(m), onMessage: (cb: (m: ToWorker) => void) => void port.on('message', cb) }, (name) =>
  initBackend(name as BackendName),
);
