// A queue worker process for the benchmark: startQueueWorker with the job module given on the command line.
import { startQueueWorker } from '@edge-compress/sweep';

const [url, name, modulePath, exportName, optionsJson] = process.argv.slice(2);
const w = await startQueueWorker({
  url,
  name,
  concurrency: 1,
  module: { path: modulePath, export: exportName, options: JSON.parse(optionsJson) },
  lockDurationMs: 4000,
  stalledIntervalMs: 1000,
  maxStalledCount: 3,
  onEvent: (e) => {
    if (e.type === 'start' || e.type === 'done') process.stdout.write(`${JSON.stringify({ type: e.type, label: e.label, worker: process.pid })}\n`);
  },
});
process.stdout.write(`${JSON.stringify({ type: 'ready', worker: process.pid })}\n`);
process.on('SIGTERM', async () => {
  await w.close();
  process.exit(0);
});
