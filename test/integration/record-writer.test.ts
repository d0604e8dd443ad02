// The two clients behind ingress's write path against the real broker: a key lands in the same
// partition whichever client wrote it (so switching KAFKA_PRODUCER_CLIENT keeps each subscriber's
// events in one partition), a start against an unreachable broker fails at once, and a failed
// write leaves the writer usable.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../services/shared/kafka.js';
import { PRODUCER_CLIENTS, createRecordWriter, type OutgoingRecord, type RecordWriter } from '../../services/shared/record-writer.js';
import { ensureTopics } from '../../services/shared/topics.js';
import { captureLogger, readTopic, testKafkaConfig } from '../support/env.js';

const cfg = testKafkaConfig({ KAFKA_TOPIC_PARTITIONS: '7' });
const kafka = createKafka(cfg, captureLogger().logger, 'writer-test');
const writers = new Map<string, RecordWriter>();

beforeAll(async () => {
  for (const client of PRODUCER_CLIENTS) writers.set(client, await createRecordWriter({ ...cfg, KAFKA_PRODUCER_CLIENT: client }, captureLogger().logger, `writer-test-${client}`));
});
afterAll(async () => {
  for (const w of writers.values()) await w.close();
});

describe('RecordWriter', () => {
  it('puts every key in the same partition with either client (Java murmur2)', async () => {
    const topic = `${cfg.KAFKA_TOPIC_PREFIX}partitioning`;
    await ensureTopics(kafka, cfg, [topic]);
    const keys = Array.from({ length: 60 }, (_, i) => `2620${String(i * 7919).padStart(11, '0')}`);
    for (const client of PRODUCER_CLIENTS) {
      const records: OutgoingRecord[] = keys.map((key) => ({ topic, key, value: Buffer.from(`${client}:${key}`) }));
      await writers.get(client)!.write(records, { timeoutMs: 10_000 });
    }
    const read = await readTopic(kafka, topic, keys.length * PRODUCER_CLIENTS.length);
    expect(read).toHaveLength(keys.length * PRODUCER_CLIENTS.length);
    const partitionOf = new Map<string, Map<string, number>>();
    for (const m of read) {
      const [client, key] = m.value!.toString().split(':') as [string, string];
      expect(m.key!.toString()).toBe(key);
      const byClient = partitionOf.get(key) ?? new Map<string, number>();
      byClient.set(client, m.partition);
      partitionOf.set(key, byClient);
    }
    expect(partitionOf.size).toBe(keys.length);
    for (const [key, byClient] of partitionOf) expect(new Set(byClient.values()).size, key).toBe(1);
    // The keys spread over the partitions: a partitioner that sends everything to one would agree too.
    expect(new Set(read.map((m) => m.partition)).size).toBeGreaterThan(3);
  });

  it.each(PRODUCER_CLIENTS)('%s: refuses to start when no broker answers', async (client) => {
    const unreachable = testKafkaConfig({ KAFKA_BROKERS: '127.0.0.1:1' });
    await expect(createRecordWriter({ ...unreachable, KAFKA_PRODUCER_CLIENT: client }, captureLogger().logger, 'writer-test-down')).rejects.toThrow();
  }, 60_000);

  it.each(PRODUCER_CLIENTS)('%s: a refused write rejects and the next write is stored, in order', async (client) => {
    const topic = `${cfg.KAFKA_TOPIC_PREFIX}after-failure-${client}`;
    await ensureTopics(kafka, cfg, [topic]);
    const writer = writers.get(client)!;
    await writer.write([{ topic, key: 'k', value: Buffer.from('1') }], { timeoutMs: 10_000 });
    await expect(writer.write([{ topic: `${cfg.KAFKA_TOPIC_PREFIX}missing-${client}`, key: 'k', value: Buffer.from('x') }], { timeoutMs: 5_000 })).rejects.toThrow();
    await writer.write([{ topic, key: 'k', value: Buffer.from('2') }, { topic, key: 'k', value: Buffer.from('3') }], { timeoutMs: 10_000 });
    const read = await readTopic(kafka, topic, 3);
    expect(read.map((m) => m.value!.toString())).toEqual(['1', '2', '3']);
  }, 60_000);
});
