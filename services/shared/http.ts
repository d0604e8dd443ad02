// /healthz, /readyz and /metrics, the same on every service.
import Fastify, { type FastifyInstance } from 'fastify';
import type { Metrics } from './metrics.js';

export type ReadinessCheck = () => Promise<Record<string, boolean>>;

export function registerOpsRoutes(app: FastifyInstance, metrics: Metrics, ready: ReadinessCheck): void {
  app.get('/healthz', { logLevel: 'silent' }, async () => ({ status: 'ok' }));
  app.get('/readyz', { logLevel: 'silent' }, async (_req, reply) => {
    const checks = await ready().catch(() => ({ checks: false }));
    const ok = Object.values(checks).every(Boolean);
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', checks });
  });
  app.get('/metrics', { logLevel: 'silent' }, async (_req, reply) => {
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}

/**
 * A query API refuses a NUL character (%00) anywhere in its URL with a 400: PostgreSQL text cannot hold one,
 * so such an id or filter would otherwise end in the database's error, answered as a 500.
 */
export function refuseNulInUrl(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    if (req.url.includes('%00')) return reply.code(400).send({ error: 'bad request', message: 'the URL holds a NUL character (%00)' });
  });
}

/** A small server for consumer services that have no API of their own. */
export async function startOpsServer(opts: { host: string; port: number; metrics: Metrics; ready: ReadinessCheck }): Promise<FastifyInstance> {
  const app = Fastify({ logger: false });
  registerOpsRoutes(app, opts.metrics, opts.ready);
  await app.listen({ host: opts.host, port: opts.port });
  return app;
}

/** Readiness of a Kafka cluster: the admin client can list topics. */
export async function kafkaReachable(admin: { listTopics(): Promise<string[]> }): Promise<boolean> {
  try {
    await Promise.race([admin.listTopics(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000))]);
    return true;
  } catch {
    return false;
  }
}
