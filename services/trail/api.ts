// The trail's HTTP API and page. The bearer-token check is a hook scoped to the trail routes (the page,
// the ops routes stay open: the page holds no data, it calls the API with the token the operator types).
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { bearerToken, secretMatcher } from '../shared/credentials.js';
import type { Db } from '../shared/db.js';
import { refuseNulInUrl, registerOpsRoutes, type ReadinessCheck } from '../shared/http.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { TRAIL_PAGE } from './page.js';
import { getTimeline, listEvents, parseListQuery } from './queries.js';

export interface TrailApiOptions {
  db: Db;
  metrics: Metrics;
  logger: Logger;
  ready: ReadinessCheck;
  /** Accepted bearer tokens; empty leaves the API open. */
  tokens: string[];
}

export function buildTrailApi(opts: TrailApiOptions): FastifyInstance {
  const app: FastifyInstance = Fastify({ loggerInstance: opts.logger as FastifyBaseLogger, requestIdHeader: 'x-request-id' });
  registerOpsRoutes(app, opts.metrics, opts.ready);
  refuseNulInUrl(app);

  app.setErrorHandler((err: { statusCode?: number; message: string; validation?: unknown }, _req, reply) => {
    if (err.validation) return reply.code(400).send({ error: 'bad request', message: err.message });
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ error: 'bad request', message: err.message });
    opts.logger.error({ err: err.message }, 'trail query failed');
    return reply.code(500).send({ error: 'internal error' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));

  // The page is static: no data, no token; its script asks the API with the token typed into it.
  app.get('/', async (_req, reply) =>
    reply
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .header('content-security-policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
      .header('referrer-policy', 'no-referrer')
      .send(TRAIL_PAGE));

  void app.register(async (scope) => {
    if (opts.tokens.length > 0) scope.addHook('onRequest', bearerAuth(opts.tokens));
    scope.addHook('onSend', async (_req, reply) => {
      reply.header('cache-control', 'no-store'); // subscriber identifiers stay out of caches
    });

    scope.get('/events', async (req, reply) => {
      const parsed = parseListQuery(req.query as Record<string, unknown>);
      if (!parsed.ok) return reply.code(400).send({ error: 'bad request', message: parsed.message });
      return listEvents(opts.db, parsed.value);
    });

    scope.get('/events/:eventId', async (req, reply) => {
      const { eventId } = req.params as { eventId: string };
      const timeline = await getTimeline(opts.db, eventId);
      if (!timeline) return reply.code(404).send({ error: 'event not found', event_id: eventId });
      return timeline;
    });
  });
  return app;
}

function bearerAuth(tokens: string[]) {
  // Digest comparison (shared/credentials.ts): the answer time reveals neither a token's content nor its length.
  const matches = secretMatcher(tokens);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const given = bearerToken(req.headers.authorization);
    if (given === undefined || !matches(given)) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
  };
}
