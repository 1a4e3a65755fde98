import { admmPrune } from '@edge-compress/admm-prune';
import { bcrPrune } from '@edge-compress/bcr-prune';
import {
  createRegistry,
  evaluateModel,
  initModel,
  magnitudePrune,
  runRecipe,
  saveModelTo,
  loadModelFrom,
  serializeModel,
  parseModel,
  toDense,
  Trainer,
  type Dataset,
  type Model,
} from '@edge-compress/core';
import { quantize } from '@edge-compress/quantize';
import { smartDeal } from '@edge-compress/smartdeal-decompose';
import { svdTrain } from '@edge-compress/svd-train';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { smallMlp } from './model.js';

export { smallMlp };

/** Every method the toolkit ships, run with a defaults-only recipe. */
export const registry = createRegistry([magnitudePrune, quantize, admmPrune, bcrPrune, svdTrain, smartDeal]);
export const METHODS = ['magnitude', 'quantize', 'admm', 'bcr', 'svd', 'smartdeal'] as const;

/** Where a model is stored and read back from: `indexeddb://…` in the browser, tf.io memory handlers in Node. */
export interface Store {
  save(name: string): string | tf.io.IOHandler;
  load(name: string): string | tf.io.IOHandler;
}

/** A tf.io store in memory (Node has no IndexedDB). */
export function memoryStore(): Store {
  const saved = new Map<string, tf.io.ModelArtifacts>();
  return {
    save: (name) =>
      tf.io.withSaveHandler(async (a) => {
        saved.set(name, a);
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    load: (name) => tf.io.fromMemory(saved.get(name)!),
  };
}

export interface MethodResult {
  /** Test accuracy of the compressed model, by our forward. */
  accuracy: number;
  /** Test accuracy of the same model loaded back with stock `tf.loadLayersModel` from the store. */
  stockAccuracy: number;
  /** Every encoding came back exactly from the store through our loader. */
  exactRoundTrip: boolean;
  /** Bytes our loader reads / a stock loader reads (in-memory serialization). */
  bytes: number;
  stockBytes: number;
  seconds: number;
}

export interface ScenarioResult {
  baseline: { accuracy: number; loss: number; trainLoss: number[] };
  methods: Record<string, MethodResult>;
}

function stockAccuracy(m: tfl.LayersModel, d: Dataset): number {
  return tf.tidy(() => {
    const x = tf.tensor(d.images, [d.count, ...d.shape]);
    const pred = tf.argMax(m.predict(x) as tf.Tensor, -1).dataSync();
    let ok = 0;
    for (let i = 0; i < d.count; i++) if (pred[i] === d.labels[i]) ok++;
    return ok / d.count;
  });
}

function sameWeights(a: Model, b: Model): boolean {
  return Object.entries(a.weights).every(([n, e]) => {
    const f = b.weights[n];
    if (!f || f.kind !== e.kind) return false;
    const x = toDense(e),
      y = toDense(f);
    return x.length === y.length && x.every((v, i) => v === y[i]);
  });
}

/**
 * The steps the browser test runs, and runs again in Node to compare: train a small MLP briefly, compress it with
 * every method on a defaults-only recipe, serialize in memory, store it, load it back with our loader and with stock
 * tfjs-layers, and measure test accuracy each way.
 */
export async function runScenario(data: { train: Dataset; val: Dataset; test: Dataset }, store: Store, log: (s: string) => void = () => {}): Promise<ScenarioResult> {
  const trainer = new Trainer(initModel(smallMlp(), 0));
  let baseline: Model;
  let trainLoss: number[];
  try {
    const history = await trainer.fit(data.train, { epochs: 2, batchSize: 64, optimizer: { kind: 'adam', lr: 1e-3 }, seed: 0 });
    trainLoss = history.map((h) => h.loss);
    baseline = trainer.toModel();
  } finally {
    trainer.dispose();
  }
  const ev = evaluateModel(baseline, data.test);
  log(`baseline: test accuracy ${ev.accuracy}`);
  const methods: Record<string, MethodResult> = {};
  for (const method of METHODS) {
    const t0 = performance.now();
    // Defaults only: each method's own defaults; magnitude has no default ratio (as in NNI), so it gets one.
    const rule = method === 'magnitude' ? { op_types: ['dense'], sparse_ratio: 0.8 } : { op_types: ['dense'] };
    const { model } = await runRecipe(baseline, { method, config_list: [rule] }, registry, { train: data.train, val: data.val, seed: 0 });
    const accuracy = evaluateModel(model, data.test).accuracy;
    const s = serializeModel(model);
    await saveModelTo(model, store.save(method));
    const back = await loadModelFrom(store.load(method));
    const inMemory = await parseModel(s.modelJson, (p) => s.shards.get(p)!);
    const stock = await tfl.loadLayersModel(store.load(method));
    const stockAcc = stockAccuracy(stock, data.test);
    stock.dispose();
    methods[method] = {
      accuracy,
      stockAccuracy: stockAcc,
      exactRoundTrip: sameWeights(model, back.model) && sameWeights(model, inMemory.model),
      bytes: s.bytes,
      stockBytes: s.stockBytes,
      seconds: (performance.now() - t0) / 1000,
    };
    log(`${method}: accuracy ${accuracy}, stock ${stockAcc}, ${s.bytes} bytes`);
  }
  return { baseline: { accuracy: ev.accuracy, loss: ev.loss, trainLoss }, methods };
}

/** The small split both platforms use (the first digits of each split of the bundled MNIST). */
export const SIZES = { train: 600, val: 200, test: 400 } as const;
