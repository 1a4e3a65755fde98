/**
 * Child-process entry of the timing protocol: reads one job (JSON) on stdin, times it on the wasm backend,
 * writes the timings (JSON) on stdout. Started by `measureInProcesses`; not part of the public API.
 */
import { initBackend } from '@edge-compress/core';
import { timeItems, type TimingItem, type TimingOptions } from './measure.js';

const chunks: Buffer[] = [];
for await (const c of process.stdin) chunks.push(c as Buffer);
const job = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items: TimingItem[]; options: TimingOptions };
await initBackend('wasm');
const timings = await timeItems(job.items, job.options);
process.stdout.write(JSON.stringify({ timings }));
