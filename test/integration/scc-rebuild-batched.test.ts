// The rebuild folds many records per transaction in memory (projectRecordsOffline). It must build
// exactly what one transaction per record builds (the live consumer's path): duplicates, a rejected
// report among good ones, split reports, and one system changed several times within one chunk.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import type { Db } from '../../services/shared/db.js';
import { rebuild } from '../../services/scc-inventory/rebuild.js';
import { migrateInventory } from '../../services/scc-inventory/main.js';
import { captureLogger, testDb, testKafkaConfig } from '../support/env.js';
import { canonicalDump, processedCount, produceEnvelopes, reportBody, reportEnvelopes } from './scc-helpers.js';

const T0 = Date.parse('2026-02-01T00:00:00Z');

describe('scc-inventory rebuild, many records per transaction', () => {
  const kafkaCfg = testKafkaConfig();
  const { logger } = captureLogger('rebuild-batched');
  const kafka = createKafka(kafkaCfg, logger);
  const topic = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX).sapReports;
  const codec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
  let producer: Producer;
  const dbs: Db[] = [];

  beforeAll(async () => {
    await ensureTopics(kafka, kafkaCfg, [topic]);
    producer = await createProducer(kafka);
    const envelopes: Envelope[] = [];
    for (let i = 0; i < 60; i++) {
      const tenant = `tenant-${i % 4}`;
      const hosts = [{ host: 'a', status: i % 2 ? 'disabled' : 'enabled' }, { host: `h-${i % 5}` }];
      envelopes.push(...reportEnvelopes({
        tenant, reportType: i % 7 === 0 ? 'full' : 'delta', receivedAt: T0 + i * 60_000, parts: i % 9 === 0 ? 3 : 1,
        body: reportBody([{ subaccount: 'sa', locationId: `loc-${i % 2}`, exposedSystems: hosts }]),
      }));
      if (i === 20) envelopes.push(envelopes[envelopes.length - 1]!); // a duplicate delivery
      if (i === 30) envelopes.push(...reportEnvelopes({ tenant, reportType: 'delta', receivedAt: T0 + i * 60_000, body: Buffer.from('{not json') }));
    }
    await produceEnvelopes(producer, codec, topic, envelopes);
  });
  afterAll(async () => {
    await producer?.disconnect();
    for (const db of dbs) await db.close();
  });

  const rebuildInto = async (recordsPerTransaction: number) => {
    const db = await testDb();
    dbs.push(db);
    await migrateInventory(db);
    const result = await rebuild({ db, kafka, codec, topic, consumer: 'scc-inventory', partTtlMs: 3_600_000, logger, recordsPerTransaction });
    return { result, dump: await canonicalDump(db), processed: await processedCount(db) };
  };

  it('builds the same inventory, history and idempotency rows as one transaction per record', { timeout: 120_000 }, async () => {
    const single = await rebuildInto(1);
    // 7: most chunks take the in-memory path and only the chunk with the bad report is redone record by record.
    const batched = await rebuildInto(7);
    const whole = await rebuildInto(500);
    expect(single.result.duplicates).toBe(1);
    expect(single.result.rejected).toBe(1);
    expect(single.dump).toContain('"change":"unreachable"');
    expect(batched.dump).toBe(single.dump);
    expect(batched.processed).toBe(single.processed);
    expect({ ...batched.result, seconds: 0 }).toEqual({ ...single.result, seconds: 0 });
    expect(whole.dump).toBe(single.dump);
    expect({ ...whole.result, seconds: 0 }).toEqual({ ...single.result, seconds: 0 });
  });
});
