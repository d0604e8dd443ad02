// The rebuild folds the whole topic in memory and writes its rows a chunk at a time (rebuild-fold.ts).
// It must build exactly what the live consumer's path builds from the same records, one transaction per
// record (projector.ts projectRecord): duplicates (next to each other, and far apart, after their first
// was written), a rejected report among good ones, split reports (complete, rejected at completion,
// and dropped as stale), the same report_id delivered again under another event_id, and one system
// changed several times within one chunk — on PostgreSQL and on the embedded PGlite alike.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { openDb, type Db } from '../../services/shared/db.js';
import { rebuild } from '../../services/scc-inventory/rebuild.js';
import { migrateInventory } from '../../services/scc-inventory/main.js';
import { captureLogger, testDb, testKafkaConfig } from '../support/env.js';
import { canonicalDump, processedRows, produceEnvelopes, projectTopicLikeLive, reportBody, reportEnvelopes } from './scc-helpers.js';

const T0 = Date.parse('2026-02-01T00:00:00Z');
const PART_TTL_MS = 10 * 60_000;

describe('scc-inventory rebuild, folded in memory', () => {
  const kafkaCfg = testKafkaConfig();
  const { logger } = captureLogger('rebuild-batched');
  const kafka = createKafka(kafkaCfg, logger);
  const topic = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX).sapReports;
  const codec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
  let producer: Producer;
  let produced = 0;
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
      if (i === 20) envelopes.push(envelopes[envelopes.length - 1]!); // a duplicate delivery, next to its first
      if (i === 30) envelopes.push(...reportEnvelopes({ tenant, reportType: 'delta', receivedAt: T0 + i * 60_000, body: Buffer.from('{not json') }));
      if (i === 33) {
        // A split report whose whole body is not a report: its last part is rejected, its first two stay buffered
        // until a later record of the tenant drops them as stale.
        envelopes.push(...reportEnvelopes({ tenant, reportType: 'full', receivedAt: T0 + i * 60_000, parts: 3, body: Buffer.from('{"type":"x","value":[') }));
      }
      if (i === 36) {
        // Two of three parts of a report that never completes (dropped as stale later).
        envelopes.push(...reportEnvelopes({ tenant, reportType: 'delta', receivedAt: T0 + i * 60_000, parts: 3, body: reportBody([{ subaccount: 'sb', exposedSystems: [{ host: 'lost' }] }]) }).slice(0, 2));
      }
      if (i === 40) {
        // The same report_id again under another event_id, changing a system the first delivery created:
        // the system takes the second state, its history keeps the first delivery's row.
        const first = reportEnvelopes({ tenant, reportType: 'delta', receivedAt: T0 + i * 60_000, reportId: 'sent-twice', body: reportBody([{ subaccount: 'sc', exposedSystems: [{ host: 'z' }] }]) });
        const again = reportEnvelopes({ tenant, reportType: 'delta', receivedAt: T0 + i * 60_000 + 1, reportId: 'sent-twice', body: reportBody([{ subaccount: 'sc', exposedSystems: [{ host: 'z', description: 'changed' }] }]) });
        envelopes.push(...first, ...again.map((e) => ({ ...e, event_id: `${e.event_id}:again` })));
        // ...and another report changing the same system again right after.
        envelopes.push(...reportEnvelopes({ tenant, reportType: 'delta', receivedAt: T0 + i * 60_000 + 2, body: reportBody([{ subaccount: 'sc', exposedSystems: [{ host: 'z', description: 'changed', status: 'disabled' }] }]) }));
      }
    }
    // Text that COPY's format must escape, in what the sender controls: the report id and the descriptions
    // (backslash, tab, newline, carriage return, a quote, non-ASCII), stored in the history's JSON too.
    envelopes.push(...reportEnvelopes({
      tenant: 'tenant-1', reportType: 'delta', receivedAt: T0 + 61 * 60_000, reportId: 'odd\\id\twith\nbreaks',
      body: reportBody([{ subaccount: 'sa', locationId: 'loc-1', exposedSystems: [{ host: 'a', description: 'back\\slash\ttab\nnew\rline "quoted" é' }] }]),
    }));
    envelopes.push(envelopes[3]!, envelopes[25]!); // duplicates far from their first delivery
    await produceEnvelopes(producer, codec, topic, envelopes);
    produced = envelopes.length;
  });
  afterAll(async () => {
    await producer?.disconnect();
    for (const db of dbs) await db.close();
  });

  const freshDb = async (kind: 'postgres' | 'pglite') => {
    const db = kind === 'postgres' ? await testDb() : await openDb({});
    dbs.push(db);
    await migrateInventory(db);
    return db;
  };
  const liveReference = async (kind: 'postgres' | 'pglite') => {
    const db = await freshDb(kind);
    await projectTopicLikeLive(db, kafka, codec, topic, produced, PART_TTL_MS);
    return { dump: await canonicalDump(db), processed: await processedRows(db) };
  };
  const rebuildInto = async (kind: 'postgres' | 'pglite', recordsPerTransaction?: number) => {
    const db = await freshDb(kind);
    const result = await rebuild({ db, kafka, codec, topic, consumer: 'scc-inventory', partTtlMs: PART_TTL_MS, logger, recordsPerTransaction });
    return { result, dump: await canonicalDump(db), processed: await processedRows(db) };
  };

  for (const kind of ['postgres', 'pglite'] as const) {
    it(`builds the same inventory, history and idempotency rows as the live consumer's path (${kind})`, { timeout: 180_000 }, async () => {
      const live = await liveReference(kind);
      expect(live.dump).toContain('"change":"unreachable"');
      expect(live.dump).toContain('"description":"changed"');
      // PGlite starts slowly: one chunk size there (7: chunks written while later ones are folded).
      for (const recordsPerTransaction of kind === 'postgres' ? [1, 7, undefined] : [7]) {
        const rebuilt = await rebuildInto(kind, recordsPerTransaction);
        expect(rebuilt.dump).toBe(live.dump);
        expect(rebuilt.processed).toBe(live.processed);
        expect(rebuilt.result.records).toBe(produced);
        expect(rebuilt.result.duplicates).toBe(3);
        expect(rebuilt.result.rejected).toBe(2); // the bad one-part report, the last part of the bad split one
        expect(rebuilt.result.applied).toBe(produced - 3 - 2);
        expect(rebuilt.result.historySwap).toBe('renamed'); // the rebuilt history table took the live one's place
      }
    });
  }
});
