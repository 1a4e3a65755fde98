import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';
import { toDense } from '../encodings/index.js';
import { isCompressionError } from '../errors.js';
import { initModel, type Model } from '../model/model.js';
import { int8Model, maskedModel, toyConvIR, toyData } from '../testing/index.js';
import { predict } from '../train/trainer.js';
import { fetchModel, loadModelFrom, saveModelTo } from './handlers.js';
import { parseModel, serializeModel } from './serialize.js';

/** A toy conv net whose weights are int8 and half of them masked: every weight goes under the extension. */
function compressed(): Model {
  return maskedModel(int8Model(initModel(toyConvIR(), 5)), 0.5);
}

function expectSameWeights(a: Model, b: Model): void {
  expect(Object.keys(b.weights).sort()).toEqual(Object.keys(a.weights).sort());
  for (const [n, e] of Object.entries(a.weights)) {
    expect(b.weights[n]!.kind, n).toBe(e.kind);
    expect(Array.from(toDense(b.weights[n]!)), n).toEqual(Array.from(toDense(e)));
  }
}

describe('IO on bytes', () => {
  it('serializeModel → parseModel restores every encoding exactly, with no file system', async () => {
    const m = compressed();
    const s = serializeModel(m);
    expect(s.jsonName).toBe('model.json');
    expect(s.files[0]).toBe('model.json');
    expect(s.files.some((f) => f.endsWith('.ec.bin'))).toBe(true);
    const total = [...s.shards.values()].reduce((a, b) => a + b.byteLength, 0) + new TextEncoder().encode(s.text).byteLength;
    expect(s.bytes).toBeLessThan(total);
    const back = await parseModel(JSON.parse(s.text), (p) => s.shards.get(p)!);
    expect(back.format).toBe('extended');
    expectSameWeights(m, back.model);
  });

  it('a missing shard is a BAD_MODEL_FILE error naming the file', async () => {
    const s = serializeModel(compressed(), { name: 'net' });
    const payload = s.files.find((f) => f.endsWith('.ec.bin'))!;
    expect(payload).toBe('net.ec.bin');
    const err = await parseModel(s.modelJson, (p) => {
      if (p === payload) throw new Error('gone');
      return s.shards.get(p)!;
    }).catch((e: unknown) => e);
    expect(isCompressionError(err, 'BAD_MODEL_FILE')).toBe(true);
    expect((err as Error).message).toContain("'net.ec.bin'");
  });

  it('saveModelTo a tf.io handler: loadModelFrom restores the exact encodings, stock tf.loadLayersModel predicts the same', async () => {
    const m = compressed();
    let stored: tf.io.ModelArtifacts | undefined;
    await saveModelTo(
      m,
      tf.io.withSaveHandler(async (a) => {
        stored = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    expect(stored?.weightSpecs?.length).toBeGreaterThan(0);
    const ours = await loadModelFrom(tf.io.fromMemory(stored!));
    expectSameWeights(m, ours.model);
    const data = toyData(16, [8, 8, 1], 1);
    const expected = predict(m, data.images, data.count, { kernels: [] });
    const stock = await tfl.loadLayersModel(tf.io.fromMemory(stored!));
    const x = tf.tensor(data.images, [data.count, 8, 8, 1]);
    const y = stock.predict(x) as tf.Tensor;
    const got = y.dataSync();
    for (let i = 0; i < expected.length; i++) expect(Math.abs(got[i]! - expected[i]!)).toBeLessThan(1e-5);
    tf.dispose([x, y]);
    stock.dispose();
  });

  it('fetchModel reads model.json and its files over HTTP; a 404 names the URL', async () => {
    const m = compressed();
    const s = serializeModel(m);
    const served = new Map<string, Uint8Array>([...s.shards].map(([k, v]) => [`http://models.test/a/${k}`, v]));
    served.set('http://models.test/a/model.json', new TextEncoder().encode(s.text));
    const fetchFn = (async (u: string | URL) => {
      const body = served.get(String(u));
      return body ? new Response(body, { status: 200 }) : new Response('no', { status: 404 });
    }) as typeof fetch;
    const back = await fetchModel('http://models.test/a/model.json', { fetchFn });
    expectSameWeights(m, back.model);
    served.delete(`http://models.test/a/${s.files.find((f) => f.endsWith('.ec.bin'))!}`);
    const err = await fetchModel('http://models.test/a/model.json', { fetchFn }).catch((e: unknown) => e);
    expect(isCompressionError(err, 'BAD_MODEL_FILE')).toBe(true);
    expect((err as Error).message).toContain('http://models.test/a/model.ec.bin');
    expect((err as Error).message).toContain('404');
  });

  it('an unknown URL scheme is a typed error that lists the usable ones', async () => {
    const err = await loadModelFrom('ftp://x/model.json').catch((e: unknown) => e);
    expect(isCompressionError(err, 'BAD_CONFIG')).toBe(true);
    expect((err as Error).message).toContain('ftp://x/model.json');
  });
});
