// The outcome publisher against the real broker and a schema registry that goes away: outcomes it could not
// send are kept and sent once the registry is back (a fresh start racing the schema's registration, or an
// outage, must not leave the trail without them for good); only a stop during the outage drops them, counted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { createOutcomePublisher, OutcomeCodec, type OutcomeRecord } from '../../services/shared/outcome.js';
import { captureLogger, eventually, readTopic, testKafkaConfig } from '../support/env.js';
import { proxiedUrl, startTcpProxy, targetOf, type TcpProxy } from '../support/tcp-proxy.js';

describe('outcome publisher', () => {
  const cfg = testKafkaConfig({ KAFKA_TOPIC_PARTITIONS: '1' });
  const { logger, lines } = captureLogger('outcomes');
  const kafka = createKafka(cfg, logger);
  const topic = topicNames(cfg.KAFKA_TOPIC_PREFIX).outcomes;
  let producer: Producer;
  let proxy: TcpProxy;

  const outcome = (eventId: string): OutcomeRecord => ({
    event_id: eventId, consumer: 'test', outcome: 'applied', attempt: 1, reason: null,
    effect: { report_id: 'r1', system_ids: 'a,b' }, at: Date.now(), topic: 't', partition: 0, offset: 1,
  });

  beforeAll(async () => {
    await ensureTopics(kafka, cfg, [topic]);
    producer = await createProducer(kafka);
    proxy = await startTcpProxy(targetOf(cfg.SCHEMA_REGISTRY_URL));
  });
  afterAll(async () => {
    await producer?.disconnect();
    await proxy?.close();
  });

  it('keeps what it could not send while the registry is down and sends it, in order, once it is back', async () => {
    const codec = OutcomeCodec.create(proxiedUrl(proxy, cfg.SCHEMA_REGISTRY_URL));
    let dropped = 0;
    const publisher = createOutcomePublisher({ producer, codec, topic, logger, intervalMs: 50, onDropped: (n) => (dropped += n) });
    await proxy.cut();
    publisher.publish(outcome('e1'));
    publisher.publish({ ...outcome('e2'), outcome: 'duplicate', effect: {}, also: [{ event_id: 'e2b', offset: 5 }, { event_id: 'e2c', offset: 9 }] });
    await eventually(async () => lines.some((l) => l.includes('kept and tried again')) || undefined, 10_000, 50);
    publisher.publish(outcome('e3'));
    await proxy.restore();

    const read = await readTopic(kafka, topic, 3, 30_000);
    const decoded = await Promise.all(read.map((m) => codec.decode(m.value!)));
    expect(decoded.map((o) => o.event_id)).toEqual(['e1', 'e2', 'e3']);
    expect(decoded[0]!.effect).toEqual({ report_id: 'r1', system_ids: 'a,b' });
    expect(decoded[0]!.also).toEqual([]);
    expect(decoded[1]!.also).toEqual([{ event_id: 'e2b', offset: 5 }, { event_id: 'e2c', offset: 9 }]);
    expect(dropped).toBe(0);
    await publisher.close();
  });

  it('drops and counts what is still unsent when it is stopped during an outage, within its stop window', async () => {
    // A registry address of its own: registry clients (and the schema ids they learnt) are shared per address.
    const own = await startTcpProxy(targetOf(cfg.SCHEMA_REGISTRY_URL));
    const codec = OutcomeCodec.create(proxiedUrl(own, cfg.SCHEMA_REGISTRY_URL));
    let dropped = 0;
    const publisher = createOutcomePublisher({ producer, codec, topic, logger, intervalMs: 50, onDropped: (n) => (dropped += n) });
    await own.cut();
    publisher.publish(outcome('s1'));
    publisher.publish({ ...outcome('s2'), also: [{ event_id: 's3', offset: 2 }, { event_id: 's4', offset: 3 }] });
    await publisher.close();
    expect(dropped).toBe(4); // one per event: a run of duplicates counts each of its events
    await own.close();
  });
});
