// The quarantine topic's Kafka edge: read it (for `npm run quarantine -- list`) and redrive what the
// current classification now understands to its raw topic (`npm run quarantine -- redrive`). The
// decisions are pure (domain/quarantine.ts); here they meet the broker and the registry.
import type { Kafka, Producer } from 'kafkajs';
import { readTopicToEnd } from '../shared/dead-letter.js';
import type { Envelope, EnvelopeCodec } from '../shared/envelope.js';
import { produceAll } from '../shared/kafka.js';
import { MAX_RECORD_BYTES, type TopicNames } from '../shared/topics.js';
import { reclassify, type Reclassification } from './domain/quarantine.js';
import { recordSize } from './produce.js';

export interface QuarantinedRecord {
  partition: number;
  offset: string;
  envelope: Envelope;
  /** What the classification running now makes of the stored bytes. */
  now: Reclassification;
}

/** Every record of the quarantine topic, decoded and re-classified, oldest delivery first. */
export async function readQuarantine(kafka: Kafka, codec: EnvelopeCodec, topic: string): Promise<QuarantinedRecord[]> {
  const stored = await readTopicToEnd(kafka, topic, 'switchboard-quarantine-reader');
  const out: QuarantinedRecord[] = [];
  for (const r of stored) {
    const envelope = await codec.decode(r.value);
    out.push({ partition: r.partition, offset: r.offset, envelope, now: reclassify(envelope) });
  }
  return out.sort(
    (a, b) =>
      a.envelope.received_at - b.envelope.received_at ||
      a.envelope.request_id.localeCompare(b.envelope.request_id) ||
      Number(a.envelope.attributes.index ?? 0) - Number(b.envelope.attributes.index ?? 0),
  );
}

export interface RedriveItem {
  from: QuarantinedRecord;
  topic: string;
  key: string;
  envelope: Envelope;
}

export interface RedrivePlan {
  /** One per target event id (a record quarantined by several deliveries is redriven once). */
  redrive: RedriveItem[];
  /** Chosen records the current classification still cannot place; they stay in quarantine. */
  remaining: QuarantinedRecord[];
  /** Requested event ids that are not in the quarantine topic. */
  missing: string[];
}

/** Which quarantined records (all, or those with the given quarantine event ids) go where. */
export function planRedrive(records: QuarantinedRecord[], topics: Pick<TopicNames, 'onceEvents' | 'onceUsage'>, eventIds?: ReadonlySet<string>): RedrivePlan {
  const chosen = records.filter((r) => !eventIds || eventIds.has(r.envelope.event_id));
  const missing = eventIds ? [...eventIds].filter((id) => !records.some((r) => r.envelope.event_id === id)) : [];
  const redrive = new Map<string, RedriveItem>();
  const remaining = new Map<string, QuarantinedRecord>();
  for (const r of chosen) {
    if (!r.now.ok) {
      if (!remaining.has(r.envelope.event_id)) remaining.set(r.envelope.event_id, r);
      continue;
    }
    if (redrive.has(r.now.record.eventId)) continue;
    redrive.set(r.now.record.eventId, {
      from: r,
      topic: r.now.record.kind === '1nce.event' ? topics.onceEvents : topics.onceUsage,
      key: r.now.record.key,
      envelope: r.now.envelope,
    });
  }
  return { redrive: [...redrive.values()], remaining: [...remaining.values()], missing };
}

/**
 * Writes the planned records to their raw topics; resolves when every one is acknowledged (acks=-1).
 * Sent in chunks of at most MAX_RECORD_BYTES, so no partition's batch exceeds the broker's limit.
 */
export async function writeRedrive(producer: Producer, codec: EnvelopeCodec, items: RedriveItem[], timeoutMs: number): Promise<void> {
  let chunk: { topic: string; key: string; value: Buffer }[] = [];
  let bytes = 0;
  const flush = async (): Promise<void> => {
    if (chunk.length === 0) return;
    const byTopic = new Map<string, { key: string; value: Buffer }[]>();
    for (const m of chunk) byTopic.set(m.topic, [...(byTopic.get(m.topic) ?? []), { key: m.key, value: m.value }]);
    await produceAll(producer, [...byTopic].map(([topic, messages]) => ({ topic, messages })), { timeoutMs });
    chunk = [];
    bytes = 0;
  };
  for (const item of items) {
    const value = await codec.encode(item.topic, item.envelope);
    const size = recordSize({ topic: item.topic, key: item.key, value });
    if (bytes + size > MAX_RECORD_BYTES) await flush();
    chunk.push({ topic: item.topic, key: item.key, value });
    bytes += size;
  }
  await flush();
}
