// Builds the ingress fastify app from configuration and already-connected dependencies,
// so tests can `inject` into it or listen on a port, and main.ts only wires and starts.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import underPressure from '@fastify/under-pressure';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { EnvelopeCodec } from '../shared/envelope.js';
import { registerOpsRoutes, type ReadinessCheck } from '../shared/http.js';
import type { Logger } from '../shared/logger.js';
import { stopAcceptingAndLetConnectionsEnd } from '../shared/shutdown.js';
import { boundObserve, type Metrics } from '../shared/metrics.js';
import type { RecordWriter } from '../shared/record-writer.js';
import type { TopicNames } from '../shared/topics.js';
import { ProduceBatcher } from './batcher.js';
import { enabledSources, type IngressConfig } from './config.js';
import { deferContinue } from './http/body.js';
import { createIngressMetrics, type IngressMetrics } from './metrics.js';
import type { SourceDeps } from './sources/common.js';
import { nspsSource } from './sources/nsps.js';
import { onceSource } from './sources/once.js';
import { sapSource } from './sources/sap.js';

export interface IngressAppDeps {
  writer: RecordWriter;
  codec: EnvelopeCodec;
  topics: TopicNames;
  logger: Logger;
  metrics: Metrics;
  ready: ReadinessCheck;
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
    // fastify's own two lines per request are replaced by our one (onResponse below).
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    genReqId: (req) => requestIdFrom(req.headers['x-request-id']),
    connectionTimeout: cfg.HTTP_CONNECTION_TIMEOUT_MS,
    requestTimeout: cfg.HTTP_REQUEST_TIMEOUT_MS,
    // Sources read their bodies themselves with their own limits; this only bounds everything else.
    bodyLimit: 1024 * 1024,
    return503OnClosing: true,
  });
  const ingressMetrics = createIngressMetrics(deps.metrics.registry);
  // Expect: 100-continue is answered when a source reads the body, not before authentication (http/body.ts).
  app.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    deferContinue(req, res);
    app.server.emit('request', req, res);
  });

  // While shutting down, in-flight requests still get their answer, but their keep-alive connection
  // is closed after it: otherwise an idle keep-alive socket would hold close() until the client leaves.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
    // Refuse new connections, let the open ones end after their answer: none is cut with a request on the wire.
    await stopAcceptingAndLetConnectionsEnd(app.server);
  });
  // fastify's own request logging writes two lines per request; we write one debug line when a
  // request starts and one info line when it ends (with what the handler noted in req.logFacts).
  // The debug line's hook exists only at debug level: every hook costs each request a call.
  if (deps.logger.isLevelEnabled('debug')) {
    app.addHook('onRequest', (req, _reply, done) => {
      req.log.debug({ method: req.method, url: req.url, remote: req.ip }, 'incoming request');
      done();
    });
  }
  app.addHook('onSend', (req, reply, payload, done) => {
    reply.header('x-request-id', req.id);
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  // Bound label children, one per (source, route, status): labelling by object hashes it every time.
  const requestCounters = new Map<string, { inc(): void }>();
  const durations = new Map<string, (seconds: number) => void>();
  app.addHook('onResponse', (req, reply, done) => {
    // routeOptions is a getter that builds a fresh object on every read: read it once.
    const { config, url } = req.routeOptions;
    const source = config?.source ?? 'none';
    const route = url ?? 'unmatched';
    const status = reply.statusCode;
    const counterKey = `${source} ${route} ${status}`;
    let counter = requestCounters.get(counterKey);
    if (!counter) requestCounters.set(counterKey, (counter = ingressMetrics.httpRequests.labels({ source, route, status: String(status) })));
    counter.inc();
    const elapsedMs = reply.elapsedTime;
    if (source !== 'none') {
      let duration = durations.get(source);
      if (!duration) durations.set(source, (duration = boundObserve(ingressMetrics.httpDuration, { source })));
      duration(elapsedMs / 1000);
    }
    req.log.info({ method: req.method, url: req.url, remote: req.ip, status, ms: Math.round(elapsedMs * 10) / 10, ...req.logFacts }, 'request completed');
    done();
  });

  registerOpsRoutes(app, deps.metrics, deps.ready);
  const webhookRoutes = collectWebhookRoutes(app);

  const batcher = new ProduceBatcher(deps.writer, {
    lingerMs: cfg.PRODUCE_LINGER_MS, maxBatchBytes: cfg.PRODUCE_BATCH_MAX_BYTES, timeoutMs: cfg.KAFKA_PRODUCE_TIMEOUT_MS, metrics: deps.metrics,
    onFlush: (flush) => ingressMetrics.flushRecords.observe(flush.records),
  });
  const sourceDeps: SourceDeps = { cfg, batcher, codec: deps.codec, topics: deps.topics, metrics: deps.metrics, ingressMetrics };
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
    if (enabled.sap) await sources.register(sapSource(sourceDeps));
  });
  app.register(async (wrong) => wrongMethodRoutes(wrong, webhookRoutes));
  for (const [source, on] of Object.entries(enabled)) {
    if (!on) deps.logger.warn({ source }, 'source disabled: no credentials configured');
  }
  return { app, ingressMetrics };
}

/**
 * A webhook URL asked with another method (a sender configured with GET, an SAP adapter sending POST)
 * gets 405 with `Allow`, as HTTP says, instead of fastify's 404: a 404 tells the sender the URL is
 * wrong, which it is not, and some senders take it as final. The body is not read (a 5 MB report sent
 * with the wrong method is a 405, not a 413 or a JSON error). Call after the sources are registered.
 */
const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

function collectWebhookRoutes(app: FastifyInstance): Map<string, Set<string>> {
  const allowed = new Map<string, Set<string>>();
  app.addHook('onRoute', (route) => {
    if (!route.config?.source) return;
    let methods = allowed.get(route.url);
    if (!methods) allowed.set(route.url, (methods = new Set()));
    for (const m of [route.method].flat()) methods.add(m);
  });
  return allowed;
}

async function wrongMethodRoutes(app: FastifyInstance, allowed: Map<string, Set<string>>): Promise<void> {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));
  for (const [url, methods] of allowed) {
    const allow = [...methods].join(', ');
    app.route({
      method: HTTP_METHODS.filter((m) => !methods.has(m)),
      url,
      handler: (req, reply) => reply.code(405).header('allow', allow)
        .send({ message: `Method ${req.method} is not allowed on ${url}; use ${allow}`, error: 'Method Not Allowed', statusCode: 405 }),
    });
  }
}
