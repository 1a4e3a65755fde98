// CPU per choose+feedback pair of the service without HTTP: SelectService (group commit) in this process, W concurrent
// choose → feedback loops over the server bench's context pool (512 contexts, reward 0.5), N pairs in all. A fixed
// amount of work, so its CPU time moves far less with machine load than the HTTP bench's pairs per second. Prints one
// JSON line with cpuUsPerPair and a hash of the decisions (equal hashes: the same decisions).
//   node bench/serviceCpu.mjs [N = 20000] [W = 16]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SyntheticWorld } from '../dist/index.js';
import { SelectService } from '../dist/server/index.js';
import { contextPool } from './serverHarness.mjs';

const N = Number(process.argv[2] ?? 20000);
const W = Number(process.argv[3] ?? 16);
const world = new SyntheticWorld({ seed: 1 });
const tmp = mkdtempSync(join(tmpdir(), 'edge-select-svc-'));
const svc = new SelectService({ catalogue: world.catalogue, dbPath: join(tmp, 'events.sqlite') });
const pool = contextPool(world.space.contextNames, 512, 3);
let k = 0;
let started = 0;
let hash = 0;
async function loop() {
  while (started < N) {
    started++;
    const c = await svc.chooseQueued(JSON.parse(pool[k++ % pool.length]));
    hash = (hash * 31 + c.arm.length * 7 + Math.round(c.probability * 1000)) % 1000000007;
    await svc.feedbackQueued({ eventId: c.eventId, reward: 0.5 });
  }
}
try {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: W }, loop));
  const c = process.cpuUsage(c0);
  const feedbacks = svc.summary().feedbacks;
  if (feedbacks !== N) throw new Error(`stored ${feedbacks} feedbacks, expected ${N}`);
  process.stdout.write(
    `${JSON.stringify({ pairs: N, workers: W, cpuUsPerPair: Math.round(((c.user + c.system) / N) * 10) / 10, wallUsPerPair: Math.round(((performance.now() - t0) * 10000) / N) / 10, hash })}\n`,
  );
} finally {
  svc.close();
  rmSync(tmp, { recursive: true, force: true });
}
