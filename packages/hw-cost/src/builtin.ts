/** The bundled device profiles (packages/hw-cost/profiles/*.json), validated on first use. */
import cortexM7 from '../profiles/cortex-m7.json';
import edgeFpga from '../profiles/edge-fpga.json';
import eyeriss from '../profiles/eyeriss.json';
import localWasm from '../profiles/local-wasm.json';
import mobileCpu from '../profiles/mobile-cpu.json';
import mobileGpu from '../profiles/mobile-gpu.json';
import { parseProfile, type DeviceProfile } from './profile.js';

const RAW: Array<[string, unknown]> = [
  ['cortex-m7.json', cortexM7],
  ['mobile-cpu.json', mobileCpu],
  ['mobile-gpu.json', mobileGpu],
  ['edge-fpga.json', edgeFpga],
  ['eyeriss.json', eyeriss],
  ['local-wasm.json', localWasm],
];
let cache: DeviceProfile[] | undefined;

/** The six bundled profiles: cortex-m7, mobile-cpu, mobile-gpu, edge-fpga, eyeriss, local-wasm. */
export function builtinProfiles(): DeviceProfile[] {
  cache ??= RAW.map(([f, raw]) => parseProfile(raw, `@edge-compress/hw-cost/profiles/${f}`));
  return cache.map((p) => structuredClone(p));
}
