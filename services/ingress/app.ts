// Builds the ingress fastify app from configuration and already-connected dependencies,
// so tests can `inject` into it or listen on a port, and main.ts only wires and starts.
import { randomUUID } from 'node:crypto';
import underPressure from '@fastify/under-pressure';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Producer } from 'kafkajs';
import type { EnvelopeCodec } from '../shared/envelope.js';
import { registerOpsRoutes, type ReadinessCheck } from '../shared/http.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { TopicNames } from '../shared/topics.js';
import { enabledSources, type IngressConfig } from './config.js';
import { createIngressMetrics, type IngressMetrics } from './metrics.js';
import type { SourceDeps } from './sources/common.js';
import { nspsSource } from './sources/nsps.js';
import { onceSource } from './sources/once.js';
import { sapSource } from './sources/sap.js';
import type { SapVerifier } from './sources/sap-auth.js';

export interface IngressAppDeps {
  producer: Producer;
  codec: EnvelopeCodec;
  topics: TopicNames;
  logger: Logger;
  metrics: Metrics;
  ready: ReadinessCheck;
  /** Replaces the JWT verifier built from configuration (tests only). */
  sapVerifier?: SapVerifier;
}

const REQUEST_ID = /^[\x21-\x7e]{1,128}$/;

/** An incoming x-request-id is kept when it is printable and short; otherwise a new one is made. */
export function requestIdFrom(header: string | string[] | undefined): string {
  const value = Array.isArray(header) ? header[0] : header;
  return value !== undefined && REQUEST_ID.test(value) ? value : randomUUID();
}

export function buildIngressApp(cfg: IngressConfig, deps: IngressAppDeps): { app: FastifyInstance; ingressMetrics: IngressMetrics } {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']),
    connectionTimeout: cfg.HTTP_CONNECTION_TIMEOUT_MS,
    requestTimeout: cfg.HTTP_REQUEST_TIMEOUT_MS,
    // Sources read their bodies themselves with their own limits; this only bounds everything else.
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
  });
  const ingressMetrics = createIngressMetrics(deps.metrics.registry);

  // While shutting down, in-flight requests still get their answer, but their keep-alive connection
  // is closed after it: otherwise an idle keep-alive socket would hold close() until the client leaves.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (req, reply, payload) => {
    reply.header('x-request-id', req.id);
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    const source = req.routeOptions.config?.source ?? 'none';
    const route = req.routeOptions.url ?? 'unmatched';
    ingressMetrics.httpRequests.inc({ source, route, status: String(reply.statusCode) });
    if (source !== 'none') ingressMetrics.httpDuration.observe({ source }, reply.elapsedTime / 1000);
  });

  registerOpsRoutes(app, deps.metrics, deps.ready);

  const sourceDeps: SourceDeps = { cfg, producer: deps.producer, codec: deps.codec, topics: deps.topics, metrics: deps.metrics, ingressMetrics };
  const enabled = enabledSources(cfg);
  // Load shedding covers the webhook routes only: /healthz, /readyz and /metrics keep answering.
  app.register(async (sources) => {
    await sources.register(underPressure, {
      maxEventLoopDelay: cfg.LOAD_MAX_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: cfg.LOAD_MAX_HEAP_USED_BYTES,
      maxRssBytes: cfg.LOAD_MAX_RSS_BYTES,
      retryAfter: cfg.LOAD_RETRY_AFTER_SECONDS,
    });
    if (enabled.nsps) await sources.register(nspsSource(sourceDeps));
    if (enabled.once) await sources.register(onceSource(sourceDeps));
    if (enabled.sap) await sources.register(sapSource(sourceDeps, deps.sapVerifier));
  });
  for (const [source, on] of Object.entries(enabled)) {
    if (!on) deps.logger.warn({ source }, 'source disabled: no credentials configured');
  }
  return { app, ingressMetrics };
}
