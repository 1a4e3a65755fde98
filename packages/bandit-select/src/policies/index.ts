import { z } from 'zod';
import { BanditError, formatIssues } from '../errors.js';
import type { BasePolicy, Policy, PolicyState } from './base.js';
import { parsePolicyConfig, POLICY_KINDS, type PolicyConfigInput } from './config.js';
import { LinTs } from './lints.js';
import { DisjointLinUcb, HybridLinUcb, SharedLinUcb } from './linucb.js';
import { EpsilonGreedy, FixedArmPolicy, SquareCb, UniformPolicy } from './simple.js';

export * from './base.js';
export * from './config.js';
export { LinTs } from './lints.js';
export { DisjointLinUcb, HybridLinUcb, SharedLinUcb } from './linucb.js';
export { EpsilonGreedy, FixedArmPolicy, SquareCb, UniformPolicy } from './simple.js';

/** Shape of the decisions a policy will see (a FeatureSpace satisfies it). */
export interface PolicyShape {
  readonly numArms: number;
  readonly dim: number;
  readonly ctxDim: number;
  readonly armIds: readonly string[];
}

/** Create a policy from a config such as `{ kind: 'linucb', alpha: 0.5, seed: 7 }` (validated). */
export function createPolicy(config: PolicyConfigInput | string, shape: PolicyShape): Policy {
  const cfg = parsePolicyConfig(typeof config === 'string' ? { kind: config } : config);
  const { numArms, dim, ctxDim } = shape;
  switch (cfg.kind) {
    case 'linucb':
      return new SharedLinUcb(cfg, numArms, dim, ctxDim);
    case 'linucb-disjoint':
      return new DisjointLinUcb(cfg, numArms, dim, ctxDim);
    case 'linucb-hybrid':
      return new HybridLinUcb(cfg, numArms, dim, ctxDim);
    case 'lints':
      return new LinTs(cfg, numArms, dim, ctxDim);
    case 'egreedy':
      return new EpsilonGreedy(cfg, numArms, dim, ctxDim);
    case 'squarecb':
      return new SquareCb(cfg, numArms, dim, ctxDim);
    case 'uniform':
      return new UniformPolicy(cfg, numArms, dim, ctxDim);
    case 'fixed':
      return new FixedArmPolicy(cfg, numArms, dim, ctxDim, shape.armIds);
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
  const p = createPolicy(s.config as PolicyConfigInput, shape) as BasePolicy;
  p.loadState(s);
  return p;
}
