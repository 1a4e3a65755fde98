// What exploration could buy at most on the default's learner (diagnostic; chooses nothing). Greedy on the `qoets`
// learner (explore 'greedy', ε = 0, the package defaults otherwise) with bandit feedback, against the same greedy
// policy that also learns, at no cost, (a) the reward of one more arm drawn uniformly per round (`free1`), or (b) the
// reward of every arm (`full`, full information). Same rounds and the same noise on the played arm as the regret
// bench; extra observations use their own seeded noise stream. Regret is that of the arms greedy plays.
// Any exploration rule pays for its observations with regret, so it can at best approach `free1`-like gains;
// a ratio free1 / bandit above 0.8 means no rule that explores by playing arms can reach the ≤ 0.8 goal there.
//   node bench/ceiling.mjs [envs, default all four] [seeds: "tuning" (default), "reporting", or a comma list]
//                          [learner options as JSON, e.g. '{"deviceSd":0.2}' (default: the package defaults)]
import { createPolicy, Rng, SIM_STREAMS, SyntheticWorld } from '../dist/index.js';
import { REPORTING_SEEDS, TUNING_SEEDS } from './seeds.mjs';
import { median } from './stats.mjs';

const envs = (process.argv[2] ?? 'base,coldstart,misspecified,drift').split(',');
const seedArg = process.argv[3] ?? 'tuning';
const seeds = seedArg === 'tuning' ? TUNING_SEEDS : seedArg === 'reporting' ? REPORTING_SEEDS : seedArg.split(',').map(Number);
const learner = process.argv[4] ? JSON.parse(process.argv[4]) : {};
const T = 10_000;
const out = {};
for (const env of envs) {
  const R = { bandit: [], free1: [], full: [] };
  for (const seed of seeds) {
    const world = new SyntheticWorld({ seed, env });
    const K = world.arms.length;
    for (const mode of Object.keys(R)) {
      // the regret bench's streams (runSimulation's SIM_STREAMS): the same contexts and played-arm noise
      const wRng = Rng.derive(seed, SIM_STREAMS.contexts);
      const nRng = Rng.derive(seed, SIM_STREAMS.noise);
      const fRng = Rng.derive(seed, 0xf7ee);
      const policy = createPolicy({ kind: 'qoets', ...learner, explore: 'greedy', epsilon: 0, seed: 5 }, world.space);
      const batch = world.space.newBatch();
      batch.k = K;
      for (let a = 0; a < K; a++) batch.arms[a] = a;
      const round = world.newRound();
      let regret = 0;
      for (let t = 0; t < T; t++) {
        world.sample(t, wRng, round);
        world.space.encodeContextValues(round.context, batch.ctx);
        world.space.fill(batch);
        const j = policy.decide(batch);
        let best = -Infinity;
        for (let a = 0; a < K; a++) best = Math.max(best, round.mean[a]);
        regret += best - round.mean[j];
        policy.update(batch, j, world.observe(round, j, t, nRng.normal()));
        if (mode === 'free1') {
          let a = fRng.int(K - 1);
          if (a >= j) a++;
          policy.update(batch, a, world.observe(round, a, t, fRng.normal()));
        } else if (mode === 'full') {
          for (let a = 0; a < K; a++) if (a !== j) policy.update(batch, a, world.observe(round, a, t, fRng.normal()));
        }
      }
      R[mode].push(regret);
    }
    process.stderr.write(
      `${env} ${seed}: ${Object.entries(R)
        .map(([k, v]) => `${k} ${v.at(-1).toFixed(1)}`)
        .join(', ')}\n`,
    );
  }
  const m = Object.fromEntries(Object.entries(R).map(([k, v]) => [k, median(v)]));
  out[env] = { ...m, free1_ratio: m.free1 / m.bandit, full_ratio: m.full / m.bandit, perSeed: R };
  console.log(
    `${env} (seeds ${seeds.join(',')}): median regret bandit ${m.bandit.toFixed(1)}, +1 free arm ${m.free1.toFixed(1)} (×${(m.free1 / m.bandit).toFixed(3)}), full information ${m.full.toFixed(1)} (×${(m.full / m.bandit).toFixed(3)})`,
  );
}
console.log(JSON.stringify(out));
