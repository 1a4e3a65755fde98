import { initBackend, startWebTrainWorker } from '@edge-compress/core';

/** The Web Worker of data-parallel training in the page: its own tfjs-wasm backend, serving shard requests. */
startWebTrainWorker((name) => initBackend(name as 'wasm', { wasmPaths: '/wasm/' }));
