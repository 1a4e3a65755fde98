// Load generator run as its own process (so it does not share a thread with the bench): autocannon choose → feedback
// pairs against a 127.0.0.1 URL for a bounded duration. Prints one JSON line. A pair counts once its feedback is
// acknowledged (HTTP 200), so pairsPerS is choose+feedback pairs per second, not requests per second.
// With batch B > 0 every request is one POST /batch holding the B feedbacks for the chooses of the connection's
// previous response plus B new chooses (steady state: one request per B pairs); a pair counts once its feedback item
// is acknowledged with status 200 inside a 200 response.
import autocannon from 'autocannon';
import { contextPool } from './serverHarness.mjs';

const [url, namesCsv, durationS = '6', connections = '16', batchArg = '0'] = process.argv.slice(2);
const B = Number(batchArg);
if (!url || !/^http:\/\/127\.0\.0\.1:\d+$/.test(url)) {
  process.stderr.write('usage: load.mjs http://127.0.0.1:PORT name1,name2,... [durationS] [connections] [batch]\n');
  process.exit(2);
}
const pool = contextPool(namesCsv.split(','), 512, 3);
let k = 0;
let pairsAcked = 0;
let feedbackNon200 = 0;
let chooseNon200 = 0;
const cpu0 = process.cpuUsage();
const cpuUs = () => {
  const c = process.cpuUsage(cpu0);
  return c.user + c.system;
};
const r = await autocannon({
  url,
  connections: Number(connections),
  duration: Math.min(30, Number(durationS)),
  requests:
    B > 0
      ? batchRequests()
      : [
          {
            method: 'POST',
            path: '/choose',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req) => ({ ...req, body: pool[k++ % pool.length] }),
            onResponse: (status, body, context) => {
              if (status !== 200) chooseNon200++;
              context.eventId = status === 200 ? JSON.parse(body).eventId : undefined;
            },
          },
          {
            method: 'POST',
            path: '/feedback',
            headers: { 'content-type': 'application/json' },
            setupRequest: (req, context) => (context.eventId ? { ...req, body: JSON.stringify({ eventId: context.eventId, reward: 0.5 }) } : undefined),
            onResponse: (status) => {
              if (status === 200) pairsAcked++;
              else feedbackNon200++;
            },
          },
        ],
});
process.stdout.write(
  `${JSON.stringify({ loadGenCpuUs: cpuUs(), pairsAcked, pairsPerS: pairsAcked / r.duration, requests2xx: r['2xx'], non2xx: r.non2xx, chooseNon200, feedbackNon200, errors: r.errors, durationS: r.duration, p99Ms: r.latency.p99 })}\n`,
);

// autocannon resets a connection's context after the last request of the sequence, so the sequence is STEPS batch
// requests long: the first only chooses, the last only sends the feedbacks (no choose is left without its feedback).
function batchRequests() {
  const STEPS = 50;
  // Choose items are serialised once (the pool's bodies are {"context":{...}}); only the feedback items are built per call.
  const chooseItems = pool.map((b) => `{"op":"choose",${b.slice(1)}`);
  return Array.from({ length: STEPS }, (_, step) => ({
    method: 'POST',
    path: '/batch',
    headers: { 'content-type': 'application/json' },
    setupRequest: (req, context) => {
      const items = (context.eventIds ?? []).map((eventId) => `{"op":"feedback","eventId":"${eventId}","reward":0.5}`);
      context.nFeedback = items.length;
      if (step < STEPS - 1) for (let i = 0; i < B; i++) items.push(chooseItems[k++ % chooseItems.length]);
      return { ...req, body: `{"requests":[${items.join(',')}]}` };
    },
    onResponse: (status, body, context) => {
      const nChoose = step < STEPS - 1 ? B : 0;
      context.eventIds = [];
      if (status !== 200) {
        chooseNon200 += nChoose;
        feedbackNon200 += context.nFeedback;
        return;
      }
      const results = JSON.parse(body).results;
      for (let i = 0; i < results.length; i++) {
        const r = results[i];
        if (i < context.nFeedback) {
          if (r.status === 200) pairsAcked++;
          else feedbackNon200++;
        } else if (r.status === 200) context.eventIds.push(r.eventId);
        else chooseNon200++;
      }
    },
  }));
}
