// Dead letters: a record a consumer could not handle, stored with its original bytes and headers
// plus why it failed. Redrive writes chosen dead letters to the consumer's own redrive topic,
// which only that consumer reads (the raw topics stay an exact log of what senders delivered).
import { randomUUID } from 'node:crypto';
import type { IHeaders, Kafka, Producer } from 'kafkajs';

export const DLQ_HEADERS = {
  reason: 'sb-dlq-reason',
  errorClass: 'sb-dlq-error-class',
  attempts: 'sb-dlq-attempts',
  /** invalid (the record is bad) or unexpected (a bug, after bounded retries). */
  failure: 'sb-dlq-failure',
  originalTopic: 'sb-original-topic',
  originalPartition: 'sb-original-partition',
  originalOffset: 'sb-original-offset',
  eventId: 'sb-event-id',
  consumer: 'sb-consumer',
  deadLetteredAt: 'sb-dead-lettered-at',
} as const;

export interface DeadLetter {
  dlqPartition: number;
  dlqOffset: string;
  eventId: string;
  reason: string;
  errorClass: string;
  attempts: number;
  originalTopic: string;
  originalPartition: number;
  originalOffset: string;
  deadLetteredAt: string;
  key: string | null;
  value: Buffer;
  headers: IHeaders;
}

function header(headers: IHeaders, name: string): string {
  const v = headers[name];
  if (v === undefined) return '';
  const first = Array.isArray(v) ? v[0] : v;
  return first === undefined ? '' : first.toString();
}

/** One record of a topic as read by readTopicToEnd. */
export interface StoredRecord {
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer;
  headers: IHeaders;
}

/**
 * Reads a topic from its start to its end as of the call, without joining any group's offsets
 * (a throw-away group, nothing committed). Used for the dead-letter and quarantine topics.
 */
export async function readTopicToEnd(kafka: Kafka, topic: string, readerName = 'switchboard-topic-reader'): Promise<StoredRecord[]> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: { partition: number; high: string; low: string }[];
  try {
    if (!(await admin.listTopics()).includes(topic)) return [];
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const pending = new Map(ends.filter((e) => BigInt(e.high) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.high)]));
  if (pending.size === 0) return [];
  const out: StoredRecord[] = [];
  const consumer = kafka.consumer({ groupId: `${readerName}-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const end = pending.get(partition);
            if (end === undefined) return;
            out.push({ partition, offset: message.offset, key: message.key ?? null, value: message.value ?? Buffer.alloc(0), headers: message.headers ?? {} });
            if (BigInt(message.offset) + 1n >= end) pending.delete(partition);
            if (pending.size === 0) resolve();
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Reads a dead-letter topic from its start to its current end, without joining any group's offsets. */
export async function readDeadLetters(kafka: Kafka, topic: string): Promise<DeadLetter[]> {
  const records = await readTopicToEnd(kafka, topic, 'switchboard-dlq-reader');
  const out: DeadLetter[] = records.map(({ partition, offset, key, value, headers: h }) => ({
    dlqPartition: partition,
    dlqOffset: offset,
    eventId: header(h, DLQ_HEADERS.eventId),
    reason: header(h, DLQ_HEADERS.reason),
    errorClass: header(h, DLQ_HEADERS.errorClass),
    attempts: Number(header(h, DLQ_HEADERS.attempts) || 0),
    originalTopic: header(h, DLQ_HEADERS.originalTopic),
    originalPartition: Number(header(h, DLQ_HEADERS.originalPartition) || 0),
    originalOffset: header(h, DLQ_HEADERS.originalOffset),
    deadLetteredAt: header(h, DLQ_HEADERS.deadLetteredAt),
    key: key ? key.toString() : null,
    value,
    headers: h,
  }));
  return out.sort((a, b) => a.deadLetteredAt.localeCompare(b.deadLetteredAt));
}

/** Strips the dead-letter headers so a redriven record looks like the original to its consumer. */
function originalHeaders(headers: IHeaders): IHeaders {
  const dlqNames = new Set<string>(Object.values(DLQ_HEADERS));
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !dlqNames.has(k)));
}

/** Writes the chosen dead letters (all, or those with the given event ids) to the redrive topic. */
export async function redrive(
  producer: Producer,
  letters: DeadLetter[],
  redriveTopic: string,
  eventIds?: Set<string>,
): Promise<DeadLetter[]> {
  const chosen = letters.filter((l) => !eventIds || eventIds.has(l.eventId));
  // The same event may have been dead-lettered more than once; redrive it once.
  const unique = [...new Map(chosen.map((l) => [l.eventId || `${l.dlqPartition}:${l.dlqOffset}`, l])).values()];
  if (unique.length === 0) return [];
  await producer.send({
    topic: redriveTopic,
    acks: -1,
    messages: unique.map((l) => ({ key: l.key, value: l.value, headers: { ...originalHeaders(l.headers), 'sb-redriven-from': `${l.dlqPartition}:${l.dlqOffset}` } })),
  });
  return unique;
}
