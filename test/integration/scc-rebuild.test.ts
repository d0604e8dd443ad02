// Rebuild and point-in-time snapshots of the SCC inventory from the real topic, while the live
// service keeps consuming.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import type { Db } from '../../services/shared/db.js';
import { lockForApply } from '../../services/scc-inventory/writes.js';
import { repoRoot } from '../../infra/local/stack.js';
import { RebuildAbortedError, rebuild, type RebuildProgress } from '../../services/scc-inventory/rebuild.js';
import { proxiedUrl, startTcpProxy, targetOf } from '../support/tcp-proxy.js';
import { migrateInventory } from '../../services/scc-inventory/main.js';
import { captureLogger, eventually, testDb, testKafkaConfig } from '../support/env.js';
import { canonicalDump, getJson, processedCount, processedRows, produceEnvelopes, reportBody, reportEnvelopes, sameSchema, serviceConfig, startService, waitForGroup } from './scc-helpers.js';

const execFileP = promisify(execFile);
const DAY = 24 * 3600 * 1000;
const T0 = Date.parse('2026-01-01T00:00:00Z');

describe('scc-inventory rebuild', () => {
  const kafkaCfg = testKafkaConfig();
  const { logger } = captureLogger('rebuild');
  const kafka = createKafka(kafkaCfg, logger);
  const topic = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX).sapReports;
  const codec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
  let producer: Producer;
  let db: Db;
  let rebuildDb: Db;
  let service: Awaited<ReturnType<typeof startService>>;
  let produced = 0;

  const produce = async (envelopes: ReturnType<typeof reportEnvelopes>) => {
    await produceEnvelopes(producer, codec, topic, envelopes);
    produced += envelopes.length;
  };
  const settled = () => eventually(async () => (await processedCount(db)) >= produced, 45_000);
  const runRebuild = (target: Db, extra: { asOf?: Date; snapshotName?: string; onProgress?: (p: RebuildProgress) => void } = {}) =>
    rebuild({ db: target, kafka, codec, topic, consumer: 'scc-inventory', partTtlMs: 3_600_000, logger, ...extra });

  // Day 1: tenant-x has a, b at loc-1; day 2: b goes, c arrives; day 3: a full report with only c, and loc-2 appears.
  const day = (n: number) => T0 + n * DAY;
  const history = [
    { tenant: 'tenant-x', reportType: 'full' as const, at: day(1), sccs: [{ subaccount: 'sa', locationId: 'loc-1', exposedSystems: [{ host: 'a' }, { host: 'b' }] }] },
    { tenant: 'tenant-y', reportType: 'full' as const, at: day(1), sccs: [{ subaccount: 'sa', locationId: 'loc-1', exposedSystems: [{ host: 'a' }] }] },
    { tenant: 'tenant-x', reportType: 'delta' as const, at: day(2), sccs: [{ subaccount: 'sa', locationId: 'loc-1', exposedSystems: [{ host: 'a', status: 'disabled' }, { host: 'c' }] }] },
    { tenant: 'tenant-x', reportType: 'full' as const, at: day(3), sccs: [{ subaccount: 'sa', locationId: 'loc-1', exposedSystems: [{ host: 'c' }] }, { subaccount: 'sa', locationId: 'loc-2', exposedSystems: [{ host: 'd' }] }] },
  ];

  beforeAll(async () => {
    await ensureTopics(kafka, kafkaCfg, [topic]);
    producer = await createProducer(kafka);
    db = await testDb();
    rebuildDb = await sameSchema(db);
    const config = serviceConfig(kafkaCfg);
    service = await startService(config, db);
    expect(await waitForGroup(kafka, config.SCC_INVENTORY_GROUP_ID)).toBe(true);
    for (const [i, r] of history.entries()) {
      await produce(reportEnvelopes({ tenant: r.tenant, reportType: r.reportType, body: reportBody(r.sccs), receivedAt: r.at, parts: 1 + (i % 3) }));
    }
    expect(await settled()).toBe(true);
  });
  afterAll(async () => {
    await service?.stop();
    await producer?.disconnect();
    await rebuildDb?.close();
    await db?.close();
  });

  it('rebuilds exactly the live projection from the topic and swaps it in', { timeout: 180_000 }, async () => {
    const live = await canonicalDump(db);
    const liveProcessed = await processedCount(db);
    const liveProcessedRows = await processedRows(db);
    // Damage the live inventory, so only a real swap can restore it. The idempotency rows too: the swap
    // writes only their difference, so a missing row, a stray one and a changed outcome must all be
    // put right, and another consumer's row must stay.
    await db.query("UPDATE systems SET description = 'tampered', reachable = NOT reachable");
    // History rows too (the swap writes only their difference as well): a missing row, a row with another
    // state, one whose before-state became NULL, and a stray row of a report that never was.
    await db.query('DELETE FROM system_history WHERE ctid IN (SELECT ctid FROM system_history ORDER BY system_id, report_id LIMIT 1)');
    await db.query(`UPDATE system_history SET after = after || '{"description": "tampered"}' WHERE ctid IN (SELECT ctid FROM system_history ORDER BY system_id, report_id OFFSET 1 LIMIT 1)`);
    await db.query('UPDATE system_history SET before = NULL WHERE ctid IN (SELECT ctid FROM system_history WHERE before IS NOT NULL ORDER BY system_id, report_id LIMIT 1)');
    await db.query(`INSERT INTO system_history (system_id, report_id, event_id, report_type, change, before, after, changed_at, source_partition, source_offset)
      SELECT system_id, 'never-sent', 'sap:never-sent:1', report_type, change, before, after, changed_at, source_partition, source_offset FROM system_history LIMIT 1`);
    await db.query("DELETE FROM processed_events WHERE consumer = 'scc-inventory' AND event_id = (SELECT min(event_id) FROM processed_events WHERE consumer = 'scc-inventory')");
    await db.query("UPDATE processed_events SET outcome = 'tampered' WHERE consumer = 'scc-inventory' AND event_id = (SELECT max(event_id) FROM processed_events WHERE consumer = 'scc-inventory')");
    await db.query("INSERT INTO processed_events (consumer, event_id, outcome) VALUES ('scc-inventory', 'stray-event', 'processed'), ('other-consumer', 'stray-event', 'processed')");
    expect(await canonicalDump(db)).not.toBe(live);
    expect(await processedRows(db)).not.toBe(liveProcessedRows);

    const progress: RebuildProgress[] = [];
    const result = await runRebuild(rebuildDb, { onProgress: (p) => progress.push(p) });
    expect(result.records).toBe(produced);
    expect(result.rejected).toBe(0);
    expect(await canonicalDump(db)).toBe(live);
    expect(await processedCount(db)).toBe(liveProcessed);
    expect(await processedRows(db)).toBe(liveProcessedRows);
    expect((await db.query("SELECT 1 FROM processed_events WHERE consumer = 'other-consumer' AND event_id = 'stray-event'")).rows).toHaveLength(1);
    await db.query("DELETE FROM processed_events WHERE consumer = 'other-consumer'");
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.done).toBe(produced);
  });

  it('swaps the history in by renaming the rebuilt table, keeping what an operator set on the live one; copies the rows where renaming would lose something', { timeout: 180_000 }, async () => {
    const expected = await canonicalDump(db);
    const role = `sb_reader_${Date.now().toString(36)}`;
    const tableFacts = async () => (await db.query<{ oid: number; indexes: string[]; pkey: string | null; comment: string | null; options: string[] | null; readable: boolean; logged: boolean }>(
      `SELECT c.oid::int AS oid,
              (SELECT array_agg(i.relname::text ORDER BY i.relname) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = c.oid) AS indexes,
              (SELECT conname::text FROM pg_constraint WHERE conrelid = c.oid AND contype = 'p') AS pkey,
              obj_description(c.oid, 'pg_class') AS comment, c.reloptions AS options,
              has_table_privilege('${role}', c.oid, 'SELECT') AS readable, c.relpersistence = 'p' AS logged
         FROM pg_class c WHERE c.oid = to_regclass('system_history')`,
    )).rows[0]!;
    await db.query(`CREATE ROLE ${role} NOLOGIN`);
    try {
      // What an operator may have set on the live table: a grant, an index of their own, a comment, a storage option.
      await db.query(`GRANT SELECT ON system_history TO ${role}`);
      await db.query('CREATE INDEX history_by_time ON system_history (changed_at)');
      await db.query(`COMMENT ON TABLE system_history IS 'what changed, and why'`);
      await db.query('ALTER TABLE system_history SET (fillfactor = 90)');
      await db.query("UPDATE system_history SET change = 'tampered'"); // only a real swap puts this right
      const before = await tableFacts();

      const renamed = await runRebuild(rebuildDb);
      expect(renamed.historySwap).toBe('renamed');
      expect(await canonicalDump(db)).toBe(expected);
      const after = await tableFacts();
      expect(after.oid).not.toBe(before.oid); // a new table took the live one's place…
      expect(after.indexes).toEqual(before.indexes); // …under the same index and constraint names…
      expect(after.indexes).toEqual(['history_by_time', 'system_history_pkey']);
      expect(after.pkey).toBe('system_history_pkey');
      expect(after.comment).toBe('what changed, and why'); // …with what the operator set on it, and logged
      expect(after.options).toEqual(['fillfactor=90']);
      expect(after.readable).toBe(true);
      expect(after.logged).toBe(true);
      expect((await db.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'rebuild\\_%'`)).rows[0]).toEqual({ n: 0 });

      // A view on the live history would be dropped with the table: its rows are copied instead, the view stays.
      await db.query('CREATE VIEW history_changes AS SELECT system_id, change FROM system_history');
      await db.query("UPDATE system_history SET change = 'tampered'");
      const copied = await runRebuild(rebuildDb);
      expect(copied.historySwap).toBe('copied');
      expect(copied.historyCopiedBecause).toMatch(/view/);
      expect(await canonicalDump(db)).toBe(expected);
      expect((await tableFacts()).oid).toBe(after.oid);
      expect((await db.query("SELECT count(*)::int AS n FROM history_changes WHERE change = 'tampered'")).rows[0]).toEqual({ n: 0 });
      await db.query('DROP VIEW history_changes');

      // A reader holding the live history longer than the swap waits for its lock: the rows are copied, never blocking it.
      const reader = await sameSchema(db);
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let reading!: () => void;
      const isReading = new Promise<void>((r) => (reading = r));
      const readerTx = reader.transaction(async (tx) => {
        await tx.query('SELECT count(*) FROM system_history');
        reading();
        await held;
      });
      try {
        await isReading;
        await db.query("UPDATE system_history SET change = 'tampered'");
        const waited = await runRebuild(rebuildDb);
        expect(waited.historySwap).toBe('copied');
        expect(waited.historyCopiedBecause).toMatch(/lock was not granted/);
        expect(await canonicalDump(db)).toBe(expected);
      } finally {
        release();
        await readerTx;
        await reader.close();
      }
    } finally {
      await db.query('DROP INDEX IF EXISTS history_by_time');
      await db.query(`COMMENT ON TABLE system_history IS NULL`);
      await db.query('ALTER TABLE system_history RESET (fillfactor)');
      await db.query(`REVOKE ALL ON system_history FROM ${role}`);
      await db.query(`DROP ROLE ${role}`);
    }
  });

  it('keeps the live service consuming while a rebuild runs, and ends equal to a fresh fold of the topic', { timeout: 180_000 }, async () => {
    const running = runRebuild(rebuildDb);
    for (let i = 0; i < 5; i++) {
      await produce(reportEnvelopes({
        tenant: `tenant-live-${i % 2}`, reportType: i === 4 ? 'full' : 'delta', parts: 1 + (i % 2),
        body: reportBody([{ subaccount: 'sa', locationId: `loc-${i % 3}`, exposedSystems: [{ host: `h${i}` }] }]),
      }));
    }
    await running;
    expect(await settled()).toBe(true);
    const fresh = await testDb();
    try {
      await migrateInventory(fresh);
      await runRebuild(fresh);
      expect(await canonicalDump(db)).toBe(await canonicalDump(fresh));
      expect((await getJson(`${service.url}/systems?tenant=tenant-live-0`)).body.items.length).toBeGreaterThan(0);
    } finally {
      await fresh.close();
    }
  });

  it('waits for an apply in flight and serves the old inventory until the swap commits', { timeout: 180_000 }, async () => {
    const expected = await canonicalDump(db);
    await db.query("UPDATE systems SET description = 'old generation'");
    const holder = await sameSchema(db);
    let release!: () => void;
    let lockTaken!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const taken = new Promise<void>((r) => (lockTaken = r));
    const inFlight = holder.transaction(async (tx) => {
      await lockForApply(tx, 'tenant-x'); // what a live apply holds for its transaction
      lockTaken();
      await held;
    });
    try {
      await taken;
      let finished = false;
      const running = runRebuild(rebuildDb).then(() => { finished = true; });
      const waitingForLock = await eventually(async () => (await db.query(
        `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
         WHERE l.locktype = 'advisory' AND NOT l.granted AND a.query LIKE '%pg_advisory_xact_lock(hashtext(current_schema() || '':scc-inventory''))%'`,
      )).rows.length > 0, 60_000);
      expect(waitingForLock).toBe(true);
      expect(finished).toBe(false);
      const served = await getJson(`${service.url}/systems?tenant=tenant-x`);
      expect(served.body.items.length).toBeGreaterThan(0);
      expect(served.body.items.map((s: any) => s.description)).toEqual(served.body.items.map(() => 'old generation'));
      release();
      await inFlight;
      await running;
      expect(await canonicalDump(db)).toBe(expected);
    } finally {
      release();
      await inFlight.catch(() => undefined);
      await holder.close();
    }
  });

  it('runs from the command line: npm run replay -- scc-inventory [--as-of … --snapshot …]', { timeout: 180_000 }, async () => {
    const schema = (await db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
    const env = {
      ...process.env, KAFKA_TOPIC_PREFIX: kafkaCfg.KAFKA_TOPIC_PREFIX, DB_SCHEMA: schema, LOG_LEVEL: 'warn',
    };
    const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');
    const expected = await canonicalDump(db);
    const rebuilt = await execFileP(tsx, ['scripts/replay.ts', 'scc-inventory'], { cwd: repoRoot, env });
    const summary = JSON.parse(rebuilt.stdout);
    expect(summary).toMatchObject({ consumer: 'scc-inventory', mode: 'rebuild', records: produced, rejected: 0 });
    expect(rebuilt.stderr).toMatch(new RegExp(`scc-inventory (catch-up|tail): ${produced}/${produced} records \\(\\d+/s\\)`));
    expect(await canonicalDump(db)).toBe(expected);

    const snap = await execFileP(tsx, ['scripts/replay.ts', 'scc-inventory', '--as-of', new Date(day(1)).toISOString(), '--snapshot', 'day-1'], { cwd: repoRoot, env });
    expect(JSON.parse(snap.stdout)).toMatchObject({ mode: 'snapshot', snapshot: 'day-1' });
    const day1 = await getJson(`${service.url}/snapshots/day-1/systems?tenant=tenant-x`);
    expect(day1.body.items.map((s: any) => [s.host, s.status]).sort()).toEqual([['a', 'reachable'], ['b', 'reachable']]);

    const usage = await execFileP(tsx, ['scripts/replay.ts', 'scc-inventory', '--as-of', 'yesterday'], { cwd: repoRoot, env }).catch((e: { code: number; stderr: string }) => e);
    expect((usage as { code: number }).code).toBe(2);
    expect((usage as { stderr: string }).stderr).toContain('not an ISO time');
  });

  it('builds the inventory as it was at a point in time into a snapshot served beside the live one', { timeout: 180_000 }, async () => {
    const liveBefore = await canonicalDump(db);
    const result = await runRebuild(rebuildDb, { asOf: new Date(day(2) + 1000), snapshotName: 'end-of-day-2' });
    expect(result.snapshot).toBe('end-of-day-2');
    expect(result.skippedAfterAsOf).toBeGreaterThan(0);
    expect(await canonicalDump(db)).toBe(liveBefore);

    const snap = await getJson(`${service.url}/snapshots/end-of-day-2/systems?tenant=tenant-x`);
    expect(snap.status).toBe(200);
    const state = Object.fromEntries(snap.body.items.map((s: any) => [s.host, [s.status, s.systemStatus]]));
    expect(state).toEqual({ a: ['reachable', 'disabled'], b: ['unreachable', 'enabled'], c: ['reachable', 'enabled'] });

    const live = await getJson(`${service.url}/systems?tenant=tenant-x`);
    const liveState = Object.fromEntries(live.body.items.map((s: any) => [s.host, s.status]));
    expect(liveState).toEqual({ a: 'unreachable', b: 'unreachable', c: 'reachable', d: 'reachable' });

    const list = await getJson(`${service.url}/snapshots`);
    expect(list.body.items.map((s: any) => [s.name, s.asOf])).toContainEqual(['end-of-day-2', new Date(day(2) + 1000).toISOString()]);
    const sccs = await getJson(`${service.url}/snapshots/end-of-day-2/sccs?tenant=tenant-x`);
    expect(sccs.body.items.map((s: any) => [s.locationId, s.reachable, s.unreachable])).toEqual([['loc-1', 2, 1]]);
    const systemA = snap.body.items.find((s: any) => s.host === 'a');
    const one = await getJson(`${service.url}/snapshots/end-of-day-2/systems/${systemA.id}`);
    expect(one.body.history.map((h: any) => h.change)).toEqual(['create', 'update']);
    expect((await getJson(`${service.url}/snapshots/no-such/systems`)).status).toBe(404);
  });

  it('aborts without touching the live inventory when the registry stays away, and when a record cannot be decoded', { timeout: 120_000 }, async () => {
    const liveBefore = await canonicalDump(db);
    const liveProcessed = await processedCount(db);
    const proxy = await startTcpProxy(targetOf(kafkaCfg.SCHEMA_REGISTRY_URL));
    try {
      await proxy.cut();
      // A codec behind the cut proxy has no schema cached, like a freshly started replay command.
      const cutCodec = EnvelopeCodec.create(proxiedUrl(proxy, kafkaCfg.SCHEMA_REGISTRY_URL));
      const outage = rebuild({ db: rebuildDb, kafka, codec: cutCodec, topic, consumer: 'scc-inventory', partTtlMs: 3_600_000, logger, outageWaitMs: 3000 });
      await expect(outage).rejects.toBeInstanceOf(RebuildAbortedError);
      await expect(outage).rejects.toThrow(/schema registry unavailable/);
      expect(await canonicalDump(db)).toBe(liveBefore);
      expect(await processedCount(db)).toBe(liveProcessed);
      for (const snapshotAttempt of [new Date(day(2))]) {
        await expect(rebuild({ db: rebuildDb, kafka, codec: cutCodec, topic, consumer: 'scc-inventory', partTtlMs: 3_600_000, logger, outageWaitMs: 1000, asOf: snapshotAttempt, snapshotName: 'during-outage' }))
          .rejects.toBeInstanceOf(RebuildAbortedError);
      }
      expect((await getJson(`${service.url}/snapshots/during-outage/systems`)).status).toBe(404);
    } finally {
      await proxy.close();
    }

    // Bytes that are not a framed Avro record: the live consumer dead-letters them; a rebuild stops rather
    // than quietly build from less than the whole topic, unless the operator says to leave them out.
    await producer.send({ topic, acks: -1, messages: [{ key: 'tenant-x', value: Buffer.from('not avro at all') }] });
    await expect(runRebuild(rebuildDb)).rejects.toThrow(/cannot be decoded.*--skip-undecodable/);
    expect(await canonicalDump(db)).toBe(liveBefore);
    const skipped = await rebuild({ db: rebuildDb, kafka, codec, topic, consumer: 'scc-inventory', partTtlMs: 3_600_000, logger, skipUndecodable: true });
    expect(skipped.undecodable).toBe(1);
    expect(await canonicalDump(db)).toBe(liveBefore);
  });
});
