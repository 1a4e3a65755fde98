// A small worker_threads pool: run(job) → Promise of the worker's reply. Jobs are dispatched in submission order.
import { Worker } from 'node:worker_threads';

export function createPool(size, file) {
  const idle = [];
  const queue = [];
  const pending = new Map();
  let nextId = 0;
  const workers = Array.from({ length: size }, () => {
    const w = new Worker(file);
    w.on('message', (msg) => {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.ok) p.resolve(msg);
      else p.reject(new Error(msg.error));
      dispatch(w);
    });
    w.on('error', (e) => {
      for (const p of pending.values()) p.reject(e);
    });
    idle.push(w);
    return w;
  });
  function dispatch(w) {
    const job = queue.shift();
    if (!job) return idle.push(w);
    w.postMessage(job);
  }
  return {
    run(job) {
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        queue.push({ ...job, id });
        const w = idle.pop();
        if (w) dispatch(w);
      });
    },
    close: () => Promise.all(workers.map((w) => w.terminate())),
  };
}
