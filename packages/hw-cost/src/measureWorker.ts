/**
 * Child-process entry of the timing protocol: reads one job (JSON) on stdin, times it on the wasm backend,
 * writes the timings (JSON) on stdout. Started by `measureInProcesses`; not part of the public API.
 */
import { initBackend, isCompressionError } from '@edge-compress/core';
import { timeItems, type TimingItem, type TimingOptions } from './measure.js';

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items: TimingItem[]; options: TimingOptions };
try {
  await initBackend('wasm');
  const timings = await timeItems(job.items, job.options);
  process.stdout.write(JSON.stringify({ timings }));
} catch (e) {
  // A typed error goes back whole (code, message, hint), so the caller reports it as it is and does not retry.
  if (!isCompressionError(e)) throw e;
  const { code, path, layer } = e;
  process.stdout.write(JSON.stringify({ error: { code, path, layer, message: e.message.slice(0, e.hint ? e.message.length - e.hint.length - 2 : undefined), hint: e.hint } }));
  process.exitCode = 3;
}
