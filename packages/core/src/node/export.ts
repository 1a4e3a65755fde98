import { join, resolve } from 'node:path';
import { serializeExport, type ExportOptions, type ExportReport } from '../io/export.js';
import type { Model } from '../model/model.js';
import { writeSerialized } from './modelio.js';

/**
 * `serializeExport` written to `dir` (model.json + shards, atomically, model.json last): the model as a tfjs
 * LayersModel that stock `tf.loadLayersModel` loads, and the honest size report. Nothing is written when
 * validation fails.
 */
export async function exportModel(model: Model, dir: string, opts: ExportOptions = {}): Promise<ExportReport> {
  const { serialized, report } = serializeExport(model, opts);
  const saved = await writeSerialized(serialized, join(resolve(dir), serialized.jsonName));
  return { ...report, modelJson: saved.modelJson };
}
