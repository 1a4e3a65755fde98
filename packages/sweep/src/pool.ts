import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildMessage, ParentMessage } from './protocol.js';
import { deserializeError } from './errors.js';
import { type JobInput, type JobModuleRef, type JobOutput, type JobProgress } from './runner.js';

/** dist/child.js next to this module (from the sources under vitest: the built one). */
export function childEntryPath(): string {
  const here = fileURLToPath(import.meta.url);
  const dir = dirname(here);
  const p = here.endsWith('.ts') ? resolve(dir, '../dist/child.js') : join(dir, 'child.js');
  return p;
}

export interface PoolOptions {
  /** Number of job processes (each runs one job at a time). */
  size: number;
  module: JobModuleRef;
  /** Override of the child entry (default: @edge-compress/sweep's dist/child.js). */
  childEntry?: string;
  /** Extra environment for the job processes. */
  env?: NodeJS.ProcessEnv;
}

interface Slot {
  child?: ChildProcess;
  ready?: Promise<void>;
  tail: string[];
  busy: boolean;
}

/**
 * N forked job processes that each import the job module once and then run jobs one at a time. A process
 * that dies mid-job fails that job (the caller retries) and is replaced on next use.
 */
export class ProcessPool {
  private readonly slots: Slot[];
  private readonly waiters: Array<(s: Slot) => void> = [];
  private closed = false;

  constructor(private readonly opts: PoolOptions) {
    if (!Number.isInteger(opts.size) || opts.size < 1) throw new RangeError(`pool size must be an integer ≥ 1, got ${opts.size}`);
    this.slots = Array.from({ length: opts.size }, () => ({ tail: [], busy: false }));
  }

  get size(): number {
    return this.slots.length;
  }

  /** pids of the live job processes. */
  pids(): number[] {
    return this.slots.flatMap((s) => (s.child?.pid !== undefined && s.child.exitCode === null && s.child.signalCode === null ? [s.child.pid] : []));
  }

  private spawn(slot: Slot): Promise<void> {
    const entry = this.opts.childEntry ?? childEntryPath();
    if (!existsSync(entry)) return Promise.reject(new Error(`job process entry ${entry} does not exist: build @edge-compress/sweep first (npm run build -w @edge-compress/sweep)`));
    const child = fork(entry, [], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'advanced', execArgv: [], env: { ...process.env, ...this.opts.env } });
    slot.child = child;
    slot.tail = [];
    const keep = (buf: Buffer) => {
      slot.tail.push(...String(buf).split('\n').filter(Boolean));
      if (slot.tail.length > 20) slot.tail.splice(0, slot.tail.length - 20);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.on('exit', () => {
      if (slot.child === child) {
        slot.child = undefined;
        slot.ready = undefined;
      }
    });
    return new Promise<void>((res, rej) => {
      const onMsg = (m: ChildMessage) => {
        if (m.t === 'ready') (done(), res());
        else if (m.t === 'init-failed') (done(), child.kill('SIGKILL'), rej(deserializeError(m.error)));
      };
      const onExit = (code: number | null, signal: string | null) => {
        done();
        rej(new Error(`job process exited (${signal ?? `code ${code}`}) while importing ${this.opts.module.path}${slot.tail.length ? `:\n${slot.tail.join('\n')}` : ''}`));
      };
      const done = () => {
        child.off('message', onMsg);
        child.off('exit', onExit);
      };
      child.on('message', onMsg);
      child.on('exit', onExit);
      child.send({ t: 'init', module: this.opts.module } satisfies ParentMessage);
    });
  }

  private acquire(): Promise<Slot> {
    const free = this.slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    return new Promise((res) => this.waiters.push(res));
  }

  private release(slot: Slot): void {
    const next = this.waiters.shift();
    if (next) next(slot);
    else slot.busy = false;
  }

  /** Runs a job in a free job process; `dir` is where it writes its files. */
  async run(job: JobInput, dir: string, onProgress?: (p: JobProgress) => void, onStart?: (pid: number) => void): Promise<JobOutput> {
    if (this.closed) throw new Error('process pool is closed');
    const slot = await this.acquire();
    try {
      if (!slot.child || !slot.ready) slot.ready = this.spawn(slot);
      try {
        await slot.ready;
      } catch (e) {
        slot.ready = undefined;
        throw e;
      }
      const child = slot.child!;
      onStart?.(child.pid!);
      return await new Promise<JobOutput>((res, rej) => {
        const onMsg = (m: ChildMessage) => {
          if (m.t === 'progress' && m.id === job.id) onProgress?.(m.p);
          else if (m.t === 'done' && m.id === job.id) (done(), res(m.output));
          else if (m.t === 'fail' && m.id === job.id) (done(), rej(deserializeError(m.error)));
        };
        const onExit = (code: number | null, signal: string | null) => {
          done();
          rej(new Error(`job process ${child.pid} exited (${signal ?? `code ${code}`}) during job ${job.label}${slot.tail.length ? `:\n${slot.tail.slice(-8).join('\n')}` : ''}`));
        };
        const done = () => {
          child.off('message', onMsg);
          child.off('exit', onExit);
        };
        child.on('message', onMsg);
        child.on('exit', onExit);
        child.send({ t: 'run', job, dir } satisfies ParentMessage);
      });
    } finally {
      this.release(slot);
    }
  }

  /** Stops every job process (SIGKILL after `graceMs` if one does not exit). */
  async close(graceMs = 2000): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map(async (s) => {
        const c = s.child;
        if (!c || c.exitCode !== null || c.signalCode !== null) return;
        const exited = new Promise<void>((r) => c.once('exit', () => r()));
        if (s.busy) c.kill('SIGKILL');
        else if (c.connected) c.send({ t: 'close' } satisfies ParentMessage);
        const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }),
    );
  }
}
