/**
 * @edge-compress/core — the shared interface every compression method uses: model IR, weight encodings,
 * forward pass and trainer with hooks, fast wasm training kernels, MNIST data, tfjs model.json IO, size
 * reports, recipes and the Compressor plug-in contract. Importing it has no side effects; call
 * `initBackend()` before running models.
 *
 * This entry is platform-neutral (browser, Node, workers): no Node built-in is reachable from it. In Node,
 * `@edge-compress/core` resolves to `./node/index.ts`, which adds the file-system parts (saveModel, loadModel,
 * exportModel, sizeReport, loadMnist, the baseline cache, loadWithStockTfjs).
 */
export * from './errors.js';
export * from './ir/types.js';
export * from './ir/shapes.js';
export * from './ir/builders.js';
export * from './encodings/index.js';
export * from './tensor/quant.js';
export * from './tensor/rng.js';
export * from './tensor/gemm.js';
export * from './tensor/prune.js';
export * from './tensor/bitpack.js';
export { toHalfBits, fromHalfBits } from './tensor/float16.js';
export * from './model/model.js';
export * from './model/forward.js';
export * from './model/runner.js';
export * from './train/trainer.js';
export { FusedAdamOptimizer } from './train/fusedAdam.js';
export * from './train/ste.js';
export * from './train/through.js';
export * from './train/batchNorm.js';
export {
  registerWorkerPlatform,
  workerPlatform,
  setDefaultWorkers,
  getDefaultWorkers,
  serveTrainWorker,
  webWorkerPlatform,
  startWebTrainWorker,
  portableLayerForward,
  portableOf,
  type PortableLayerForward,
  type LayerForward,
  type WebWorkerLike,
  type WorkerPlatform,
  type TrainWorkerHandle,
  type ToWorker,
  type FromWorker,
} from './train/parallel.js';
export { trainBaseline, type BaselineOptions, type Baseline, type BaselinePlatform } from './train/baseline.js';
export * from './data/dataset.js';
export * from './data/mnist.js';
export * from './io/keras.js';
export * from './io/serialize.js';
export * from './io/handlers.js';
export * from './io/stock.js';
export * from './io/size.js';
export * from './io/export.js';
export * from './io/onnx.js';
export * from './recipe/schema.js';
export * from './recipe/legacy.js';
export * from './recipe/targets.js';
export * from './compressor.js';
export * from './methods/pruner.js';
export * from './methods/magnitude.js';
export * from './backend/index.js';
export { now, availableCores } from './platform.js';
