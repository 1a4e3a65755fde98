import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createPolicy, defaultPolicyConfig, type PolicyConfigInput, type QoeThompson, restorePolicy, Rng, SyntheticWorld } from '../src/index.js';
import { SelectService } from '../src/server/index.js';
import { allArms, playRounds } from './qoeHelpers.js';

type Env = 'base' | 'coldstart' | 'misspecified' | 'drift';

/**
 * Seeded decision streams of qoets: every decision's arm and propensities (bit patterns) and, every 25 rounds, the
 * posterior-mean prediction of every arm, folded into a 32-bit FNV-1a digest. `cache: false` turns the policy's
 * decision caches off (every per-cell pdf recomputed on each use).
 */
function digest(env: Env, cfg: Omit<PolicyConfigInput & { kind: 'qoets' }, 'kind'>, T: number, cache = true): string {
  const w = new SyntheticWorld({ seed: 11, env, ...(env === 'drift' ? { driftAt: 400 } : {}) });
  const policy = createPolicy({ kind: 'qoets', seed: 5, ...cfg }, w.space) as QoeThompson;
  policy.cache = cache;
  const batch = allArms(w);
  const f = new Float64Array(1);
  const u = new Uint32Array(f.buffer);
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h = Math.imul(h ^ x, 0x01000193) >>> 0;
  };
  const mixF = (x: number) => {
    f[0] = x;
    mix(u[0]!);
    mix(u[1]!);
  };
  playRounds(w, policy, new Rng(9), 0, T, {
    batch,
    onDecide: (j, t) => {
      mix(j);
      for (let q = 0; q < batch.k; q++) mixF(policy.probs[q]!);
      if (t % 25 === 0) for (let q = 0; q < batch.k; q++) mixF(policy.predict(batch, q));
    },
  });
  return h.toString(16).padStart(8, '0');
}

/**
 * Digests of 800 rounds per scenario recorded with the build before the decision caches (per-cell δ pdf and its
 * support, support-restricted convolution, ξ point mass kept, numeric profile / device-type keys) were added, so these
 * pin the new code to the old arithmetic bit for bit: every path of the learner (device terms or not, ξ on, optimism,
 * Thompson, greedy, gap, random walk, staleness, change detection, per-profile bias, Gaussian likelihood).
 */
const SCENARIOS: Array<{ env: Env; cfg: Omit<PolicyConfigInput & { kind: 'qoets' }, 'kind'>; before: string }> = [
  { env: 'base', cfg: {}, before: '717fb448' },
  { env: 'coldstart', cfg: {}, before: '89f6c3b3' },
  { env: 'misspecified', cfg: {}, before: 'd335a082' },
  { env: 'drift', cfg: {}, before: 'eb3d53d2' },
  { env: 'coldstart', cfg: { explore: 'thompson', samples: 16 }, before: '834d89a6' },
  { env: 'base', cfg: { explore: 'greedy', deviceArmSd: 0.1 }, before: '0a166d98' },
  { env: 'coldstart', cfg: { explore: 'gap', driftSd: 0.3 }, before: 'd946e32c' },
  { env: 'drift', cfg: { knownScore: 'quantile', staleForget: 0.999, changeThreshold: 5, userArmSd: 0.05 }, before: '7fe1e6d8' },
  { env: 'base', cfg: { deviceSd: 0 }, before: 'a9ebf89a' },
  { env: 'coldstart', cfg: { explore: 'thompson', samples: 16, deviceArmSd: 0.1, driftSd: 0.3 }, before: 'cee7cc92' },
  { env: 'coldstart', cfg: { knownScore: 'gap', classSd: 0, clippedLikelihood: false }, before: '196015af' },
];

describe('qoets decision caches: bit-identical decisions', () => {
  it.each(SCENARIOS.map((s) => [`${s.env} ${JSON.stringify(s.cfg)}`, s] as const))('%s: the decisions of the build before the caches, with the caches on and off', (_label, s) => {
    expect(digest(s.env, s.cfg, 800, true)).toBe(s.before);
    expect(digest(s.env, s.cfg, 800, false)).toBe(s.before);
  });

  it('the digest sees a change: another seed stream or one flipped decision gives a different digest', () => {
    // The pin above can fail: a different config (one more Thompson sample) changes the digest.
    expect(digest('coldstart', { explore: 'thompson', samples: 17 }, 800)).not.toBe('834d89a6');
    expect(digest('base', {}, 799)).not.toBe('717fb448');
  });

  it('cache on and off agree decision by decision on a server-like stream (feedback 8 decisions late, repeating contexts, a restore midway)', () => {
    const w = new SyntheticWorld({ seed: 3 });
    let a = createPolicy(defaultPolicyConfig(w.space), w.space) as QoeThompson;
    const b = createPolicy(defaultPolicyConfig(w.space), w.space) as QoeThompson;
    b.cache = false;
    const batch = allArms(w);
    const rng = new Rng(4);
    const round = w.newRound();
    const contexts: Float64Array[] = [];
    for (let i = 0; i < 64; i++) {
      w.sample(i, rng, round);
      contexts.push(Float64Array.from(round.context));
    }
    const pending: Array<{ ctx: Float64Array; j: number }> = [];
    for (let t = 0; t < 1500; t++) {
      // a restored copy starts with every cache cleared and must carry on identically
      if (t === 700) a = restorePolicy(JSON.parse(JSON.stringify(a.toJSON())), w.space) as QoeThompson;
      w.space.encodeContextValues(contexts[t % 64]!, batch.ctx);
      const j = a.decide(batch);
      expect(b.decide(batch)).toBe(j);
      expect(Array.from(b.probs.subarray(0, batch.k))).toEqual(Array.from(a.probs.subarray(0, batch.k)));
      pending.push({ ctx: Float64Array.from(batch.ctx), j });
      if (pending.length > 8) {
        const p = pending.shift()!;
        batch.ctx.set(p.ctx);
        const r = ((t * 37) % 101) / 100;
        a.update(batch, p.j, r);
        b.update(batch, p.j, r);
      }
    }
  });

  it('the service (which skips building φ for qoets) decides as the policy does on fully built batches', () => {
    const w = new SyntheticWorld({ seed: 1 });
    const dir = mkdtempSync(join(tmpdir(), 'qoets-cache-'));
    const svc = new SelectService({ catalogue: w.catalogue, dbPath: join(dir, 'events.sqlite'), groupCommit: false });
    try {
      const twin = createPolicy({ ...defaultPolicyConfig(w.space), seed: 1 }, w.space);
      expect(twin.kind).toBe('qoets');
      const batch = w.space.newBatch();
      const rng = new Rng(6);
      const round = w.newRound();
      for (let t = 0; t < 300; t++) {
        w.sample(t, rng, round);
        const context = Object.fromEntries(w.space.contextNames.map((n, i) => [n, round.context[i]!]));
        const c = svc.choose({ context });
        w.space.prepare(batch, context);
        const j = twin.decide(batch);
        expect(c.arm).toBe(w.space.armIds[batch.arms[j]!]);
        expect(c.probability).toBe(twin.probs[j]);
        const reward = Math.min(1, Math.max(0, w.observe(round, batch.arms[j]!, t, rng.normal())));
        svc.feedback({ eventId: c.eventId, reward });
        twin.update(batch, j, reward);
      }
    } finally {
      svc.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
