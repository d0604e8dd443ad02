// The reader's commits go out behind the work (runtime/committer.ts), against the real broker: every
// handled batch ends up committed, a batch that is not complete never is, and stop() commits what was
// handled before the consumer leaves its group, even when stop() comes right after the last batch.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Admin } from 'kafkajs';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { ensureTopics } from '../../services/shared/topics.js';
import { startReader } from '../../services/shared/runtime/reader.js';
import { captureLogger, eventually, testKafkaConfig } from '../support/env.js';

describe('reader commits', () => {
  const cfg = testKafkaConfig({ KAFKA_TOPIC_PARTITIONS: '3' });
  const kafka = createKafka(cfg, captureLogger().logger);
  let admin: Admin;

  beforeAll(async () => {
    admin = kafka.admin();
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.disconnect();
  });

  const topicWith = async (count: number): Promise<string> => {
    const topic = `${cfg.KAFKA_TOPIC_PREFIX}commits-${randomUUID()}`;
    await ensureTopics(kafka, cfg, [topic]);
    const producer = await createProducer(kafka);
    await producer.send({ topic, messages: Array.from({ length: count }, (_, i) => ({ key: `k${i % 30}`, value: String(i) })) });
    await producer.disconnect();
    return topic;
  };
  const committed = async (groupId: string, topic: string): Promise<Map<number, number>> => {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(offsets!.partitions.map((p) => [p.partition, Number(p.offset)]));
  };
  const ends = async (topic: string): Promise<Map<number, number>> =>
    new Map((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]));

  it('commits every handled record, the last ones by a stop() that begins while the last batch is being handled', async () => {
    const topic = await topicWith(600);
    const groupId = `commits-${randomUUID()}`;
    let handled = 0;
    let stopped: Promise<void> | undefined;
    const reader = await startReader({ kafka, groupId, topics: [topic], commit: true, maxWaitTimeInMs: 200, maxBytesPerPartition: 2048 }, async (records) => {
      handled += records.length;
      // The stop begins before this last batch has returned, so its offsets are recorded during the stop.
      if (handled === 600) stopped = reader.stop();
      return true;
    });
    expect(await eventually(async () => stopped !== undefined, 30_000)).toBe(true);
    await stopped;
    expect(await committed(groupId, topic)).toEqual(await ends(topic));
  });

  it('never commits a batch that was not complete, and commits the ones before it', async () => {
    const topic = await topicWith(90);
    const groupId = `commits-${randomUUID()}`;
    let refused = 0;
    let handled = 0;
    // Partition 0 is never complete; the others are.
    const reader = await startReader({ kafka, groupId, topics: [topic], commit: true, maxWaitTimeInMs: 200 }, async (records) => {
      if (records[0]!.partition === 0) {
        refused++;
        return false;
      }
      handled += records.length;
      return true;
    });
    const end = await ends(topic);
    const others = [...end].filter(([p]) => p !== 0).reduce((sum, [, high]) => sum + high, 0);
    expect(await eventually(async () => handled === others && refused > 0, 30_000)).toBe(true);
    await reader.stop();
    const done = await committed(groupId, topic);
    expect(done.get(0), 'nothing of the incomplete partition').toBe(-1);
    for (const [partition, high] of end) if (partition !== 0) expect(done.get(partition)).toBe(high);
  });
});
