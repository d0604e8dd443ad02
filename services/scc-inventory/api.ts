// The query API over the read model. Routes declare their query schemas, so validation is data;
// the bearer-token check is a hook scoped to the inventory routes (ops routes stay open for Prometheus
// and orchestrators).
import { bearerToken, secretMatcher } from '../shared/credentials.js';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Db } from '../shared/db.js';
import { refuseNulInUrl, registerOpsRoutes, type ReadinessCheck } from '../shared/http.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { getSystem, listSnapshots, listSystems, sccSummaries, snapshotExists, type Source } from './queries.js';

export interface ApiOptions {
  db: Db;
  metrics: Metrics;
  logger: Logger;
  ready: ReadinessCheck;
  /** Accepted bearer tokens; empty leaves the API open. */
  tokens: string[];
}

const MAX_LIMIT = 1000;
const DEFAULT_LIMIT = 100;

const systemsQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    tenant: { type: 'string' },
    subaccount: { type: 'string' },
    locationId: { type: 'string' },
    status: { type: 'string', enum: ['reachable', 'unreachable'] },
    limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT },
    cursor: { type: 'string' },
  },
} as const;

interface SystemsQuery {
  tenant?: string;
  subaccount?: string;
  locationId?: string;
  status?: 'reachable' | 'unreachable';
  limit: number;
  cursor?: string;
}

export function buildApi(opts: ApiOptions): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    requestIdHeader: 'x-request-id',
    // An unknown query parameter is refused, not dropped (fastify's default): a misspelt filter (`tenantId`,
    // `asOf`) would otherwise answer the whole inventory, or today's, as if it were what was asked for.
    ajv: { customOptions: { removeAdditional: false } },
  });
  registerOpsRoutes(app, opts.metrics, opts.ready);
  refuseNulInUrl(app);

  app.setErrorHandler((err: { statusCode?: number; message: string; validation?: Array<{ keyword: string; params: { additionalProperty?: string } }> }, _req, reply) => {
    const unknown = err.validation?.find((v) => v.keyword === 'additionalProperties')?.params.additionalProperty;
    if (unknown !== undefined) return reply.code(400).send({ error: 'bad request', message: `unknown parameter "${unknown}"` });
    if (err.validation) return reply.code(400).send({ error: 'bad request', message: err.message });
    opts.logger.error({ err: err.message }, 'query failed');
    return reply.code(err.statusCode && err.statusCode < 500 ? err.statusCode : 500).send({ error: 'internal error' });
  });

  void app.register(async (scope) => {
    if (opts.tokens.length > 0) scope.addHook('onRequest', bearerAuth(opts.tokens));

    const systemsRoute = (source: (req: FastifyRequest) => Source) => async (req: FastifyRequest, reply: FastifyReply) => {
      const q = req.query as SystemsQuery;
      const src = source(req);
      if (!(await sourceExists(opts.db, src))) return reply.code(404).send({ error: 'snapshot not found' });
      const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
      if (after === null) return reply.code(400).send({ error: 'bad request', message: 'invalid cursor' });
      const items = await listSystems(opts.db, src, q, q.limit + 1, after);
      const page = items.slice(0, q.limit);
      const nextCursor = items.length > q.limit ? encodeCursor(page[page.length - 1]!.id) : null;
      return { items: page, nextCursor };
    };
    const systemRoute = (source: (req: FastifyRequest) => Source) => async (req: FastifyRequest, reply: FastifyReply) => {
      const system = await getSystem(opts.db, source(req), (req.params as { id: string }).id);
      if (!system) return reply.code(404).send({ error: 'system not found' });
      return system;
    };
    const sccsRoute = (source: (req: FastifyRequest) => Source) => async (req: FastifyRequest, reply: FastifyReply) => {
      const src = source(req);
      if (!(await sourceExists(opts.db, src))) return reply.code(404).send({ error: 'snapshot not found' });
      return { items: await sccSummaries(opts.db, src, (req.query as { tenant?: string }).tenant) };
    };
    const live = (): Source => ({ kind: 'live' });
    const snapshot = (req: FastifyRequest): Source => ({ kind: 'snapshot', name: (req.params as { name: string }).name });
    const sccsQuery = { type: 'object', additionalProperties: false, properties: { tenant: { type: 'string' } } } as const;

    scope.get('/systems', { schema: { querystring: systemsQuery } }, systemsRoute(live));
    scope.get('/systems/:id', systemRoute(live));
    scope.get('/sccs', { schema: { querystring: sccsQuery } }, sccsRoute(live));
    scope.get('/snapshots', async () => ({ items: await listSnapshots(opts.db) }));
    scope.get('/snapshots/:name/systems', { schema: { querystring: systemsQuery } }, systemsRoute(snapshot));
    scope.get('/snapshots/:name/systems/:id', systemRoute(snapshot));
    scope.get('/snapshots/:name/sccs', { schema: { querystring: sccsQuery } }, sccsRoute(snapshot));
  });
  return app;
}

async function sourceExists(db: Db, source: Source): Promise<boolean> {
  return source.kind === 'live' || (await snapshotExists(db, source.name));
}

function bearerAuth(tokens: string[]) {
  // Digest comparison (shared/credentials.ts): the answer time reveals neither a token's content nor its length.
  const matches = secretMatcher(tokens);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    const given = bearerToken(req.headers.authorization);
    if (given === undefined || !matches(given)) return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'unauthorized' });
  };
}

/** Cursors are opaque to clients: base64url of the last id of the previous page. */
function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string | null {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  return /^[0-9a-f]{32}$/.test(id) ? id : null;
}
