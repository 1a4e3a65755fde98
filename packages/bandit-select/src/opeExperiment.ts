/**
 * OPE checked in simulation: log n decisions of a logging policy in a SyntheticWorld, estimate the value of a frozen
 * target policy with IPS / SNIPS / DM / DR, and compare with the target's true on-policy value
 * V = E_x[Σ_a π(a|x)·E[r|x,a]] computed exactly (expected ratings) over fresh contexts.
 */
import { estimateOffPolicy, type OpeOptions, type OpeReport, type OpeSample } from './ope.js';
import { createPolicy, type PolicyConfigInput } from './policies/index.js';
import { Rng } from './rng.js';
import { SyntheticWorld, type WorldOptions } from './world.js';

export interface OpeExperimentOptions extends WorldOptions {
  /** Logged decisions (default 10,000). */
  n?: number;
  /** Rounds used to train the target policy before it is frozen (default 2,000). */
  warmup?: number;
  /** Fresh contexts for the true value (default 20,000). */
  truthSamples?: number;
  /** Logging policy, learning online while it logs if it learns (default uniform random, the randomised-logging setting of OBP). */
  logging?: PolicyConfigInput;
  /**
   * Rounds on which the logging policy is trained (on its own stream) before logging; it is then frozen while it logs
   * (default 0: no pre-training, and it keeps learning online). E.g. `{kind:'egreedy', epsilon:0.05}` with 2,000 rounds
   * is a deployed good policy that explores little.
   */
  loggingWarmup?: number;
  /** Target policy kind, trained on `warmup` rounds then frozen (default LinUCB in a 0.05 ε-mixture). */
  target?: PolicyConfigInput;
  ope?: OpeOptions;
}

export const OPE_ESTIMATORS = ['ips', 'ipsCv', 'snips', 'dm', 'dr'] as const;
export type OpeEstimatorName = (typeof OPE_ESTIMATORS)[number];

export interface OpeExperimentResult {
  truth: number;
  report: OpeReport;
  /** |V̂ − V| / V per estimator. */
  relError: Record<OpeEstimatorName, number>;
  /** The estimator's bootstrap CI as a signed relative error interval [(lo − V)/V, (hi − V)/V]. */
  relErrorCi: Record<OpeEstimatorName, [number, number]>;
}

export function runOpeExperiment(opts: OpeExperimentOptions = {}): OpeExperimentResult {
  const world = new SyntheticWorld(opts);
  const seed = world.seed;
  const space = world.space;
  const K = world.arms.length;
  const n = opts.n ?? 10_000;
  const batch = space.newBatch();
  batch.k = K;
  for (let a = 0; a < K; a++) batch.arms[a] = a;
  const round = world.newRound();

  // 1. Target: trained on its own stream, then frozen.
  const target = createPolicy({ ...(opts.target ?? { kind: 'linucb', epsilon: 0.05 }), seed: (seed * 31 + 1) >>> 0 } as PolicyConfigInput, space);
  const tRng = Rng.derive(seed, 0x7a);
  for (let t = 0; t < (opts.warmup ?? 2000); t++) {
    world.sample(t, tRng, round);
    space.encodeContextValues(round.context, batch.ctx);
    space.fill(batch);
    const j = target.decide(batch);
    target.update(batch, j, world.observe(round, batch.arms[j]!, t, tRng.normal()));
  }

  // 2. Logging policy, learning online; rounds continue after the warm-up period (same drift clock).
  const t0 = opts.warmup ?? 2000;
  const logging = createPolicy({ ...(opts.logging ?? { kind: 'uniform' }), seed: (seed * 31 + 2) >>> 0 } as PolicyConfigInput, space);
  const lw = opts.loggingWarmup ?? 0;
  const wRng = Rng.derive(seed, 0x1a);
  for (let t = 0; t < lw; t++) {
    world.sample(t, wRng, round);
    space.encodeContextValues(round.context, batch.ctx);
    space.fill(batch);
    const j = logging.decide(batch);
    logging.update(batch, j, world.observe(round, batch.arms[j]!, t, wRng.normal()));
  }
  const lRng = Rng.derive(seed, 0x10);
  const samples: OpeSample[] = [];
  for (let i = 0; i < n; i++) {
    const t = t0 + i;
    world.sample(t, lRng, round);
    space.encodeContextValues(round.context, batch.ctx);
    space.fill(batch);
    const j = logging.decide(batch);
    const r = world.observe(round, batch.arms[j]!, t, lRng.normal());
    samples.push({
      ctx: Float64Array.from(batch.ctx),
      arms: Int32Array.from(batch.arms.subarray(0, K)),
      chosen: j,
      propensity: logging.probs[j]!,
      reward: r,
      probs: Float64Array.from(logging.probs.subarray(0, K)),
    });
    if (lw === 0) logging.update(batch, j, r);
  }

  // 3. True on-policy value of the frozen target over the same period (fresh contexts).
  const m = opts.truthSamples ?? 20_000;
  const vRng = Rng.derive(seed, 0x7e);
  const pi = new Float64Array(K);
  let truth = 0;
  for (let i = 0; i < m; i++) {
    const t = t0 + Math.floor((i * n) / m);
    world.sample(t, vRng, round);
    space.encodeContextValues(round.context, batch.ctx);
    space.fill(batch);
    target.probabilities(batch, pi);
    for (let a = 0; a < K; a++) truth += pi[a]! * round.mean[a]!;
  }
  truth /= m;

  const report = estimateOffPolicy(samples, space, target, { seed, ...opts.ope });
  const rel = (v: number) => Math.abs(v - truth) / Math.abs(truth);
  const relError = {} as Record<OpeEstimatorName, number>;
  const relErrorCi = {} as Record<OpeEstimatorName, [number, number]>;
  for (const k of OPE_ESTIMATORS) {
    relError[k] = rel(report[k].value);
    relErrorCi[k] = [(report[k].ci[0] - truth) / truth, (report[k].ci[1] - truth) / truth];
  }
  return { truth, report, relError, relErrorCi };
}
