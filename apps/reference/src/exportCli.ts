import { type Command, InvalidArgumentError, Option } from 'commander';
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import * as core from '@edge-compress/core';
import { CompressionError, assertFits, initBackend, loadMnist, loadModel, writeFileAtomic, type Model } from '@edge-compress/core';

/** What the CLI needs from core's ONNX exporter (`exportOnnx` in packages/core/src/io/onnx.ts). */
export type OnnxExporter = (
  model: Model,
  opts: { format: 'dense' | 'int8-qdq'; calibration?: { images: Float32Array; count: number } },
) => {
  bytes: Uint8Array;
  irVersion: number;
  opset: number;
  inputName: string;
  outputName: string;
  inputShape: Array<number | 'N'>;
  outputShape: Array<number | 'N'>;
  nodes: number;
  weights: Array<{ name: string; layer: string; storedAs: string; exact: boolean; granularity: string | null; bytes: number }>;
  activations: Array<{ tensor: string; after: string; min: number; max: number; scale: number; zeroPoint: number }>;
};

export interface ExportDeps {
  /** The exporter; default core's `exportOnnx`. */
  exportOnnx?: OnnxExporter;
}

function coreExporter(): OnnxExporter {
  // Looked up on the namespace so this file builds whether or not core's index exports the ONNX module yet.
  const fn = (core as unknown as Record<string, unknown>)['exportOnnx'];
  if (typeof fn !== 'function') throw new Error('this build of @edge-compress/core has no exportOnnx (packages/core/src/io/onnx.ts is not exported from its index)');
  return fn as OnnxExporter;
}

const positiveInt =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be an integer ≥ 1, got '${v}'`);
    return n;
  };

interface ExportOptions {
  model: string;
  format: 'onnx';
  quant: 'none' | 'int8';
  calibrationCount: number;
  out: string;
  json?: boolean;
}

/**
 * Adds `edge-compress export --model DIR/model.json --format onnx [--quant int8] --out FILE.onnx [--json]` to
 * the program. Output goes through the program's configured writeOut; bad input throws a CompressionError
 * (the caller maps it to exit code 2). The file is written atomically (temporary file, then rename).
 */
export function registerExportCommands(program: Command, deps: ExportDeps = {}): Command {
  program
    .command('export')
    .description('export a model.json (ours or saved by stock tfjs-layers) as ONNX (opset 13): fp32, or int8 QDQ calibrated on the MNIST training digits')
    .requiredOption('--model <path>', 'model.json (or its directory)')
    .addOption(new Option('--format <format>', 'output format').choices(['onnx']).default('onnx'))
    .addOption(
      new Option('--quant <q>', 'none: fp32 weights; int8: int8 weights and uint8 activations as QuantizeLinear/DequantizeLinear pairs').choices(['none', 'int8']).default('none'),
    )
    .option('--calibration-count <n>', 'training digits that calibrate the int8 activation ranges (never test digits)', positiveInt('--calibration-count'), 512)
    .requiredOption('--out <file>', 'output .onnx file (written atomically)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (o: ExportOptions) => {
      const write = (s: string) => program.configureOutput().writeOut!(s.endsWith('\n') ? s : `${s}\n`);
      const out = resolve(o.out);
      const st = await stat(out).catch(() => undefined);
      if (st?.isDirectory()) {
        throw new CompressionError({ code: 'BAD_CONFIG', path: '--out', message: `--out ${out} is a directory; expected a file path`, hint: `e.g. --out ${out}/model.onnx` });
      }
      const loaded = await loadModel(o.model);
      const int8 = o.quant === 'int8';
      let calibration: { images: Float32Array; count: number } | undefined;
      if (int8) {
        const backend = (program.opts() as { backend?: string }).backend ?? 'wasm';
        if (backend !== 'wasm' && backend !== 'cpu')
          throw new CompressionError({ code: 'BACKEND_NOT_READY', message: `--backend '${backend}' is not supported`, hint: 'use wasm or cpu' });
        await initBackend(backend);
        const { train } = loadMnist();
        assertFits(train, loaded.model.ir.inputShape, `${loaded.modelJson} input (int8 calibration uses the bundled MNIST training digits)`);
        calibration = { images: train.images, count: Math.min(o.calibrationCount, train.count) };
      }
      const exporter = deps.exportOnnx ?? coreExporter();
      const r = exporter(loaded.model, { format: int8 ? 'int8-qdq' : 'dense', ...(calibration ? { calibration } : {}) });
      await mkdir(dirname(out), { recursive: true });
      await writeFileAtomic(out, r.bytes);
      const report = {
        command: 'export',
        format: o.format,
        quant: o.quant,
        onnxFormat: int8 ? 'int8-qdq' : 'dense',
        input: loaded.modelJson,
        output: out,
        bytes: r.bytes.byteLength,
        irVersion: r.irVersion,
        opset: r.opset,
        inputName: r.inputName,
        inputShape: r.inputShape,
        outputName: r.outputName,
        outputShape: r.outputShape,
        nodes: r.nodes,
        calibration: calibration ? { split: 'train', dataset: 'mnist', count: calibration.count } : null,
        weights: r.weights,
        activations: r.activations,
      };
      if (o.json) write(JSON.stringify(report));
      else {
        const exact = r.weights.filter((w) => w.name.endsWith('/kernel') && w.exact && w.storedAs !== 'float32').length;
        write(
          [
            `wrote ${out} (${report.bytes} bytes, ONNX IR ${r.irVersion}, opset ${r.opset}, ${r.nodes} nodes, ${report.onnxFormat})`,
            `input '${r.inputName}' [${r.inputShape.join(',')}] (NHWC as the tfjs model), output '${r.outputName}' [${r.outputShape.join(',')}]`,
            ...(int8
              ? [
                  `int8: ${r.weights.filter((w) => w.name.endsWith('/kernel')).length} kernels (${exact} with the model's own codes), ${r.activations.length} activations calibrated on ${calibration!.count} training digits`,
                ]
              : []),
          ].join('\n'),
        );
      }
    });
  return program;
}
