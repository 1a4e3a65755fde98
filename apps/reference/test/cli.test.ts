import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sink } from './sink.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRecipes, reportError, run } from '../src/index.js';
import { armFeatures } from '../src/report.js';
import { BanditError, parseCatalogue, simArmsFromCatalogue } from '@edge-compress/bandit-select';
import { initModel, maskedEncoding, denseEncoding, topkMask, toDense } from '@edge-compress/core';
import { registry } from '../src/methods.js';
import { planRecipe, lenet5, initBackend } from '@edge-compress/core';

async function cli(...argv: string[]) {
  const out = sink(),
    err = sink();
  const code = await run(argv, { stdout: out.stream, stderr: err.stream });
  return { code, stdout: out.text, stderr: err.text };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ec-cli-'));
  await initBackend('wasm');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('edge-compress CLI', () => {
  it('train → eval --json → compress --json, each printing exactly one JSON object', async () => {
    const t = await cli('train', '--arch', 'lenet300100', '--epochs', '1', '--out', join(dir, 'mlp'), '--json');
    expect(t.code).toBe(0);
    const tr = JSON.parse(t.stdout);
    expect(tr.testAccuracy).toBeGreaterThan(0.85);
    const e = await cli('eval', '--model', join(dir, 'mlp', 'model.json'), '--json');
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout).testAccuracy).toBe(tr.testAccuracy);
    const recipe = join(dir, 'r.json');
    await writeFile(
      recipe,
      JSON.stringify({ version: 1, seed: 1, stages: [{ method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.8 }], options: { finetune_epochs: 1 } }] }),
    );
    const c = await cli('compress', '--model', join(dir, 'mlp'), '--recipe', recipe, '--out', join(dir, 'mlp80'), '--json');
    expect(c.code, c.stderr).toBe(0);
    const rep = JSON.parse(c.stdout);
    expect(rep.pruningRatio).toBeGreaterThan(4.5);
    expect(rep.accuracyAfter).toBeGreaterThan(0.8);
    expect(JSON.parse(await readFile(join(dir, 'mlp80', 'report.json'), 'utf8')).stages[0].method).toBe('magnitude');
  });

  it('--workers trains data-parallel (and a bad count exits 2 naming the option)', async () => {
    const t = await cli('--workers', '2', 'train', '--arch', 'lenet300100', '--epochs', '1', '--out', join(dir, 'mlp2'), '--json');
    expect(t.code, t.stderr).toBe(0);
    const r = JSON.parse(t.stdout);
    expect(r.workers).toBe(2);
    expect(r.testAccuracy).toBeGreaterThan(0.85);
    const bad = await cli('--workers', '0', 'train', '--arch', 'lenet300100', '--out', join(dir, 'never'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--workers must be an integer ≥ 1 or 'auto', got '0'/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('compresses a model saved by stock tfjs-layers', async () => {
    const m = tfl.sequential();
    m.add(tfl.layers.dense({ inputShape: [784], units: 32, activation: 'relu' }));
    m.add(tfl.layers.dense({ units: 10, activation: 'softmax' }));
    const d = join(dir, 'stock');
    await m.save(
      tf.io.withSaveHandler(async (a) => {
        const { mkdir } = await import('node:fs/promises');
        await mkdir(d, { recursive: true });
        await writeFile(join(d, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
        await writeFile(
          join(d, 'model.json'),
          JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }),
        );
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const recipe = join(dir, 'r2.json');
    await writeFile(
      recipe,
      JSON.stringify({ version: 1, stages: [{ method: 'magnitude', config_list: [{ op_types: ['Linear'], sparse_ratio: 0.5 }], options: { finetune_epochs: 1 } }] }),
    );
    const c = await cli('compress', '--model', join(d, 'model.json'), '--recipe', recipe, '--out', join(dir, 'stock-out'), '--stock');
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout).toMatch(/accuracy .*% → .*%/);
  });

  it('bad input exits 2 with the typed error on stderr and writes nothing', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ version: 1, stages: [{ method: 'magnitude', config_list: [{ op_names: ['fc_1'], sparse_ratio: 0.5 }] }] }));
    const r = await cli('compress', '--model', join(dir, 'mlp'), '--recipe', bad, '--out', join(dir, 'never'), '--json');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/TARGET_NOT_FOUND.*fc_1.*did you mean 'fc1'/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
    await writeFile(bad, '{"version": 1,');
    expect((await cli('compress', '--model', join(dir, 'mlp'), '--recipe', bad, '--out', join(dir, 'never'))).stderr).toMatch(/RECIPE_INVALID.*not valid JSON/);
    const missing = await cli('eval', '--model', join(dir, 'nope.json'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/BAD_MODEL_FILE.*nope\.json.*no such file/);
    const arch = await cli('train', '--arch', 'lenet7', '--out', join(dir, 'never'));
    expect(arch.code).toBe(2);
    expect(arch.stderr).toMatch(/lenet7.*(lenet5|lenet300100)/);
    const both = await cli('pipeline', '--quick', '--full');
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/BAD_CONFIG.*--quick and --full/);
    // another method's key is refused with a hint that names the method it belongs to
    await writeFile(bad, JSON.stringify({ version: 1, stages: [{ method: 'magnitude', config_list: [{ op_types: ['dense'], sparse_ratio: 0.5, quant_dtype: 'int8' }] }] }));
    const foreign = await cli('compress', '--model', join(dir, 'mlp'), '--recipe', bad, '--out', join(dir, 'never'));
    expect(foreign.code).toBe(2);
    expect(foreign.stderr).toMatch(/RECIPE_INVALID.*quant_dtype.*a quantization key, not a 'magnitude' key/);
    expect(existsSync(join(dir, 'never'))).toBe(false);
  });

  it('every shipped recipe passes pre-flight on LeNet-5', async () => {
    const recipes = await loadRecipes();
    expect(recipes.length).toBeGreaterThan(0);
    for (const r of recipes) expect(planRecipe(lenet5(), r.recipe, registry, r.file).plans.length).toBeGreaterThan(0);
  });

  it('describes variants as bandit arms the simulator accepts', () => {
    const m = initModel(lenet5(), 1);
    const k = toDense(m.weights['fc1/kernel']!);
    const pruned = { ...m, weights: { ...m.weights, 'fc1/kernel': maskedEncoding(denseEncoding([800, 500], k), topkMask(k, 40_000)) } };
    const dense = armFeatures(m, 0.99);
    const sparse = armFeatures(pruned, 0.98);
    expect(dense.macs).toBeCloseTo(2_293_000, -3);
    expect(dense.params).toBe(431_080);
    expect(dense.bits).toBe(32);
    expect(sparse.macs).toBeCloseTo(dense.macs! - 360_000, -3);
    // 580 biases are zero at initialisation and count as pruned.
    expect(sparse.density).toBeCloseTo((431_080 - 360_000 - 580) / 431_080, 5);
    const arms = simArmsFromCatalogue(
      parseCatalogue({
        arms: [
          { id: 'a', features: dense },
          { id: 'b', features: sparse },
        ],
      }),
    );
    expect(arms.map((a) => a.id)).toEqual(['a', 'b']);
  });

  it('prints the recipe JSON Schema', async () => {
    const s = await cli('schema');
    const schema = JSON.parse(s.stdout);
    const methods = schema.properties.stages.items.anyOf.map((a: { properties: { method: { const: string } } }) => a.properties.method.const);
    expect(methods).toEqual(registry.list().map((c) => c.name));
    const mag = schema.properties.stages.items.anyOf.find((a: { properties: { method: { const: string } } }) => a.properties.method.const === 'magnitude');
    expect(Object.keys(mag.properties.config_list.items.properties)).toContain('sparse_ratio');
    expect(Object.keys(mag.properties.config_list.items.properties)).not.toContain('quant_dtype');
    // The committed schema the recipes point to ($schema) is the one the CLI prints: regenerate it with
    // `node apps/reference/dist/cli.js schema > apps/reference/recipes/_recipe.schema.json` when an option changes.
    const committed = JSON.parse(await readFile(new URL('../recipes/_recipe.schema.json', import.meta.url), 'utf8'));
    expect(committed).toEqual(schema);
  });

  it('maps typed errors of every package to exit 2 with their message, and bugs to exit 1', () => {
    const err: string[] = [];
    const stderr = { write: (s: string) => (err.push(s), true) } as unknown as NodeJS.WritableStream;
    expect(reportError(new BanditError({ code: 'BAD_CATALOGUE', message: 'catalogue.json: arms[0].id is missing' }), stderr)).toBe(2);
    expect(err.join('')).toMatch(/error \[BAD_CATALOGUE\]: catalogue\.json: arms\[0\]\.id is missing/);
    expect(err.join('')).not.toMatch(/    at /);
    expect(reportError(new TypeError('x is undefined'), stderr)).toBe(1);
  });
});
