import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  ARCHITECTURES,
  type ArchitectureName,
  CompressionError,
  evaluateModel,
  initBackend,
  isCompressionError,
  loadMnist,
  loadModel,
  saveModel,
  sizeReport,
  trainBaseline,
  writeFileAtomic,
  assertFits,
  planRecipe,
  runRecipe,
  parameterCount,
  recipeJsonSchema,
  subset,
  type Model,
  exportModel,
  type Widen,
  setDefaultWorkers,
} from '@edge-compress/core';
import { isBanditError } from '@edge-compress/bandit-select';
import { createCostFn } from '@edge-compress/hw-cost';
import { registerCostCommands } from './costCli.js';
import { registerExportCommands } from './exportCli.js';
import { COST_DEVICE, registry } from './methods.js';
import { registerSweepCommands, sweepProgress } from './sweepCli.js';
import { createProgress } from './progress.js';
import { runPipeline } from './pipeline.js';
import { summaryTable, modelFigures } from './report.js';

export interface Io {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
}

/** An integer option ≥ min; `or` names what else the option accepts (for the message). */
const int =
  (name: string, min: number, or?: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}${or ? ` or ${or}` : ''}, got '${v}'`);
    return n;
  };

/** MNIST shaped for a model; a model whose input is not 784 values cannot use the bundled digits. */
function mnistFor(model: Model, file: string) {
  const data = loadMnist({ shape: model.ir.inputShape });
  assertFits(data.test, model.ir.inputShape, `${file} input`);
  return data;
}

async function readRecipe(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new CompressionError({
      code: 'RECIPE_INVALID',
      path,
      message: `cannot read recipe ${path}: ${(cause as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (cause as Error).message}`,
      hint: 'see apps/reference/recipes/ for examples',
      cause,
    });
  }
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new CompressionError({ code: 'RECIPE_INVALID', path, message: `${path} is not valid JSON (${(cause as Error).message})`, cause });
  }
}

/**
 * The `edge-compress` CLI. Returns the exit code: 0 ok, 1 runtime failure, 2 bad input. With --json,
 * stdout gets exactly one JSON object.
 */
export async function run(argv: string[], io: Io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let json = false;
  const out = (s: string) => io.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
  const emit = (obj: unknown, text: () => string) => out(json ? JSON.stringify(obj) : text());
  const program = new Command('edge-compress')
    .description('Compress neural networks for edge devices: train, compress with registered methods, report.')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .option('--backend <name>', 'tfjs backend: wasm (fast) or cpu', 'wasm')
    .option(
      '--workers <n>',
      "training threads per fit: an integer ≥ 1 or 'auto' (one per core); every method's training uses it",
      (v: string) => (v === 'auto' ? v : int('--workers', 1, "'auto'")(v)),
      1,
    );
  const ready = async () => {
    const b = program.opts().backend as string;
    if (b !== 'wasm' && b !== 'cpu') throw new CompressionError({ code: 'BACKEND_NOT_READY', message: `--backend '${b}' is not supported`, hint: 'use wasm or cpu' });
    await initBackend(b);
    setDefaultWorkers(program.opts().workers as number | 'auto');
  };

  program
    .command('train')
    .description('train a baseline on the bundled MNIST digits and save it as a tfjs LayersModel')
    .addOption(new Option('--arch <arch>', 'architecture').choices(Object.keys(ARCHITECTURES)).makeOptionMandatory())
    .option('--epochs <n>', 'epochs', int('--epochs', 1), 20)
    .option('--seed <s>', 'seed', int('--seed', 0), 0)
    .requiredOption('--out <dir>', 'output directory (model.json + shards)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (o: { arch: ArchitectureName; epochs: number; seed: number; out: string; json?: boolean }) => {
      json = Boolean(o.json);
      await ready();
      const progress = createProgress(io.stderr, { quiet: json });
      const t0 = performance.now();
      const b = await trainBaseline({ arch: o.arch, epochs: o.epochs, seed: o.seed, onProgress: (p) => progress.onTrain(p) });
      progress.stop();
      const saved = await saveModel(b.model, o.out, { metadata: { arch: o.arch, epochs: o.epochs, seed: o.seed, testAccuracy: b.testAccuracy } });
      const size = await sizeReport(saved.files, b.model.ir);
      const r = {
        command: 'train',
        arch: o.arch,
        epochs: o.epochs,
        seed: o.seed,
        testAccuracy: b.testAccuracy,
        testLoss: b.testLoss,
        seconds: (performance.now() - t0) / 1000,
        workers: b.history[0]?.workers ?? 1,
        modelJson: saved.modelJson,
        rawBytes: size.rawBytes,
        gzipBytes: size.gzipBytes,
      };
      emit(
        r,
        () =>
          `trained ${o.arch} for ${o.epochs} epochs: test accuracy ${(100 * b.testAccuracy).toFixed(2)}% (loss ${b.testLoss.toFixed(4)})\nsaved ${saved.modelJson} (${size.rawBytes} bytes, ${size.gzipBytes} gzipped)`,
      );
    });

  program
    .command('eval')
    .description('evaluate a model.json (ours or saved by stock tfjs) on the bundled MNIST test digits')
    .requiredOption('--model <path>', 'model.json (or its directory)')
    .option('--json', 'print one JSON object on stdout')
    .action(async (o: { model: string; json?: boolean }) => {
      json = Boolean(o.json);
      await ready();
      const loaded = await loadModel(o.model);
      const { test } = mnistFor(loaded.model, loaded.modelJson);
      const ev = evaluateModel(loaded.model, test);
      const size = await sizeReport(loaded.files, loaded.model.ir);
      const fig = modelFigures(loaded.model);
      const r = {
        command: 'eval',
        modelJson: loaded.modelJson,
        format: loaded.format,
        testAccuracy: ev.accuracy,
        testLoss: ev.loss,
        testCount: ev.count,
        parameters: parameterCount(loaded.model.ir),
        ...fig,
        rawBytes: size.rawBytes,
        gzipBytes: size.gzipBytes,
        stockInMemoryBytes: size.stockInMemoryBytes,
      };
      emit(r, () =>
        [
          `${loaded.modelJson} (${loaded.format} format)`,
          `test accuracy ${(100 * ev.accuracy).toFixed(2)}% on ${ev.count} digits, loss ${ev.loss.toFixed(4)}`,
          `${r.parameters} parameters, ${fig.nonZeros} non-zero, ${fig.storageBytes} bytes of weight storage`,
          `files ${size.rawBytes} bytes, ${size.gzipBytes} gzipped; ${size.stockInMemoryBytes} bytes in memory after a stock tfjs load (tfjs dequantizes to float32)`,
        ].join('\n'),
      );
    });

  program
    .command('compress')
    .description('compress a model.json with a recipe; writes the model and report.json')
    .requiredOption('--model <path>', 'model.json (ours or saved by stock tfjs-layers)')
    .requiredOption('--recipe <file>', 'recipe JSON (see apps/reference/recipes/)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--stock', 'write only what stock tfjs understands (no edgeCompress extension)')
    .addOption(
      new Option(
        '--widen <dtype>',
        'stock form of weights stock tfjs cannot hold exactly (per-channel, pow2, factors): auto = the smallest that keeps every prediction on 1,000 training digits',
      )
        .choices(['auto', 'uint8', 'uint16', 'float16', 'float32'])
        .default('auto'),
    )
    .option('--json', 'print one JSON object on stdout')
    .action(async (o: { model: string; recipe: string; out: string; stock?: boolean; widen: Widen; json?: boolean }) => {
      json = Boolean(o.json);
      await ready();
      const recipe = await readRecipe(o.recipe);
      const loaded = await loadModel(o.model);
      planRecipe(loaded.model, recipe, registry, o.recipe); // pre-flight: every recipe and chain error before training
      const data = mnistFor(loaded.model, loaded.modelJson);
      const progress = createProgress(io.stderr, { quiet: json });
      const before = evaluateModel(loaded.model, data.test);
      const result = await runRecipe(
        loaded.model,
        recipe,
        registry,
        { train: data.train, val: data.val, cost: createCostFn(COST_DEVICE), onProgress: (p) => progress.onTrain(p) },
        o.recipe,
      );
      progress.stop();
      const after = evaluateModel(result.model, data.test);
      const outDir = resolve(o.out);
      const exported = await exportModel(result.model, outDir, { stock: Boolean(o.stock), widen: o.widen, data: subset(data.train, 1000) });
      const figs = modelFigures(result.model);
      const base = modelFigures(loaded.model);
      const report = {
        command: 'compress',
        input: loaded.modelJson,
        recipe: resolve(o.recipe),
        output: exported.modelJson,
        format: exported.format,
        accuracyBefore: before.accuracy,
        accuracyAfter: after.accuracy,
        bytes: exported.total.rawBytes,
        gzipBytes: exported.total.gzipBytes,
        stockBytes: exported.total.stockRawBytes,
        stockGzipBytes: exported.total.stockGzipBytes,
        stockInMemoryBytes: exported.total.stockInMemoryBytes,
        inMemoryNote: exported.inMemoryNote,
        stockPredictionMatch: exported.predictionMatch,
        lostInStockExport: exported.lost,
        storageRatio: base.storageBytes / figs.storageBytes,
        pruningRatio: figs.elements / Math.max(1, figs.nonZeros),
        stages: result.reports,
        plans: result.plans,
        layers: exported.layers,
      };
      await writeFileAtomic(join(outDir, 'report.json'), JSON.stringify(report, null, 2));
      emit(report, () =>
        [
          `accuracy ${(100 * before.accuracy).toFixed(2)}% → ${(100 * after.accuracy).toFixed(2)}%`,
          `weight storage ${base.storageBytes} → ${figs.storageBytes} bytes (${report.storageRatio.toFixed(1)}×), files ${report.bytes} bytes (${report.gzipBytes} gzipped)${o.stock ? '' : `; stock loaders read ${report.stockBytes} bytes`}`,
          ...exported.lost.map((l) => `stock export: ${l.weight} (${l.from}) stored as ${l.widenedTo}, max error ${l.maxAbsError.toExponential(2)}`),
          ...result.reports.flatMap((r) => r.warnings.map((w) => `warning: ${w}`)),
          `${exported.inMemoryNote}`,
          `wrote ${exported.modelJson} and ${join(outDir, 'report.json')}`,
        ].join('\n'),
      );
    });

  program
    .command('pipeline')
    .description('train the LeNet-5 baseline, run every registered method, write out/ with artifacts, report.json and a summary')
    .option('--quick', 'a smoke run of 2–3 minutes: 3-epoch baseline, every epoch / iteration count capped at 1, methods train on 1,000 digits')
    .option('--full', 'a paper-scale budget: 60-epoch baseline, every epoch / iteration count ×3 (hours on 2 cores)')
    .option('--out <dir>', 'output directory', 'out')
    .option('--seed <s>', 'seed', int('--seed', 0), 0)
    .option('--concurrency <n>', 'variant jobs at a time on the embedded queue (one job process each)', int('--concurrency', 1), 2)
    .option('--json', 'print the report as one JSON object on stdout')
    .action(async (o: { quick?: boolean; full?: boolean; out: string; seed: number; concurrency: number; json?: boolean }) => {
      json = Boolean(o.json);
      if (o.quick && o.full) throw new CompressionError({ code: 'BAD_CONFIG', message: '--quick and --full exclude each other', hint: 'pass one of them' });
      await ready();
      const progress = createProgress(io.stderr, { quiet: json });
      const jobs = sweepProgress(io.stderr, json);
      let report;
      try {
        report = await runPipeline({
          outDir: resolve(o.out),
          quick: Boolean(o.quick),
          full: Boolean(o.full),
          seed: o.seed,
          progress,
          onSweepEvent: jobs.onEvent,
          onSweepEnd: jobs.stop,
          concurrency: o.concurrency,
          backend: program.opts().backend as 'wasm' | 'cpu',
          // The baseline trains before any job: one thread per job process unless --workers says otherwise.
          baselineWorkers: program.getOptionValueSource('workers') === 'default' ? undefined : (program.opts().workers as number | 'auto'),
        });
      } finally {
        jobs.stop();
        progress.stop();
      }
      emit(report, () => `${summaryTable(report)}\nwrote ${report.outDir}/report.json, summary.md, catalogue.json and report.html`);
    });

  program
    .command('schema')
    .description('print the JSON Schema of recipes')
    .action(() => {
      out(JSON.stringify(recipeJsonSchema(registry.list()), null, 2));
    });

  registerCostCommands(program);
  registerExportCommands(program);
  registerSweepCommands(program, io);

  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    return reportError(e, io.stderr);
  }
}

/**
 * The exit code for an error (and its one-line report on stderr): a commander usage error 2; a typed error of
 * any edge-compress package (core's CompressionError, bandit-select's BanditError) 2 with its code and message,
 * never a stack trace (ABORTED: 1); anything else 1 with the stack (a bug).
 */
export function reportError(e: unknown, stderr: NodeJS.WritableStream): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
  if (isCompressionError(e) || isBanditError(e)) {
    stderr.write(`edge-compress: error [${e.code}]: ${e.message}\n`);
    return e.code === 'ABORTED' ? 1 : 2;
  }
  stderr.write(`edge-compress: failed: ${(e as Error)?.stack ?? String(e)}\n`);
  return 1;
}
