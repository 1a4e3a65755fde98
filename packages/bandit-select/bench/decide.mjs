// decide() latency in its own process (spawned by bench.mjs several times). Prints one JSON line:
// {linucb_20arms_32feat: {p50, p90, p99, p999}, default_qoets_10arms: {...}} in µs.
// 1. Shared LinUCB (no QoE block), 20 arms × 32 features of random φ (refreshed every 64 calls), after 5,000
//    decide+update rounds and a further 20,000 untimed decides (JIT warm-up); then 100,000 timed calls.
// 2. The package default (qoets, optimism) on the coldstart catalogue (10 arms): fill (φ and the QoE inputs) + decide.
import { createBatch, createPolicy, Rng, SyntheticWorld } from '../dist/index.js';

function pct(ts) {
  ts.sort();
  const at = (q) => Math.round(ts[Math.min(ts.length - 1, Math.floor(ts.length * q))] * 10) / 10;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999) };
}

const out = {};
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
  for (let t = 0; t < 20_000; t++) {
    if ((t & 63) === 0) fillRandom();
    policy.decide(batch);
  }
  const N = 100_000;
  const ts = new Float64Array(N);
  for (let t = 0; t < N; t++) {
    if ((t & 63) === 0) fillRandom();
    const s = process.hrtime.bigint();
    policy.decide(batch);
    ts[t] = Number(process.hrtime.bigint() - s) / 1000;
  }
  out.linucb_20arms_32feat = pct(ts);
}
{
  const w = new SyntheticWorld({ seed: 1, env: 'coldstart' });
  const q = createPolicy({ kind: 'qoets', seed: 1 }, w.space);
  const qb = w.space.newBatch();
  qb.k = w.arms.length;
  for (let a = 0; a < qb.k; a++) qb.arms[a] = a;
  const round = w.newRound();
  const wr = new Rng(3);
  for (let t = 0; t < 3000; t++) {
    w.sample(t, wr, round);
    w.space.encodeContextValues(round.context, qb.ctx);
    w.space.fill(qb);
    const j = q.decide(qb);
    q.update(qb, j, w.observe(round, j, t, wr.normal()));
  }
  const M = 25_000;
  const ts = new Float64Array(M);
  for (let t = 0; t < M; t++) {
    w.sample(t, wr, round);
    const s = process.hrtime.bigint();
    w.space.encodeContextValues(round.context, qb.ctx);
    w.space.fill(qb);
    q.decide(qb);
    ts[t] = Number(process.hrtime.bigint() - s) / 1000;
  }
  out.default_qoets_10arms = pct(ts);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
