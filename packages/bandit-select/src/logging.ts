/**
 * Decision logs: Vowpal Wabbit `--cb_adf` text (replayable by VW / OBP) and a JSONL twin for our own estimators.
 *
 * VW cb_adf example (one block per decision, ended by an empty line):
 *   shared |Device gpu:1 log_speed:0.31 ...
 *   |Arm resnet50_fp32 |Model acc:0.761 ...
 *   0:0.18:0.85 |Arm mobilenetv2_int8 |Model acc:0.713 ...      ← chosen: 0:cost:probability, cost = 1 − reward
 *   |Arm ... |Model ...
 * The arm id sits in its own namespace `Arm`, so an id equal to a feature name cannot collide with that feature.
 */
import { z } from 'zod';
import { ARM_ID_RE, FEATURE_NAME_RE } from './catalogue.js';
import { BanditError } from './errors.js';

export interface LoggedArm {
  id: string;
  features: Readonly<Record<string, number>>;
}

/** One logged decision (and its reward, once known). */
export interface LoggedExample {
  t?: number;
  eventId?: string;
  deviceId?: string;
  userId?: string;
  /** Raw context features. */
  context: Readonly<Record<string, number>>;
  /** The offered arms, in the order offered. */
  arms: readonly LoggedArm[];
  /** Position of the chosen arm in `arms`. */
  chosen: number;
  /** Logging policy's probability of the chosen arm. */
  probability: number;
  /** Full probability vector over `arms`, when known. */
  probs?: readonly number[];
  /** Reward in [0, 1]; absent if no feedback arrived. */
  reward?: number;
  policy?: string;
}

/** Format a number for VW: shortest exact decimal, no exponent surprises for integers. */
export function formatVwNumber(v: number): string {
  if (!Number.isFinite(v)) throw new BanditError({ code: 'BAD_LOG', message: `cannot log non-finite value ${v}`, hint: 'validate features before logging' });
  if (Object.is(v, -0)) return '0';
  return String(v);
}

function features(rec: Readonly<Record<string, number>>): string {
  let s = '';
  for (const [k, v] of Object.entries(rec)) s += ` ${k}:${formatVwNumber(v)}`;
  return s;
}

/**
 * Format one decision as a VW `--cb_adf` example: a `shared |Device` line, then one `|Arm <id> |Model f:v ...` line
 * per offered arm, the chosen one prefixed with `0:<cost>:<probability>` (cost = 1 − reward), then an empty line.
 * Without a reward the label is omitted (a prediction-only example).
 */
export function formatVwAdf(ex: LoggedExample, opts: { costOf?: (reward: number) => number } = {}): string {
  const cost = opts.costOf ?? ((r: number) => 1 - r);
  let out = `shared |Device${features(ex.context)}\n`;
  ex.arms.forEach((a, j) => {
    const label = j === ex.chosen && ex.reward !== undefined ? `0:${formatVwNumber(cost(ex.reward))}:${formatVwNumber(ex.probability)} ` : '';
    out += `${label}|Arm ${a.id} |Model${features(a.features)}\n`;
  });
  return `${out}\n`;
}

function parseFeatures(tokens: string[], where: string): Record<string, number> {
  const r: Record<string, number> = {};
  for (const tok of tokens) {
    const i = tok.lastIndexOf(':');
    const name = i < 0 ? tok : tok.slice(0, i);
    const v = i < 0 ? 1 : Number(tok.slice(i + 1));
    if (!FEATURE_NAME_RE.test(name) || !Number.isFinite(v)) {
      throw new BanditError({ code: 'BAD_LOG', message: `${where}: bad feature token "${tok}"`, path: where, hint: 'features are name:value with a finite value' });
    }
    r[name] = v;
  }
  return r;
}

/**
 * Parse VW `--cb_adf` text written by formatVwAdf: namespaces `Device`, `Arm` (the arm id) and `Model`. The format of
 * versions before 0.2 (the arm id as the first `Model` token, no `Arm` namespace) is read as well.
 * Examples without a label are returned with `reward` undefined and `chosen` −1.
 */
export function parseVwAdf(text: string, source = 'log'): LoggedExample[] {
  const out: LoggedExample[] = [];
  const lines = text.split(/\r?\n/);
  let cur: { context: Record<string, number>; arms: LoggedArm[]; chosen: number; probability: number; reward?: number } | null = null;
  const flush = () => {
    if (cur && cur.arms.length) {
      out.push({ context: cur.context, arms: cur.arms, chosen: cur.chosen, probability: cur.probability, ...(cur.reward !== undefined ? { reward: cur.reward } : {}) });
    }
    cur = null;
  };
  lines.forEach((line, li) => {
    const where = `${source}:${li + 1}`;
    if (line.trim() === '') return flush();
    cur ??= { context: {}, arms: [], chosen: -1, probability: 1 };
    const bar = line.indexOf('|');
    if (bar < 0) throw new BanditError({ code: 'BAD_LOG', message: `${where}: no "|" namespace in "${line.slice(0, 60)}"`, path: where, hint: 'expected VW cb_adf lines' });
    const head = line.slice(0, bar).trim();
    if (head === 'shared') {
      const body = line
        .slice(bar + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean);
      body.shift();
      cur.context = parseFeatures(body, where);
      return;
    }
    // Namespaces: "|Arm <id> |Model f:v ..." (current) or "|Model <id> f:v ..." (before 0.2).
    const spaces = line
      .slice(bar + 1)
      .split('|')
      .map((seg) => seg.trim().split(/\s+/).filter(Boolean));
    let id: string | undefined;
    let body: string[] = [];
    const bad = () =>
      new BanditError({
        code: 'BAD_LOG',
        message: `${where}: expected "|Arm <arm id> |Model f:v ...", got "${line.slice(0, 60)}"`,
        path: where,
        hint: 'write logs with formatVwAdf',
      });
    for (const seg of spaces) {
      const ns = seg.shift();
      if (ns === 'Arm') {
        if (seg.length !== 1) throw bad();
        id = seg[0];
      } else if (ns === 'Model') {
        if (spaces.length === 1) id = seg.shift();
        body = seg;
      } else throw bad();
    }
    if (id === undefined || !ARM_ID_RE.test(id) || id.includes(':')) throw bad();
    if (head) {
      const parts = head.split(':');
      const cost = Number(parts[1]);
      const p = Number(parts[2]);
      if (parts.length !== 3 || !Number.isFinite(cost) || !(p > 0 && p <= 1)) {
        throw new BanditError({
          code: 'BAD_LOG',
          message: `${where}: bad label "${head}"`,
          path: where,
          hint: 'the chosen action is labelled 0:cost:probability with 0 < probability ≤ 1',
        });
      }
      cur.chosen = cur.arms.length;
      cur.probability = p;
      cur.reward = 1 - cost;
    }
    cur.arms.push({ id, features: parseFeatures(body, where) });
  });
  flush();
  return out;
}

/** JSONL twin record: {t, deviceId, userId, x_d, arms[{id, z}], chosen, probs[], probability, reward, policyId}. */
export function toJsonlRecord(ex: LoggedExample): Record<string, unknown> {
  return {
    t: ex.t ?? null,
    eventId: ex.eventId ?? null,
    deviceId: ex.deviceId ?? null,
    userId: ex.userId ?? null,
    x_d: ex.context,
    arms: ex.arms.map((a) => ({ id: a.id, z: a.features })),
    chosen: ex.chosen,
    probs: ex.probs ?? null,
    probability: ex.probability,
    reward: ex.reward ?? null,
    policyId: ex.policy ?? null,
  };
}

export function formatJsonl(ex: LoggedExample): string {
  return `${JSON.stringify(toJsonlRecord(ex))}\n`;
}

const num = z.number().refine(Number.isFinite, { message: 'must be finite' });
const jsonlSchema = z.object({
  t: z.number().nullable().optional(),
  eventId: z.string().nullable().optional(),
  deviceId: z.string().nullable().optional(),
  userId: z.string().nullable().optional(),
  x_d: z.record(z.string(), num),
  arms: z.array(z.object({ id: z.string(), z: z.record(z.string(), num) })).min(1),
  chosen: z.number().int().min(0),
  probs: z.array(num).nullable().optional(),
  probability: z.number().gt(0).max(1),
  reward: num.nullable().optional(),
  policyId: z.string().nullable().optional(),
});

export function parseJsonl(text: string, source = 'log'): LoggedExample[] {
  const out: LoggedExample[] = [];
  text.split(/\r?\n/).forEach((line, li) => {
    if (!line.trim()) return;
    const where = `${source}:${li + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new BanditError({ code: 'BAD_LOG', message: `${where}: not valid JSON (${(e as Error).message})`, path: where, hint: 'one JSON object per line', cause: e });
    }
    const r = jsonlSchema.safeParse(obj);
    if (!r.success) {
      const i = r.error.issues[0]!;
      throw new BanditError({ code: 'BAD_LOG', message: `${where}: $.${i.path.join('.')}: ${i.message}`, path: where, hint: 'write logs with formatJsonl' });
    }
    const d = r.data;
    if (d.chosen >= d.arms.length) {
      throw new BanditError({
        code: 'BAD_LOG',
        message: `${where}: chosen ${d.chosen} ≥ number of arms ${d.arms.length}`,
        path: where,
        hint: 'chosen is a 0-based position in arms',
      });
    }
    out.push({
      ...(d.t != null ? { t: d.t } : {}),
      ...(d.eventId != null ? { eventId: d.eventId } : {}),
      ...(d.deviceId != null ? { deviceId: d.deviceId } : {}),
      ...(d.userId != null ? { userId: d.userId } : {}),
      context: d.x_d,
      arms: d.arms.map((a) => ({ id: a.id, features: a.z })),
      chosen: d.chosen,
      probability: d.probability,
      ...(d.probs != null ? { probs: d.probs } : {}),
      ...(d.reward != null ? { reward: d.reward } : {}),
      ...(d.policyId != null ? { policy: d.policyId } : {}),
    });
  });
  return out;
}

/** Parse a log file's text: VW cb_adf if it looks like it (starts with `shared` or a `|`/label line), else JSONL. */
export function parseLog(text: string, source = 'log'): LoggedExample[] {
  const first = text.trimStart().slice(0, 1);
  return first === '{' ? parseJsonl(text, source) : parseVwAdf(text, source);
}
