import { z } from 'zod';
import { BanditError, formatIssues } from '../errors.js';
import type { BasePolicy, Policy, PolicyState } from './base.js';
import { parsePolicyConfig, POLICY_DEFAULTS, POLICY_KINDS, type PolicyConfigInput } from './config.js';
import { LinTs } from './lints.js';
import { DisjointLinUcb, HybridLinUcb, SharedLinUcb } from './linucb.js';
import { EpsilonGreedy, FixedArmPolicy, SquareCb, UniformPolicy } from './simple.js';
import { QoeThompson } from './qoets.js';
import type { FeatureSpace } from '../catalogue.js';

export * from './base.js';
export * from './config.js';
export { LinTs } from './lints.js';
export { DisjointLinUcb, HybridLinUcb, SharedLinUcb } from './linucb.js';
export { EpsilonGreedy, FixedArmPolicy, SquareCb, UniformPolicy } from './simple.js';
export { logNormalCdf, QoeThompson } from './qoets.js';

/** Shape of the decisions a policy will see (a FeatureSpace satisfies it). */
export interface PolicyShape {
  readonly numArms: number;
  readonly dim: number;
  readonly ctxDim: number;
  readonly armIds: readonly string[];
  /** Names of the φ coordinates (needed to resolve a `prior` feature; a FeatureSpace has it). */
  featureNames?(): string[];
}

/** Resolve `prior` (undefined = "qoe_pred" when φ has it) into an explicit name or false, and its φ index. */
function resolvePrior<C extends { prior?: string | false | undefined }>(cfg: C, shape: PolicyShape): [C, number] {
  const names = shape.featureNames?.() ?? [];
  const name = cfg.prior === undefined ? (names.includes(POLICY_DEFAULTS.prior) ? POLICY_DEFAULTS.prior : false) : cfg.prior;
  const resolved = { ...cfg, prior: name };
  return [resolved, priorIndex(resolved, names)];
}

function priorIndex(cfg: { prior?: string | false | undefined }, names: readonly string[]): number {
  if (cfg.prior === undefined || cfg.prior === false) return -1;
  const i = names.indexOf(cfg.prior);
  if (i < 0) {
    throw new BanditError({
      code: 'BAD_CONFIG',
      message: `policy.prior "${cfg.prior}" is not a coordinate of φ${names.length ? ` (e.g. ${names.slice(-5).join(', ')})` : ' (the shape lists no feature names)'}`,
      path: '$.policy.prior',
      hint: 'use a name from space.featureNames(), e.g. "qoe_pred" when the QoE block is on, or omit prior',
    });
  }
  return i;
}

function withPrior<C extends { prior?: string | false | undefined }>(cfg: C, shape: PolicyShape): [C, number, number, number, number] {
  const [c, i] = resolvePrior(cfg, shape);
  return [c, shape.numArms, shape.dim, shape.ctxDim, i];
}

/**
 * The package's default policy for a feature space: `qoets` (optimism on the QoE model's latent terms) when the space
 * has the QoE block, else shared LinUCB.
 */
export function defaultPolicyConfig(shape: PolicyShape): PolicyConfigInput {
  return 'newQoeInputs' in shape && (shape as FeatureSpace).qoe ? { kind: 'qoets' } : { kind: 'linucb' };
}

/** Create a policy from a config such as `{ kind: 'linucb', alpha: 0.5, seed: 7 }` (validated). */
export function createPolicy(config: PolicyConfigInput | string, shape: PolicyShape): Policy {
  const cfg = parsePolicyConfig(typeof config === 'string' ? { kind: config } : config);
  const { numArms, dim, ctxDim } = shape;
  switch (cfg.kind) {
    case 'linucb':
      return new SharedLinUcb(...withPrior(cfg, shape));
    case 'linucb-disjoint':
      return new DisjointLinUcb(cfg, numArms, dim, ctxDim);
    case 'linucb-hybrid':
      return new HybridLinUcb(cfg, numArms, dim, ctxDim);
    case 'lints':
      return new LinTs(...withPrior(cfg, shape));
    case 'egreedy':
      return new EpsilonGreedy(...withPrior(cfg, shape));
    case 'squarecb':
      return new SquareCb(...withPrior(cfg, shape));
    case 'uniform':
      return new UniformPolicy(cfg, numArms, dim, ctxDim);
    case 'fixed':
      return new FixedArmPolicy(cfg, numArms, dim, ctxDim, shape.armIds);
    case 'qoets':
      if (!('newQoeInputs' in shape)) {
        throw new BanditError({
          code: 'BAD_CONFIG',
          message: 'policy kind "qoets" needs a FeatureSpace with the QoE block, not a bare shape',
          path: '$.policy.kind',
          hint: 'create it with createPolicy(config, space) for a FeatureSpace',
        });
      }
      return new QoeThompson(cfg, shape as FeatureSpace);
  }
}

const stateSchema = z.object({
  format: z.literal('edge-select-policy'),
  version: z.literal(1),
  kind: z.enum(POLICY_KINDS),
  config: z.object({ kind: z.enum(POLICY_KINDS) }).loose(),
  numArms: z.number().int().positive(),
  dim: z.number().int().positive(),
  ctxDim: z.number().int().positive(),
  updates: z.number().int().min(0),
  decisions: z.number().int().min(0),
  rng: z.tuple([z.number().int(), z.number().int(), z.number().int(), z.number().int()]),
  arrays: z.record(z.string(), z.array(z.number())),
});

/**
 * Rebuild a policy from `policy.toJSON()`. The restored policy makes the same decisions as the original from that
 * point on (same learnable arrays and RNG state). Throws BAD_STATE if the state does not fit `shape`.
 */
export function restorePolicy(state: unknown, shape: PolicyShape): Policy {
  const r = stateSchema.safeParse(state);
  if (!r.success) {
    throw new BanditError({
      code: 'BAD_STATE',
      message: `policy state: ${formatIssues(r.error.issues)}`,
      path: '$',
      hint: 'pass the object returned by policy.toJSON()',
    });
  }
  const s = r.data as unknown as PolicyState;
  for (const key of ['numArms', 'dim', 'ctxDim'] as const) {
    if (s[key] !== shape[key]) {
      throw new BanditError({
        code: 'BAD_STATE',
        message: `policy state: $.${key} is ${s[key]} but the feature space has ${shape[key]}`,
        path: `$.${key}`,
        hint: 'restore with the same catalogue and context features the policy was trained with',
      });
    }
  }
  // States written before `prior` existed (0.1) had no prior: keep it that way.
  const cfg = s.config as PolicyConfigInput & { prior?: string | false };
  const hasPrior = ['linucb', 'lints', 'egreedy', 'squarecb'].includes(cfg.kind);
  const p = createPolicy((hasPrior && cfg.prior === undefined ? { ...cfg, prior: false } : cfg) as PolicyConfigInput, shape) as BasePolicy;
  p.loadState(s);
  return p;
}
