/**
 * A synthetic edge world for benchmarks: hundreds of device types with hidden true latencies/energies drawn around
 * hw-cost-like roofline profiles (HWCOST.md §3.2), users with QoE preferences (ALGORITHMS.md §6.2), drifting
 * conditions, and a catalogue of compressed model variants. All randomness is seeded.
 */
import { type Catalogue, FeatureSpace, parseCatalogue } from './catalogue.js';
import { BanditError } from './errors.js';
import { expectedClippedRating, qoe, QOE_DEFAULTS } from './qoe.js';
import { Rng } from './rng.js';

export const DEVICE_CLASSES = ['cpu', 'gpu', 'npu', 'fpga'] as const;
/** Device classes of the simulator: the four the catalogue models, and `dsp`, the cold-start class it does not. */
export type DeviceClass = (typeof DEVICE_CLASSES)[number] | 'dsp';
/** Classes without catalogue latency features (only present in the `coldstart` environment). */
export const COLD_CLASSES = ['dsp'] as const;

/**
 * Simulator environments (README "Environments"):
 * - `base`: the catalogue's cost model is right up to hidden per-device noise and a slow ±10 % drift;
 * - `coldstart`: 30 % of devices are of a class (`dsp`) the catalogue has no latency features for;
 * - `misspecified`: the true QoE is not the package's model (hard deadline, accuracy valued non-linearly per user,
 *   energy scales outside the feature basis);
 * - `drift`: at `driftAt` (default round 5,000) class latencies change, background load rises and the user mix turns
 *   latency-sensitive.
 */
export const WORLD_ENVS = ['base', 'coldstart', 'misspecified', 'drift'] as const;
export type WorldEnv = (typeof WORLD_ENVS)[number];

/** A model variant as the simulator sees it (ground truth for its cost model). */
export interface SimArm {
  id: string;
  /** Top-1 accuracy in [0, 1]. */
  acc: number;
  /** Dense multiply-accumulates per inference, millions. */
  macsM: number;
  /** Parameters, millions. */
  paramsM: number;
  /** Weight bits (32, 16, 8, 4). */
  bits: number;
  /** Kept fraction of weights/MACs (1 = dense; structured pruning or low rank < 1). */
  density: number;
}

/** Built-in synthetic catalogue: ImageNet-scale variants so latencies straddle the 20–200 ms deadlines. */
export const SYNTHETIC_ARMS: readonly SimArm[] = [
  { id: 'resnet50_fp32', acc: 0.761, macsM: 4100, paramsM: 25.6, bits: 32, density: 1 },
  { id: 'resnet50_int8', acc: 0.757, macsM: 4100, paramsM: 25.6, bits: 8, density: 1 },
  { id: 'resnet50_admm_int8', acc: 0.75, macsM: 4100, paramsM: 25.6, bits: 8, density: 0.35 },
  { id: 'resnet18_fp32', acc: 0.698, macsM: 1820, paramsM: 11.7, bits: 32, density: 1 },
  { id: 'resnet18_svd_fp16', acc: 0.688, macsM: 1820, paramsM: 11.7, bits: 16, density: 0.5 },
  { id: 'mobilenetv2_fp32', acc: 0.72, macsM: 300, paramsM: 3.5, bits: 32, density: 1 },
  { id: 'mobilenetv2_int8', acc: 0.713, macsM: 300, paramsM: 3.5, bits: 8, density: 1 },
  { id: 'mobilenetv2_bcr_int8', acc: 0.701, macsM: 300, paramsM: 3.5, bits: 8, density: 0.5 },
  { id: 'mobilenetv2_w4', acc: 0.69, macsM: 300, paramsM: 3.5, bits: 4, density: 1 },
  { id: 'mobilenetv2_035_int8', acc: 0.6, macsM: 59, paramsM: 1.7, bits: 8, density: 1 },
];

/** Per-class throughput multiplier by weight bits (relative to the class's nominal peak). */
const BIT_SPEEDUP: Record<DeviceClass, Record<number, number>> = {
  cpu: { 32: 1, 16: 1.3, 8: 2.5, 4: 2.2 },
  gpu: { 32: 1, 16: 2, 8: 2.2, 4: 1.8 },
  npu: { 32: 0.03, 16: 0.5, 8: 1, 4: 1.2 },
  fpga: { 32: 0.1, 16: 0.4, 8: 1, 4: 1.8 },
  // Cold-start class: an int8/int4 DSP-like accelerator unlike any catalogued class (fp32 emulated, no sparse kernels).
  dsp: { 32: 0.02, 16: 0.2, 8: 1, 4: 2.6 },
};
/** Nominal peak (GOP/s, fp32 for cpu/gpu and int8 for npu/fpga), bandwidth (GB/s), power (W), utilisation. */
const CLASS_PROFILE: Record<DeviceClass, { peak: [number, number]; bw: [number, number]; power: [number, number]; util: number; share: number }> = {
  cpu: { peak: [8, 60], bw: [5, 25], power: [1, 3], util: 0.3, share: 0.4 },
  gpu: { peak: [150, 1200], bw: [15, 50], power: [2, 5], util: 0.2, share: 0.3 },
  npu: { peak: [400, 4000], bw: [10, 35], power: [0.5, 2], util: 0.4, share: 0.2 },
  fpga: { peak: [100, 600], bw: [4, 20], power: [2, 7], util: 0.5, share: 0.1 },
  dsp: { peak: [150, 1500], bw: [6, 30], power: [0.3, 1.5], util: 0.35, share: 0 },
};
/** Class shares in the coldstart environment (dsp is 30 % of the device types). */
const COLD_SHARE: Record<DeviceClass, number> = { cpu: 0.3, gpu: 0.2, npu: 0.12, fpga: 0.08, dsp: 0.3 };
/** Per-nonzero slowdown of structured sparse / low-rank kernels. */
const SPARSE_KPAT: Record<DeviceClass, number> = { cpu: 1.3, gpu: 1.5, npu: 1.4, fpga: 1.1, dsp: 3 };

export interface DeviceType {
  id: number;
  cls: DeviceClass;
  peakGops: number;
  bwGBs: number;
  powerW: number;
  overheadMs: number;
  /** Hidden: device-specific efficiency multiplier on latency (lognormal around 1). */
  hiddenEfficiency: number;
  /** Hidden: per-arm latency multiplier (lognormal around 1). */
  hiddenArmNoise: Float64Array;
}

export interface SimUser {
  id: number;
  weights: { accuracy: number; latency: number; energy: number };
  deadlineMs: number;
  energyScaleMj: number;
  /** Hidden: exponent of the accuracy term in the misspecified environment (1 elsewhere). */
  accExponent: number;
}

export interface WorldOptions {
  seed?: number;
  /** Number of device types (default 300). */
  deviceTypes?: number;
  /** Number of users (default 50). */
  users?: number;
  /** Arms (default the synthetic catalogue). */
  arms?: readonly SimArm[];
  /** Observation noise sd on the QoE rating (default 0.05). */
  noiseSd?: number;
  /** Hidden slow drift amplitude on latency (default 0.1 = ±10 %). */
  drift?: number;
  /** Drift period in rounds (default 5000). */
  driftPeriod?: number;
  /** Hidden per-device / per-(device, arm) lognormal sd (default 0.1 / 0.05). */
  hiddenDeviceSd?: number;
  hiddenArmSd?: number;
  /** Environment (default 'base'). */
  env?: WorldEnv;
  /** Round at which the `drift` environment changes (default 5000). */
  driftAt?: number;
}

/** Context features of the base, misspecified and drift environments (coldstart adds the one-hot `dsp` after `fpga`). */
export const CONTEXT_FEATURES = ['gpu', 'npu', 'fpga', 'log_speed', 'load', 'battery', 'w_acc', 'w_lat', 'w_energy', 'log_deadline_ms'] as const;
const COLD_CONTEXT_FEATURES = ['gpu', 'npu', 'fpga', 'dsp', 'log_speed', 'load', 'battery', 'w_acc', 'w_lat', 'w_energy', 'log_deadline_ms'] as const;

/** Drift environment, after `driftAt`: latency multiplier per class and weight bits (driver update / throttling). */
const DRIFT_LATENCY: Record<DeviceClass, Record<number, number>> = {
  cpu: { 32: 1, 16: 1, 8: 1, 4: 1 },
  gpu: { 32: 1.3, 16: 0.6, 8: 0.35, 4: 0.3 },
  npu: { 32: 1, 16: 2.5, 8: 2.5, 4: 2.5 },
  fpga: { 32: 1, 16: 1, 8: 0.5, 4: 0.5 },
  dsp: { 32: 1, 16: 1, 8: 1, 4: 1 },
};

function logUniform(rng: Rng, lo: number, hi: number): number {
  return Math.exp(rng.uniform(Math.log(lo), Math.log(hi)));
}

function geoMean(lo: number, hi: number): number {
  return Math.sqrt(lo * hi);
}

/** Analytic (roofline) latency in ms of an arm on a device with the given profile, without hidden noise. */
export function rooflineLatencyMs(arm: SimArm, cls: DeviceClass, peakGops: number, bwGBs: number, overheadMs: number): number {
  const p = CLASS_PROFILE[cls];
  const speed = BIT_SPEEDUP[cls][arm.bits] ?? BIT_SPEEDUP[cls][32]!;
  const kpat = arm.density < 1 ? SPARSE_KPAT[cls] : 1;
  const ops = 2 * arm.macsM * 1e6 * arm.density * kpat;
  const compS = ops / (peakGops * 1e9 * p.util * speed);
  const bytes = arm.paramsM * 1e6 * arm.density * (arm.bits / 8) * (arm.density < 1 ? 1.05 : 1) + arm.macsM * 1e4;
  const memS = bytes / (bwGBs * 1e9);
  return Math.max(compS, memS) * 1000 + overheadMs;
}

/** Nominal power (W) per device class: the middle of the class's power range (what a cost model would predict). */
export function nominalPowerW(): Record<(typeof DEVICE_CLASSES)[number], number> {
  const r = {} as Record<(typeof DEVICE_CLASSES)[number], number>;
  for (const c of DEVICE_CLASSES) r[c] = (CLASS_PROFILE[c].power[0] + CLASS_PROFILE[c].power[1]) / 2;
  return r;
}

/** Catalogue features of an arm: accuracy, log MACs, log bytes, and the predicted log latency per device class. */
export function armCatalogueFeatures(arm: SimArm): Record<string, number> {
  const f: Record<string, number> = {
    acc: arm.acc,
    log_macs: Math.log(arm.macsM * 1e6 * arm.density),
    log_bytes: Math.log(arm.paramsM * 1e6 * arm.density * (arm.bits / 8)),
  };
  for (const cls of DEVICE_CLASSES) {
    const p = CLASS_PROFILE[cls];
    f[`lat_${cls}`] = Math.log(rooflineLatencyMs(arm, cls, geoMean(...p.peak), geoMean(...p.bw), 2));
  }
  return f;
}

/** Read SimArms from a pipeline catalogue: needs acc and macs (or log_macs) and params (or bytes + bits). */
export function simArmsFromCatalogue(cat: Catalogue): SimArm[] {
  return cat.arms.map((a, i) => {
    const f = a.features;
    const need = (names: string[]): number => {
      for (const n of names) if (f[n] !== undefined) return f[n]!;
      throw new BanditError({
        code: 'BAD_CATALOGUE',
        message: `$.arms[${i}].features (arm "${a.id}") lacks ${names.join(' or ')}, which the simulator needs for its cost model`,
        path: `$.arms[${i}].features`,
        hint: 'give each arm acc (0..1), macs or log_macs, and params (millions) or bytes; optional bits (32) and density (1)',
      });
    };
    const bits = f.bits ?? 32;
    const macs = f.macs ?? (f.log_macs !== undefined ? Math.exp(f.log_macs) : need(['macs', 'log_macs']));
    const paramsM =
      f.params_m ??
      (f.params !== undefined ? f.params / 1e6 : undefined) ??
      (f.bytes !== undefined
        ? (f.bytes * 8) / bits / 1e6
        : f.log_bytes !== undefined
          ? (Math.exp(f.log_bytes) * 8) / bits / 1e6
          : need(['params_m', 'params', 'bytes', 'log_bytes']));
    return { id: a.id, acc: need(['acc', 'accuracy']), macsM: macs / 1e6, paramsM, bits, density: f.density ?? 1 };
  });
}

/** One round of the world: who arrives and what every arm is truly worth. */
export interface WorldRound {
  device: number;
  user: number;
  /** Raw context values in CONTEXT_FEATURES order. */
  context: Float64Array;
  /** Expected observed rating E[clip(QoE + noise)] per arm (catalogue order). */
  mean: Float64Array;
}

export class SyntheticWorld {
  readonly seed: number;
  readonly arms: readonly SimArm[];
  readonly devices: DeviceType[];
  readonly users: SimUser[];
  readonly noiseSd: number;
  readonly drift: number;
  readonly driftPeriod: number;
  readonly env: WorldEnv;
  readonly driftAt: number;
  /** Raw context feature names, in the order of WorldRound.context. */
  readonly contextFeatures: readonly string[];
  /** Users arriving after `driftAt` in the drift environment (latency-sensitive mix). */
  readonly lateUsers: SimUser[];
  /** Policy-facing catalogue (features only; the hidden truth stays here). */
  readonly catalogue: Catalogue;
  readonly space: FeatureSpace;
  private readonly classPhase: Record<DeviceClass, number>;
  /** Base latency (ms) per device × arm, hidden noise included, before load and drift. */
  private readonly baseLatency: Float64Array;
  private readonly refPeak: Record<DeviceClass, number>;
  /** Base latency after the drift switch (drift environment only). */
  private readonly lateLatency: Float64Array;
  private readonly ci: { oneHot: Int32Array; speed: number; load: number; battery: number; wa: number; wl: number; we: number; dl: number };

  constructor(opts: WorldOptions = {}) {
    this.seed = opts.seed ?? 1;
    this.env = opts.env ?? 'base';
    if (!(WORLD_ENVS as readonly string[]).includes(this.env)) {
      throw new BanditError({
        code: 'BAD_CONFIG',
        message: `env must be one of ${WORLD_ENVS.join(', ')}, got ${JSON.stringify(opts.env)}`,
        path: 'env',
        hint: "e.g. env: 'coldstart'",
      });
    }
    this.driftAt = opts.driftAt ?? 5000;
    this.contextFeatures = this.env === 'coldstart' ? COLD_CONTEXT_FEATURES : CONTEXT_FEATURES;
    const cf = this.contextFeatures;
    const ix = (n: string) => cf.indexOf(n);
    this.ci = {
      oneHot: Int32Array.from(['gpu', 'npu', 'fpga', 'dsp'].map(ix)),
      speed: ix('log_speed'),
      load: ix('load'),
      battery: ix('battery'),
      wa: ix('w_acc'),
      wl: ix('w_lat'),
      we: ix('w_energy'),
      dl: ix('log_deadline_ms'),
    };
    const classes: DeviceClass[] = this.env === 'coldstart' ? [...DEVICE_CLASSES, 'dsp'] : [...DEVICE_CLASSES];
    const share = (c: DeviceClass) => (this.env === 'coldstart' ? COLD_SHARE[c] : CLASS_PROFILE[c].share);
    this.arms = opts.arms ?? SYNTHETIC_ARMS;
    this.noiseSd = opts.noiseSd ?? 0.05;
    this.drift = opts.drift ?? 0.1;
    this.driftPeriod = opts.driftPeriod ?? 5000;
    const nDev = opts.deviceTypes ?? 300;
    const nUsers = opts.users ?? 50;
    const devSd = opts.hiddenDeviceSd ?? 0.1;
    const armSd = opts.hiddenArmSd ?? 0.05;
    const rng = Rng.derive(this.seed, 0x77);
    const K = this.arms.length;
    this.refPeak = { cpu: 0, gpu: 0, npu: 0, fpga: 0, dsp: 0 };
    for (const c of classes) this.refPeak[c] = geoMean(...CLASS_PROFILE[c].peak);
    this.devices = [];
    for (let i = 0; i < nDev; i++) {
      const u = rng.next();
      let acc = 0;
      let cls: DeviceClass = 'cpu';
      for (const c of classes) {
        acc += share(c);
        if (u < acc) {
          cls = c;
          break;
        }
      }
      const p = CLASS_PROFILE[cls];
      const noise = new Float64Array(K);
      for (let a = 0; a < K; a++) noise[a] = Math.exp(armSd * rng.normal());
      this.devices.push({
        id: i,
        cls,
        peakGops: logUniform(rng, ...p.peak),
        bwGBs: logUniform(rng, ...p.bw),
        powerW: rng.uniform(...p.power),
        overheadMs: logUniform(rng, 0.5, 5),
        hiddenEfficiency: Math.exp(devSd * rng.normal()),
        hiddenArmNoise: noise,
      });
    }
    this.users = [];
    for (let i = 0; i < nUsers; i++) {
      const w = rng.dirichlet([2, 2, 1]);
      this.users.push({
        id: i,
        weights: { accuracy: w[0]!, latency: w[1]!, energy: w[2]! },
        deadlineMs: rng.uniform(20, 200),
        energyScaleMj: logUniform(rng, 30, 600),
        accExponent: 1,
      });
    }
    this.classPhase = { cpu: 0, gpu: 0, npu: 0, fpga: 0, dsp: 0 };
    for (const c of DEVICE_CLASSES) this.classPhase[c] = rng.uniform(0, 2 * Math.PI);
    // Environment-specific draws come from their own stream, so the base population is the same in every environment.
    const eRng = Rng.derive(this.seed, 0xe4);
    if (this.env === 'misspecified') {
      // Accuracy valued non-linearly (A^κ, κ ~ logU(0.4, 3) per user) and energy scales partly outside the basis.
      for (const u of this.users) {
        u.accExponent = logUniform(eRng, 0.4, 3);
        u.energyScaleMj = logUniform(eRng, 8, 2500);
      }
    }
    this.lateUsers = [];
    if (this.env === 'drift') {
      for (let i = 0; i < nUsers; i++) {
        const w = eRng.dirichlet([1, 4, 1.5]);
        this.lateUsers.push({
          id: nUsers + i,
          weights: { accuracy: w[0]!, latency: w[1]!, energy: w[2]! },
          deadlineMs: eRng.uniform(8, 60),
          energyScaleMj: logUniform(eRng, 30, 600),
          accExponent: 1,
        });
      }
    }
    this.baseLatency = new Float64Array(nDev * K);
    this.lateLatency = new Float64Array(this.env === 'drift' ? nDev * K : 0);
    this.devices.forEach((d, i) => {
      this.arms.forEach((arm, a) => {
        const l = rooflineLatencyMs(arm, d.cls, d.peakGops, d.bwGBs, d.overheadMs) * d.hiddenEfficiency * d.hiddenArmNoise[a]!;
        this.baseLatency[i * K + a] = l;
        if (this.env === 'drift') this.lateLatency[i * K + a] = l * (DRIFT_LATENCY[d.cls][arm.bits] ?? 1);
      });
    });
    // Context scaling from the (initial) population (so x̃ is roughly standardised).
    const sample = new Float64Array(cf.length);
    const sRng = Rng.derive(this.seed, 0x5ca1e);
    const n = 4000;
    const sum = new Float64Array(cf.length);
    const sq = new Float64Array(cf.length);
    for (let t = 0; t < n; t++) {
      this.drawContext(sRng, sample, 0);
      for (let i = 0; i < sample.length; i++) {
        sum[i] = sum[i]! + sample[i]!;
        sq[i] = sq[i]! + sample[i]! * sample[i]!;
      }
    }
    const context = cf.map((name, i) => {
      const mean = sum[i]! / n;
      const sd = Math.sqrt(Math.max(1e-12, sq[i]! / n - mean * mean));
      return { name, center: round6(mean), scale: round6(sd) };
    });
    this.catalogue = parseCatalogue({
      arms: this.arms.map((a) => ({ id: a.id, features: mapValues(armCatalogueFeatures(a), round6) })),
      context,
      // QoE feature block (on by default for this catalogue; interactions then default off). ê = nominal class power ×
      // ℓ̂, with the nominal power of each class's profile, as lat_<class> uses the nominal peak and bandwidth.
      qoe: { powerW: nominalPowerW(), ...(this.env === 'coldstart' ? { coldClasses: [...COLD_CLASSES] } : {}) },
    });
    this.space = new FeatureSpace(this.catalogue);
  }

  private late(t: number): boolean {
    return this.env === 'drift' && t >= this.driftAt;
  }

  /** The user of a round (user ids ≥ users.length are the drift environment's late users). */
  user(id: number): SimUser {
    return id < this.users.length ? this.users[id]! : this.lateUsers[id - this.users.length]!;
  }

  /** Draw who arrives at round t; fills raw context values; returns [device, user]. */
  private drawContext(rng: Rng, out: Float64Array, t: number): [number, number] {
    const late = this.late(t);
    const di = rng.int(this.devices.length);
    const ui = rng.int(this.users.length);
    const d = this.devices[di]!;
    const u = late ? this.lateUsers[ui]! : this.users[ui]!;
    const ci = this.ci;
    const oh = ['gpu', 'npu', 'fpga', 'dsp'];
    for (let k = 0; k < 4; k++) if (ci.oneHot[k]! >= 0) out[ci.oneHot[k]!] = d.cls === oh[k] ? 1 : 0;
    out[ci.speed] = Math.log(d.peakGops / this.refPeak[d.cls]);
    const load = rng.uniform(0, 0.6); // background load (observable)
    out[ci.load] = late ? 0.4 + 1.5 * load : load;
    out[ci.battery] = rng.uniform(0.05, 1); // battery (observable)
    out[ci.wa] = u.weights.accuracy;
    out[ci.wl] = u.weights.latency;
    out[ci.we] = u.weights.energy;
    out[ci.dl] = Math.log(u.deadlineMs);
    return [di, late ? this.users.length + ui : ui];
  }

  /** True latency (ms) and energy (mJ) of arm a for a device at round t under the given load. */
  trueCost(device: number, a: number, load: number, t: number): { latencyMs: number; energyMj: number } {
    const d = this.devices[device]!;
    const drift = 1 + this.drift * Math.sin((2 * Math.PI * t) / this.driftPeriod + this.classPhase[d.cls]);
    const base = this.late(t) ? this.lateLatency : this.baseLatency;
    const latencyMs = base[device * this.arms.length + a]! * (1 + load) * drift;
    return { latencyMs, energyMj: d.powerW * latencyMs };
  }

  /** The true mean QoE (before observation noise) of arm a in a round at time t. */
  trueQoe(round: WorldRound, a: number, t: number): number {
    const user = this.user(round.user);
    const c = this.trueCost(round.device, a, round.context[this.ci.load]!, t);
    const energyScaleMj = user.energyScaleMj * (0.3 + 0.7 * round.context[this.ci.battery]!);
    const arm = this.arms[a]!;
    if (this.env !== 'misspecified') {
      return qoe({ accuracy: arm.acc, latencyMs: c.latencyMs, energyMj: c.energyMj }, { weights: user.weights, deadlineMs: user.deadlineMs, energyScaleMj });
    }
    // Misspecified truth: hard deadline (no credit past L), accuracy valued as A^κ with a hidden per-user κ.
    const w = user.weights;
    const s = w.accuracy + w.latency + w.energy;
    const A = Math.min(1, Math.max(0, (arm.acc - QOE_DEFAULTS.accLo) / (QOE_DEFAULTS.accHi - QOE_DEFAULTS.accLo)));
    const S = c.latencyMs <= user.deadlineMs ? 1 : 0;
    const E = Math.exp(-c.energyMj / energyScaleMj);
    return (w.accuracy * Math.pow(A, user.accExponent) + w.latency * S + w.energy * E) / s;
  }

  /** Sample one round at time t with `rng`; fills `out`. */
  sample(t: number, rng: Rng, out: WorldRound): void {
    const [di, ui] = this.drawContext(rng, out.context, t);
    out.device = di;
    out.user = ui;
    for (let a = 0; a < this.arms.length; a++) out.mean[a] = expectedClippedRating(this.trueQoe(out, a, t), this.noiseSd);
  }

  newRound(): WorldRound {
    return { device: 0, user: 0, context: new Float64Array(this.contextFeatures.length), mean: new Float64Array(this.arms.length) };
  }

  /** Observed rating: clip(mean-QoE + N(0, sd²), 0, 1) given a standard normal draw z (mean is the clipped mean's source). */
  observe(round: WorldRound, a: number, t: number, z: number): number {
    return Math.min(1, Math.max(0, this.trueQoe(round, a, t) + this.noiseSd * z));
  }
}

function round6(v: number): number {
  return Number(v.toPrecision(6));
}

function mapValues(r: Record<string, number>, f: (v: number) => number): Record<string, number> {
  const o: Record<string, number> = {};
  for (const [k, v] of Object.entries(r)) o[k] = f(v);
  return o;
}
