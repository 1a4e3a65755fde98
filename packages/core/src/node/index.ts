/**
 * @edge-compress/core in Node: everything of the platform-neutral entry plus the file-system parts. Bundlers
 * targeting the browser resolve `@edge-compress/core` to the neutral entry (the `browser` export condition).
 */
export * from '../index.js';
export { writeFileAtomic, saveModel, writeSerialized, loadModel, type SaveResult, type LoadedModel } from './modelio.js';
export { sizeReport } from './size.js';
export { exportModel } from './export.js';
export { loadMnist, loadMnistFull, type FullMnistOptions } from './mnist.js';
// Shadows the neutral entry's trainBaseline with the one that has Node's defaults (MNIST from disk, the file cache).
export { trainBaseline } from './baseline.js';
export { loadWithStockTfjs } from './stockLoad.js';
// Registers worker_threads as the platform of data-parallel training (`fit({ workers })`).
export { nodeWorkerPlatform } from './workers.js';
