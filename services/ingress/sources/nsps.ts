// NSPS (PortaBilling event notifications): POST /process-event with a Bearer token.
// Here an NSPS webhook becomes one Kafka record on the nspsEvents topic.
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { errorMessage } from '../../shared/errors.js';
import { bearerToken, secretMatcher } from '../../shared/credentials.js';
import { parseJsonBytes } from '../domain/json.js';
import { nspsRecordKey, validateNspsEvent } from '../domain/nsps-event.js';
import { BodyError, bodyParser } from '../http/body.js';
import { clientErrorDetail, closeAfterResponse, isClientError, deliveryFacts, isUnderPressure, rawBody, writeRecords, type SourceDeps } from './common.js';

const AUTH_FAILED = { message: 'Authentication failed', error: 'Invalid API token', type: 'AUTHENTICATION_ERROR' } as const;

export function nspsSource(deps: SourceDeps): FastifyPluginAsync {
  const { cfg, ingressMetrics } = deps;
  const tokenMatches = secretMatcher(cfg.NSPS_API_TOKENS);

  const refuse = (reply: FastifyReply, status: number, reason: string, body: unknown): FastifyReply => {
    ingressMetrics.recordsRejected.inc({ source: 'nsps', reason });
    return reply.code(status).type('application/json').send(body);
  };
  const invalid = (reply: FastifyReply, reason: string, error: string, status = 422): FastifyReply =>
    refuse(reply, status, reason, { message: 'Validation failed', error, type: 'VALIDATION_ERROR' });

  return async (app) => {
    // The exact bytes are kept (they become the record payload), so JSON is parsed in the handler.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', bodyParser({ limitBytes: cfg.NSPS_MAX_BODY_BYTES, timeoutMs: cfg.BODY_TIMEOUT_MS }));

    // Authentication runs before the body is read: an unauthenticated sender gets 401, whatever it sent.
    app.addHook('onRequest', async (req, reply) => {
      const token = bearerToken(req.headers.authorization);
      if (token === undefined || !tokenMatches(token)) {
        reply.header('www-authenticate', 'Bearer');
        return refuse(reply, 401, 'unauthorized', AUTH_FAILED);
      }
    });

    app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
      if (err instanceof BodyError) {
        closeAfterResponse(reply);
        if (err.statusCode === 408) return refuse(reply, 408, err.reason, { message: 'Request timeout', error: err.message, type: 'TIMEOUT_ERROR' });
        return invalid(reply, err.reason, err.message, err.statusCode);
      }
      if (isUnderPressure(err)) {
        reply.header('retry-after', String(cfg.LOAD_RETRY_AFTER_SECONDS));
        return refuse(reply, 503, 'overloaded', { message: 'Service unavailable', error: 'Server is overloaded, retry later', type: 'SERVICE_UNAVAILABLE' });
      }
      if (isClientError(err)) return invalid(reply, 'bad_request', clientErrorDetail(err));
      req.log.error({ err: errorMessage(err) }, 'unexpected error');
      return refuse(reply, 500, 'internal', { message: 'Internal error', error: 'Unexpected error', type: 'INTERNAL_ERROR' });
    });

    app.post('/process-event', { config: { source: 'nsps' } }, async (req, reply) => {
      const receivedAt = Date.now();
      const body = rawBody(req);
      ingressMetrics.bodyBytes.observe({ source: 'nsps' }, body.length);
      const parsed = parseJsonBytes(body);
      if (!parsed.ok) return invalid(reply, 'invalid_json', parsed.error);
      const check = validateNspsEvent(parsed.value);
      if (!check.ok) return invalid(reply, 'invalid_event', check.error);
      const event = check.value;
      try {
        await writeRecords(deps, [
          {
            topic: deps.topics.nspsEvents,
            key: nspsRecordKey(event),
            envelope: {
              event_id: event.event_id, source: 'nsps', kind: 'nsps.event', tenant: null,
              ...deliveryFacts(req, receivedAt), payload: body, attributes: { event_type: event.data.event_type },
            },
          },
        ]);
      } catch (err) {
        req.log.warn({ event_id: event.event_id, err: errorMessage(err) }, 'Kafka did not take the event; answering 503');
        reply.header('retry-after', String(cfg.KAFKA_RETRY_AFTER_SECONDS));
        return refuse(reply, 503, 'kafka_unavailable', { message: 'Service unavailable', error: 'Event could not be stored, retry later', type: 'SERVICE_UNAVAILABLE' });
      }
      ingressMetrics.recordsAccepted.inc({ source: 'nsps', kind: 'nsps.event' });
      req.logFacts = { event_id: event.event_id, event_type: event.data.event_type };
      return reply.code(202).send({ message: 'Event accepted for processing' });
    });
  };
}
