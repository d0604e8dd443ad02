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
import type { Logger } from '../../shared/logger.js';
import { boundObserve } from '../../shared/metrics.js';
import { MAX_RECORD_BYTES } from '../../shared/topics.js';
import { basicCredentialsMatcher, parseBasicUsers } from '../../shared/credentials.js';
import { QUARANTINE_REASONS, type QuarantineReason } from '../../shared/contracts/once-record.js';
import { RECORD_KINDS, type BatchElements } from '../domain/once-batch.js';
import { createOnceBatchReader } from '../once-reader.js';
import { quarantineEnvelope } from '../domain/quarantine.js';
import { recordSize, type OutgoingRecord } from '../produce.js';
import { deliveryFacts, encodeRecords, rawBody, readOwnBody, type SourceDeps } from './common.js';
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
    const read = ingressMetrics.onceBatchesRead;
    const reader = createOnceBatchReader({ threads: cfg.ONCE_READER_THREADS, maxRecords: cfg.ONCE_MAX_RECORDS, logger: app.log as Logger, onRead: (where) => read.inc({ thread: where }) });
    app.addHook('onClose', () => reader.close());

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
      const received = rawBody(req);
      observeBodyBytes(received.length);
      // Held from here by this handler alone, so the body is garbage once its records are encoded,
      // not only once Kafka has acknowledged them (20 senders' batches waiting for the broker are 44 MB).
      req.body = undefined;
      const { reading, body } = await reader.read(received);
      if (!reading.ok) return refuse(reply, reading.code, reading.detail);
      const batch = await encodeBatch(deps, body, reading.elements, deliveryFacts(req, receivedAt));
      if ('oversized' in batch) return refuse(reply, 'record_too_large', `record ${batch.oversized} is larger than a Kafka record may be`);
      const { records, events, usage, quarantined, firstQuarantined } = batch;
      try {
        await deps.batcher.send(records);
      } catch (err) {
        req.log.warn({ err: errorMessage(err), records: records.length }, 'Kafka did not take the batch; answering 503');
        return refuse(reply, 'kafka_unavailable');
      }
      if (events > 0) ingressMetrics.recordsAccepted.inc({ source: '1nce', kind: '1nce.event' }, events);
      if (usage > 0) ingressMetrics.recordsAccepted.inc({ source: '1nce', kind: '1nce.usage' }, usage);
      let quarantinedCount = 0;
      for (const [reason, n] of quarantined) {
        ingressMetrics.recordsQuarantined.inc({ source: '1nce', reason }, n);
        quarantinedCount += n;
      }
      req.logFacts = { records: records.length, events, usage, ...(quarantinedCount > 0 ? { quarantined: Object.fromEntries(quarantined) } : {}) };
      if (firstQuarantined) {
        req.log.warn({ quarantined: Object.fromEntries(quarantined), first_index: Number(firstQuarantined.attributes.index), first_event_id: firstQuarantined.event_id, first_reason: firstQuarantined.attributes.reason }, 'records quarantined');
      }
      const answer: OnceAccepted = { accepted: events + usage, quarantined: quarantinedCount };
      return reply.code(200).send(answer);
    };

    // The 1NCE examples post to "/<endpoint>/": serve the path with and without the trailing slash.
    const path = cfg.ONCE_PATH.replace(/\/+$/, '') || '/';
    for (const url of new Set([path, path === '/' ? '/' : `${path}/`])) app.post(url, { config: { source: '1nce' }, schema }, handler);
  };
}

type EncodedBatch =
  | { oversized: number }
  | { records: OutgoingRecord[]; events: number; usage: number; quarantined: Map<QuarantineReason, number>; firstQuarantined: Envelope | undefined };

/**
 * Every element of a read batch as an encoded Kafka record: a record we can classify to its raw topic,
 * any other (not an object, no id, unknown or ambiguous shape) to the quarantine topic with its reason.
 * One odd record never fails the batch: the streamer could only resend it, refused again. The body and
 * the envelopes (payloads are slices of it) are not returned: once encoded, the records own their bytes.
 */
async function encodeBatch(deps: SourceDeps, body: Buffer, { ranges, classes, texts }: BatchElements, facts: ReturnType<typeof deliveryFacts>): Promise<EncodedBatch> {
  const items: { topic: string; key: string; envelope: Envelope }[] = new Array(classes.length);
  let events = 0;
  let usage = 0;
  const quarantined = new Map<QuarantineReason, number>();
  let firstQuarantined: Envelope | undefined;
  for (let i = 0; i < classes.length; i++) {
    const payload = body.subarray(ranges[2 * i]!, ranges[2 * i + 1]!);
    const kind = RECORD_KINDS[classes[i]!];
    if (kind !== undefined) {
      if (kind === '1nce.event') events++;
      else usage++;
      items[i] = {
        topic: kind === '1nce.event' ? deps.topics.onceEvents : deps.topics.onceUsage,
        key: texts[3 * i + 1]!,
        envelope: { event_id: texts[3 * i]!, source: '1nce', kind, tenant: texts[3 * i + 2] ?? null, ...facts, payload, attributes: { index: String(i) } },
      };
    } else {
      const reason = QUARANTINE_REASONS[classes[i]! - RECORD_KINDS.length]!;
      const envelope = quarantineEnvelope(payload, i, { reason, error: texts[3 * i]! }, facts);
      quarantined.set(reason, (quarantined.get(reason) ?? 0) + 1);
      firstQuarantined ??= { ...envelope, payload: Buffer.alloc(0) };
      items[i] = { topic: deps.topics.quarantine, key: envelope.event_id, envelope };
    }
  }
  const oversized = items.findIndex((item) => recordSize({ topic: item.topic, key: item.key, value: item.envelope.payload }) > MAX_RECORD_BYTES - 4096);
  if (oversized >= 0) return { oversized };
  return { records: await encodeRecords(deps, items), events, usage, quarantined, firstQuarantined };
}
