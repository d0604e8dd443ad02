// services/shared/replay.ts against the real broker: a consumer group's offsets move back to the
// beginning or to a point in time, and never while the group has live members.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { createKafka, createProducer, produceAll } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { GroupNotEmptyError, rewindGroup } from '../../services/shared/replay.js';
import { captureLogger, eventually, testKafkaConfig } from '../support/env.js';

describe('rewindGroup', () => {
  const cfg = testKafkaConfig();
  const kafka = createKafka(cfg, captureLogger().logger);
  const topic = topicNames(cfg.KAFKA_TOPIC_PREFIX).nspsEvents;
  const groupId = `${cfg.KAFKA_TOPIC_PREFIX}group`;
  const early = Date.parse('2026-02-01T00:00:00Z');
  const late = early + 3_600_000;
  let producer: Producer;

  const committed = async (): Promise<number> => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const ends = await admin.fetchTopicOffsets(topic);
      // Records the group would re-read: end offset minus committed offset, summed over partitions.
      return ends.reduce((n, e) => {
        const c = Number(offsets!.partitions.find((p) => p.partition === e.partition)!.offset);
        return n + Number(e.high) - (c < 0 ? Number(e.low) : c); // -1: nothing committed (an empty partition)
      }, 0);
    } finally {
      await admin.disconnect();
    }
  };

  beforeAll(async () => {
    await ensureTopics(kafka, cfg, [topic]);
    producer = await createProducer(kafka);
    const messages = [early, early, early, late, late, late].map((ts, i) => ({ key: `k${i % 3}`, value: `v${i}`, timestamp: String(ts) }));
    await produceAll(producer, [{ topic, messages }], { timeoutMs: 15_000 });
    // The group has read everything.
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let seen = 0;
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        await consumer.commitOffsets([{ topic, partition, offset: (BigInt(message.offset) + 1n).toString() }]);
        seen++;
      },
    });
    await eventually(async () => seen >= 6, 30_000);
    await consumer.disconnect();
    expect(await committed()).toBe(0);
  });
  afterAll(async () => {
    await producer?.disconnect();
  });

  it('refuses while the group has a live member, naming the group', async () => {
    const consumer = kafka.consumer({ groupId });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic] });
    await consumer.run({ eachMessage: async () => undefined });
    try {
      const admin = kafka.admin();
      await admin.connect();
      await eventually(async () => (await admin.describeGroups([groupId])).groups[0]?.state === 'Stable', 30_000);
      await admin.disconnect();
      const err = await rewindGroup({ kafka, groupId, topics: [topic] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GroupNotEmptyError);
      expect((err as Error).message).toContain(`"${groupId}" is not empty`);
      expect(await committed()).toBe(0);
    } finally {
      await consumer.disconnect();
    }
  });

  it('rewinds to the first record at or after a time, then to the beginning', async () => {
    const fromTime = await rewindGroup({ kafka, groupId, topics: [topic], from: new Date(early + 60_000) });
    expect(fromTime.length).toBe(3); // one entry per partition
    expect(await committed()).toBe(3);

    const all = await rewindGroup({ kafka, groupId, topics: [topic] });
    expect(all.map((p) => p.offset)).toEqual(['0', '0', '0']);
    expect(await committed()).toBe(6);
  });
});
