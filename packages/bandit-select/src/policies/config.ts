import { z } from 'zod';
import { BanditError, formatIssues } from '../errors.js';

export const POLICY_KINDS = ['linucb', 'linucb-disjoint', 'linucb-hybrid', 'lints', 'egreedy', 'squarecb', 'uniform', 'fixed', 'qoets'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

const prob = z.number().min(0).max(1);
const featureNameSchema = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.\-*]*$/, { message: 'must be a feature name (see space.featureNames())' });
const pos = z.number().positive().refine(Number.isFinite, { message: 'must be finite' });
const seed = z.number().int().min(0).max(0xffffffff);
const common = {
  seed: seed.optional(),
  /** Ridge prior λ (A = λI). */
  lambda: pos.optional(),
  /** Exact re-inversion period for the Sherman–Morrison inverses (0 = never). */
  recomputeEvery: z.number().int().min(0).optional(),
  /** Exponential forgetting per update γ ∈ (0, 1] (1 = none; memory ≈ 1/(1 − γ) updates). */
  forget: z.number().gt(0).max(1).optional(),
};
/**
 * Prior mean of the shared-φ models: the name of a φ coordinate taken as the reward before any feedback (the ridge
 * then learns the residual), or false for none. Default: "qoe_pred" when φ has the QoE block, else none. Shared-φ
 * policies only (linucb, lints, egreedy, squarecb).
 */
const prior = { prior: z.union([featureNameSchema, z.literal(false)]).optional() };

const linucbLike = {
  ...common,
  /** Exploration width α (score = θᵀφ + α·sqrt(φᵀA⁻¹φ)). */
  alpha: z.number().min(0).refine(Number.isFinite, { message: 'must be finite' }).optional(),
  /** ε of the deployment mixture so every arm has p ≥ ε/k (needed by IPS/DR). */
  epsilon: prob.optional(),
};

export const policyConfigSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('linucb'), ...linucbLike, ...prior }).strict(),
  z.object({ kind: z.literal('linucb-disjoint'), ...linucbLike }).strict(),
  z.object({ kind: z.literal('linucb-hybrid'), ...linucbLike }).strict(),
  z
    .object({
      kind: z.literal('lints'),
      ...common,
      ...prior,
      /** Posterior scale v: μ̃ ~ N(μ̂, v²B⁻¹). */
      v: z.number().min(0).refine(Number.isFinite, { message: 'must be finite' }).optional(),
      /** Monte-Carlo posterior samples per decision; the arm is drawn from their argmax frequencies. */
      samples: z.number().int().min(1).max(100_000).optional(),
      epsilon: prob.optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('egreedy'),
      ...common,
      ...prior,
      epsilon: prob.optional(),
      /** Decaying ε: ε_t = ε·min(1, √(decayT0 / t)) with t the number of learned examples (0 = constant ε). */
      decayT0: z.number().min(0).refine(Number.isFinite, { message: 'must be finite' }).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('squarecb'),
      ...common,
      ...prior,
      /** γ_t = gamma0 · t^exponent (VW --gamma_scale / --gamma_exponent). */
      gamma0: pos.optional(),
      exponent: z.number().min(0).max(1).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('qoets'),
      seed: seed.optional(),
      /** Likelihood sd σ of the structured QoE model (larger: wider posteriors, more exploration). */
      sigma: pos.optional(),
      /** Joint posterior draws per decision; the arm is drawn from their argmax frequencies. */
      samples: z.number().int().min(1).max(100_000).optional(),
      epsilon: prob.optional(),
      /** Discount of a (class, arm) cell's latency log-likelihood per update of that cell (1 = none). */
      forget: z.number().gt(0).max(1).optional(),
      /** Prior sd of the log-latency correction for the catalogue's cold classes / for the catalogued classes. */
      coldSd: pos.optional(),
      knownSd: pos.optional(),
      /** Optimism quantile for the catalogued classes (default 0.5: the median, no optimism); cold classes use quantile. */
      knownQuantile: z.number().gt(0).max(0.5).optional(),
      /**
       * How 'optimism' scores the catalogued classes: 'quantile' (μ at the knownQuantile of δ) or 'mean' (the
       * posterior-mean reward, as 'greedy' does). Cold classes always use the optimism quantile.
       */
      knownScore: z.enum(['quantile', 'mean', 'gap']).optional(),
      /** Gap rule ('gap'): arms within gapTol of the best posterior-mean reward are candidates; the most uncertain is played. */
      gapTol: z.number().min(0).max(1).optional(),
      /**
       * Discount of a cell's latency log-likelihood per update of the policy (any cell) since the cell's own last
       * update (1 = none): cells not played for a while regain their prior width (drift: stale latencies).
       */
      staleForget: z.number().gt(0).max(1).optional(),
      /**
       * Random-walk sd of every cell's log-latency correction δ per 1,000 policy updates (0 = off): a cell's posterior
       * is convolved with N(0, driftSd²·age/1000), age = policy updates since the cell's last update, so the latency of
       * an arm not played for a while becomes uncertain again (non-stationarity; the learner, shared by every mode).
       */
      driftSd: z.number().min(0).max(10).optional(),
      /**
       * Prior sd of a log-latency offset per device type η_d, shared by all arms on that device type (0 = off). A device
       * type is identified by its class and its raw `log_speed` value; the class cell δ_{c,a} is its pooled mean.
       */
      deviceSd: z.number().min(0).max(3).optional(),
      /** Prior sd of a log-latency offset per (device type, arm) ξ_{d,a}, pooled towards the class cell (0 = off). */
      deviceArmSd: z.number().min(0).max(3).optional(),
      /**
       * Likelihood that knows ratings are clipped to [0, 1] (a Tobit likelihood): a rating of exactly 1 (0) is read as
       * "μ + noise ≥ 1 (≤ 0)", not as a rating of 1 (0). Default false.
       */
      clippedLikelihood: z.boolean().optional(),
      /**
       * Change detection per device class (0 = off): a two-sided CUSUM of the standardised residuals (r − μ̂)/σ of the
       * class's updates, slack 0.5; when it exceeds this threshold, every (class, arm) cell's latency log-likelihood is
       * multiplied by `changeReset`, so the class's posteriors widen and are re-learned.
       */
      changeThreshold: z.number().min(0).max(1000).optional(),
      /** Factor on a class's cell log-likelihoods when a change is detected (0 < changeReset ≤ 1). */
      changeReset: z.number().gt(0).max(1).optional(),
      /**
       * Prior sd of a class-wide log-latency offset γ_c shared by every arm of a device class (0 = off): a change that
       * moves a whole class (throttling, a driver update) is learned from whichever arms are played and carried to the
       * others. Its log-likelihood is discounted by `classForget` on each update of the class. Catalogued classes only
       * (a cold class's cells already have the wide prior coldSd).
       */
      classSd: z.number().min(0).max(3).optional(),
      classForget: z.number().gt(0).max(1).optional(),
      /** Prior sd of the additive per-(profile, arm) bias (0 = off). */
      userArmSd: z.number().min(0).refine(Number.isFinite, { message: 'must be finite' }).optional(),
      /**
       * 'optimism' (default): score each arm at the lower `quantile` of its latency correction's posterior;
       * 'thompson': posterior sampling; 'greedy': the posterior-mean best arm (the same learner without exploration).
       */
      explore: z.enum(['optimism', 'thompson', 'greedy', 'gap']).optional(),
      /** Quantile q ∈ (0, 0.5] of the optimism rule (0.5 = the median, i.e. almost greedy). */
      quantile: z.number().gt(0).max(0.5).optional(),
    })
    .strict(),
  z.object({ kind: z.literal('uniform'), seed: seed.optional() }).strict(),
  z
    .object({
      kind: z.literal('fixed'),
      seed: seed.optional(),
      /** Catalogue id of the arm to always play (uniform over the offered arms if it is not offered). */
      arm: z.string().min(1),
      epsilon: prob.optional(),
    })
    .strict(),
]);

export type PolicyConfigInput = z.input<typeof policyConfigSchema>;
export type PolicyConfig = z.output<typeof policyConfigSchema>;

/** Documented defaults (ALGORITHMS.md §6.3; ε floors and α tuned on the built-in simulator, see README). */
export const POLICY_DEFAULTS = {
  lambda: 1,
  recomputeEvery: 1000,
  forget: 1,
  egreedyDecayT0: 0,
  alpha: 0.1,
  ucbEpsilon: 0.002,
  /** Prior feature used when `prior` is not set and φ has it. */
  prior: 'qoe_pred',
  egreedyEpsilon: 0.05,
  tsV: 0.1,
  tsSamples: 200,
  tsEpsilon: 0.01,
  gamma0: 10,
  gammaExponent: 0.5,
  fixedEpsilon: 0,
  qoetsSigma: 0.1,
  qoetsSamples: 64,
  qoetsColdSd: 1,
  qoetsKnownSd: 0.15,
  qoetsKnownQuantile: 0.5,
  qoetsEpsilon: 0,
  qoetsQuantile: 0.2,
  qoetsForget: 0.99,
  qoetsKnownScore: 'mean',
  qoetsStaleForget: 1,
  qoetsDriftSd: 0,
  qoetsGapTol: 0.01,
  qoetsUserArmSd: 0,
  qoetsDeviceSd: 0.2,
  qoetsDeviceArmSd: 0,
  qoetsClippedLikelihood: true,
  qoetsChangeThreshold: 0,
  qoetsChangeReset: 0.1,
  qoetsClassSd: 0.3,
  qoetsClassForget: 0.995,
} as const;

export function parsePolicyConfig(input: unknown, source = 'policy'): PolicyConfig {
  const r = policyConfigSchema.safeParse(input);
  if (!r.success) {
    throw new BanditError({
      code: 'BAD_CONFIG',
      message: `${source}: ${formatIssues(r.error.issues)}`,
      path: source,
      hint: `expected {"kind": one of ${POLICY_KINDS.join(' | ')}, ...options}, e.g. {"kind":"linucb","alpha":0.5}`,
    });
  }
  return r.data;
}
