// Benchmark for @edge-compress/bandit-select. Runs the built dist (npm run build first).
// Writes <repo>/bench-results/bandit-select.json (flat object of the named figures) and prints a table.
// Load tests only hit 127.0.0.1 and are bounded in time and count.
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';
import { createBatch, createPolicy, Rng, runOpeExperiment, runSimulation, SyntheticWorld, catalogueToJSON } from '../dist/index.js';
import { kill9Experiment, startCliServer, stopChild } from './serverHarness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, '..', '..', '..');
const quick = process.env.BENCH_QUICK === '1';
const median = (a) => {
  const s = [...a].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const log = (s) => process.stderr.write(`${s}\n`);
const t00 = performance.now();

// 1. Regret on the simulator, T = 10,000, medians over seeds.
const SEEDS = quick ? [1] : [1, 2, 3, 4, 5];
const T = 10_000;
const ratiosUcb = [];
const ratiosTs = [];
const bestShares = [];
const perPolicy = {};
for (const seed of SEEDS) {
  const r = runSimulation({
    seed,
    rounds: T,
    policies: [{ kind: 'linucb' }, { kind: 'linucb-hybrid' }, { kind: 'linucb-disjoint' }, { kind: 'lints' }, { kind: 'egreedy' }, { kind: 'squarecb' }, { kind: 'uniform' }, 'best-fixed'],
  });
  const by = Object.fromEntries(r.policies.map((p) => [p.name, p]));
  ratiosUcb.push(by.linucb.regret / by.egreedy.regret);
  ratiosTs.push(by.lints.regret / by.egreedy.regret);
  const learners = r.policies.filter((p) => p.name !== 'best-fixed' && p.name !== 'uniform');
  bestShares.push(Math.min(...learners.map((p) => p.regretShare)));
  for (const p of r.policies) (perPolicy[p.name] ??= []).push(p.regret);
  log(`regret seed ${seed}: ${r.policies.map((p) => `${p.name} ${p.regret.toFixed(0)}`).join(', ')}`);
}

// 2. Off-policy evaluation vs the true on-policy value (uniform logging, n = 20,000, frozen LinUCB target).
const ope = { ips: [], snips: [], dm: [], dr: [] };
for (const seed of SEEDS.slice(0, 3)) {
  const r = runOpeExperiment({ seed, n: quick ? 5000 : 20_000 });
  for (const k of Object.keys(ope)) ope[k].push(r.relError[k]);
  log(`ope seed ${seed}: truth ${r.truth.toFixed(4)} rel err ${Object.entries(r.relError).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ')}`);
}

// 3. decide() latency, 20 arms × 32 features, shared LinUCB (the default), p99 per repeat, median of repeats.
const p99s = [];
{
  const K = 20;
  const d = 32;
  const policy = createPolicy({ kind: 'linucb', seed: 1 }, { numArms: K, dim: d, ctxDim: 8, armIds: [] });
  const batch = createBatch(K, d, 8);
  batch.k = K;
  for (let a = 0; a < K; a++) batch.arms[a] = a;
  const rng = new Rng(7);
  const fillRandom = () => {
    for (let i = 0; i < K * d; i++) batch.phi[i] = rng.normal() / Math.sqrt(d);
  };
  for (let t = 0; t < 5000; t++) {
    fillRandom();
    const j = policy.decide(batch);
    policy.update(batch, j, rng.next());
  }
  const N = 20_000;
  const ts = new Float64Array(N);
  for (let rep = 0; rep < 5; rep++) {
    for (let t = 0; t < N; t++) {
      if ((t & 63) === 0) fillRandom();
      const s = process.hrtime.bigint();
      policy.decide(batch);
      ts[t] = Number(process.hrtime.bigint() - s) / 1000;
    }
    ts.sort();
    p99s.push(ts[Math.floor(N * 0.99)]);
  }
}

// 4 + 5. Server: throughput with autocannon (choose → feedback pairs), then kill -9 durability.
const tmp = mkdtempSync(join(tmpdir(), 'edge-select-bench-'));
const world = new SyntheticWorld({ seed: 1 });
const catalogue = join(tmp, 'catalogue.json');
writeFileSync(catalogue, JSON.stringify(catalogueToJSON(world.catalogue)));
const names = world.space.contextNames;
const rpsRuns = [];
let killResult;
try {
  for (let rep = 0; rep < (quick ? 1 : 3); rep++) {
    const db = join(tmp, `rps-${rep}.sqlite`);
    const srv = await startCliServer({ catalogue, db });
    try {
      // The load generator runs in its own process so it does not share this process's thread.
      const r = spawnSync(process.execPath, [join(here, 'load.mjs'), srv.url, names.join(','), quick ? '3' : '6', '16'], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) throw new Error(`load generator failed: ${r.stderr}`);
      const res = JSON.parse(r.stdout.trim().split('\n').pop());
      rpsRuns.push(res.rps);
      log(`autocannon rep ${rep}: ${JSON.stringify(res)}`);
    } finally {
      await stopChild(srv.child);
    }
  }
  killResult = await kill9Experiment({ catalogue, db: join(tmp, 'kill9.sqlite'), names, killAfterAcked: quick ? 300 : 2000, workers: 16 });
  log(`kill -9: ${JSON.stringify(killResult)}`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

const results = {
  regret_ratio_linucb_vs_egreedy_T10000: median(ratiosUcb),
  regret_ratio_ts_vs_egreedy_T10000: median(ratiosTs),
  best_policy_regret_vs_oracle_share: median(bestShares),
  ope_dr_rel_error: median(ope.dr),
  ope_ips_rel_error: median(ope.ips),
  decide_p99_us_20arms_32feat: median(p99s),
  server_choose_feedback_rps: median(rpsRuns),
  events_lost_after_kill9: killResult.lost,
};
const goals = {
  regret_ratio_linucb_vs_egreedy_T10000: ['≤ 0.5', (v) => v <= 0.5],
  regret_ratio_ts_vs_egreedy_T10000: ['—', () => true],
  best_policy_regret_vs_oracle_share: ['—', () => true],
  ope_dr_rel_error: ['≤ 0.05', (v) => v <= 0.05],
  ope_ips_rel_error: ['≤ 0.05', (v) => v <= 0.05],
  decide_p99_us_20arms_32feat: ['≤ 50', (v) => v <= 50],
  server_choose_feedback_rps: ['≥ 5000', (v) => v >= 5000],
  events_lost_after_kill9: ['0', (v) => v === 0],
};

const outDir = join(repoRoot, 'bench-results');
mkdirSync(outDir, { recursive: true });
const out = join(outDir, 'bandit-select.json');
const tmpOut = `${out}.tmp-${process.pid}`;
writeFileSync(tmpOut, `${JSON.stringify(results, null, 2)}\n`);
renameSync(tmpOut, out);

const rows = [['figure', 'value', 'goal', 'met']];
for (const [k, v] of Object.entries(results)) {
  const [g, ok] = goals[k];
  rows.push([k, Number.isInteger(v) ? String(v) : v.toPrecision(4), g, g === '—' ? '' : ok(v) ? 'yes' : 'no']);
}
const w = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
console.log(rows.map((r) => r.map((c, i) => c.padEnd(w[i])).join('  ')).join('\n'));
console.log(`\nregret per policy (median over seeds ${SEEDS.join(',')}, T=${T}): ${Object.entries(perPolicy).map(([k, v]) => `${k} ${median(v).toFixed(0)}`).join(', ')}`);
console.log(`kill -9: ${killResult.acked} feedbacks acknowledged before SIGKILL, ${killResult.lost} lost; rebuilt ${killResult.rebuiltUpdates} updates in ${killResult.rebuild.ms.toFixed(0)} ms`);
console.log(`wrote ${out} in ${((performance.now() - t00) / 1000).toFixed(0)} s`);
