// Fault: PostgreSQL crashes (immediate stop: crash recovery on start) while an SCC rebuild writes its shadow
// tables. Promised: the rebuild waits the outage out and swaps in exactly what a rebuild without the crash
// builds — no row it wrote before the crash may be missing. (Crash recovery empties every UNLOGGED table: a
// rebuild that kept its rows in unlogged tables went on writing into emptied ones and swapped in an
// inventory without them.)
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { createKafka, createProducer } from '../../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../../services/shared/topics.js';
import { EnvelopeCodec } from '../../../services/shared/envelope.js';
import type { Db } from '../../../services/shared/db.js';
import { rebuild } from '../../../services/scc-inventory/rebuild.js';
import { captureLogger, eventually, testDb, testKafkaConfig } from '../../support/env.js';
import { canonicalDump, deltaReportEnvelopes, migratedInventoryDb, processedRows, produceEnvelopes } from '../../integration/scc-helpers.js';

const REPORTS = 20_000;
const T0 = Date.parse('2026-03-01T00:00:00Z');

function postgresCtl(...args: string[]): void {
  const version = readdirSync('/etc/postgresql')[0]!;
  const r = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', version, 'main', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pg_ctlcluster ${args.join(' ')} failed: ${r.stderr}`);
}

describe('fault: PostgreSQL crashes during an SCC rebuild', () => {
  const kafkaCfg = testKafkaConfig();
  const { logger, lines } = captureLogger('rebuild-crash');
  const kafka = createKafka(kafkaCfg, logger);
  const topic = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX).sapReports;
  const codec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
  let producer: Producer;
  const dbs: Db[] = [];

  beforeAll(async () => {
    await ensureTopics(kafka, kafkaCfg, [topic]);
    producer = await createProducer(kafka);
    const envelopes = deltaReportEnvelopes(REPORTS, { tenants: 50, hosts: 3, t0: T0 });
    for (let i = 0; i < envelopes.length; i += 2000) await produceEnvelopes(producer, codec, topic, envelopes.slice(i, i + 2000));
  }, 300_000);
  afterAll(async () => {
    await producer?.disconnect();
    for (const db of dbs) await db.close().catch(() => undefined);
  });

  const freshDb = () => migratedInventoryDb(dbs);
  const run = (db: Db) => rebuild({ db, kafka, codec, topic, consumer: 'scc-inventory', partTtlMs: 3_600_000, logger, recordsPerTransaction: 200, outageWaitMs: 120_000 });

  it('waits the crash out and swaps in everything it read, as a rebuild without the crash does', { timeout: 600_000 }, async () => {
    const reference = await freshDb();
    await run(reference);
    const expected = { dump: await canonicalDump(reference), processed: await processedRows(reference) };
    expect(expected.processed.split('\n')).toHaveLength(REPORTS);

    const target = await freshDb();
    const watcher = await testDb();
    dbs.push(watcher);
    const schema = (await target.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
    const rebuilding = run(target);
    // Crash once the rebuild has written rows of several chunks, well before it has read the whole topic.
    const written = async () => {
      const t = await watcher.query<{ name: string }>(`SELECT tablename AS name FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'rebuild\\_%\\_processed'`, [schema]);
      if (t.rows.length === 0) return 0;
      return Number((await watcher.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.${t.rows[0]!.name}`)).rows[0]!.n);
    };
    expect(await eventually(async () => (await written()) >= 1000, 60_000, 20)).toBe(true);
    const rowsBeforeCrash = await written();
    postgresCtl('stop', '-m', 'immediate');
    await new Promise((r) => setTimeout(r, 2000));
    postgresCtl('start');
    const result = await rebuilding;

    expect(rowsBeforeCrash).toBeLessThan(REPORTS); // the crash came in the middle of the rebuild
    expect(lines.some((l) => l.includes('rebuild: waiting for infrastructure'))).toBe(true); // it did meet the outage
    expect(result.records).toBe(REPORTS);
    expect(await processedRows(target)).toBe(expected.processed);
    expect(await canonicalDump(target)).toBe(expected.dump);
  });
});
