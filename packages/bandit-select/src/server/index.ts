/**
 * `@edge-compress/bandit-select/server`: the selection service over HTTP (fastify).
 *
 *   POST /choose    {"context":{...},"arms"?:[...]}  → {"eventId","arm","probability"}
 *   POST /feedback  {"eventId","reward"}             → 200 {"ok":true,...}; unknown event 404; duplicate 409
 *   POST /batch     {"requests":[{"op":"choose",...}|{"op":"feedback",...}, ...]} (≤ 1,000 items, one SQLite
 *                   transaction, answered after it commits) → {"results":[{"status":200,...}|{"status":4xx,"error":...}]}
 *   GET  /policy    state summary (?full=1 adds the catalogue and the serialised policy state)
 *   GET  /events/:eventId                            → {"eventId","arm","probability","reward"}
 *   GET  /healthz
 *
 * Errors are `{"error":{"code","message","path"?}}` with 400 (bad input), 404, 409, 413 (body too large) or 415
 * (not application/json); the server keeps serving.
 */
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { BanditError, httpStatusOf, isBanditError } from '../errors.js';
import { SelectService, type SelectServiceOptions } from './service.js';

export { SelectService, MAX_BATCH, type FeedbackResult, type SelectServiceOptions, type ChooseResult, type RebuildInfo, type BatchItemResult } from './service.js';
export { EventStore, type Synchronous, type EventRow } from './store.js';

export interface ServerOptions extends SelectServiceOptions {
  /** Maximum request body in bytes (default 16 KiB); larger bodies get 413. */
  bodyLimitBytes?: number;
  /** Maximum POST /batch body in bytes (default 1 MiB). */
  batchBodyLimitBytes?: number;
  /** fastify logger (default off: packages do not print). */
  logger?: boolean;
}

export interface BanditServer {
  app: FastifyInstance;
  service: SelectService;
}

function errorBody(e: BanditError): { error: { code: string; message: string; path?: string } } {
  return { error: { code: e.code, message: e.message, ...(e.path !== undefined ? { path: e.path } : {}) } };
}

/** Map fastify's own errors (body parsing, limits, media type) to BanditErrors. */
function fromFastify(err: FastifyError, limit: number): BanditError | null {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BanditError({ code: 'BODY_TOO_LARGE', message: `request body is larger than ${limit} bytes`, path: '$', hint: 'send a smaller body (one context per request)' });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new BanditError({ code: 'UNSUPPORTED_MEDIA_TYPE', message: 'request body must be JSON', path: 'content-type', hint: 'send Content-Type: application/json' });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new BanditError({ code: 'BAD_JSON', message: 'request body is not valid JSON', path: '$', hint: 'send a JSON object, e.g. {"context":{"cores":4}}' });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new BanditError({ code: 'BAD_JSON', message: 'request body is empty but Content-Type is application/json', path: '$', hint: 'send a JSON object' });
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new BanditError({ code: 'BAD_REQUEST', message: 'Content-Length does not match the body', path: 'content-length', hint: 'send a correct Content-Length' });
    default:
      if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
        return new BanditError({ code: 'BAD_REQUEST', message: err.message, hint: 'check the request' });
      }
      return null;
  }
}

/** Build the fastify app and the service (opens the database and rebuilds the policy from the log). */
export async function buildServer(opts: ServerOptions): Promise<BanditServer> {
  const service = new SelectService(opts);
  const limit = opts.bodyLimitBytes ?? 16 * 1024;
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: limit, return503OnClosing: true });
  // JSON only: text/plain bodies get 415 instead of being handed over as strings.
  app.removeContentTypeParser('text/plain');

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const be = isBanditError(err) ? err : fromFastify(err, req.routeOptions.bodyLimit ?? limit);
    if (be) return reply.code(httpStatusOf[be.code]).send(errorBody(be));
    return reply.code(500).send({ error: { code: 'INTERNAL', message: 'internal error; the request was not applied', hint: 'retry; report if it persists' } });
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new BanditError({
      code: 'NOT_FOUND',
      message: `no route ${req.method} ${req.url.split('?')[0]}`,
      hint: 'endpoints: POST /choose, POST /feedback, GET /policy, GET /events/:eventId, GET /healthz',
    });
    return reply.code(404).send(errorBody(e));
  });

  // Response schemas: fastify compiles them into serializers (fast-json-stringify) for the two hot routes.
  const chooseReply = {
    200: {
      type: 'object',
      properties: { eventId: { type: 'string' }, arm: { type: 'string' }, probability: { type: 'number' } },
      required: ['eventId', 'arm', 'probability'],
    },
  };
  const feedbackReply = {
    200: {
      type: 'object',
      properties: { ok: { type: 'boolean' }, eventId: { type: 'string' }, arm: { type: 'string' }, reward: { type: 'number' } },
      required: ['ok', 'eventId', 'arm', 'reward'],
    },
  };
  app.post('/choose', { schema: { response: chooseReply } }, async (req) => service.chooseQueued(req.body));
  app.post('/feedback', { schema: { response: feedbackReply } }, async (req) => ({ ok: true, ...(await service.feedbackQueued(req.body)) }));
  const batchLimit = opts.batchBodyLimitBytes ?? 1024 * 1024;
  app.post('/batch', { bodyLimit: batchLimit }, async (req) => ({ results: service.batchRequests(req.body) }));
  app.get('/policy', async (req) => {
    const q = req.query as Record<string, string | undefined>;
    return service.summary(q.full === '1' || q.full === 'true');
  });
  app.get('/events/:eventId', async (req) => service.event((req.params as { eventId: string }).eventId));
  app.get('/healthz', async () => ({ ok: true }));
  app.addHook('onClose', async () => service.close());
  return { app, service };
}

/** Build and listen. Resolves with the URL once listening. */
export async function startServer(opts: ServerOptions & { host?: string; port?: number }): Promise<BanditServer & { url: string }> {
  const s = await buildServer(opts);
  try {
    await s.app.listen({ host: opts.host ?? '127.0.0.1', port: opts.port ?? 8080 });
  } catch (e) {
    await s.app.close();
    throw new BanditError({
      code: 'IO_ERROR',
      message: `cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port ?? 8080}: ${(e as Error).message}`,
      hint: 'choose a free --port (0 picks one)',
      cause: e,
    });
  }
  const addr = s.app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : (opts.port ?? 8080);
  return { ...s, url: `http://${opts.host ?? '127.0.0.1'}:${port}` };
}
