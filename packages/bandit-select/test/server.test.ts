import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isBanditError, parseCatalogue } from '../src/index.js';
import { buildServer } from '../src/server/index.js';

const dir = mkdtempSync(join(tmpdir(), 'edge-select-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const catalogue = parseCatalogue({
  arms: [
    { id: 'big_fp32', features: { acc: 0.76, lat: 4 } },
    { id: 'mid_int8', features: { acc: 0.72, lat: 2 } },
    { id: 'tiny_int8', features: { acc: 0.6, lat: 0.5 } },
  ],
  context: ['gpu', 'deadline'],
});
const ctx = (i: number) => ({ gpu: i % 2, deadline: (i % 7) / 7 });
const post = (app: Awaited<ReturnType<typeof buildServer>>['app'], url: string, payload: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  app.inject({ method: 'POST', url, payload: typeof payload === 'string' ? payload : JSON.stringify(payload), headers });

/**
 * Restarts the service: closes `first`, starts a server on the same database with `opts`, and expects it to have replayed
 * `updates` updates into exactly the policy state `before` (a `/policy?full=1` answer of `first`).
 */
async function expectRestartRebuilds(
  first: Awaited<ReturnType<typeof buildServer>>,
  opts: Parameters<typeof buildServer>[0],
  before: { state: { arrays: unknown } },
  updates: number,
): Promise<void> {
  await first.app.close();
  const second = await buildServer(opts);
  try {
    const after = (await second.app.inject({ method: 'GET', url: '/policy?full=1' })).json();
    expect(after.updates).toBe(updates);
    expect(after.state.arrays).toEqual(before.state.arrays);
  } finally {
    await second.app.close();
  }
}

describe('HTTP service', () => {
  const db = join(dir, 'a.sqlite');

  it('serves choose / feedback / policy / healthz and maps bad input to 4xx while it keeps serving', async () => {
    const { app } = await buildServer({ catalogue, dbPath: db, policy: 'linucb', bodyLimitBytes: 2048 });
    try {
      expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ ok: true });
      const c = await post(app, '/choose', { context: ctx(1) });
      expect(c.statusCode).toBe(200);
      const { eventId, arm, probability } = c.json();
      expect(typeof eventId).toBe('string');
      expect(['big_fp32', 'mid_int8', 'tiny_int8']).toContain(arm);
      expect(probability).toBeGreaterThan(0);
      expect(probability).toBeLessThanOrEqual(1);
      expect((await post(app, '/feedback', { eventId, reward: 0.7 })).statusCode).toBe(200);
      const dup = await post(app, '/feedback', { eventId, reward: 0.7 });
      expect(dup.statusCode).toBe(409);
      expect(dup.json().error.code).toBe('DUPLICATE_FEEDBACK');
      const unk = await post(app, '/feedback', { eventId: 'no-such-event', reward: 0.5 });
      expect(unk.statusCode).toBe(404);
      expect(unk.json().error.message).toMatch(/"no-such-event" is not a logged event/);

      const bad: Array<[unknown, number, string, RegExp]> = [
        [{ context: { gpu: 'NaN', deadline: 1 } }, 400, 'BAD_CONTEXT', /\$\.context\.gpu must be a finite number, got "NaN"/],
        [{ context: { gpu: null, deadline: 1 } }, 400, 'BAD_CONTEXT', /\$\.context\.gpu must be a finite number, got null/],
        [{ context: { gpu: 1 } }, 400, 'BAD_CONTEXT', /missing feature\(s\) deadline/],
        [{ context: { gpu: 1, deadline: 1, ram: 3 } }, 400, 'FEATURE_DIM_MISMATCH', /\$\.context\.ram is not a context feature/],
        [{ context: ctx(2), arms: ['nope'] }, 400, 'UNKNOWN_ARM', /\$\.arms\[0\] "nope" is not an arm/],
        [{ ctx: {} }, 400, 'BAD_REQUEST', /\$\.context/],
        ['{"context": {', 400, 'BAD_JSON', /not valid JSON/],
        [`{"context":{"gpu":1,"deadline":1},"pad":"${'x'.repeat(4000)}"}`, 413, 'BODY_TOO_LARGE', /larger than 2048 bytes/],
      ];
      for (const [body, status, code, msg] of bad) {
        const r = await post(app, '/choose', body);
        expect(r.statusCode, JSON.stringify(body).slice(0, 80)).toBe(status);
        expect(r.json().error.code).toBe(code);
        expect(r.json().error.message).toMatch(msg);
      }
      const badReward = await post(app, '/feedback', { eventId, reward: 3 });
      expect(badReward.statusCode).toBe(400);
      expect(badReward.json().error.code).toBe('BAD_REWARD');
      const plain = await post(app, '/choose', 'context=1', { 'content-type': 'text/plain' });
      expect(plain.statusCode).toBe(415);
      expect(plain.json().error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      expect((await app.inject({ method: 'GET', url: '/nope' })).statusCode).toBe(404);
      // still serving after all of that, and the subset of offered arms is honoured
      const again = await post(app, '/choose', { context: ctx(3), arms: ['tiny_int8'] });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toMatchObject({ arm: 'tiny_int8', probability: 1 });
      const ev = await app.inject({ method: 'GET', url: `/events/${eventId}` });
      expect(ev.json()).toMatchObject({ eventId, reward: 0.7 });
      const pol = (await app.inject({ method: 'GET', url: '/policy' })).json();
      expect(pol).toMatchObject({ policy: 'linucb', events: 2, feedbacks: 1, updates: 1, contextFeatures: ['gpu', 'deadline'] });
    } finally {
      await app.close();
    }
  });

  it('restart rebuilds the exact policy state from SQLite', async () => {
    const dbr = join(dir, 'r.sqlite');
    const first = await buildServer({ catalogue, dbPath: dbr, policy: { kind: 'linucb-hybrid' } });
    const pendingIds: string[] = [];
    for (let i = 0; i < 120; i++) {
      const { eventId, arm } = (await post(first.app, '/choose', { context: ctx(i) })).json();
      if (i % 5 === 0)
        pendingIds.push(eventId); // no feedback yet
      else expect((await post(first.app, '/feedback', { eventId, reward: arm === 'mid_int8' ? 0.9 : 0.3 })).statusCode).toBe(200);
    }
    const before = (await first.app.inject({ method: 'GET', url: '/policy?full=1' })).json();
    await first.app.close();

    const second = await buildServer({ catalogue, dbPath: dbr, policy: { kind: 'linucb-hybrid' } });
    try {
      expect(second.service.rebuildInfo).toMatchObject({ events: 120, feedbacks: 96, replayed: 96 });
      const after = (await second.app.inject({ method: 'GET', url: '/policy?full=1' })).json();
      expect(after.updates).toBe(before.updates);
      expect(after.arms).toEqual(before.arms);
      expect(after.state.arrays).toEqual(before.state.arrays);
      // feedback for an event decided before the restart still works, exactly once
      expect((await post(second.app, '/feedback', { eventId: pendingIds[0], reward: 0.5 })).statusCode).toBe(200);
      expect((await post(second.app, '/feedback', { eventId: pendingIds[0], reward: 0.5 })).statusCode).toBe(409);
    } finally {
      await second.app.close();
    }
  });

  it('POST /batch: per-item results, one transaction, duplicates and bad items answered per item, restart replays it', async () => {
    const dbb = join(dir, 'b.sqlite');
    const first = await buildServer({ catalogue, dbPath: dbb, policy: 'linucb' });
    const single = (await post(first.app, '/choose', { context: ctx(0) })).json();
    const r1 = await post(first.app, '/batch', {
      requests: [
        { op: 'choose', context: ctx(1) },
        { op: 'feedback', eventId: single.eventId, reward: 0.4 },
        { op: 'choose', context: { gpu: 'x', deadline: 1 } },
        { op: 'feedback', eventId: single.eventId, reward: 0.9 },
        { op: 'feedback', eventId: 'no-such-event', reward: 0.5 },
        { op: 'choose', context: ctx(2), arms: ['tiny_int8'] },
      ],
    });
    expect(r1.statusCode).toBe(200);
    const res = r1.json().results;
    expect(res.map((x: { status: number }) => x.status)).toEqual([200, 200, 400, 409, 404, 200]);
    expect(res[1]).toMatchObject({ ok: true, eventId: single.eventId, reward: 0.4 });
    expect(res[2].error).toMatchObject({ code: 'BAD_CONTEXT' });
    expect(res[3].error).toMatchObject({ code: 'DUPLICATE_FEEDBACK' });
    expect(res[5]).toMatchObject({ arm: 'tiny_int8', probability: 1 });
    // feedback for the batch's chooses in a second batch; the first reward is kept
    const r2 = (
      await post(first.app, '/batch', {
        requests: [
          { op: 'feedback', eventId: res[0].eventId, reward: 0.8 },
          { op: 'feedback', eventId: res[5].eventId, reward: 0.2 },
        ],
      })
    ).json().results;
    expect(r2.map((x: { status: number }) => x.status)).toEqual([200, 200]);
    expect((await first.app.inject({ method: 'GET', url: `/events/${single.eventId}` })).json()).toMatchObject({ reward: 0.4 });
    for (const [body, msg] of [
      [{ requests: [] }, /requests/],
      [{ requests: [{ op: 'nope' }] }, /op/],
      [{ requests: Array.from({ length: 1001 }, () => ({ op: 'choose', context: ctx(1) })) }, /1000/],
    ] as const) {
      const bad = await post(first.app, '/batch', body);
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.message).toMatch(msg);
    }
    const before = (await first.app.inject({ method: 'GET', url: '/policy?full=1' })).json();
    expect(before).toMatchObject({ events: 3, feedbacks: 3, updates: 3 });
    await expectRestartRebuilds(first, { catalogue, dbPath: dbb, policy: 'linucb' }, before, 3);
  });

  it('group commit: concurrent single requests share one transaction, each answered after it; duplicates in a group get 409; restart replays them', async () => {
    const dbg = join(dir, 'g.sqlite');
    const first = await buildServer({ catalogue, dbPath: dbg, policy: 'linucb' });
    // 12 chooses sent together: parsed in the same event-loop turns, so they share transactions.
    const cs = (await Promise.all(Array.from({ length: 12 }, (_, i) => post(first.app, '/choose', { context: ctx(i) })))).map((r) => r.json());
    expect(new Set(cs.map((c) => c.eventId)).size).toBe(12);
    const g1 = (await first.app.inject({ method: 'GET', url: '/policy' })).json().groupCommit;
    expect(g1.enabled).toBe(true);
    expect(g1.items).toBe(12);
    expect(g1.groups).toBeLessThan(12);
    // every choose is stored once it is answered
    for (const c of cs) expect((await first.app.inject({ method: 'GET', url: `/events/${c.eventId}` })).json()).toMatchObject({ eventId: c.eventId, reward: null });
    // feedback for all of them, the first one twice in the same group: exactly one of the two is acknowledged
    const fb = await Promise.all([
      ...cs.map((c, i) => post(first.app, '/feedback', { eventId: c.eventId, reward: (i % 10) / 10 })),
      post(first.app, '/feedback', { eventId: cs[0].eventId, reward: 0.99 }),
      post(first.app, '/feedback', { eventId: 'no-such-event', reward: 0.5 }),
    ]);
    expect(fb.map((r) => r.statusCode)).toEqual([...Array(12).fill(200), 409, 404]);
    expect(fb[12]!.json().error.code).toBe('DUPLICATE_FEEDBACK');
    expect((await first.app.inject({ method: 'GET', url: `/events/${cs[0].eventId}` })).json()).toMatchObject({ reward: 0 });
    const before = (await first.app.inject({ method: 'GET', url: '/policy?full=1' })).json();
    expect(before).toMatchObject({ events: 12, feedbacks: 12, updates: 12 });
    expect(before.groupCommit.groups).toBeLessThan(before.groupCommit.items);
    await expectRestartRebuilds(first, { catalogue, dbPath: dbg, policy: 'linucb' }, before, 12);
  });

  it('a group commit that fails answers every request in it with 500 IO_ERROR and applies none of them', async () => {
    const { SelectService } = await import('../src/server/index.js');
    const svc = new SelectService({ catalogue, dbPath: join(dir, 'gf.sqlite'), policy: 'linucb' });
    const c = await svc.chooseQueued({ context: ctx(1) });
    // make the next transaction fail: the feedback table is gone
    svc.store.db.exec('DROP TABLE feedback');
    const rs = await Promise.allSettled([svc.feedbackQueued({ eventId: c.eventId, reward: 0.5 }), svc.chooseQueued({ context: ctx(2) })]);
    for (const r of rs) {
      expect(r.status).toBe('rejected');
      expect(isBanditError((r as PromiseRejectedResult).reason, 'IO_ERROR')).toBe(true);
    }
    expect(svc.summary()).toMatchObject({ events: 1, feedbacks: 0, updates: 0 });
    expect((svc.store.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n).toBe(1);
    svc.close();
  });

  it('without group commit the same requests give the same answers, one transaction each', async () => {
    const s = await buildServer({ catalogue, dbPath: join(dir, 'ng.sqlite'), policy: 'linucb', groupCommit: false });
    try {
      const cs = (await Promise.all(Array.from({ length: 4 }, (_, i) => post(s.app, '/choose', { context: ctx(i) })))).map((r) => r.json());
      const fb = await Promise.all([
        ...cs.map((c) => post(s.app, '/feedback', { eventId: c.eventId, reward: 0.5 })),
        post(s.app, '/feedback', { eventId: cs[1].eventId, reward: 0.5 }),
      ]);
      expect(fb.map((r) => r.statusCode)).toEqual([200, 200, 200, 200, 409]);
      expect((await s.app.inject({ method: 'GET', url: '/policy' })).json()).toMatchObject({ events: 4, feedbacks: 4, groupCommit: { enabled: false, groups: 0 } });
    } finally {
      await s.app.close();
    }
  });

  it('locks the context names on the first choose when the catalogue does not list them, across restarts', async () => {
    const noCtx = parseCatalogue({ arms: catalogue.arms.map((a) => ({ id: a.id, features: { ...a.features } })) });
    const dbl = join(dir, 'l.sqlite');
    const s1 = await buildServer({ catalogue: noCtx, dbPath: dbl });
    expect((await post(s1.app, '/choose', { context: { b: 1, a: 2 } })).statusCode).toBe(200);
    await s1.app.close();
    const s2 = await buildServer({ catalogue: noCtx, dbPath: dbl });
    try {
      expect((await post(s2.app, '/choose', { context: { a: 1, b: 2 } })).statusCode).toBe(200);
      const r = await post(s2.app, '/choose', { context: { a: 1, c: 2 } });
      expect(r.statusCode).toBe(400);
      expect(r.json().error.code).toBe('FEATURE_DIM_MISMATCH');
    } finally {
      await s2.app.close();
    }
  });

  it('refuses a database written with another catalogue', async () => {
    const other = parseCatalogue({
      arms: [
        { id: 'x', features: { acc: 1 } },
        { id: 'y', features: { acc: 2 } },
      ],
      context: ['gpu'],
    });
    try {
      await buildServer({ catalogue: other, dbPath: db });
      expect.unreachable();
    } catch (e) {
      expect(isBanditError(e, 'DB_MISMATCH')).toBe(true);
      expect((e as Error).message).toMatch(/different catalogue.*use a new --db file/);
    }
  });
});

describe('HTTP service with the default policy', () => {
  it('serves qoets on a QoE catalogue and a restart rebuilds its exact state from SQLite', async () => {
    const { SyntheticWorld, catalogueToJSON, Rng } = await import('../src/index.js');
    const world = new SyntheticWorld({ seed: 6, env: 'coldstart', deviceTypes: 30, users: 8 });
    const cat = parseCatalogue(JSON.parse(JSON.stringify(catalogueToJSON(world.catalogue))));
    const dbq = join(dir, 'q.sqlite');
    const rng = new Rng(4);
    const round = world.newRound();
    const first = await buildServer({ catalogue: cat, dbPath: dbq });
    for (let t = 0; t < 80; t++) {
      world.sample(t, rng, round);
      const context = Object.fromEntries(world.contextFeatures.map((n, i) => [n, round.context[i]!]));
      const { eventId, arm } = (await post(first.app, '/choose', { context })).json();
      const a = world.arms.findIndex((x) => x.id === arm);
      expect((await post(first.app, '/feedback', { eventId, reward: world.observe(round, a, t, rng.normal()) })).statusCode).toBe(200);
    }
    const before = (await first.app.inject({ method: 'GET', url: '/policy?full=1' })).json();
    expect(before.policy).toBe('qoets');
    await expectRestartRebuilds(first, { catalogue: cat, dbPath: dbq }, before, 80);
  });
});
