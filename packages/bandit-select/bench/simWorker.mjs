// worker_threads worker for bench.mjs: runs one simulation or OPE job and posts the result back.
import { parentPort } from 'node:worker_threads';
import { runOpeExperiment, runSimulation, SyntheticWorld } from '../dist/index.js';

parentPort.on('message', (job) => {
  try {
    const t0 = performance.now();
    if (job.type === 'sim') {
      const world = new SyntheticWorld({ seed: job.seed, env: job.env });
      const r = runSimulation({ world, rounds: job.rounds, policies: job.policies.map((p) => ({ name: p.name, config: p.config })) });
      const regret = Object.fromEntries(r.policies.map((p) => [p.name, p.regret]));
      parentPort.postMessage({ id: job.id, ok: true, regret, oracleMean: r.oracleMeanReward, bestFixedArm: r.bestFixedArm, ms: performance.now() - t0 });
    } else if (job.type === 'ope') {
      const r = runOpeExperiment(job.options);
      parentPort.postMessage({
        id: job.id,
        ok: true,
        truth: r.truth,
        relError: r.relError,
        relErrorCi: r.relErrorCi,
        ess: r.report.ess,
        clippedShare: r.report.clippedShare,
        ms: performance.now() - t0,
      });
    } else throw new Error(`unknown job type ${job.type}`);
  } catch (e) {
    parentPort.postMessage({ id: job.id, ok: false, error: String(e && e.stack ? e.stack : e) });
  }
});
