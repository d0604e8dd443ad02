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

/**
 * Consecutive groups whose total size stays within `maxChunkBytes`; a record bigger than that
 * travels alone (the caller refuses records that cannot fit a Kafka record at all).
 * Since all of a chunk's records for one partition form one record batch, a bounded chunk keeps
 * every batch below the broker's max.message.bytes (1 MiB by default).
 */
export function chunkRecords(records: readonly OutgoingRecord[], maxChunkBytes: number): OutgoingRecord[][] {
  const chunks: OutgoingRecord[][] = [];
  let current: OutgoingRecord[] = [];
  let size = 0;
  for (const record of records) {
    const bytes = recordSize(record);
    if (current.length > 0 && size + bytes > maxChunkBytes) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(record);
    size += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
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
