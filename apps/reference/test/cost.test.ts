import { Command } from 'commander';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend, initModel, isCompressionError, saveModel } from '@edge-compress/core';
import { toyConvIR } from '@edge-compress/core/testing';
import { builtinProfiles, fitCalibration, identityConfigs, irMacs, layerConfigs, modelSpecs, saveCalibration } from '@edge-compress/hw-cost';
import { registerCostCommands } from '../src/costCli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ec-cost-'));
  await initBackend('wasm');
  await saveModel(initModel(toyConvIR(), 0), join(dir, 'toy'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The cost commands on their own program, as main.ts registers them. */
async function cli(...argv: string[]) {
  let stdout = '',
    stderr = '';
  const program = new Command('edge-compress').exitOverride().configureOutput({ writeOut: (s) => void (stdout += s), writeErr: (s) => void (stderr += s) });
  registerCostCommands(program);
  let error: unknown;
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    error = e;
  }
  return { stdout, stderr, error };
}

describe('edge-compress cost', () => {
  it('--json prints one object { devices: [{ device, latencyMs, energyMj, storageBytes, macs, bottleneck, layers }] }', async () => {
    const r = await cli('cost', '--model', join(dir, 'toy', 'model.json'), '--device', 'mobile-gpu', '--device', 'edge-fpga,cortex-m7', '--batch', '4', '--json');
    expect(r.error).toBeUndefined();
    const o = JSON.parse(r.stdout);
    expect(o.devices.map((d: { device: string }) => d.device)).toEqual(['mobile-gpu', 'edge-fpga', 'cortex-m7']);
    for (const d of o.devices) {
      expect(Object.keys(d)).toEqual(expect.arrayContaining(['device', 'latencyMs', 'energyMj', 'storageBytes', 'macs', 'bottleneck', 'layers']));
      expect(d.latencyMs).toBeGreaterThan(0);
      expect(d.energyMj).toBeGreaterThan(0);
      // toyConvIR: conv 3x3x1x4 on 8x8 (same) = 2,304 MACs, fc 64x16 = 1,024, fc 16x4 = 64 → 3,392 per example.
      expect(d.macs).toBe(4 * 3392);
      // Every weight is fp32: (36 + 4 + 1024 + 16 + 64 + 4) * 4 bytes.
      expect(d.storageBytes).toBe(1148 * 4);
      expect(d.layers.map((l: { name: string }) => l.name)).toEqual(['conv1', 'pool1', 'flatten', 'fc1', 'fc2']);
      expect(['compute', 'memory', 'overhead']).toContain(d.bottleneck);
    }
  });

  it('prints per-device totals and per-layer rows as text', async () => {
    const r = await cli('cost', '--model', join(dir, 'toy'), '--device', 'mobile-cpu');
    expect(r.stdout).toMatch(/^mobile-cpu \(mobile-cpu, analytic\): .* ms, .* mJ/m);
    expect(r.stdout).toMatch(/^\s+fc1\s+dense\s+dense/m);
  });

  it('--device local-wasm without a calibration is a typed error that says to run calibrate', async () => {
    const r = await cli('cost', '--model', join(dir, 'toy'), '--device', 'local-wasm', '--calibration', join(dir, 'none.json'), '--json');
    expect(isCompressionError(r.error, 'BAD_CONFIG')).toBe(true);
    expect(String((r.error as Error).message)).toMatch(/calibrat.*run `edge-compress calibrate`/s);
    expect(r.stdout).toBe('');
  });

  it('--device local-wasm with a calibration file uses it', async () => {
    const layerItems = layerConfigs({ count: 20, seed: 1 }),
      identityItems = identityConfigs(1);
    const modelItems = modelSpecs(10, 2).map((s, i) => ({ id: `m${i}`, ir: s.ir, batch: 1 }));
    const ms = Object.fromEntries([...layerItems, ...identityItems, ...modelItems].map((it) => [it.id, 0.03 + (2 * irMacs(it.ir, it.batch)) / 1e7]));
    const cal = {
      ...fitCalibration({ layerItems, identityItems, modelItems, ms }, { nEstimators: 5 }),
      createdAt: 'test',
      deviceState: {},
      protocol: { processes: 0, rounds: 0, configs: 29, models: 10 },
    };
    const file = join(dir, 'cal.json');
    await saveCalibration(cal, file);
    const r = await cli('cost', '--model', join(dir, 'toy'), '--device', 'local-wasm', '--calibration', file, '--json');
    expect(r.error).toBeUndefined();
    const d = JSON.parse(r.stdout).devices[0];
    expect(d.device).toBe('local-wasm');
    expect(d.method).toBe('calibrated');
    expect(d.latencyMs).toBeGreaterThan(0);
  });

  it('--all without a calibration costs every analytic device and says local-wasm was skipped', async () => {
    process.env.EDGE_COMPRESS_CALIBRATION = join(dir, 'absent.json');
    try {
      const r = await cli('cost', '--model', join(dir, 'toy'), '--all', '--json');
      const o = JSON.parse(r.stdout);
      expect(o.devices.map((d: { device: string }) => d.device)).toEqual(['cortex-m7', 'mobile-cpu', 'mobile-gpu', 'edge-fpga', 'eyeriss']);
      expect(o.skipped[0]).toMatch(/^local-wasm: no calibration; run `edge-compress calibrate`/);
    } finally {
      delete process.env.EDGE_COMPRESS_CALIBRATION;
    }
  });

  it('an unknown device gets a did-you-mean; --batch 0 is rejected', async () => {
    const r = await cli('cost', '--model', join(dir, 'toy'), '--device', 'mobile-gpu2');
    expect(isCompressionError(r.error, 'BAD_CONFIG')).toBe(true);
    expect(String((r.error as Error).message)).toContain("did you mean 'mobile-gpu'");
    const b = await cli('cost', '--model', join(dir, 'toy'), '--batch', '0');
    expect(String(b.stderr)).toMatch(/--batch must be an integer ≥ 1, got '0'/);
  });

  it('a user profile directory adds a device; a broken profile names its file and field', async () => {
    const pd = join(dir, 'profiles');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(pd, { recursive: true });
    await writeFile(join(pd, 'my-npu.json'), JSON.stringify({ ...builtinProfiles()[4], id: 'my-npu' }));
    const ok = await cli('cost', '--model', join(dir, 'toy'), '--profiles', pd, '--device', 'my-npu', '--json');
    expect(JSON.parse(ok.stdout).devices[0].device).toBe('my-npu');
    const bad = { ...builtinProfiles()[4], id: 'bad-npu', onChipBytes: { value: -1, unit: 'B', src: 'x', tag: 'E' } };
    await writeFile(join(pd, 'bad-npu.json'), JSON.stringify(bad));
    const r = await cli('cost', '--model', join(dir, 'toy'), '--profiles', pd, '--device', 'my-npu');
    expect(String((r.error as Error).message)).toMatch(/bad-npu\.json: field 'onChipBytes\.value' must be ≥ 0, got -1/);
  });
});
