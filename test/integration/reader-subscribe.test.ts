// A consumer that starts before the cluster knows its topic waits for it instead of dying at start
// (services/shared/runtime/reader.ts subscribeOnceKnown). On a 3-node cluster a topic another service has
// just created is unknown to some brokers for a moment; here the topic does not exist at all at first,
// which the real broker answers the same way (UNKNOWN_TOPIC_OR_PARTITION, marked retriable by Kafka).
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { ensureTopics } from '../../services/shared/topics.js';
import { startReader, subscribeOnceKnown, type Reader } from '../../services/shared/runtime/reader.js';
import { captureLogger, eventually, testKafkaConfig } from '../support/env.js';

describe('reader subscribe', () => {
  const cfg = testKafkaConfig({ KAFKA_TOPIC_PARTITIONS: '1' });
  const kafka = createKafka(cfg, captureLogger().logger);
  let reader: Reader | undefined;
  afterAll(async () => {
    await reader?.stop();
  });

  it('waits while its topic is unknown and reads it once it exists', async () => {
    const topic = `${cfg.KAFKA_TOPIC_PREFIX}late-${randomUUID()}`;
    const seen: string[] = [];
    const starting = startReader({ kafka, groupId: `late-${randomUUID()}`, topics: [topic], commit: true, maxWaitTimeInMs: 200 }, async (records) => {
      for (const r of records) seen.push(r.value.toString());
      return true;
    });
    let settled = false;
    void starting.then(() => (settled = true), () => (settled = true));
    await new Promise((r) => setTimeout(r, 1500));
    expect(settled, 'still waiting for the topic, not failed').toBe(false);
    await ensureTopics(kafka, cfg, [topic]);
    reader = await starting;
    const producer = await createProducer(kafka);
    await producer.send({ topic, messages: [{ key: 'k', value: 'hello' }] });
    await producer.disconnect();
    expect(await eventually(async () => seen.includes('hello'), 30_000)).toBe(true);
  });

  it('still fails at once on an error Kafka does not mark retriable, and on a missing topic after the wait', async () => {
    const consumer = kafka.consumer({ groupId: `never-${randomUUID()}`, allowAutoTopicCreation: false, retry: { retries: 0 } });
    await consumer.connect();
    try {
      const started = Date.now();
      await expect(subscribeOnceKnown(consumer, [`${cfg.KAFKA_TOPIC_PREFIX}never-${randomUUID()}`], true, 1000)).rejects.toThrow('This server does not host this topic-partition');
      expect(Date.now() - started).toBeGreaterThanOrEqual(600);
      const invalidAt = Date.now();
      await expect(subscribeOnceKnown(consumer, ['bad topic name with spaces'], true, 10_000)).rejects.toThrow();
      expect(Date.now() - invalidAt, 'not waited for: the name can never become valid').toBeLessThan(5000);
    } finally {
      await consumer.disconnect();
    }
  });
});
