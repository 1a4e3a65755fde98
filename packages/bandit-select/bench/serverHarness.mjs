// Spawn the real `edge-select serve` CLI on 127.0.0.1 and drive it. Used by bench.mjs and test/kill9.test.ts.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'cli.js');

/**
 * Start `edge-select serve --port 0 --json`; resolves with { url, child } once it prints its listening line. Without
 * `policy` the server runs the package default (qoets for a catalogue with the QoE block).
 */
export function startCliServer({ catalogue, db, policy, extra = [], timeoutMs = 45000 }) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, 'serve', '--catalogue', catalogue, '--db', db, ...(policy ? ['--policy', policy] : []), '--port', '0', '--host', '127.0.0.1', '--json', ...extra],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${timeoutMs} ms: ${err}`));
    }, timeoutMs);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        try {
          const info = JSON.parse(out.slice(0, nl));
          resolve({ url: info.url, info, child });
        } catch (e) {
          reject(e);
        }
      }
    });
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}: ${err}`));
    });
  });
}

export function stopChild(child, signal = 'SIGTERM') {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/** Deterministic pool of valid /choose bodies for the synthetic catalogue's context features. */
export function contextPool(names, n = 256, seed = 1) {
  let s = seed >>> 0;
  const rnd = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const pool = [];
  for (let i = 0; i < n; i++) {
    const context = {};
    // Plausible contexts: user-set QoE weights are positive (the service rejects all-zero weights with 400),
    // device-class flags are 0/1, everything else is a standardised value in [-1, 1].
    for (const name of names) {
      const u = rnd();
      context[name] = name.startsWith('w_')
        ? Math.round((0.05 + u) * 1000) / 1000
        : ['gpu', 'npu', 'fpga'].includes(name)
          ? u < 0.25
            ? 1
            : 0
          : Math.round((u * 2 - 1) * 1000) / 1000;
    }
    pool.push(JSON.stringify({ context }));
  }
  return pool;
}

async function postJson(url, body) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.text();
  return { status: res.status, body: text };
}

/**
 * Run `workers` loops of choose → feedback against `url` until `stop()` is called or `maxPairs` pairs are done.
 * Records every feedback acknowledged with HTTP 200. Connection errors (e.g. after kill -9) end a loop.
 */
export function runLoad(url, pool, { workers = 8, maxPairs = Infinity, batch = 0 } = {}) {
  const acked = [];
  let stopped = false;
  let pairs = 0;
  let errors = 0;
  // batch > 0: each loop posts /batch with the feedbacks for its previous batch's chooses plus `batch` new chooses.
  const batchLoop = async (w) => {
    let i = w;
    let prev = [];
    while (!stopped && pairs < maxPairs) {
      const requests = prev.map((eventId) => ({ op: 'feedback', eventId, reward: ((i * 37) % 101) / 100 }));
      for (let b = 0; b < batch; b++) requests.push({ op: 'choose', context: JSON.parse(pool[i++ % pool.length]).context });
      try {
        const r = await postJson(`${url}/batch`, JSON.stringify({ requests }));
        if (r.status !== 200) {
          errors++;
          prev = [];
          continue;
        }
        const results = JSON.parse(r.body).results;
        results.slice(0, prev.length).forEach((x, q) => (x.status === 200 ? acked.push(prev[q]) : errors++));
        pairs += prev.length;
        prev = results.slice(prev.length).flatMap((x) => (x.status === 200 ? [x.eventId] : []));
      } catch {
        if (stopped) break;
        errors++;
        if (errors > 50) break;
      }
    }
  };
  const loop = async (w) => {
    let i = w;
    while (!stopped && pairs < maxPairs) {
      pairs++;
      try {
        const c = await postJson(`${url}/choose`, pool[i++ % pool.length]);
        if (c.status !== 200) {
          errors++;
          continue;
        }
        const { eventId } = JSON.parse(c.body);
        const reward = ((i * 37) % 101) / 100;
        const f = await postJson(`${url}/feedback`, JSON.stringify({ eventId, reward }));
        if (f.status === 200) acked.push(eventId);
        else errors++;
      } catch {
        if (stopped) break;
        errors++;
        if (errors > 50) break;
      }
    }
  };
  const done = Promise.all(Array.from({ length: workers }, (_, w) => (batch > 0 ? batchLoop(w) : loop(w))));
  return {
    acked,
    stop() {
      stopped = true;
    },
    done: done.then(() => ({ acked, pairs, errors })),
  };
}

/** Count acknowledged feedbacks that the restarted server does not know: re-posting must give 409. */
export async function countLost(url, ackedIds) {
  let lost = 0;
  for (const eventId of ackedIds) {
    const f = await postJson(`${url}/feedback`, JSON.stringify({ eventId, reward: 0.5 }));
    if (f.status !== 409) lost++;
  }
  return lost;
}

/** Kill -9 experiment: load, SIGKILL mid-load, restart on the same db, count acknowledged-but-lost feedbacks. */
export async function kill9Experiment({ catalogue, db, names, killAfterAcked = 500, workers = 8, maxPairs = 20000, batch = 0 }) {
  const first = await startCliServer({ catalogue, db });
  const load = runLoad(first.url, contextPool(names), { workers, maxPairs, batch });
  const t0 = Date.now();
  while (load.acked.length < killAfterAcked && Date.now() - t0 < 45000) await new Promise((r) => setTimeout(r, 5));
  first.child.kill('SIGKILL'); // mid-load: requests are in flight
  await new Promise((r) => first.child.once('exit', r));
  load.stop();
  const { acked } = await load.done;
  const ackedIds = [...acked];
  const second = await startCliServer({ catalogue, db });
  try {
    const summary = await (await fetch(`${second.url}/policy`)).json();
    const lost = await countLost(second.url, ackedIds);
    return { acked: ackedIds.length, lost, rebuiltFeedbacks: summary.feedbacks, rebuiltUpdates: summary.updates, rebuild: second.info.rebuild };
  } finally {
    await stopChild(second.child);
  }
}
