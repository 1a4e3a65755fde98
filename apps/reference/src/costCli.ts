/**
 * `edge-compress calibrate` and `edge-compress cost` (hw-cost). Wire into main.ts with
 * `registerCostCommands(program)` before `parseAsync`; errors propagate as CompressionErrors (exit code 2).
 */
import { type Command, InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import { CompressionError, initBackend, loadModel } from '@edge-compress/core';
import {
  builtinProfiles,
  calibrate,
  defaultCalibrationPath,
  estimateCost,
  findProfile,
  loadCalibration,
  loadProfileDir,
  mergeProfiles,
  saveCalibration,
  type Calibration,
  type DeviceProfile,
  type ModelEstimate,
} from '@edge-compress/hw-cost';

const posInt =
  (name: string) =>
  (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be an integer ≥ 1, got '${v}'`);
    return n;
  };
const collect = (v: string, prev: string[] = []) => [
  ...prev,
  ...v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
];

const fmt = (x: number, d = 3) => (x >= 100 ? x.toFixed(1) : x >= 1 ? x.toFixed(d - 1) : x.toPrecision(d));

function table(e: ModelEstimate): string {
  const head = `${e.device} (${e.kind}, ${e.method}): ${fmt(e.latencyMs)} ms, ${fmt(e.energyMj)} mJ, ${Math.round(e.storageBytes)} B stored, ${(e.macs / 1e6).toFixed(2)} M MACs (${(e.macsExecuted / 1e6).toFixed(2)} M executed), ${fmt(e.gopsPerWatt)} GOP/s/W, ${e.bottleneck}-bound`;
  const w = Math.max(12, ...e.layers.map((l) => l.name.length));
  const rows = e.layers.map(
    (l) =>
      `  ${l.name.padEnd(w)} ${l.op.padEnd(10)} ${l.pattern.padEnd(12)} ${fmt(l.latencyMs).padStart(9)} ms ${fmt(l.energyMj).padStart(9)} mJ ${String(Math.round(l.weightBytesMoved + l.activationBytesMoved + l.indexBytesMoved)).padStart(9)} B moved  ${l.bottleneck}`,
  );
  return [head, ...rows, ...e.warnings.map((w) => `  warning: ${w}`)].join('\n');
}

export function registerCostCommands(program: Command): void {
  const write = (s: string) => {
    const w = program.configureOutput().writeOut ?? ((x: string) => process.stdout.write(x));
    w(s.endsWith('\n') ? s : `${s}\n`);
  };
  const log = (s: string) => {
    const w = program.configureOutput().writeErr ?? ((x: string) => process.stderr.write(x));
    w(`${s}\n`);
  };

  program
    .command('calibrate')
    .description('time generated layer configurations on this machine (stock tfjs-layers predict on wasm, min over 3 processes) and fit the local-wasm cost model')
    .option('--quick', 'a short calibration (about a minute on an idle machine)')
    .option('--out <file>', `where to save the calibration (default ${defaultCalibrationPath()})`)
    .option('--processes <n>', 'timing processes (the figure is the minimum over them)', posInt('--processes'), 3)
    .option('--json', 'print one JSON object on stdout')
    .action(async (o: { quick?: boolean; out?: string; processes: number; json?: boolean }) => {
      await initBackend('wasm');
      const c = await calibrate({ quick: Boolean(o.quick), processes: o.processes, onProgress: o.json ? undefined : log });
      const path = await saveCalibration(c, o.out ? resolve(o.out) : defaultCalibrationPath());
      const r = {
        command: 'calibrate',
        path,
        seconds: c.stats.calibrateS,
        configs: c.protocol.configs,
        models: c.protocol.models,
        processes: c.protocol.processes,
        stats: c.stats,
        params: c.params,
        deviceState: c.deviceState,
      };
      write(
        o.json
          ? JSON.stringify(r)
          : `calibrated local-wasm from ${c.protocol.configs} layer configs and ${c.protocol.models} models in ${c.stats.calibrateS!.toFixed(0)} s (load average ${JSON.stringify(c.deviceState.loadBefore)})\nsaved ${path}`,
      );
    });

  program
    .command('cost')
    .description('latency, energy, storage, MACs and bottleneck of a model on device profiles, per layer and total')
    .requiredOption('--model <path>', 'model.json (or its directory)')
    .option('--device <name...>', 'device id(s); repeat or comma-separate', collect)
    .option('--all', 'every device (local-wasm only when a calibration exists)')
    .option('--batch <n>', 'batch size', posInt('--batch'), 1)
    .option('--calibration <file>', 'local-wasm calibration (default: the file `calibrate` writes)')
    .option('--profiles <dir>', 'extra device profiles (*.json) to add to the bundled ones')
    .option('--json', 'print one JSON object on stdout')
    .action(async (o: { model: string; device?: string[]; all?: boolean; batch: number; calibration?: string; profiles?: string; json?: boolean }) => {
      if (o.all && o.device?.length)
        throw new CompressionError({ code: 'BAD_CONFIG', path: '--device', message: '--device and --all exclude each other', hint: 'pass one of them' });
      let profiles: DeviceProfile[] = builtinProfiles();
      if (o.profiles) profiles = mergeProfiles(profiles, await loadProfileDir(resolve(o.profiles)));
      let ids = o.device?.length ? o.device : profiles.map((p) => p.id);
      ids.forEach((id) => findProfile(profiles, id)); // unknown device → did-you-mean, before loading anything
      const needsLocal = ids.some((id) => findProfile(profiles, id).kind === 'local-wasm');
      let calibration: Calibration | undefined;
      const skipped: string[] = [];
      if (needsLocal) {
        const path = o.calibration ? resolve(o.calibration) : defaultCalibrationPath();
        try {
          calibration = await loadCalibration(path);
        } catch (e) {
          // --all (or no --device) skips an uncalibrated local-wasm; asking for it by name is an error.
          if (o.device?.length || o.calibration) throw e;
          for (const id of ids) if (findProfile(profiles, id).kind === 'local-wasm') skipped.push(`${id}: no calibration; run \`edge-compress calibrate\``);
          ids = ids.filter((id) => findProfile(profiles, id).kind !== 'local-wasm');
        }
      }
      const loaded = await loadModel(o.model);
      const est = estimateCost(loaded.model, { devices: ids, batch: o.batch, profiles, calibration });
      const devices = est.map((e) => ({
        device: e.device,
        kind: e.kind,
        method: e.method,
        batch: e.batch,
        latencyMs: e.latencyMs,
        energyMj: e.energyMj,
        storageBytes: e.storageBytes,
        macs: e.macs,
        macsExecuted: e.macsExecuted,
        bytesMoved: e.bytesMoved,
        bottleneck: e.bottleneck,
        gopsPerWatt: e.gopsPerWatt,
        averageW: e.averageW,
        warnings: e.warnings,
        layers: e.layers,
      }));
      write(
        o.json
          ? JSON.stringify({ command: 'cost', model: loaded.modelJson, batch: o.batch, devices, skipped })
          : `${loaded.modelJson}, batch ${o.batch}\n\n${est.map(table).join('\n\n')}${skipped.map((x) => `\n\nskipped ${x}`).join('')}`,
      );
    });
}
