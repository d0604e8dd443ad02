// 1NCE Data Streamer: POST of a JSON array of up to ONCE_MAX_RECORDS event and usage records,
// HTTP Basic auth. Here each array element becomes one Kafka record whose payload is that
// element's exact bytes. A record that cannot be classified goes, exact bytes and reason, to the
// quarantine topic instead (the contract's classification: shared/contracts/once-record.ts; the
// quarantine envelope: domain/quarantine.ts). 200 only when every record, classified or
// quarantined, is acknowledged; otherwise the whole request fails.
import basicAuth from '@fastify/basic-auth';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Envelope } from '../../shared/envelope.js';
import { errorMessage } from '../../shared/errors.js';
import { boundObserve } from '../../shared/metrics.js';
import { MAX_RECORD_BYTES } from '../../shared/topics.js';
import { basicCredentialsMatcher, parseBasicUsers } from '../../shared/credentials.js';
import type { QuarantineReason } from '../../shared/contracts/once-record.js';
import { arrayElementRanges, type ByteRange } from '../domain/json-array.js';
import { classifyBatchElement, parseBatchStructure } from '../domain/once-batch.js';
import { quarantineEnvelope } from '../domain/quarantine.js';
import { recordSize } from '../produce.js';
import { deliveryFacts, rawBody, readOwnBody, writeRecords, type SourceDeps } from './common.js';
import { errorBodySchema, useReplies } from './replies.js';

/** The 200 body: records written to their topics, and records written to the quarantine topic. */
interface OnceAccepted {
  accepted: number;
  quarantined: number;
}

export function onceSource(deps: SourceDeps): FastifyPluginAsync {
  const { cfg, ingressMetrics } = deps;
  const credentialsMatch = basicCredentialsMatcher(parseBasicUsers(cfg.ONCE_BASIC_AUTH_USERS).users);
  const errorBody = errorBodySchema('1nce');
  // The body (up to 3,000 records, 32 MiB) is not declared: it is read as bytes, parsed once, and each
  // record's payload is its exact slice of the body.
  const schema = {
    response: {
      200: { type: 'object', properties: { accepted: { type: 'integer' }, quarantined: { type: 'integer' } }, required: ['accepted', 'quarantined'] },
      '4xx': errorBody,
      '5xx': errorBody,
    },
  };

  const observeBodyBytes = boundObserve(ingressMetrics.bodyBytes, { source: '1nce' });

  return async (app) => {
    readOwnBody(app, cfg.ONCE_MAX_BODY_BYTES, cfg);
    const refuse = useReplies(app, '1nce', deps);

    await app.register(basicAuth, {
      authenticate: { realm: 'switchboard' },
      validate: async (username, password) => {
        if (!credentialsMatch(username, password)) throw new Error('invalid credentials');
      },
    });
    // Before the body is read: a large batch from a stranger costs nothing.
    app.addHook('onRequest', app.basicAuth);

    const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
      const receivedAt = Date.now();
      const body = rawBody(req);
      observeBodyBytes(body.length);
      const json = parseBatchStructure(body);
      if (!json.ok) return refuse(reply, 'invalid_json', json.error);
      const parsed = json.elements;
      if (!Array.isArray(parsed)) return refuse(reply, 'not_an_array');
      if (parsed.length > cfg.ONCE_MAX_RECORDS) {
        return refuse(reply, 'too_many_records', `${parsed.length} records in one request; at most ${cfg.ONCE_MAX_RECORDS} are accepted`);
      }
      let ranges: ByteRange[];
      try {
        ranges = arrayElementRanges(body);
      } catch {
        return refuse(reply, 'invalid_json', 'body is not a JSON array');
      }
      if (ranges.length !== parsed.length) throw new Error(`array scanner found ${ranges.length} elements, JSON.parse ${parsed.length}`);
      const facts = deliveryFacts(req, receivedAt);
      // Every element is written somewhere: a record we can classify to its raw topic, any other
      // (not an object, no id, unknown or ambiguous shape) to the quarantine topic with its reason.
      // One odd record never fails the batch: the streamer could only resend it, refused again.
      const items: { topic: string; key: string; envelope: Envelope }[] = [];
      let events = 0;
      let usage = 0;
      const quarantined = new Map<QuarantineReason, number>();
      for (const [i, value] of parsed.entries()) {
        const payload = body.subarray(ranges[i]!.start, ranges[i]!.end);
        const c = classifyBatchElement(value, payload, i);
        if (c.ok) {
          const record = c.record;
          if (record.kind === '1nce.event') events++;
          else usage++;
          items.push({
            topic: record.kind === '1nce.event' ? deps.topics.onceEvents : deps.topics.onceUsage,
            key: record.key,
            envelope: { event_id: record.eventId, source: '1nce', kind: record.kind, tenant: record.tenant, ...facts, payload, attributes: { index: String(i) } },
          });
        } else {
          const envelope = quarantineEnvelope(payload, i, c, facts);
          quarantined.set(c.reason, (quarantined.get(c.reason) ?? 0) + 1);
          items.push({ topic: deps.topics.quarantine, key: envelope.event_id, envelope });
        }
      }
      const oversized = items.findIndex((item) => recordSize({ topic: item.topic, key: item.key, value: item.envelope.payload }) > MAX_RECORD_BYTES - 4096);
      if (oversized >= 0) return refuse(reply, 'record_too_large', `record ${oversized} is larger than a Kafka record may be`);
      try {
        await writeRecords(deps, items);
      } catch (err) {
        req.log.warn({ err: errorMessage(err), records: items.length }, 'Kafka did not take the batch; answering 503');
        return refuse(reply, 'kafka_unavailable');
      }
      if (events > 0) ingressMetrics.recordsAccepted.inc({ source: '1nce', kind: '1nce.event' }, events);
      if (usage > 0) ingressMetrics.recordsAccepted.inc({ source: '1nce', kind: '1nce.usage' }, usage);
      let quarantinedCount = 0;
      for (const [reason, n] of quarantined) {
        ingressMetrics.recordsQuarantined.inc({ source: '1nce', reason }, n);
        quarantinedCount += n;
      }
      req.logFacts = { records: items.length, events, usage, ...(quarantinedCount > 0 ? { quarantined: Object.fromEntries(quarantined) } : {}) };
      if (quarantinedCount > 0) {
        const first = items.find((item) => item.topic === deps.topics.quarantine)!.envelope;
        req.log.warn({ quarantined: Object.fromEntries(quarantined), first_index: Number(first.attributes.index), first_event_id: first.event_id, first_reason: first.attributes.reason }, 'records quarantined');
      }
      const answer: OnceAccepted = { accepted: events + usage, quarantined: quarantinedCount };
      return reply.code(200).send(answer);
    };

    // The 1NCE examples post to "/<endpoint>/": serve the path with and without the trailing slash.
    const path = cfg.ONCE_PATH.replace(/\/+$/, '') || '/';
    for (const url of new Set([path, path === '/' ? '/' : `${path}/`])) app.post(url, { config: { source: '1nce' }, schema }, handler);
  };
}
