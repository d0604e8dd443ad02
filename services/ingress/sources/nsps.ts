// NSPS (PortaBilling event notifications): POST /process-event with a Bearer token.
// Here an NSPS webhook becomes one Kafka record on the nspsEvents topic.
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { errorMessage } from '../../shared/errors.js';
import { boundObserve } from '../../shared/metrics.js';
import { bearerToken, secretMatcher } from '../../shared/credentials.js';
import { nspsRecordKey, parseNspsEvent } from '../../shared/contracts/nsps-event.js';
import { deliveryFacts, rawBody, readOwnBody, writeRecords, type SourceDeps } from './common.js';
import { errorBodySchema, useReplies } from './replies.js';

const ACCEPTED = { message: 'Event accepted for processing' } as const;

export function nspsSource(deps: SourceDeps): FastifyPluginAsync {
  const { cfg, ingressMetrics } = deps;
  const tokenMatches = secretMatcher(cfg.NSPS_API_TOKENS);
  const errorBody = errorBodySchema('nsps');
  // The body is not declared: it is read as bytes (the record payload) and parsed by the contract.
  const schema = {
    response: { 202: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] }, '4xx': errorBody, '5xx': errorBody },
  };

  // Bound once: prom-client's labelled observe hashes the labels on every call (boundObserve updates in place).
  const observeBodyBytes = boundObserve(ingressMetrics.bodyBytes, { source: 'nsps' });
  const accepted = ingressMetrics.recordsAccepted.labels({ source: 'nsps', kind: 'nsps.event' });

  return async (app) => {
    readOwnBody(app, cfg.NSPS_MAX_BODY_BYTES, cfg);
    const refuse = useReplies(app, 'nsps', deps);

    // Authentication runs before the body is read: an unauthenticated sender gets 401, whatever it sent.
    app.addHook('onRequest', (req, reply, done) => {
      const token = bearerToken(req.headers.authorization);
      if (token === undefined || !tokenMatches(token)) refuse(reply, 'unauthorized');
      else done();
    });

    const handler = async (req: FastifyRequest, reply: FastifyReply) => {
      const receivedAt = Date.now();
      const body = rawBody(req);
      observeBodyBytes(body.length);
      const parsed = parseNspsEvent(body);
      if (!parsed.ok) return refuse(reply, parsed.reason, parsed.error);
      const { event } = parsed;
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
        return refuse(reply, 'kafka_unavailable');
      }
      accepted.inc();
      req.logFacts = { event_id: event.event_id, event_type: event.data.event_type };
      return reply.code(202).send(ACCEPTED);
    };
    // An operator may well type the URL with a trailing slash (SAP's and 1NCE's own examples do): serve both
    // spellings rather than answer 404, which a sender takes as final.
    for (const url of ['/process-event', '/process-event/']) app.post(url, { config: { source: 'nsps' }, schema }, handler);
  };
}
