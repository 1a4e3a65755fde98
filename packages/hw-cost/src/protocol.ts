/**
 * The measurement protocol (issue: "ground truth that repeats"): every item is timed in `processes` separate
 * Node processes run one after another (each interleaves all items over several rounds); the figure is the
 * minimum over processes. Batch-1 sub-millisecond latencies are bimodal between processes, so a single
 * process is not a measurement. With `maxProcesses`, further processes run while some item's two best processes
 * disagree by more than `agree` (its minimum has not been seen twice).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { CompressionError } from '@edge-compress/core';
import { loadTfl, timeItems, type ItemTiming, type TimingItem, type TimingOptions } from './measure.js';

export interface ProtocolOptions extends TimingOptions {
  /** Child processes (0 = time in this process, one pass; for tests). Default 3. */
  processes?: number;
  /**
   * Adaptive repeats (HWCOST 3.3 "repeat a config when it is unstable"): after `processes` processes, further
   * processes (each timing every item, so the interleaving and cache conditions stay the same) run while any
   * item's two smallest per-process figures differ by more than `agree`, up to `maxProcesses` processes.
   * Default `processes` (no repeats).
   */
  maxProcesses?: number;
  /** Relative agreement of the two smallest per-process figures that makes an item stable. Default 0.05. */
  agree?: number;
  /** Path of the built worker (default: dist/measureWorker.js next to this module). */
  workerPath?: string;
  onProgress?: (msg: string) => void;
}

export interface ProtocolResult {
  /** id → minimum over processes of the per-process minimum, ms. */
  ms: Record<string, number>;
  /** id → per-process minima, ms. */
  perProcess: Record<string, number[]>;
  processes: number;
  /** Processes that ran beyond `processes` because some item was unstable (0 without repeats). */
  extraProcesses: number;
  /** Items whose two smallest per-process figures still differ by more than `agree` at the end. */
  unstableItems: number;
  loadBefore: number[];
  loadAfter: number[];
}

export function workerPath(): string {
  const here = fileURLToPath(import.meta.url);
  const candidates = [
    here.replace(/index\.(c?js)$/, 'measureWorker.js').replace(/protocol\.(ts|js)$/, 'measureWorker.js'),
    here.replace(/src[\\/][^\\/]+$/, 'dist/measureWorker.js'),
  ];
  const f = candidates.find((c) => c.endsWith('.js') && existsSync(c));
  if (!f)
    throw new CompressionError({
      code: 'BACKEND_NOT_READY',
      message: `the timing worker is not built (looked for ${candidates.join(', ')})`,
      hint: 'run `npm run build -w @edge-compress/hw-cost` first, or time in-process with processes: 0',
    });
  return f;
}

/** Typed errors a timing worker reported itself (a missing dependency, bad input): retrying cannot help. */
const reportedByWorker = new WeakSet<object>();

function runChild(path: string, items: TimingItem[], options: TimingOptions): Promise<ItemTiming[]> {
  return new Promise((resolveP, reject) => {
    const child = spawn(process.execPath, [path], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '',
      err = '';
    child.stdout.on('data', (d) => (out += String(d)));
    child.stderr.on('data', (d) => (err += String(d)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 3) {
        try {
          const e = new CompressionError((JSON.parse(out) as { error: ConstructorParameters<typeof CompressionError>[0] }).error);
          reportedByWorker.add(e);
          return reject(e);
        } catch {
          // not the worker's report: fall through to the generic error
        }
      }
      if (code !== 0) return reject(new CompressionError({ code: 'BACKEND_NOT_READY', message: `timing worker exited with code ${code}: ${err.slice(-800)}` }));
      try {
        resolveP((JSON.parse(out) as { timings: ItemTiming[] }).timings);
      } catch (cause) {
        reject(new CompressionError({ code: 'BACKEND_NOT_READY', message: `timing worker printed no JSON: ${out.slice(0, 200)} ${err.slice(-400)}`, cause }));
      }
    });
    child.stdin.end(JSON.stringify({ items, options }));
  });
}

export async function measureInProcesses(items: TimingItem[], opts: ProtocolOptions = {}): Promise<ProtocolResult> {
  const processes = opts.processes ?? 3;
  // Timing needs stock tfjs-layers (an optional peer): say so here, at once, not from inside a child process.
  await loadTfl();
  const options: TimingOptions = { rounds: opts.rounds, blockMs: opts.blockMs, warmup: opts.warmup, seed: opts.seed };
  const loadBefore = loadavg();
  const perProcess: Record<string, number[]> = Object.fromEntries(items.map((i) => [i.id, [] as number[]]));
  let extraProcesses = 0;
  const agree = opts.agree ?? 0.05;
  const unstable = (id: string) => {
    const v = [...perProcess[id]!].sort((x, y) => x - y);
    return v.length < 2 || v[1]! > v[0]! * (1 + agree);
  };
  if (processes === 0) {
    for (const t of await timeItems(items, options)) perProcess[t.id]!.push(t.minMs);
  } else {
    const path = opts.workerPath ?? workerPath();
    const maxProcesses = Math.max(processes, opts.maxProcesses ?? processes);
    for (let p = 0; p < maxProcesses; p++) {
      if (p >= processes) {
        const n = items.filter((it) => unstable(it.id)).length;
        if (!n) break;
        extraProcesses++;
        opts.onProgress?.(`${n} of ${items.length} items unstable (two best processes differ > ${agree * 100}%)`);
      }
      const todo = items;
      opts.onProgress?.(`timing ${todo.length} configurations in process ${p + 1}/${p < processes ? processes : `${processes}+${p + 1 - processes} (max ${maxProcesses})`}`);
      // A child can fail for reasons outside it (e.g. a dependency's dist being rebuilt on a shared machine):
      // retry twice before giving up.
      let ts: ItemTiming[] | undefined;
      for (let attempt = 0; !ts; attempt++) {
        try {
          ts = await runChild(path, todo, { ...options, seed: (opts.seed ?? 0) + 7919 * p });
        } catch (e) {
          if (attempt >= 2 || reportedByWorker.has(e as object)) throw e;
          opts.onProgress?.(`timing process ${p + 1} failed (${(e as Error).message.slice(0, 120)}); retrying`);
          await new Promise((r) => setTimeout(r, 5000));
        }
      }
      for (const t of ts) perProcess[t.id]!.push(t.minMs);
    }
  }
  const ms = Object.fromEntries(Object.entries(perProcess).map(([k, v]) => [k, Math.min(...v)]));
  return { ms, perProcess, processes, extraProcesses, unstableItems: processes ? items.filter((it) => unstable(it.id)).length : 0, loadBefore, loadAfter: loadavg() };
}

/** A device-state record logged with every calibration (HWCOST 3.3). */
export function deviceState(): Record<string, unknown> {
  const c = cpus();
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpuModel: c[0]?.model ?? 'unknown',
    nproc: c.length,
    loadavg: loadavg(),
    tfjs: '4.22.0',
    backend: 'wasm',
    threads: false,
  };
}
