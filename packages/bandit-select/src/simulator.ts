/**
 * Regret simulation: every policy faces the same sequence of rounds (common random numbers for contexts and
 * observation noise) of a SyntheticWorld; regret is measured against the per-round oracle argmax_a E[rating].
 */
import { BanditError } from './errors.js';
import type { LoggedExample } from './logging.js';
import { createPolicy, type Policy, type PolicyConfigInput } from './policies/index.js';
import { Rng } from './rng.js';
import { SyntheticWorld, type WorldOptions } from './world.js';

/** A policy in a simulation: a config, or 'best-fixed' (the best single arm in hindsight, by true means). */
export type SimPolicySpec = PolicyConfigInput | 'best-fixed' | { name: string; config: PolicyConfigInput | 'best-fixed' };

export const DEFAULT_SIM_POLICIES: readonly SimPolicySpec[] = [
  { kind: 'linucb' },
  { kind: 'linucb-disjoint' },
  { kind: 'linucb-hybrid' },
  { kind: 'lints' },
  { kind: 'egreedy' },
  { kind: 'squarecb' },
  { kind: 'uniform' },
  'best-fixed',
];

export interface SimulationOptions extends WorldOptions {
  rounds?: number;
  policies?: readonly SimPolicySpec[];
  /** Number of points on each regret curve (default 100). */
  curvePoints?: number;
  /** Receives every decision of the policy named `logPolicy` (default: the first policy). */
  onLog?: (example: LoggedExample) => void;
  logPolicy?: string;
  /** A prebuilt world (otherwise one is built from the WorldOptions). */
  world?: SyntheticWorld;
}

export interface PolicyRun {
  name: string;
  kind: string;
  /** Cumulative regret at each checkpoint. */
  cumRegret: number[];
  regret: number;
  /** Cumulative regret / cumulative oracle reward. */
  regretShare: number;
  /** Mean expected reward of the arms played. */
  meanReward: number;
  /** Share of rounds on which an oracle-optimal arm was played. */
  optimalArmShare: number;
}

export interface SimulationResult {
  seed: number;
  rounds: number;
  numArms: number;
  dim: number;
  deviceTypes: number;
  users: number;
  checkpoints: number[];
  oracleCumReward: number;
  oracleMeanReward: number;
  bestFixedArm: string;
  policies: PolicyRun[];
}

function specName(spec: SimPolicySpec): string {
  if (spec === 'best-fixed') return 'best-fixed';
  if (typeof spec === 'object' && 'name' in spec) return spec.name;
  return (spec as { kind: string }).kind;
}

function specConfig(spec: SimPolicySpec): PolicyConfigInput | 'best-fixed' {
  if (spec === 'best-fixed') return spec;
  if (typeof spec === 'object' && 'name' in spec) return spec.config;
  return spec as PolicyConfigInput;
}

/**
 * Stream ids of `runSimulation`'s random numbers (`Rng.derive(seed, id)`): the rounds' contexts and the noise on the
 * played arm. Scripts that replay the same rounds outside `runSimulation` derive their streams from these.
 */
export const SIM_STREAMS = { contexts: 0xc0de, noise: 0x0b5 } as const;

/** Run every policy on the same T rounds and return cumulative regret curves side by side. */
export function runSimulation(opts: SimulationOptions = {}): SimulationResult {
  const world = opts.world ?? new SyntheticWorld(opts);
  const seed = world.seed;
  const T = opts.rounds ?? 10_000;
  if (!Number.isInteger(T) || T < 1) {
    throw new BanditError({ code: 'BAD_CONFIG', message: `rounds must be a positive integer, got ${T}`, path: 'rounds', hint: 'e.g. rounds: 10000' });
  }
  const specs = opts.policies ?? DEFAULT_SIM_POLICIES;
  const names = specs.map(specName);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) {
    throw new BanditError({ code: 'BAD_CONFIG', message: `policy name "${dup}" appears twice`, path: 'policies', hint: 'give repeated kinds distinct names: {name, config}' });
  }
  const K = world.arms.length;
  const c = world.contextFeatures.length;
  // Precompute the rounds once (common random numbers for all policies).
  const ctx = new Float64Array(T * c);
  const mean = new Float64Array(T * K);
  const dev = new Int32Array(T);
  const usr = new Int32Array(T);
  const noise = new Float64Array(T);
  const wRng = Rng.derive(seed, SIM_STREAMS.contexts);
  const nRng = Rng.derive(seed, SIM_STREAMS.noise);
  const round = world.newRound();
  let oracleCum = 0;
  const best = new Float64Array(T);
  const armTotals = new Float64Array(K);
  for (let t = 0; t < T; t++) {
    world.sample(t, wRng, round);
    ctx.set(round.context, t * c);
    mean.set(round.mean, t * K);
    dev[t] = round.device;
    usr[t] = round.user;
    noise[t] = nRng.normal();
    let m = -Infinity;
    for (let a = 0; a < K; a++) {
      const v = round.mean[a]!;
      armTotals[a] = armTotals[a]! + v;
      if (v > m) m = v;
    }
    best[t] = m;
    oracleCum += m;
  }
  let bestFixed = 0;
  for (let a = 1; a < K; a++) if (armTotals[a]! > armTotals[bestFixed]!) bestFixed = a;
  const bestFixedId = world.arms[bestFixed]!.id;

  const points = Math.max(1, Math.min(T, opts.curvePoints ?? 100));
  const checkpoints: number[] = [];
  for (let i = 1; i <= points; i++) checkpoints.push(Math.round((i * T) / points));
  const logName = opts.logPolicy ?? names[0];

  const runs: PolicyRun[] = specs.map((spec, pi) => {
    const cfg = specConfig(spec);
    // Seed from (simulation seed, policy name), so adding or reordering policies does not change the others' runs.
    const policySeed = (Math.imul(seed, 7919) + nameHash(names[pi]!) + 13) >>> 0;
    const config: PolicyConfigInput = cfg === 'best-fixed' ? { kind: 'fixed', arm: bestFixedId, seed: policySeed } : { ...cfg, seed: cfg.seed ?? policySeed };
    const policy: Policy = createPolicy(config, world.space);
    const batch = world.space.newBatch();
    batch.k = K;
    for (let a = 0; a < K; a++) batch.arms[a] = a;
    const log = opts.onLog && names[pi] === logName ? opts.onLog : undefined;
    const curve: number[] = [];
    let cum = 0;
    let rewardSum = 0;
    let optimal = 0;
    let next = 0;
    for (let t = 0; t < T; t++) {
      world.space.encodeContextValues(ctx, batch.ctx, t * c);
      world.space.fill(batch);
      const j = policy.decide(batch);
      const a = batch.arms[j]!;
      const mu = mean[t * K + a]!;
      cum += best[t]! - mu;
      rewardSum += mu;
      if (best[t]! - mu <= 1e-12) optimal++;
      round.device = dev[t]!;
      round.user = usr[t]!;
      round.context.set(ctx.subarray(t * c, (t + 1) * c));
      const r = world.observe(round, a, t, noise[t]!);
      if (log) log(simExample(world, t, round, policy, j, r, names[pi]!));
      policy.update(batch, j, r);
      if (t + 1 === checkpoints[next]) {
        curve.push(cum);
        next++;
      }
    }
    return {
      name: names[pi]!,
      kind: config.kind,
      cumRegret: curve,
      regret: cum,
      regretShare: cum / oracleCum,
      meanReward: rewardSum / T,
      optimalArmShare: optimal / T,
    };
  });

  return {
    seed,
    rounds: T,
    numArms: K,
    dim: world.space.dim,
    deviceTypes: world.devices.length,
    users: world.users.length,
    checkpoints,
    oracleCumReward: oracleCum,
    oracleMeanReward: oracleCum / T,
    bestFixedArm: bestFixedId,
    policies: runs,
  };
}

function simExample(
  world: SyntheticWorld,
  t: number,
  round: { device: number; user: number; context: Float64Array },
  policy: Policy,
  j: number,
  reward: number,
  name: string,
): LoggedExample {
  const context: Record<string, number> = {};
  world.contextFeatures.forEach((n, i) => (context[n] = round.context[i]!));
  return {
    t,
    deviceId: `dev${round.device}`,
    userId: `user${round.user}`,
    context,
    arms: world.catalogue.arms.map((a) => ({ id: a.id, features: a.features })),
    chosen: j,
    probability: policy.probs[j]!,
    probs: Array.from(policy.probs.subarray(0, world.arms.length)),
    reward,
    policy: name,
  };
}

/** A plain-text table of a simulation result (final regret, regret share, mean reward, % optimal). */
export function formatSimulationTable(r: SimulationResult): string {
  const rows = [['policy', 'cum. regret', 'regret/oracle', 'mean reward', '% optimal']];
  for (const p of r.policies) {
    rows.push([p.name, p.regret.toFixed(1), p.regretShare.toFixed(4), p.meanReward.toFixed(4), (100 * p.optimalArmShare).toFixed(1)]);
  }
  rows.push(['oracle', '0', '0', r.oracleMeanReward.toFixed(4), '100']);
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(w[i]!) : cell.padStart(w[i]!))).join('  ')).join('\n');
}

/** FNV-1a hash of a string (uint32). */
function nameHash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** Cumulative regret curves side by side as CSV: `t,<policy>,<policy>,...`, one row per checkpoint. */
export function regretCsv(r: SimulationResult): string {
  const lines = [['t', ...r.policies.map((p) => p.name)].join(',')];
  r.checkpoints.forEach((t, i) => lines.push([String(t), ...r.policies.map((p) => (p.cumRegret[i] ?? 0).toFixed(4))].join(',')));
  return `${lines.join('\n')}\n`;
}
