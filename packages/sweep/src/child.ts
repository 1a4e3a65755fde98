/**
 * Entry of a job process (forked by the process pool): imports the job module the parent names, then runs
 * one job at a time on request. It exits when its parent goes away (IPC disconnect), so a worker killed
 * with SIGKILL takes its job processes with it.
 */
import { loadJobRunner, serializeError, type JobRunner } from './runner.js';
import type { ParentMessage } from './protocol.js';

const send = (m: unknown) => {
  if (process.connected) process.send!(m);
};
let runner: JobRunner | undefined;
let abort: AbortController | undefined;

process.on('disconnect', () => process.exit(70));
process.on('message', (raw) => {
  const m = raw as ParentMessage;
  void (async () => {
    if (m.t === 'init') {
      try {
        runner = await loadJobRunner(m.module);
        send({ t: 'ready' });
      } catch (e) {
        send({ t: 'init-failed', error: serializeError(e) });
      }
    } else if (m.t === 'run') {
      abort = new AbortController();
      let last = 0;
      try {
        if (!runner) throw new Error('job process got a job before init');
        const output = await runner.run(m.job, {
          dir: m.dir,
          signal: abort.signal,
          onProgress: (p) => {
            const now = Date.now();
            if (now - last < 250 && p.step + 1 < p.stepsPerEpoch) return;
            last = now;
            send({ t: 'progress', id: m.job.id, p });
          },
        });
        send({ t: 'done', id: m.job.id, output });
      } catch (e) {
        send({ t: 'fail', id: m.job.id, error: serializeError(e) });
      }
    } else if (m.t === 'abort') {
      abort?.abort();
    } else if (m.t === 'close') {
      await runner?.close?.();
      process.exit(0);
    }
  })();
});
