// Per-(class, arm) diagnostic for the drift environment (README "What exploration could buy at most"): after the
// change at round 5,000, how often each arm is optimal and played, and each cell's δ posterior mean at the end, for
// greedy on the default's learner with bandit feedback and with full information. Tuning seeds only.
//   node bench/cellDiagnostic.mjs [seed, default 101] [env, default drift] ['{"driftSd":0.3}' extra learner options]
import { createPolicy, Rng, SIM_STREAMS, SyntheticWorld } from '../dist/index.js';
import { assertTuningSeeds } from './seeds.mjs';

const [seed = '101', env = 'drift', cfgJson] = process.argv.slice(2);
assertTuningSeeds([+seed]);
const extra = cfgJson ? JSON.parse(cfgJson) : {};
const world = new SyntheticWorld({ seed: +seed, env });
const K = world.arms.length;
const classes = world.space.qoe.classes;
const res = {};
for (const mode of ['bandit', 'full']) {
  const wRng = Rng.derive(+seed, SIM_STREAMS.contexts),
    nRng = Rng.derive(+seed, SIM_STREAMS.noise),
    fRng = new Rng(+seed * 31 + 7);
  const pol = createPolicy({ kind: 'qoets', explore: 'greedy', epsilon: 0, seed: 5, ...extra }, world.space);
  const batch = world.space.newBatch();
  batch.k = K;
  for (let a = 0; a < K; a++) batch.arms[a] = a;
  const round = world.newRound();
  const plays = {},
    opt = {},
    regA = {};
  for (let t = 0; t < 10000; t++) {
    world.sample(t, wRng, round);
    world.space.encodeContextValues(round.context, batch.ctx, 0);
    world.space.fill(batch);
    const j = pol.decide(batch);
    const cl = world.devices[round.device].cls;
    let oa = 0;
    for (let a = 1; a < K; a++) if (round.mean[a] > round.mean[oa]) oa = a;
    if (t >= 5000) {
      const k = cl + ':' + j;
      plays[k] = (plays[k] ?? 0) + 1;
      const ko = cl + ':' + oa;
      opt[ko] = (opt[ko] ?? 0) + 1;
    }
    const z = nRng.normal();
    if (mode === 'bandit') pol.update(batch, j, world.observe(round, j, t, z));
    else for (let a = 0; a < K; a++) pol.update(batch, a, world.observe(round, a, t, a === j ? z : fRng.normal()));
  }
  const st = pol.toJSON();
  const dLL = st.arrays.dLL; // δ posterior from the stored log-likelihood and the N(0, 0.15²) prior of catalogued classes
  const means = {};
  for (let c = 0; c < classes.length; c++)
    for (let a = 0; a < K; a++) {
      let mx = -Infinity,
        s = 0,
        m = 0;
      const i = c * K + a;
      const v = [];
      for (let g = 0; g < 61; g++) {
        const d = -3 + 0.1 * g;
        v.push(dLL[i * 61 + g] - (d * d) / (2 * 0.15 * 0.15));
        mx = Math.max(mx, v[g]);
      }
      for (let g = 0; g < 61; g++) {
        const w = Math.exp(v[g] - mx);
        s += w;
        m += w * (-3 + 0.1 * g);
      }
      means[classes[c] + ':' + a] = (m / s).toFixed(2);
    }
  res[mode] = { plays, opt, means };
}
for (const cl of ['gpu', 'npu', 'fpga', 'cpu']) {
  console.log(cl);
  for (let a = 0; a < K; a++) {
    const k = cl + ':' + a;
    console.log(
      `  ${world.arms[a].id.padEnd(22)} optimal ${String(res.bandit.opt[k] ?? 0).padStart(5)} | bandit plays ${String(res.bandit.plays[k] ?? 0).padStart(5)} δ ${res.bandit.means[k]} | full plays ${String(res.full.plays[k] ?? 0).padStart(5)} δ ${res.full.means[k]}`,
    );
  }
}
