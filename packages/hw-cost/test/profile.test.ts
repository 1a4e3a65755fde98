import { isCompressionError } from '@edge-compress/core';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinProfiles, findProfile, KINDS, loadProfileDir, loadProfileFile, parseProfile, uncertainValues } from '../src/index.js';

const dir = await mkdtemp(join(tmpdir(), 'hwcost-prof-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

function expectBadConfig(fn: () => unknown, ...fragments: string[]) {
  try {
    fn();
  } catch (e) {
    expect(isCompressionError(e, 'BAD_CONFIG'), String(e)).toBe(true);
    for (const f of fragments) expect((e as Error).message).toContain(f);
    return;
  }
  throw new Error('expected a BAD_CONFIG error');
}

describe('device profiles', () => {
  it('bundles one profile of every required kind, all valid', () => {
    const ps = builtinProfiles();
    expect(ps.map((p) => p.kind).sort()).toEqual([...KINDS].sort());
    expect(ps.map((p) => p.id)).toEqual(['cortex-m7', 'mobile-cpu', 'mobile-gpu', 'edge-fpga', 'eyeriss', 'local-wasm']);
  });

  it('a missing field is a typed error naming the file and the field', () => {
    const raw = structuredClone(builtinProfiles()[2]) as Record<string, unknown>;
    delete raw.dramBandwidth;
    expectBadConfig(() => parseProfile(raw, 'my-phone.json'), 'my-phone.json', "'dramBandwidth'", 'missing');
  });

  it('a negative number is a typed error naming the file and the nested field', () => {
    const raw = structuredClone(builtinProfiles()[3]) as { peakOps: { int8: { value: number } } };
    raw.peakOps.int8.value = -5;
    expectBadConfig(() => parseProfile(raw, 'fpga2.json'), 'fpga2.json', "'peakOps.int8.value'", '≥ 0', '-5');
  });

  it('a number without its source is rejected', () => {
    const raw = structuredClone(builtinProfiles()[1]) as { layerOverheadS: Record<string, unknown> };
    delete raw.layerOverheadS.src;
    expectBadConfig(() => parseProfile(raw, 'cpu.json'), "'layerOverheadS.src'");
  });

  it('an efficiency above 1 is rejected', () => {
    const raw = structuredClone(builtinProfiles()[1]) as { computeEfficiency: { value: number } };
    raw.computeEfficiency.value = 1.5;
    expectBadConfig(() => parseProfile(raw, 'cpu.json'), 'computeEfficiency.value', '(0, 1]', '1.5');
  });

  it('users add a device by adding a file; a bad file in the directory names itself', async () => {
    const mine = { ...structuredClone(builtinProfiles()[2]), id: 'my-gpu', name: 'My GPU' };
    await writeFile(join(dir, 'my-gpu.json'), JSON.stringify(mine));
    const ps = await loadProfileDir(dir);
    expect(ps.map((p) => p.id)).toEqual(['my-gpu']);
    await writeFile(join(dir, 'broken.json'), '{"id": "x"');
    await expect(loadProfileFile(join(dir, 'broken.json'))).rejects.toThrow(/broken\.json is not valid JSON/);
  });

  it('an unknown device gets a did-you-mean', () => {
    expectBadConfig(() => findProfile(builtinProfiles(), 'mobile-gpx'), "unknown device 'mobile-gpx'", "did you mean 'mobile-gpu'");
  });

  it('lists the recalled ([U]) numbers that still need a citation', () => {
    const u = uncertainValues(findProfile(builtinProfiles(), 'mobile-gpu'));
    expect(u.some((s) => s.startsWith('energy.activeW: 2.5 W'))).toBe(true);
    expect(uncertainValues(findProfile(builtinProfiles(), 'local-wasm')).some((s) => s.startsWith('peakOps'))).toBe(false);
  });
});
