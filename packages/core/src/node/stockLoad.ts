import * as tf from '@tensorflow/tfjs-core';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CompressionError } from '../errors.js';

/**
 * Loads a saved model.json with stock `tf.loadLayersModel` (from the optional peer @tensorflow/tfjs-layers)
 * through tfjs' own http loader, reading the files from disk: exactly what a browser would get from a
 * web server. For checking that an export really works in stock tfjs.
 */
export async function loadWithStockTfjs(modelJson: string): Promise<{ predict(x: tf.Tensor): tf.Tensor; dispose(): void }> {
  let tfl: typeof import('@tensorflow/tfjs-layers');
  try {
    tfl = await import('@tensorflow/tfjs-layers');
  } catch (cause) {
    throw new CompressionError({
      code: 'BACKEND_NOT_READY',
      message: 'loadWithStockTfjs needs @tensorflow/tfjs-layers, which is not installed',
      hint: 'npm install @tensorflow/tfjs-layers@4.22.0',
      cause,
    });
  }
  const dir = dirname(modelJson);
  const fetchFunc = async (input: string | URL | Request): Promise<Response> => {
    const url = String(input instanceof Request ? input.url : input);
    const f = url.startsWith('http://local/') ? join(dir, decodeURIComponent(url.slice('http://local/'.length))) : url;
    const data = await readFile(f);
    return new Response(data, { status: 200, headers: { 'content-type': f.endsWith('.json') ? 'application/json' : 'application/octet-stream' } });
  };
  const m = await tfl.loadLayersModel(tf.io.http(`http://local/${modelJson.split('/').pop()}`, { fetchFunc }));
  return { predict: (x) => m.predict(x) as tf.Tensor, dispose: () => m.dispose() };
}
