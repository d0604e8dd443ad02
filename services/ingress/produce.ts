// The records ingress writes and how they are sized and grouped: batcher.ts sends them in flushes
// bounded like these chunks, so no partition's record batch exceeds the broker's message size limit.
import type { Message } from 'kafkajs';

export interface OutgoingRecord {
  topic: string;
  key: string;
  value: Buffer;
}

/** Per-record framing the broker adds on top of key and value; generous on purpose. */
const RECORD_OVERHEAD_BYTES = 64;

export function recordSize(record: OutgoingRecord): number {
  return record.value.length + Buffer.byteLength(record.key) + RECORD_OVERHEAD_BYTES;
}

/** kafkajs's shape: messages grouped by topic, each topic's in the given order. */
export function byTopic(records: readonly OutgoingRecord[]): { topic: string; messages: Message[] }[] {
  const topics = new Map<string, Message[]>();
  for (const r of records) {
    const messages = topics.get(r.topic) ?? [];
    messages.push({ key: r.key, value: r.value });
    topics.set(r.topic, messages);
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
}
