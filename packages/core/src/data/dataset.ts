import { CompressionError } from '../errors.js';
import { sizeOf } from '../ir/shapes.js';

/**
 * A labelled image/feature set in memory. `images` holds `count` examples of `sizeOf(shape)` floats each,
 * row-major; `labels` holds class ids in [0, numClasses). Users pass their own data in this shape.
 */
export interface Dataset {
  images: Float32Array;
  labels: Uint8Array | Int32Array;
  count: number;
  /** Per-example shape, e.g. [28, 28, 1]. Any shape with the same element count as the model input works. */
  shape: number[];
  numClasses: number;
}

/** Builds a dataset and checks it, with errors that say which field is wrong and how. */
export function createDataset(d: { images: Float32Array; labels: ArrayLike<number>; shape: number[]; numClasses?: number }): Dataset {
  const per = sizeOf(d.shape);
  const fail = (field: string, message: string, hint?: string): never => {
    throw new CompressionError({ code: 'BAD_DATASET', path: field, message: `dataset.${field}: ${message}`, hint });
  };
  if (!(d.images instanceof Float32Array)) fail('images', `expected a Float32Array, got ${Object.prototype.toString.call(d.images)}`, 'convert with Float32Array.from(...)');
  if (!d.shape.every((s) => Number.isInteger(s) && s > 0)) fail('shape', `expected positive integers, got [${d.shape.join(',')}]`);
  if (d.images.length % per !== 0) fail('images', `length ${d.images.length} is not a multiple of the example size ${per} (shape [${d.shape.join(',')}])`);
  const count = d.images.length / per;
  if (d.labels.length !== count) fail('labels', `has ${d.labels.length} entries but images hold ${count} examples`);
  let maxLabel = 0;
  for (let i = 0; i < d.labels.length; i++) {
    const y = d.labels[i]!;
    if (!Number.isInteger(y) || y < 0) fail(`labels[${i}]`, `expected a non-negative integer class id, got ${y}`);
    if (y > maxLabel) maxLabel = y;
  }
  const numClasses = d.numClasses ?? maxLabel + 1;
  if (maxLabel >= numClasses) fail('labels', `class id ${maxLabel} is out of range for numClasses ${numClasses}`);
  for (let i = 0; i < d.images.length; i++) {
    if (!Number.isFinite(d.images[i]!)) fail(`images[${i}]`, `is ${d.images[i]}`, 'remove or repair non-finite inputs');
  }
  return { images: d.images, labels: Int32Array.from(d.labels), count, shape: [...d.shape], numClasses };
}

/** The first `n` examples (or the examples at `indices`). */
export function subset(d: Dataset, indices: ArrayLike<number> | number): Dataset {
  const idx = typeof indices === 'number' ? Array.from({ length: Math.min(indices, d.count) }, (_, i) => i) : Array.from(indices);
  const per = sizeOf(d.shape);
  const images = new Float32Array(idx.length * per);
  const labels = new Int32Array(idx.length);
  idx.forEach((j, i) => {
    images.set(d.images.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = d.labels[j]!;
  });
  return { images, labels, count: idx.length, shape: [...d.shape], numClasses: d.numClasses };
}

/**
 * Throws when the dataset's examples cannot be fed to a model with this input shape. `method` names the compressor
 * whose input it is (the error's `method`, and a `<method>.compress: ` prefix).
 */
export function assertFits(d: Dataset, inputShape: readonly number[], where = 'dataset', method?: string): void {
  if (sizeOf(d.shape) !== sizeOf(inputShape)) {
    throw new CompressionError({
      code: 'BAD_DATASET',
      method,
      path: where,
      message: `${method ? `${method}.compress: ` : ''}${where}: examples of shape [${d.shape.join(',')}] (${sizeOf(d.shape)} values) do not fit the model input [${inputShape.join(',')}] (${sizeOf(inputShape)} values)`,
      hint: 'use data made for this model (loadMnist({ shape: ir.inputShape })), or a model whose input matches the data',
    });
  }
}
