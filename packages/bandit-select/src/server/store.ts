/**
 * Durable event log in SQLite (better-sqlite3, WAL mode).
 *
 * Durability argument: every `/choose` and every `/feedback` is one INSERT in autocommit mode, and the HTTP reply is
 * sent only after better-sqlite3 returns, i.e. after the transaction has committed to the WAL file. With
 * `synchronous=NORMAL` the WAL is not fsync'ed on each commit, but the committed frames are already in the OS page
 * cache: a `kill -9` of the process (or any crash of the process) cannot lose them; only an OS crash or power loss can
 * lose the last transactions. Use `synchronous: 'full'` to survive power loss too (one fsync per commit).
 * POST /batch writes all its items in one transaction (`transaction()`) and is answered after that commit returns, so
 * the same argument holds for every item it acknowledges.
 */
import Database from 'better-sqlite3';
import { BanditError } from '../errors.js';

export type Synchronous = 'normal' | 'full';

export interface EventRow {
  seq: number;
  eventId: string;
  context: string;
  offered: string | null;
  arm: number;
  probability: number;
  probs: string;
  policy: string;
  createdMs: number;
  reward: number | null;
}

export interface ReplayRow {
  context: string;
  offered: string | null;
  arm: number;
  reward: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY,
  event_id TEXT NOT NULL UNIQUE,
  created_ms INTEGER NOT NULL,
  context TEXT NOT NULL,
  offered TEXT,
  arm INTEGER NOT NULL,
  probability REAL NOT NULL,
  probs TEXT NOT NULL,
  policy TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS feedback (
  seq INTEGER PRIMARY KEY,
  event_seq INTEGER NOT NULL UNIQUE REFERENCES events(seq),
  reward REAL NOT NULL,
  created_ms INTEGER NOT NULL
) STRICT;
`;

export class EventStore {
  readonly db: Database.Database;
  private readonly stInsertEvent: Database.Statement;
  private readonly stFindEvent: Database.Statement;
  private readonly stInsertFeedback: Database.Statement;
  private readonly stGetMeta: Database.Statement;
  private readonly stSetMeta: Database.Statement;
  /** BEGIN … COMMIT around a callback, built once (better-sqlite3's transaction() wrapper). */
  private readonly tx: (fn: () => unknown) => unknown;

  constructor(path: string, opts: { synchronous?: Synchronous } = {}) {
    try {
      this.db = new Database(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${opts.synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
      this.db.pragma('busy_timeout = 5000');
      // Checkpoint the WAL every ~40 MB instead of every ~4 MB: each checkpoint fsyncs, so fewer of them keeps the
      // per-request cost low. Commits are unaffected (durable to kill -9 as soon as they return).
      this.db.pragma('wal_autocheckpoint = 10000');
      // 64 MiB page cache (default 2 MiB): the event_id and event_seq indexes stay in memory.
      this.db.pragma('cache_size = -65536');
      this.db.exec(SCHEMA);
    } catch (e) {
      throw new BanditError({
        code: 'IO_ERROR',
        message: `cannot open SQLite database ${path}: ${(e as Error).message}`,
        path,
        hint: 'check that the directory exists and is writable, and that the file is a SQLite database written by edge-select',
        cause: e,
      });
    }
    this.stInsertEvent = this.db.prepare('INSERT INTO events (event_id, created_ms, context, offered, arm, probability, probs, policy) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    this.stFindEvent = this.db.prepare(
      'SELECT e.seq AS seq, e.context AS context, e.offered AS offered, e.arm AS arm, e.probability AS probability, f.reward AS reward FROM events e LEFT JOIN feedback f ON f.event_seq = e.seq WHERE e.event_id = ?',
    );
    this.stInsertFeedback = this.db.prepare('INSERT INTO feedback (event_seq, reward, created_ms) VALUES (?, ?, ?)');
    this.stGetMeta = this.db.prepare('SELECT value FROM meta WHERE key = ?');
    this.tx = this.db.transaction((fn: () => unknown) => fn());
    this.stSetMeta = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
  }

  getMeta(key: string): string | undefined {
    const r = this.stGetMeta.get(key) as { value: string } | undefined;
    return r?.value;
  }

  setMeta(key: string, value: string): void {
    this.stSetMeta.run(key, value);
  }

  /** Insert a decision; returns its sequence number. Committed when this returns. */
  insertEvent(eventId: string, createdMs: number, context: string, offered: string | null, arm: number, probability: number, probs: string, policy: string): number {
    return Number(this.stInsertEvent.run(eventId, createdMs, context, offered, arm, probability, probs, policy).lastInsertRowid);
  }

  findEvent(eventId: string): { seq: number; context: string; offered: string | null; arm: number; probability: number; reward: number | null } | undefined {
    return this.stFindEvent.get(eventId) as ReturnType<EventStore['findEvent']>;
  }

  /** Insert feedback for an event; 'duplicate' if the event already has feedback. Committed when this returns. */
  insertFeedback(eventSeq: number, reward: number, createdMs: number): 'ok' | 'duplicate' {
    try {
      this.stInsertFeedback.run(eventSeq, reward, createdMs);
      return 'ok';
    } catch (e) {
      const code = (e as { code?: string }).code ?? '';
      if (code.startsWith('SQLITE_CONSTRAINT')) return 'duplicate';
      throw e;
    }
  }

  /** Feedback joined with its event, in the order it was committed (the policy's update order). */
  *replay(): IterableIterator<ReplayRow> {
    const st = this.db.prepare(
      'SELECT e.context AS context, e.offered AS offered, e.arm AS arm, f.reward AS reward FROM feedback f JOIN events e ON e.seq = f.event_seq ORDER BY f.seq',
    );
    yield* st.iterate() as IterableIterator<ReplayRow>;
  }

  /** All events in decision order (with their reward or null). */
  *events(): IterableIterator<EventRow> {
    const st = this.db.prepare(
      `SELECT e.seq AS seq, e.event_id AS eventId, e.context AS context, e.offered AS offered, e.arm AS arm,
              e.probability AS probability, e.probs AS probs, e.policy AS policy, e.created_ms AS createdMs, f.reward AS reward
       FROM events e LEFT JOIN feedback f ON f.event_seq = e.seq ORDER BY e.seq`,
    );
    yield* st.iterate() as IterableIterator<EventRow>;
  }

  counts(): { events: number; feedbacks: number } {
    const e = this.db.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number };
    const f = this.db.prepare('SELECT COUNT(*) AS n FROM feedback').get() as { n: number };
    return { events: e.n, feedbacks: f.n };
  }

  transaction<T>(fn: () => T): T {
    return this.tx(fn) as T;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
