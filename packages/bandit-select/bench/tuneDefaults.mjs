// Choose the package defaults on the TUNING seeds only (bench/seeds.mjs): runs every candidate config of the default
// policy in the four environments, T = 10,000, and prints per-environment median / mean regret and the median
// per-seed ratio to greedy on the same learner (`gs`). Runs the built dist (npm run build first).
//   node bench/tuneDefaults.mjs '{"name":{...config},...}' [seeds, default: all tuning seeds] [envs]
// A seed outside the tuning set is refused.
import { runSimulation, SyntheticWorld } from '../dist/index.js';
import { assertTuningSeeds, TUNING_SEEDS } from './seeds.mjs';
import { mean, median } from './stats.mjs';

const variants = JSON.parse(process.argv[2] ?? '{"default":{"kind":"qoets"}}');
variants.gs ??= { kind: 'qoets', explore: 'greedy', epsilon: 0 };
const seeds = process.argv[3] ? process.argv[3].split(',').map(Number) : TUNING_SEEDS;
assertTuningSeeds(seeds);
const envs = (process.argv[4] ?? 'base,coldstart,misspecified,drift').split(',');
const policies = Object.entries(variants).map(([name, config]) => ({ name, config }));
const res = {};
for (const env of envs)
  for (const seed of seeds) {
    const world = new SyntheticWorld({ seed, env });
    const r = runSimulation({ world, rounds: 10_000, policies });
    for (const p of r.policies) ((res[env] ??= {})[p.name] ??= []).push(p.regret);
    process.stderr.write(`${env} ${seed} ${r.policies.map((p) => `${p.name}=${p.regret.toFixed(1)}`).join(' ')}\n`);
  }
for (const env of envs) {
  console.log(`${env} (tuning seeds ${seeds.join(',')})`);
  for (const [n, v] of Object.entries(res[env]))
    console.log(
      `  ${n.padEnd(16)} median ${median(v).toFixed(1).padStart(6)}  mean ${mean(v).toFixed(1).padStart(6)}  median ratio to gs ${median(v.map((x, i) => x / res[env].gs[i])).toFixed(3)}`,
    );
}
