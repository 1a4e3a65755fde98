/**
 * QoE model (ALGORITHMS.md §6.2, after Lu et al., CogMI 2019):
 *
 *   QoE = w_a·clip((acc − a_lo)/(a_hi − a_lo), 0, 1) + w_l·σ((L − ℓ)/τ_L) + w_e·exp(−e/E)
 *
 * with the user-set weights (w_a, w_l, w_e) normalised onto the simplex, σ the logistic function, L the user's latency
 * deadline (ms), τ_L its softness (default L/5), ℓ the latency (ms), e the energy per inference (mJ) and E the user's
 * energy scale (mJ). QoE ∈ [0, 1].
 */
import { z } from 'zod';
import { BanditError, formatIssues } from './errors.js';

const nonneg = z.number().min(0).refine(Number.isFinite, { message: 'must be finite' });
const pos = z.number().positive().refine(Number.isFinite, { message: 'must be finite' });

export const qoeParamsSchema = z
  .object({
    weights: z.object({ accuracy: nonneg, latency: nonneg, energy: nonneg }),
    deadlineMs: pos,
    tauMs: pos.optional(),
    energyScaleMj: pos,
    accLo: z.number().refine(Number.isFinite).optional(),
    accHi: z.number().refine(Number.isFinite).optional(),
  })
  .refine((p) => p.weights.accuracy + p.weights.latency + p.weights.energy > 0, {
    message: 'at least one weight must be > 0',
    path: ['weights'],
  });

export type QoeParams = z.input<typeof qoeParamsSchema>;

export interface QoeObservation {
  /** Top-1 accuracy in [0, 1]. */
  accuracy: number;
  latencyMs: number;
  energyMj: number;
}

export const QOE_DEFAULTS = { accLo: 0.5, accHi: 0.8 } as const;

export function parseQoeParams(input: unknown, source = 'qoe'): QoeParams {
  const r = qoeParamsSchema.safeParse(input);
  if (!r.success) {
    throw new BanditError({
      code: 'BAD_CONFIG',
      message: `${source}: ${formatIssues(r.error.issues)}`,
      path: source,
      hint: 'expected {"weights":{"accuracy":0.4,"latency":0.4,"energy":0.2},"deadlineMs":100,"energyScaleMj":300}',
    });
  }
  return r.data;
}

function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

/** The three QoE terms before weighting, each in [0, 1]. */
export function qoeTerms(obs: QoeObservation, p: QoeParams): { accuracy: number; latency: number; energy: number } {
  const lo = p.accLo ?? QOE_DEFAULTS.accLo;
  const hi = p.accHi ?? QOE_DEFAULTS.accHi;
  const tau = p.tauMs ?? p.deadlineMs / 5;
  return {
    accuracy: Math.min(1, Math.max(0, (obs.accuracy - lo) / (hi - lo))),
    latency: sigmoid((p.deadlineMs - obs.latencyMs) / tau),
    energy: Math.exp(-Math.max(0, obs.energyMj) / p.energyScaleMj),
  };
}

/** QoE ∈ [0, 1] of one observation for one user (weights are normalised to sum to 1). */
export function qoe(obs: QoeObservation, p: QoeParams): number {
  const w = p.weights;
  const s = w.accuracy + w.latency + w.energy;
  const t = qoeTerms(obs, p);
  return (w.accuracy * t.accuracy + w.latency * t.latency + w.energy * t.energy) / s;
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 erf, |error| < 1.5e-7). */
export function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * z);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  return x >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y);
}

/**
 * E[clip(μ + N(0, σ²), 0, 1)]: the expected observed rating when QoE μ is observed with Gaussian noise and clipped
 * to [0, 1]. This is the exact per-arm mean the simulator's oracle and regret use.
 */
export function expectedClippedRating(mu: number, sd: number): number {
  if (sd <= 0) return Math.min(1, Math.max(0, mu));
  const a = (0 - mu) / sd;
  const b = (1 - mu) / sd;
  const pdf = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  const Fa = normalCdf(a);
  const Fb = normalCdf(b);
  return mu * (Fb - Fa) + sd * (pdf(a) - pdf(b)) + (1 - Fb);
}
