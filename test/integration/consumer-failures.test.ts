// The shared consumer runner against the real broker and registry, one failure class at a time:
// a registry outage is waited out (nothing dead-lettered, /readyz's flag raised, every record handled
// once it is back); bad bytes are dead-lettered alone at once; a bug is retried a bounded number of
// times and then only that record is dead-lettered, while the records behind it keep flowing — in the
// per-record mode and in the whole-batch mode.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { runConsumer, type ConsumedRecord, type Handled, type Outcome, type RunningConsumer } from '../../services/shared/consumer.js';
import { readDeadLetters, type DeadLetter } from '../../services/shared/dead-letter.js';
import { createMetrics } from '../../services/shared/metrics.js';
import { PermanentError, TransientError } from '../../services/shared/errors.js';
import { OutcomeCodec } from '../../services/shared/outcome.js';
import { captureLogger, eventually, readTopic, testKafkaConfig } from '../support/env.js';
import { proxiedUrl, startTcpProxy, targetOf, type TcpProxy } from '../support/tcp-proxy.js';

const fastRetry = { maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 100, maxOutageDelayMs: 500 };

describe('consumer runner: failures handled by their class', () => {
  const cfg = testKafkaConfig({ KAFKA_TOPIC_PARTITIONS: '2' });
  const { logger, lines } = captureLogger('runner');
  const kafka = createKafka(cfg, logger);
  const names = topicNames(cfg.KAFKA_TOPIC_PREFIX);
  const codec = EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL);
  let producer: Producer;
  let proxy: TcpProxy;
  const running: RunningConsumer[] = [];

  const envelope = (eventId: string): Envelope => ({
    event_id: eventId, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: Date.now(),
    request_id: `req-${eventId}`, content_type: 'application/json', payload: Buffer.from(`{"event_id":"${eventId}"}`), attributes: {},
  });

  async function produce(topic: string, key: string, values: Buffer[]): Promise<void> {
    await producer.send({ topic, acks: -1, messages: values.map((value) => ({ key, value })) });
  }

  async function encoded(topic: string, ids: string[]): Promise<Buffer[]> {
    return Promise.all(ids.map((id) => codec.encode(topic, envelope(id))));
  }

  async function start(topic: string, extra: Partial<Parameters<typeof runConsumer>[0]>): Promise<RunningConsumer> {
    const consumer = await runConsumer({
      name: `runner-${topic}`,
      groupId: `g-${randomUUID()}`,
      topics: [topic],
      kafka,
      codec,
      producer,
      deadLetterTopic: `${topic}.dlq`,
      logger,
      metrics: createMetrics('runner-test'),
      retry: fastRetry,
      lagIntervalMs: 60_000,
      ...extra,
    });
    running.push(consumer);
    return consumer;
  }

  async function lettersOf(topic: string): Promise<DeadLetter[]> {
    return readDeadLetters(kafka, `${topic}.dlq`);
  }

  beforeAll(async () => {
    producer = await createProducer(kafka);
    proxy = await startTcpProxy(targetOf(cfg.SCHEMA_REGISTRY_URL));
  });
  afterAll(async () => {
    for (const c of running) await c.stop().catch(() => undefined);
    await producer?.disconnect();
    await proxy?.close();
  });

  it('waits out a registry outage at start: no dead letters, every record handled once after it returns', async () => {
    const topic = `${names.nspsEvents}.outage`;
    await ensureTopics(kafka, cfg, [topic, `${topic}.dlq`]);
    const ids = Array.from({ length: 20 }, (_, i) => `outage-${i}`);
    await produce(topic, 'k', await encoded(topic, ids.slice(0, 10)));
    await produce(topic, 'k2', await encoded(topic, ids.slice(10)));

    await proxy.cut();
    const handled: string[] = [];
    // A codec of its own, behind the proxy: its schema cache is empty, like a restarted service's.
    const consumer = await start(topic, {
      codec: EnvelopeCodec.create(proxiedUrl(proxy, cfg.SCHEMA_REGISTRY_URL)),
      handle: async (r: ConsumedRecord): Promise<Outcome> => {
        handled.push(r.envelope.event_id);
        return 'processed';
      },
    });
    expect(await eventually(async () => consumer.waitingOnInfrastructure(), 20_000)).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    expect(handled).toEqual([]);
    expect(consumer.waitingOnInfrastructure()).toBe(true);

    await proxy.restore();
    await eventually(async () => handled.length >= ids.length, 30_000);
    expect([...handled].sort()).toEqual([...ids].sort());
    expect(await lettersOf(topic)).toEqual([]);
    expect(await eventually(async () => !consumer.waitingOnInfrastructure(), 5000)).toBe(true);
    expect(lines.some((l) => l.includes('infrastructure unavailable, waiting'))).toBe(true);
  });

  it('dead-letters bad bytes and an unknown schema id at once and alone, as invalid', async () => {
    const topic = `${names.nspsEvents}.bytes`;
    await ensureTopics(kafka, cfg, [topic, `${topic}.dlq`]);
    const unknownId = Buffer.concat([Buffer.from([0, 0x7f, 0xff, 0xff, 0xf0]), Buffer.from('garbage')]);
    const [good1, good2] = await encoded(topic, ['bytes-1', 'bytes-2']);
    await produce(topic, 'k', [good1!, Buffer.from('{"not":"avro"}'), unknownId, good2!]);
    const handled: string[] = [];
    await start(topic, { handle: async (r) => (handled.push(r.envelope.event_id), 'processed') });

    const letters = await eventually(async () => {
      const found = await lettersOf(topic);
      return found.length >= 2 ? found : undefined;
    }, 30_000);
    await eventually(async () => handled.length >= 2, 10_000);
    expect(handled).toEqual(['bytes-1', 'bytes-2']);
    expect(letters!.map((l) => l.originalOffset)).toEqual(['1', '2']);
    for (const l of letters!) {
      expect(l.attempts).toBe(1);
      expect(l.headers['sb-dlq-failure']?.toString()).toBe('invalid');
    }
    expect(letters![0]!.value.toString()).toBe('{"not":"avro"}');
    expect(letters![1]!.reason).toMatch(/no schema with id/);
  });

  it('per record: a bug is retried a bounded number of times, then only that record is dead-lettered and its key keeps flowing', async () => {
    const topic = `${names.nspsEvents}.bug`;
    await ensureTopics(kafka, cfg, [topic, `${topic}.dlq`]);
    const ids = ['bug-1', 'bug-poison', 'bug-3', 'bug-4'];
    await produce(topic, 'same-subscriber', await encoded(topic, ids));
    const calls = new Map<string, number>();
    await start(topic, {
      handle: async (r) => {
        calls.set(r.envelope.event_id, (calls.get(r.envelope.event_id) ?? 0) + 1);
        if (r.envelope.event_id === 'bug-poison') throw new TypeError("Cannot read properties of undefined (reading 'imsi')");
        return 'processed';
      },
    });
    const letters = await eventually(async () => {
      const found = await lettersOf(topic);
      return found.length > 0 && calls.has('bug-4') ? found : undefined;
    }, 30_000);
    expect(letters!.map((l) => l.eventId)).toEqual(['bug-poison']);
    expect(letters![0]!.attempts).toBe(fastRetry.maxAttempts);
    expect(letters![0]!.headers['sb-dlq-failure']?.toString()).toBe('unexpected');
    expect(Object.fromEntries(calls)).toEqual({ 'bug-1': 1, 'bug-poison': fastRetry.maxAttempts, 'bug-3': 1, 'bug-4': 1 });
  });

  it('whole batch: an invalid record or a bug dead-letters only that record, the rest of the batch is handled', async () => {
    const topic = `${names.nspsEvents}.batch`;
    await ensureTopics(kafka, cfg, [topic, `${topic}.dlq`]);
    const ids = Array.from({ length: 12 }, (_, i) => (i === 4 ? 'batch-invalid' : i === 8 ? 'batch-bug' : `batch-${i}`));
    await produce(topic, 'k', await encoded(topic, ids));
    const done = new Set<string>();
    await start(topic, {
      handleBatch: async (records) => {
        if (records.some((r) => r.envelope.event_id === 'batch-invalid')) throw new PermanentError('a row the API refuses');
        if (records.some((r) => r.envelope.event_id === 'batch-bug')) throw new RangeError('bug in row mapping');
        for (const r of records) done.add(r.envelope.event_id);
        return records.map((): Outcome => 'processed');
      },
    });
    const letters = await eventually(async () => {
      const found = await lettersOf(topic);
      return found.length >= 2 && done.size >= 10 ? found : undefined;
    }, 30_000);
    expect(letters!.map((l) => [l.eventId, l.headers['sb-dlq-failure']?.toString()]).sort()).toEqual([
      ['batch-bug', 'unexpected'],
      ['batch-invalid', 'invalid'],
    ]);
    expect([...done].sort()).toEqual(ids.filter((id) => id !== 'batch-invalid' && id !== 'batch-bug').sort());
  });

  it('publishes what it did with each record to the outcomes topic, with the effect and the reason', async () => {
    const topic = `${names.nspsEvents}.trail`;
    const outcomesTopic = `${topic}.outcomes`;
    await ensureTopics(kafka, cfg, [topic, `${topic}.dlq`, outcomesTopic]);
    await produce(topic, 'k', await encoded(topic, ['trail-ok', 'trail-bad', 'trail-skip', 'trail-flaky']));
    // A record as npm run dlq -- redrive writes it back: the original bytes plus where the dead letter was.
    const [redriven] = await encoded(topic, ['trail-redriven']);
    await producer.send({ topic, acks: -1, messages: [{ key: 'k', value: redriven!, headers: { 'sb-redriven-from': '0:7' } }] });
    let flaky = 0;
    await start(topic, {
      outcomes: { topic: outcomesTopic, codec: OutcomeCodec.create(cfg.SCHEMA_REGISTRY_URL) },
      handle: async (r): Promise<Outcome | Handled> => {
        const id = r.envelope.event_id;
        if (id === 'trail-bad') throw new PermanentError('WTL rejected the request with 400');
        if (id === 'trail-skip') return { outcome: 'skipped', reason: 'no WTL action for Account/Created' };
        if (id === 'trail-flaky' && ++flaky < 3) throw new TransientError('WTL answered 503');
        return { outcome: 'processed', effect: { http_status: '200', latency_ms: '3' } };
      },
    });
    const outcomeCodec = OutcomeCodec.create(cfg.SCHEMA_REGISTRY_URL);
    const messages = await readTopic(kafka, outcomesTopic, 7, 30_000);
    const outcomes = await Promise.all(messages.map(async (m) => ({ key: m.key?.toString(), ...(await outcomeCodec.decode(m.value!)) })));
    const byEvent = (id: string) => outcomes.filter((o) => o.event_id === id).map((o) => [o.outcome, o.attempt, o.reason, o.effect]);
    expect(byEvent('trail-ok')).toEqual([['applied', 1, null, { http_status: '200', latency_ms: '3' }]]);
    expect(byEvent('trail-bad')).toEqual([['dead_lettered', 1, 'WTL rejected the request with 400', {}]]);
    expect(byEvent('trail-skip')).toEqual([['skipped', 1, 'no WTL action for Account/Created', {}]]);
    expect(byEvent('trail-flaky')).toEqual([
      ['retrying', 1, 'unavailable: WTL answered 503', {}],
      ['applied', 3, null, { http_status: '200', latency_ms: '3' }],
    ]);
    expect(byEvent('trail-redriven')).toEqual([
      ['redriven', 1, null, { redriven_from: '0:7' }],
      ['applied', 1, null, { http_status: '200', latency_ms: '3' }],
    ]);
    expect(outcomes.every((o) => o.key === o.event_id && o.consumer === `runner-${topic}` && o.topic === topic)).toBe(true);
  });
});
