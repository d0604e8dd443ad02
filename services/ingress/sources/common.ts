// What every source plugin is given, and the few helpers they share (their refusals: replies.ts).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Envelope, EnvelopeCodec, Source } from '../../shared/envelope.js';
import type { Metrics } from '../../shared/metrics.js';
import type { TopicNames } from '../../shared/topics.js';
import type { IngressConfig } from '../config.js';
import type { IngressMetrics } from '../metrics.js';
import type { ProduceBatcher } from '../batcher.js';
import type { OutgoingRecord } from '../produce.js';
import { bodyParser } from '../http/body.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Which webhook source a route serves; labels metrics and picks the error body shape. */
    source?: Source;
  }
  interface FastifyRequest {
    /** Facts the handler adds to the request's one "request completed" log line (event_id, counts…). */
    logFacts?: Record<string, unknown>;
  }
}

export interface SourceDeps {
  cfg: IngressConfig;
  /** Shared by all requests: their records go to Kafka in common flushes (batcher.ts). */
  batcher: ProduceBatcher;
  codec: EnvelopeCodec;
  topics: TopicNames;
  metrics: Metrics;
  ingressMetrics: IngressMetrics;
}

/** The delivery facts every envelope carries; the source fills in the record-specific fields. */
export function deliveryFacts(req: FastifyRequest, receivedAt: number): Pick<Envelope, 'received_at' | 'request_id' | 'content_type'> {
  const contentType = req.headers['content-type'];
  return { received_at: receivedAt, request_id: req.id, content_type: contentType && contentType.length > 0 ? contentType : 'application/json' };
}

/** Encodes through the registry and writes all records; resolves only after every acknowledgement. */
export async function writeRecords(deps: SourceDeps, items: { topic: string; key: string; envelope: Envelope }[]): Promise<OutgoingRecord[]> {
  const records = await encodeRecords(deps, items);
  await deps.batcher.send(records);
  return records;
}

/** The records' Avro envelopes, each value a buffer of its own (nothing else is held by them). */
export async function encodeRecords(deps: SourceDeps, items: { topic: string; key: string; envelope: Envelope }[]): Promise<OutgoingRecord[]> {
  const records: OutgoingRecord[] = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const { topic, key, envelope } = items[i]!;
    // The schema ids are registered at start, so encoding is synchronous: no promise per record.
    records[i] = { topic, key, value: deps.codec.encodeKnown(topic, envelope) ?? (await deps.codec.encode(topic, envelope)) };
  }
  return records;
}

/**
 * The source reads its own body: the exact bytes (they become the record payload), with its own size
 * limit and the body time limit; any media type is read, JSON is parsed by the contract in the handler.
 */
export function readOwnBody(app: FastifyInstance, limitBytes: number, cfg: IngressConfig): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', bodyParser({ limitBytes, timeoutMs: cfg.BODY_TIMEOUT_MS }));
}

/** The request body as the content-type parser left it: the exact bytes, or nothing. */
export function rawBody(req: FastifyRequest): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}
