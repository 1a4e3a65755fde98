import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Command, CommanderError } from 'commander';
import * as ort from 'onnxruntime-node';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sink } from './sink.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as core from '@edge-compress/core';
import { initBackend, initModel, isCompressionError, loadMnist, predict, saveModel, subset, Trainer, type ModelIR } from '@edge-compress/core';
// Until core's index exports the ONNX module (the lead wires it), the exporter is injected from its source file.
import { registerExportCommands, type OnnxExporter } from '../src/exportCli.js';
import { run } from '../src/index.js';

const exportOnnx: OnnxExporter = core.exportOnnx;

/** The export command on a program set up as main.ts sets up its own (exit codes 0 / 1 / 2 the same way). */
async function cli(...argv: string[]) {
  const out = sink(),
    err = sink();
  const program = new Command('edge-compress')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.stream.write(s), writeErr: (s) => err.stream.write(s) })
    .option('--backend <name>', 'tfjs backend', 'wasm');
  registerExportCommands(program, { exportOnnx });
  let code = 0;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) code = e.exitCode === 0 ? 0 : 2;
    else if (isCompressionError(e)) {
      err.stream.write(`edge-compress: error [${e.code}]: ${e.message}\n`);
      code = 2;
    } else {
      err.stream.write(String((e as Error).stack));
      code = 1;
    }
  }
  return { code, stdout: out.text, stderr: err.text };
}

async function ortRun(file: string, images: Float32Array, count: number, shape: number[]): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(await readFile(file), { intraOpNumThreads: 1, interOpNumThreads: 1 });
  try {
    const r = await s.run({ input: new ort.Tensor('float32', images.subarray(0, count * shape.reduce((a, b) => a * b, 1)), [count, ...shape]) });
    return Float32Array.from(r.output!.data as Float32Array);
  } finally {
    await s.release();
  }
}

const top1 = (p: Float32Array, k: number) =>
  Array.from({ length: p.length / k }, (_, i) => {
    let b = 0;
    for (let c = 1; c < k; c++) if (p[i * k + c]! > p[i * k + b]!) b = c;
    return b;
  });
const maxAbs = (a: Float32Array, b: ArrayLike<number>) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

const mlp: ModelIR = {
  format: 'edge-compress/ir',
  version: 1,
  name: 'mlp',
  inputShape: [784],
  layers: [
    { kind: 'dense', name: 'fc1', units: 64, activation: 'relu', useBias: true },
    { kind: 'dense', name: 'fc2', units: 10, activation: 'softmax', useBias: true },
  ],
};

let dir: string;
let modelJson: string;
let model: core.Model;
const digits = loadMnist({ shape: [784] });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ec-export-'));
  await initBackend('wasm');
  const t = new Trainer(initModel(mlp, 2));
  await t.fit(subset(digits.train, 2048), { epochs: 2, batchSize: 64, seed: 2 });
  model = t.toModel();
  t.dispose();
  modelJson = (await saveModel(model, join(dir, 'mlp'))).modelJson;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('edge-compress export --format onnx', () => {
  it('dense: --json prints one object; the file runs in onnxruntime-node with our predictions (≤ 1e-4)', async () => {
    const out = join(dir, 'onnx', 'mlp.onnx');
    const r = await cli('export', '--model', modelJson, '--format', 'onnx', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const rep = JSON.parse(r.stdout);
    expect(rep).toMatchObject({
      command: 'export',
      format: 'onnx',
      quant: 'none',
      onnxFormat: 'dense',
      output: out,
      opset: 13,
      irVersion: 7,
      inputShape: ['N', 784],
      outputShape: ['N', 10],
      calibration: null,
    });
    expect(rep.bytes).toBe((await readFile(out)).byteLength);
    expect(rep.bytes).toBeGreaterThan((784 * 64 + 64 + 64 * 10 + 10) * 4);
    const n = 200;
    const theirs = await ortRun(out, digits.test.images, n, [784]);
    expect(maxAbs(theirs, predict(model, digits.test.images.subarray(0, n * 784), n))).toBeLessThanOrEqual(1e-4);
    expect((await readdir(join(dir, 'onnx'))).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('--quant int8: a QDQ graph ~4× smaller, calibrated on training digits, same top-1 on ≥ 99% of 1,000 test digits', async () => {
    const out = join(dir, 'mlp-int8.onnx');
    const r = await cli('export', '--model', modelJson, '--format', 'onnx', '--quant', 'int8', '--calibration-count', '256', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep).toMatchObject({ quant: 'int8', onnxFormat: 'int8-qdq', calibration: { split: 'train', count: 256 } });
    expect(rep.weights.filter((w: { name: string }) => w.name.endsWith('/kernel')).map((w: { storedAs: string }) => w.storedAs)).toEqual(['int8', 'int8']);
    expect(rep.bytes).toBeLessThan(0.35 * (784 * 64 + 64 * 10) * 4);
    const n = 1000;
    const a = top1(await ortRun(out, digits.test.images, n, [784]), 10);
    const b = top1(predict(model, digits.test.images.subarray(0, n * 784), n), 10);
    expect(a.filter((v, i) => v === b[i]).length / n).toBeGreaterThanOrEqual(0.99);
  });

  it('text output names the file, its size and layout', async () => {
    const out = join(dir, 'text.onnx');
    const r = await cli('export', '--model', join(dir, 'mlp'), '--format', 'onnx', '--out', out);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`wrote ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\d+ bytes, ONNX IR 7, opset 13, \\d+ nodes, dense\\)`));
    expect(r.stdout).toMatch(/input 'input' \[N,784\] \(NHWC as the tfjs model\), output 'output' \[N,10\]/);
  });

  it('exports a conv model saved by stock tfjs-layers (its predictions, ≤ 1e-4)', async () => {
    const m = tfl.sequential();
    m.add(tfl.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 5, strides: 2, padding: 'same', activation: 'relu' }));
    m.add(tfl.layers.maxPooling2d({ poolSize: 2 }));
    m.add(tfl.layers.flatten());
    m.add(tfl.layers.dense({ units: 10, activation: 'softmax' }));
    const d = join(dir, 'stock');
    await m.save(
      tf.io.withSaveHandler(async (a) => {
        await mkdir(d, { recursive: true });
        await writeFile(join(d, 'weights.bin'), new Uint8Array(a.weightData as ArrayBuffer));
        await writeFile(
          join(d, 'model.json'),
          JSON.stringify({ format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] }),
        );
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    const out = join(dir, 'stock.onnx');
    const r = await cli('export', '--model', join(d, 'model.json'), '--format', 'onnx', '--out', out, '--json');
    expect(r.code, r.stderr).toBe(0);
    const n = 16;
    const x = digits.test.images.subarray(0, n * 784);
    const stock = tf.tidy(() => (m.predict(tf.tensor(x, [n, 28, 28, 1])) as tf.Tensor).dataSync());
    m.dispose();
    expect(maxAbs(await ortRun(out, x, n, [28, 28, 1]), stock)).toBeLessThanOrEqual(1e-4);
  });

  it('bad input exits 2 with the typed error on stderr and writes nothing', async () => {
    const out = join(dir, 'bad', 'never.onnx');
    const missing = await cli('export', '--model', join(dir, 'nope', 'model.json'), '--format', 'onnx', '--out', out, '--json');
    expect(missing.code).toBe(2);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toMatch(/\[BAD_MODEL_FILE\].*nope/);
    const fmt = await cli('export', '--model', modelJson, '--format', 'tflite', '--out', out);
    expect(fmt.code).toBe(2);
    expect(fmt.stderr).toMatch(/tflite.*onnx/);
    await mkdir(join(dir, 'adir'), { recursive: true });
    const isDir = await cli('export', '--model', modelJson, '--format', 'onnx', '--out', join(dir, 'adir'));
    expect(isDir.code).toBe(2);
    expect(isDir.stderr).toMatch(/\[BAD_CONFIG\].*is a directory/);
    // int8 calibration uses MNIST training digits: a model with another input size is told so
    const small = await saveModel(initModel({ ...mlp, name: 'small', inputShape: [16] }, 1), join(dir, 'small'));
    const cal = await cli('export', '--model', small.modelJson, '--format', 'onnx', '--quant', 'int8', '--out', out);
    expect(cal.code).toBe(2);
    expect(cal.stderr).toMatch(/\[BAD_DATASET\].*int8 calibration uses the bundled MNIST training digits/);
    expect(existsSync(join(dir, 'bad'))).toBe(false);
  });
});

// Once main.ts registers the command (registerExportCommands(program)), the real CLI entry point is checked too.
const probe = sink();
await run(['export'], { stdout: sink().stream, stderr: probe.stream });
const wired = !/unknown command 'export'/.test(probe.text);
describe.runIf(wired)('through main.ts run()', () => {
  it('edge-compress export --json and a bad model (exit 2)', async () => {
    const out = sink(),
      err = sink();
    const file = join(dir, 'via-run.onnx');
    expect(await run(['export', '--model', modelJson, '--format', 'onnx', '--out', file, '--json'], { stdout: out.stream, stderr: err.stream }), err.text).toBe(0);
    expect(JSON.parse(out.text).bytes).toBe((await readFile(file)).byteLength);
    const bad = sink();
    expect(await run(['export', '--model', join(dir, 'nope'), '--format', 'onnx', '--out', file], { stdout: sink().stream, stderr: bad.stream })).toBe(2);
    expect(bad.text).toMatch(/BAD_MODEL_FILE/);
  });
});
