/**
 * The selection service without HTTP: validates requests, decides, logs every event to SQLite before acknowledging,
 * and rebuilds the policy from the log on start (feedback replayed in commit order).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { type Catalogue, catalogueToJSON, type FeatureBatch, FeatureSpace, FEATURE_NAME_RE } from '../catalogue.js';
import { BanditError, formatIssues, httpStatusOf, isBanditError } from '../errors.js';
import { createPolicy, defaultPolicyConfig, type Policy, type PolicyConfigInput, type PolicyState, parsePolicyConfig } from '../policies/index.js';
import { uuidV7 } from './eventId.js';
import { EventStore, type Synchronous } from './store.js';

export interface SelectServiceOptions {
  catalogue: Catalogue;
  /** SQLite file (created if missing). */
  dbPath: string;
  /** Policy config (default: `{kind: 'qoets'}` when the feature space has the QoE block, else `{kind: 'linucb'}`). */
  policy?: PolicyConfigInput | string;
  /** Base seed (default 1). After a restart the sampling stream is reseeded with (seed, number of logged events). */
  seed?: number;
  synchronous?: Synchronous;
  /** Max events awaiting feedback kept in memory (older ones are read back from SQLite). Default 100,000. */
  maxPending?: number;
  /**
   * Group commit for single POST /choose and /feedback requests (default true): the requests that arrive in the same
   * event-loop turn are written in ONE SQLite transaction, and each is answered only after that transaction has
   * committed (so acknowledged ⇒ stored, exactly as with one transaction per request). false: one autocommit INSERT
   * per request.
   */
  groupCommit?: boolean;
}

export interface ChooseResult {
  eventId: string;
  arm: string;
  probability: number;
}

export interface RebuildInfo {
  events: number;
  feedbacks: number;
  replayed: number;
  ms: number;
}

interface Pending {
  seq: number;
  ctx: Float64Array;
  arms: Int32Array | null;
  arm: number;
}

const chooseSchema = z
  .object({
    context: z.record(z.string(), z.unknown()),
    arms: z.array(z.string()).optional(),
  })
  .strict();

const feedbackSchema = z
  .object({
    eventId: z.string().min(1).max(200),
    reward: z.unknown(),
  })
  .strict();

/** Most items in one POST /batch. */
export const MAX_BATCH = 1000;

const batchSchema = z
  .object({
    requests: z
      .array(z.looseObject({ op: z.enum(['choose', 'feedback']) }))
      .min(1)
      .max(MAX_BATCH),
  })
  .strict();

interface StagedChoose {
  op: 'choose';
  seq: number;
  eventId: string;
  contextJson: string;
  offeredJson: string | null;
  arm: number;
  probability: number;
  probsJson: string;
  policy: string;
  ctx: Float64Array;
  arms: Int32Array | null;
}

interface Queued {
  s: StagedChoose | StagedFeedback;
  resolve: (v: ChooseResult | FeedbackResult) => void;
  reject: (e: unknown) => void;
}

/** Most single requests written in one group-commit transaction (more are flushed at once). */
const MAX_GROUP = 1000;

export interface FeedbackResult {
  eventId: string;
  arm: string;
  reward: number;
}

interface StagedFeedback {
  op: 'feedback';
  eventId: string;
  reward: number;
  seq: number;
  ctx: Float64Array;
  arms: Int32Array | null;
  arm: number;
}

/** One item's answer in POST /batch: the single route's body plus its HTTP status, or the error. */
export type BatchItemResult =
  | ({ status: 200 } & ChooseResult)
  | { status: 200; ok: true; eventId: string; arm: string; reward: number }
  | { status: number; error: { code: string; message: string; path?: string } };

function itemError(e: BanditError): BatchItemResult {
  return { status: httpStatusOf[e.code], error: { code: e.code, message: e.message, ...(e.path !== undefined ? { path: e.path } : {}) } };
}

/**
 * Fast paths for the hot routes: true only for bodies the zod schemas accept (then the schema is skipped); anything
 * else goes through the schema, so its error messages are unchanged.
 */
function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function isPlainChoose(body: unknown): body is { context: Record<string, unknown>; arms?: string[] } {
  if (!isPlainObject(body) || !isPlainObject(body.context)) return false;
  for (const k in body) if (k !== 'context' && k !== 'arms') return false;
  if (body.arms === undefined) return !('arms' in body);
  return Array.isArray(body.arms) && body.arms.every((a) => typeof a === 'string');
}

function isPlainFeedback(body: unknown): body is { eventId: string; reward: unknown } {
  if (!isPlainObject(body)) return false;
  for (const k in body) if (k !== 'eventId' && k !== 'reward') return false;
  return typeof body.eventId === 'string' && body.eventId.length >= 1 && body.eventId.length <= 200;
}

function badRequest(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>, example: string): BanditError {
  return new BanditError({
    code: 'BAD_REQUEST',
    message: `request body: ${formatIssues(issues)}`,
    path: issues[0] ? `$.${issues[0].path.map(String).join('.')}` : '$',
    hint: `expected ${example}`,
  });
}

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

export class SelectService {
  readonly catalogue: Catalogue;
  readonly store: EventStore;
  readonly rebuildInfo: RebuildInfo;
  private space: FeatureSpace | null = null;
  private policy: Policy | null = null;
  private batch: FeatureBatch | null = null;
  /** Whether the policy reads φ: qoets reads only the context and the offered arms (FeatureSpace.qoeInputs). */
  private needsPhi = true;
  /** null = the default, resolved when the feature space is known (see defaultPolicyConfig). */
  private readonly policyConfig: PolicyConfigInput | null;
  private readonly seed: number;
  private readonly maxPending: number;
  private readonly pending = new Map<string, Pending>();
  private eventCount = 0;
  private feedbackCount = 0;
  private readonly probsBuf: number[] = [];
  /** Group commit: staged single requests of this event-loop turn, and the events they give feedback to. */
  private queue: Queued[] = [];
  private readonly inGroup = new Set<string>();
  private flushScheduled = false;
  readonly groupCommit: boolean;
  /** Group commits done and items written by them (GET /policy reports them). */
  private groups = 0;
  private groupedItems = 0;

  constructor(opts: SelectServiceOptions) {
    const t0 = performance.now();
    this.catalogue = opts.catalogue;
    this.seed = opts.seed ?? 1;
    this.maxPending = opts.maxPending ?? 100_000;
    this.groupCommit = opts.groupCommit ?? true;
    const pc = typeof opts.policy === 'string' ? { kind: opts.policy } : (opts.policy ?? null);
    if (pc) parsePolicyConfig(pc, '--policy');
    this.policyConfig = pc as PolicyConfigInput | null;
    this.store = new EventStore(opts.dbPath, opts.synchronous ? { synchronous: opts.synchronous } : {});
    try {
      const catJson = JSON.stringify(catalogueToJSON(opts.catalogue));
      const hash = sha256(catJson);
      const stored = this.store.getMeta('catalogueSha256');
      if (stored === undefined) {
        this.store.setMeta('catalogueSha256', hash);
        this.store.setMeta('catalogue', catJson);
      } else if (stored !== hash) {
        throw new BanditError({
          code: 'DB_MISMATCH',
          message: `${opts.dbPath} was written with a different catalogue (sha256 ${stored.slice(0, 12)}…, this one ${hash.slice(0, 12)}…)`,
          path: opts.dbPath,
          hint: 'start with the catalogue the database was created with, or use a new --db file',
        });
      }
      const counts = this.store.counts();
      this.eventCount = counts.events;
      this.feedbackCount = counts.feedbacks;
      const names = opts.catalogue.context ? null : this.store.getMeta('contextNames');
      if (opts.catalogue.context) this.initSpace(new FeatureSpace(opts.catalogue));
      else if (names) this.initSpace(new FeatureSpace(opts.catalogue, JSON.parse(names) as string[]));
      let replayed = 0;
      if (this.space && this.policy && this.batch) {
        const space = this.space;
        const batch = this.batch;
        for (const row of this.store.replay()) {
          this.fillFromStored(space, batch, row.context, row.offered);
          const j = this.positionOf(batch, row.arm);
          this.policy.update(batch, j, row.reward);
          replayed++;
        }
      }
      this.rebuildInfo = { events: counts.events, feedbacks: counts.feedbacks, replayed, ms: performance.now() - t0 };
    } catch (e) {
      this.store.close();
      throw e;
    }
  }

  private initSpace(space: FeatureSpace): void {
    this.space = space;
    this.batch = space.newBatch();
    const cfg = { ...(this.policyConfig ?? defaultPolicyConfig(space)), seed: ((this.seed >>> 0) + Math.imul(this.eventCount, 0x9e3779b1)) >>> 0 };
    this.policy = createPolicy(cfg, space);
    this.needsPhi = this.policy.kind !== 'qoets';
  }

  private fillFromStored(space: FeatureSpace, batch: FeatureBatch, context: string, offered: string | null): void {
    space.encodeContext(JSON.parse(context) as Record<string, unknown>, batch.ctx);
    if (offered) {
      const arms = JSON.parse(offered) as number[];
      batch.k = arms.length;
      for (let j = 0; j < arms.length; j++) batch.arms[j] = arms[j]!;
    } else {
      batch.k = space.numArms;
      for (let j = 0; j < space.numArms; j++) batch.arms[j] = j;
    }
    if (this.needsPhi) space.fill(batch);
  }

  private positionOf(batch: FeatureBatch, arm: number): number {
    for (let j = 0; j < batch.k; j++) if (batch.arms[j] === arm) return j;
    throw new BanditError({ code: 'BAD_STATE', message: `logged arm ${arm} is not among the offered arms`, hint: 'the database is inconsistent; restore it from a backup' });
  }

  /** Lock the context feature names on the first request when the catalogue does not list them. */
  private ensureSpace(context: Record<string, unknown>): FeatureSpace {
    if (this.space) return this.space;
    const names = Object.keys(context).sort();
    if (names.length === 0) {
      throw new BanditError({ code: 'BAD_CONTEXT', message: '$.context is empty', path: '$.context', hint: 'send at least one numeric context feature' });
    }
    const bad = names.find((n) => !FEATURE_NAME_RE.test(n));
    if (bad !== undefined) {
      throw new BanditError({
        code: 'BAD_CONTEXT',
        message: `$.context.${bad} is not a valid feature name`,
        path: `$.context.${bad}`,
        hint: 'use [A-Za-z_][A-Za-z0-9_.-]* (no spaces, "|" or ":")',
      });
    }
    const space = new FeatureSpace(this.catalogue, names);
    // Validate the values before locking the names.
    space.encodeContext(context, new Float64Array(space.ctxDim));
    this.store.setMeta('contextNames', JSON.stringify(names));
    this.initSpace(space);
    return space;
  }

  choose(body: unknown): ChooseResult {
    const c = this.decideChoose(body);
    c.seq = this.store.insertEvent(c.eventId, Date.now(), c.contextJson, c.offeredJson, c.arm, c.probability, c.probsJson, c.policy);
    return this.applyChoose(c);
  }

  /** Validate and decide (no write): the event to log. */
  private decideChoose(body: unknown): StagedChoose {
    const r = isPlainChoose(body) ? { data: body } : chooseSchema.safeParse(body);
    if (!('data' in r) || r.data === undefined) throw badRequest(r.error!.issues, '{"context":{"name":number,...},"arms"?:["id",...]}');
    const space = this.ensureSpace(r.data.context);
    const batch = this.batch!;
    const policy = this.policy!;
    space.encodeContext(r.data.context, batch.ctx);
    batch.k = space.resolveArms(r.data.arms, batch.arms);
    if (this.needsPhi) space.fill(batch);
    const j = policy.decide(batch);
    const arm = batch.arms[j]!;
    const probability = policy.probs[j]!;
    const probs = this.probsBuf;
    probs.length = batch.k;
    for (let q = 0; q < batch.k; q++) probs[q] = policy.probs[q]!;
    const offered = r.data.arms ? Array.from(batch.arms.subarray(0, batch.k)) : null;
    return {
      op: 'choose',
      seq: -1,
      eventId: uuidV7(),
      contextJson: JSON.stringify(r.data.context),
      offeredJson: offered ? JSON.stringify(offered) : null,
      arm,
      probability,
      probsJson: JSON.stringify(probs),
      policy: policy.kind,
      ctx: Float64Array.from(batch.ctx),
      arms: offered ? Int32Array.from(offered) : null,
    };
  }

  /** After the event is committed: remember it for its feedback. */
  private applyChoose(c: StagedChoose): ChooseResult {
    this.eventCount++;
    this.pending.set(c.eventId, { seq: c.seq, ctx: c.ctx, arms: c.arms, arm: c.arm });
    if (this.pending.size > this.maxPending) {
      const oldest = this.pending.keys().next().value;
      if (oldest !== undefined) this.pending.delete(oldest);
    }
    return { eventId: c.eventId, arm: this.space!.armIds[c.arm]!, probability: c.probability };
  }

  feedback(body: unknown): { eventId: string; arm: string; reward: number } {
    const f = this.validateFeedback(body, null);
    if (this.store.insertFeedback(f.seq, f.reward, Date.now()) === 'duplicate') {
      this.pending.delete(f.eventId);
      throw this.duplicate(f.eventId);
    }
    return this.applyFeedback(f);
  }

  /**
   * POST /choose with group commit: decided now (with the policy as of now), written with the other requests of this
   * event-loop turn in one transaction, resolved after that commit. Validation errors throw synchronously.
   */
  chooseQueued(body: unknown): Promise<ChooseResult> {
    if (!this.groupCommit) return Promise.resolve(this.choose(body));
    return this.enqueue(this.decideChoose(body)) as Promise<ChooseResult>;
  }

  /** POST /feedback with group commit; the policy is updated after the commit, in commit order. */
  feedbackQueued(body: unknown): Promise<FeedbackResult> {
    if (!this.groupCommit) return Promise.resolve(this.feedback(body));
    const f = this.validateFeedback(body, this.inGroup);
    this.inGroup.add(f.eventId);
    return this.enqueue(f) as Promise<FeedbackResult>;
  }

  private enqueue(s: StagedChoose | StagedFeedback): Promise<ChooseResult | FeedbackResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ s, resolve, reject });
      if (this.queue.length >= MAX_GROUP) this.flush();
      else if (!this.flushScheduled) {
        this.flushScheduled = true;
        // After the I/O callbacks of this turn: every request parsed in it joins the group.
        setImmediate(() => this.flush());
      }
    });
  }

  /** Write the queued single requests in one transaction; answer each after the commit (or fail them all). */
  flush(): void {
    const q = this.queue;
    this.queue = [];
    this.inGroup.clear();
    this.flushScheduled = false;
    if (q.length === 0) return;
    const now = Date.now();
    const dup = new Uint8Array(q.length);
    try {
      if (!this.store.db.open) throw new Error('the database is closed');
      this.store.transaction(() => {
        for (let i = 0; i < q.length; i++) {
          const s = q[i]!.s;
          if (s.op === 'choose') s.seq = this.store.insertEvent(s.eventId, now, s.contextJson, s.offeredJson, s.arm, s.probability, s.probsJson, s.policy);
          else if (this.store.insertFeedback(s.seq, s.reward, now) === 'duplicate') dup[i] = 1;
        }
      });
    } catch (e) {
      const err = new BanditError({ code: 'IO_ERROR', message: `cannot write the event log: ${(e as Error).message}`, hint: 'the request was not applied; retry', cause: e });
      for (const item of q) item.reject(err);
      return;
    }
    this.groups++;
    this.groupedItems += q.length;
    // Committed: apply in queue order (the order of the rows in the log, which a restart replays).
    for (let i = 0; i < q.length; i++) {
      const { s, resolve, reject } = q[i]!;
      try {
        if (s.op === 'choose') resolve(this.applyChoose(s));
        else if (dup[i]) {
          this.pending.delete(s.eventId);
          reject(this.duplicate(s.eventId));
        } else resolve(this.applyFeedback(s));
      } catch (e) {
        reject(e);
      }
    }
  }

  /** Validate a feedback and find its event (no write). `inBatch`: events already given feedback in this batch. */
  private validateFeedback(body: unknown, inBatch: Set<string> | null): StagedFeedback {
    const r = isPlainFeedback(body) ? { data: body } : feedbackSchema.safeParse(body);
    if (!('data' in r) || r.data === undefined) throw badRequest(r.error!.issues, '{"eventId":"...","reward":0.8}');
    const { eventId } = r.data;
    const reward = r.data.reward;
    if (typeof reward !== 'number' || !Number.isFinite(reward) || reward < 0 || reward > 1) {
      throw new BanditError({
        code: 'BAD_REWARD',
        message: `$.reward must be a number in [0, 1], got ${JSON.stringify(reward) ?? 'undefined'}`,
        path: '$.reward',
        hint: 'scale ratings to [0, 1], e.g. QoE or (stars − 1) / 4',
      });
    }
    if (inBatch?.has(eventId)) throw this.duplicate(eventId);
    const space = this.space;
    const p = this.pending.get(eventId);
    if (p) return { op: 'feedback', eventId, reward, seq: p.seq, ctx: p.ctx, arms: p.arms, arm: p.arm };
    const row = this.store.findEvent(eventId);
    if (!row || !space) {
      throw new BanditError({
        code: 'UNKNOWN_EVENT',
        message: `$.eventId "${eventId}" is not a logged event`,
        path: '$.eventId',
        hint: 'send the eventId returned by POST /choose',
      });
    }
    if (row.reward !== null) throw this.duplicate(eventId);
    this.fillFromStored(space, this.batch!, row.context, row.offered);
    return {
      op: 'feedback',
      eventId,
      reward,
      seq: row.seq,
      ctx: Float64Array.from(this.batch!.ctx),
      arms: row.offered ? Int32Array.from(JSON.parse(row.offered) as number[]) : null,
      arm: row.arm,
    };
  }

  /** After the feedback is committed: update the policy (in commit order, as a restart replays it). */
  private applyFeedback(f: StagedFeedback): { eventId: string; arm: string; reward: number } {
    const space = this.space!;
    this.pending.delete(f.eventId);
    this.feedbackCount++;
    const batch = this.batch!;
    batch.ctx.set(f.ctx);
    if (f.arms) {
      batch.k = f.arms.length;
      batch.arms.set(f.arms);
    } else {
      batch.k = space.numArms;
      for (let j = 0; j < batch.k; j++) batch.arms[j] = j;
    }
    if (this.needsPhi) space.fill(batch);
    this.policy!.update(batch, this.positionOf(batch, f.arm), f.reward);
    return { eventId: f.eventId, arm: space.armIds[f.arm]!, reward: f.reward };
  }

  /**
   * Several choose and feedback requests in one call (POST /batch), written in ONE SQLite transaction (group commit)
   * and answered only after it has committed, so an acknowledged item is as durable as a single request's.
   * Items are validated and decided in order; a bad item gets its own error result and does not stop the others.
   * Feedback in the batch updates the policy after the commit, so the chooses of the same batch do not see it yet
   * (the policy sees the batch's feedback in commit order, exactly as a restart replays it).
   */
  batchRequests(body: unknown): BatchItemResult[] {
    this.flush(); // single requests staged before this batch commit first
    const r = batchSchema.safeParse(body);
    if (!r.success)
      throw badRequest(r.error.issues, `{"requests":[{"op":"choose","context":{...}},{"op":"feedback","eventId":"...","reward":0.8}, ...]} (at most ${MAX_BATCH} items)`);
    const items = r.data.requests;
    const out: BatchItemResult[] = new Array<BatchItemResult>(items.length);
    const staged: Array<StagedChoose | StagedFeedback | null> = new Array<StagedChoose | StagedFeedback | null>(items.length).fill(null);
    const inBatch = new Set<string>();
    for (let i = 0; i < items.length; i++) {
      const { op, ...rest } = items[i]!;
      try {
        if (op === 'choose') staged[i] = this.decideChoose(rest);
        else {
          const f = this.validateFeedback(rest, inBatch);
          inBatch.add(f.eventId);
          staged[i] = f;
        }
      } catch (e) {
        if (!isBanditError(e)) throw e;
        out[i] = itemError(e);
      }
    }
    const now = Date.now();
    const dup = new Uint8Array(items.length);
    this.store.transaction(() => {
      for (let i = 0; i < staged.length; i++) {
        const s = staged[i];
        if (!s) continue;
        if (s.op === 'choose') s.seq = this.store.insertEvent(s.eventId, now, s.contextJson, s.offeredJson, s.arm, s.probability, s.probsJson, s.policy);
        else if (this.store.insertFeedback(s.seq, s.reward, now) === 'duplicate') dup[i] = 1;
      }
    });
    // Committed: apply in item order (the order of the rows in the log).
    for (let i = 0; i < staged.length; i++) {
      const s = staged[i];
      if (!s) continue;
      if (s.op === 'choose') out[i] = { status: 200, ...this.applyChoose(s) };
      else if (dup[i]) {
        this.pending.delete(s.eventId);
        out[i] = itemError(this.duplicate(s.eventId));
      } else out[i] = { status: 200, ok: true, ...this.applyFeedback(s) };
    }
    return out;
  }

  private duplicate(eventId: string): BanditError {
    return new BanditError({
      code: 'DUPLICATE_FEEDBACK',
      message: `$.eventId "${eventId}" already has feedback`,
      path: '$.eventId',
      hint: 'send feedback once per event; the first reward is kept',
    });
  }

  event(eventId: string): { eventId: string; arm: string; probability: number; reward: number | null } {
    const row = this.store.findEvent(eventId);
    if (!row) {
      throw new BanditError({ code: 'UNKNOWN_EVENT', message: `event "${eventId}" is not logged`, path: '$.eventId', hint: 'use an eventId returned by POST /choose' });
    }
    return { eventId, arm: this.catalogue.arms[row.arm]!.id, probability: row.probability, reward: row.reward };
  }

  /** State summary for GET /policy (with the full serialised state when `full`). */
  summary(full = false): Record<string, unknown> {
    const s = this.policy?.summary();
    const out: Record<string, unknown> = {
      policy: s?.kind ?? (this.policyConfig ? parsePolicyConfig(this.policyConfig).kind : 'default'),
      config: s?.config ?? this.policyConfig ?? 'default (qoets with the QoE block, else linucb)',
      contextFeatures: this.space?.contextNames ?? null,
      dim: this.space?.dim ?? null,
      events: this.eventCount,
      feedbacks: this.feedbackCount,
      updates: s?.updates ?? 0,
      pending: this.pending.size,
      groupCommit: { enabled: this.groupCommit, groups: this.groups, items: this.groupedItems },
      rebuild: this.rebuildInfo,
      arms: this.catalogue.arms.map((a, i) => ({
        id: a.id,
        updates: s?.arms[i]?.updates ?? 0,
        meanReward: s?.arms[i]?.meanReward ?? null,
      })),
    };
    if (full) {
      out.catalogue = catalogueToJSON(this.catalogue);
      out.state = this.policy ? (this.policy.toJSON() satisfies PolicyState) : null;
    }
    return out;
  }

  close(): void {
    this.flush();
    this.store.close();
  }
}
