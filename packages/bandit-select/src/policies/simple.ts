/** ε-greedy and SquareCB over a ridge model on φ(x, a), and the uniform / fixed-arm baselines. */
import type { FeatureBatch } from '../catalogue.js';
import { BanditError } from '../errors.js';
import { BasePolicy, greedyMix, SharedRidgePolicy } from './base.js';
import { POLICY_DEFAULTS, type PolicyConfig } from './config.js';

type Cfg<K extends PolicyConfig['kind']> = Extract<PolicyConfig, { kind: K }>;

/** ε-greedy: p(best) = 1 − ε + ε/k, p(other) = ε/k, greedy arm from ridge regression on φ. */
export class EpsilonGreedy extends SharedRidgePolicy {
  readonly kind = 'egreedy' as const;
  readonly epsilon: number;
  readonly decayT0: number;

  constructor(config: Cfg<'egreedy'>, numArms: number, dim: number, ctxDim: number, priorIndex = -1) {
    super(config, numArms, dim, ctxDim, priorIndex);
    this.epsilon = config.epsilon ?? POLICY_DEFAULTS.egreedyEpsilon;
    this.decayT0 = config.decayT0 ?? POLICY_DEFAULTS.egreedyDecayT0;
  }

  /** ε at the current step: ε·min(1, √(decayT0 / t)), t = learned examples (≥ 1); ε when decayT0 = 0. */
  currentEpsilon(): number {
    return this.decayT0 > 0 ? this.epsilon * Math.min(1, Math.sqrt(this.decayT0 / Math.max(1, this.updates))) : this.epsilon;
  }

  protected fillProbs(batch: FeatureBatch, out: Float64Array): void {
    this.scoreMeans(batch);
    greedyMix(this.scores, batch.k, this.currentEpsilon(), out);
  }
}

/**
 * SquareCB (Foster & Rakhlin 2020; VW --squarecb): b = argmax ŷ, p(a) = 1/(k + γ_t(ŷ_b − ŷ_a)) for a ≠ b and
 * p(b) = 1 − Σ_{a≠b} p(a), with γ_t = γ₀·t^exponent and t the number of learned examples (≥ 1).
 */
export class SquareCb extends SharedRidgePolicy {
  readonly kind = 'squarecb' as const;
  readonly gamma0: number;
  readonly exponent: number;

  constructor(config: Cfg<'squarecb'>, numArms: number, dim: number, ctxDim: number, priorIndex = -1) {
    super(config, numArms, dim, ctxDim, priorIndex);
    this.gamma0 = config.gamma0 ?? POLICY_DEFAULTS.gamma0;
    this.exponent = config.exponent ?? POLICY_DEFAULTS.gammaExponent;
  }

  protected fillProbs(batch: FeatureBatch, out: Float64Array): void {
    const K = batch.k;
    this.scoreMeans(batch);
    let best = -Infinity;
    let b = 0;
    for (let j = 0; j < K; j++) {
      const y = this.scores[j]!;
      if (y > best) {
        best = y;
        b = j;
      }
    }
    const gamma = this.gamma0 * Math.pow(Math.max(1, this.updates), this.exponent);
    let rest = 0;
    for (let j = 0; j < K; j++) {
      if (j === b) continue;
      const p = 1 / (K + gamma * (best - this.scores[j]!));
      out[j] = p;
      rest += p;
    }
    out[b] = 1 - rest;
  }
}

/** Uniform random over the offered arms (a logging baseline; no learning). */
export class UniformPolicy extends BasePolicy {
  readonly kind = 'uniform' as const;

  protected fillProbs(batch: FeatureBatch, out: Float64Array): void {
    const p = 1 / batch.k;
    for (let j = 0; j < batch.k; j++) out[j] = p;
  }

  protected learn(): void {}

  protected arrays(): Record<string, Float64Array> {
    return {};
  }
}

/**
 * Always the same arm ("one common model for all devices", the baseline the seed paper argues against), optionally in
 * an ε-mixture. If the arm is not offered, uniform over the offered arms.
 */
export class FixedArmPolicy extends BasePolicy {
  readonly kind = 'fixed' as const;
  readonly arm: number;
  readonly epsilon: number;

  constructor(config: Cfg<'fixed'>, numArms: number, dim: number, ctxDim: number, armIds: readonly string[]) {
    super(config, numArms, dim, ctxDim);
    const i = armIds.indexOf(config.arm);
    if (i < 0) {
      throw new BanditError({
        code: 'UNKNOWN_ARM',
        message: `policy.arm "${config.arm}" is not an arm of the catalogue (known: ${armIds.slice(0, 20).join(', ')})`,
        path: '$.policy.arm',
        hint: 'use an arm id from the catalogue',
      });
    }
    this.arm = i;
    this.epsilon = config.epsilon ?? POLICY_DEFAULTS.fixedEpsilon;
  }

  protected fillProbs(batch: FeatureBatch, out: Float64Array): void {
    const K = batch.k;
    let pos = -1;
    for (let j = 0; j < K; j++) if (batch.arms[j] === this.arm) pos = j;
    if (pos < 0) {
      for (let j = 0; j < K; j++) out[j] = 1 / K;
      return;
    }
    for (let j = 0; j < K; j++) out[j] = this.epsilon / K + (j === pos ? 1 - this.epsilon : 0);
  }

  protected learn(): void {}

  protected arrays(): Record<string, Float64Array> {
    return {};
  }
}
