// Foundation: an Avro envelope produced to a real topic comes back through a consumer group
// and decodes through the real registry, whose schema id it carries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import avro from 'avsc';
import type { Producer } from 'kafkajs';
import { createKafka, createProducer, produceAll } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { captureLogger, readTopic, testKafkaConfig } from '../support/env.js';

describe('envelope round trip through Kafka and the schema registry', () => {
  const cfg = testKafkaConfig();
  const { logger } = captureLogger();
  const kafka = createKafka(cfg, logger);
  const topic = topicNames(cfg.KAFKA_TOPIC_PREFIX).nspsEvents;
  let producer: Producer;

  beforeAll(async () => {
    await ensureTopics(kafka, cfg, [topic]);
    producer = await createProducer(kafka);
  });
  afterAll(async () => {
    await producer?.disconnect();
  });

  it('produces, consumes and decodes an envelope whose schema id resolves in the registry', async () => {
    const codec = EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL);
    const payload = Buffer.from('{"event_id":"e-1","data":{"event_type":"SIM/Updated"}}  ');
    const envelope: Envelope = {
      event_id: 'e-1', source: 'nsps', kind: 'nsps.event', tenant: null, received_at: 1_700_000_000_123,
      request_id: 'req-1', content_type: 'application/json', payload, attributes: { a: 'b' },
    };
    const value = await codec.encode(topic, envelope);
    await produceAll(producer, [{ topic, messages: [{ key: 'imsi-1', value }] }], { timeoutMs: 10_000 });

    const [message] = await readTopic(kafka, topic, 1);
    expect(message).toBeDefined();
    const id = EnvelopeCodec.schemaIdOf(message!.value!);
    const res = await fetch(`${cfg.SCHEMA_REGISTRY_URL}/schemas/ids/${id}`);
    expect(res.status).toBe(200);
    const registered = (await res.json()) as { schema: string };
    expect(JSON.parse(registered.schema).name).toBe('Envelope');

    const decoded = await EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL).decode(message!.value!);
    expect(decoded).toEqual(envelope);
    expect(decoded.payload.equals(payload)).toBe(true);
    expect(message!.key!.toString()).toBe('imsi-1');
  });

  it('reads a record\'s event_id alone once its writer schema is known, exactly as decoding would', async () => {
    const writer = EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL);
    // 1-byte and 2-byte length prefixes, multi-byte UTF-8, the 255-byte bound, an empty id.
    const ids = ['e', 'x'.repeat(63), 'y'.repeat(64), 'événement-😀-' + 'z'.repeat(100), 'é'.repeat(127), ''];
    const values = await Promise.all(ids.map((event_id, i) => writer.encode(topic, {
      event_id, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: i, request_id: `r${i}`, content_type: 'application/json', payload: Buffer.from('{}'), attributes: {},
    })));
    const reader = EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL);
    expect(values.map((v) => reader.peekEventId(v))).toEqual(ids.map(() => undefined)); // schema not fetched yet
    await reader.decode(values[0]!);
    expect(values.map((v) => reader.peekEventId(v))).toEqual(ids);
    expect(values.map((v) => reader.decodeCached(v)!.event_id)).toEqual(ids);
    // Bytes cut inside the id, or not framed at all: nothing is peeked.
    expect(reader.peekEventId(values[3]!.subarray(0, 20))).toBeUndefined();
    expect(reader.peekEventId(Buffer.from('{"event_id":"e"}'))).toBeUndefined();
  });

  it('peeks nothing from a writer schema whose first field is not the event_id', async () => {
    const url = cfg.SCHEMA_REGISTRY_URL;
    const schema = { type: 'record', name: 'Envelope', namespace: 'io.switchboard.raw', fields: [{ name: 'source', type: 'string' }, { name: 'event_id', type: 'string' }] };
    const res = await fetch(`${url}/subjects/${encodeURIComponent(`${topic}-reordered-value`)}/versions`, {
      method: 'POST', headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' }, body: JSON.stringify({ schema: JSON.stringify(schema) }),
    });
    expect(res.status).toBe(200);
    const id = ((await res.json()) as { id: number }).id;
    const header = Buffer.alloc(5);
    header.writeInt32BE(id, 1);
    const value = Buffer.concat([header, avro.Type.forSchema(schema as avro.Schema).toBuffer({ source: 'nsps', event_id: 'e-reordered' })]);
    const reader = EnvelopeCodec.create(url);
    await reader.decode(value).catch(() => undefined); // the writer schema is fetched either way
    expect(reader.peekEventId(value)).toBeUndefined();
  });

  it('creates raw topics with unlimited retention', async () => {
    const admin = kafka.admin();
    await admin.connect();
    try {
      const res = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topic, configNames: ['retention.ms', 'cleanup.policy'] }] });
      const entries = Object.fromEntries(res.resources[0]!.configEntries.map((e) => [e.configName, e.configValue]));
      expect(entries['retention.ms']).toBe('-1');
      expect(entries['cleanup.policy']).toBe('delete');
    } finally {
      await admin.disconnect();
    }
  });
});
