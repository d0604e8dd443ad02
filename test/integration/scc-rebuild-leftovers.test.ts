// A rebuild killed outright (kill -9) cannot drop its shadow tables. Promised: the next rebuild, or the next
// start of the service, drops them — and never the tables of a rebuild that is still running, in this
// process or another (it holds a session lock on its own connection, which the server ends with the process). The running rebuild here is a real `npm run replay -- scc-inventory` child process,
// held at its swap by a live apply's lock so that it is caught with its tables written, then SIGKILLed.
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { repoRoot } from '../../infra/local/stack.js';
import { openDb, type Db } from '../../services/shared/db.js';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { rebuild } from '../../services/scc-inventory/rebuild.js';
import {
  claimShadowTables, createShadowTables, dropAbandonedShadowTables, lockIdOf, SHADOW_LOCK_SCOPE,
} from '../../services/scc-inventory/rebuild-tables.js';
import { migrateInventory } from '../../services/scc-inventory/main.js';
import { shadowTables } from '../../services/scc-inventory/tables.js';
import { captureLogger, eventually, testKafkaConfig } from '../support/env.js';
import {
  canonicalDump, deltaReportEnvelopes, migratedInventoryDb, produceEnvelopes, serviceConfig, startService,
} from './scc-helpers.js';

const REPORTS = 2000;
const T0 = Date.parse('2026-04-01T00:00:00Z');

async function shadowTableNames(db: Db): Promise<string[]> {
  const r = await db.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename LIKE 'rebuild\\_%' ORDER BY 1`,
  );
  return r.rows.map((row) => row.name);
}

describe('shadow tables of killed rebuilds', () => {
  const kafkaCfg = testKafkaConfig();
  const { logger, lines } = captureLogger('rebuild-leftovers');
  const kafka = createKafka(kafkaCfg, logger);
  const topic = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX).sapReports;
  const codec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
  let producer: Producer;
  const dbs: Db[] = [];
  const children: ChildProcess[] = [];
  const cleanUps: Array<() => void> = [];

  beforeAll(async () => {
    await ensureTopics(kafka, kafkaCfg, [topic]);
    producer = await createProducer(kafka);
    await produceEnvelopes(producer, codec, topic, deltaReportEnvelopes(REPORTS, { tenants: 20, hosts: 7, t0: T0 }));
  }, 120_000);
  afterAll(async () => {
    for (const c of children) c.kill('SIGKILL');
    for (const f of cleanUps) f();
    await producer?.disconnect();
    for (const db of dbs) await db.close().catch(() => undefined);
  });

  const freshDb = () => migratedInventoryDb(dbs);

  it('drops tables nobody owns, keeps those of a running rebuild and tables that are not a rebuild\'s', async () => {
    const db = await freshDb();
    // Left by a killed rebuild: nobody holds its lock.
    await createShadowTables(db, shadowTables('0badc0de'));
    // A rebuild of this process.
    const mine = await claimShadowTables(db, 'a1b2c3d4');
    await createShadowTables(db, shadowTables('a1b2c3d4'));
    // Not a rebuild's: an operator's table that happens to start with rebuild_.
    await db.query('CREATE TABLE rebuild_notes (note text)');

    expect(await dropAbandonedShadowTables(db, logger)).toEqual(['0badc0de']);
    expect(await shadowTableNames(db)).toEqual([
      'rebuild_a1b2c3d4_history', 'rebuild_a1b2c3d4_parts', 'rebuild_a1b2c3d4_processed', 'rebuild_a1b2c3d4_systems',
      'rebuild_notes',
    ]);
    expect(lines.some((l) => l.includes('rebuild_0badc0de_*') && l.includes('killed'))).toBe(true);

    // Once its rebuild is over (here: ended without dropping them), the next look drops them.
    await mine.release();
    expect(await dropAbandonedShadowTables(db, logger)).toEqual(['a1b2c3d4']);
    expect(await shadowTableNames(db)).toEqual(['rebuild_notes']);
  });

  it('keeps the tables when the session serving the look holds their lock itself (PgBouncer in transaction mode)', async () => {
    const db = await freshDb();
    const schema = (await db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
    // One server connection for everything, as when a pooler hands the holder's server connection to the look.
    const one = await openDb({ url: process.env.DATABASE_URL, schema, poolSize: 1 });
    dbs.push(one);
    await createShadowTables(one, shadowTables('c0ffee00'));
    await one.query(`SELECT pg_advisory_lock(hashtext(current_schema() || ':' || $1::text), $2::int)`, [SHADOW_LOCK_SCOPE, lockIdOf('c0ffee00')]);
    expect(await dropAbandonedShadowTables(one, logger)).toEqual([]);
    expect(await shadowTableNames(one)).toHaveLength(4);
    await one.query(`SELECT pg_advisory_unlock(hashtext(current_schema() || ':' || $1::text), $2::int)`, [SHADOW_LOCK_SCOPE, lockIdOf('c0ffee00')]);
    expect(await dropAbandonedShadowTables(one, logger)).toEqual(['c0ffee00']);
  });

  it('on PGlite, drops tables that no rebuild of this process owns', async () => {
    const db = await openDb({ dataDir: 'memory://' });
    dbs.push(db);
    await migrateInventory(db);
    await createShadowTables(db, shadowTables('0badc0de'));
    const mine = await claimShadowTables(db, 'a1b2c3d4');
    await createShadowTables(db, shadowTables('a1b2c3d4'));
    expect(await dropAbandonedShadowTables(db, logger)).toEqual(['0badc0de']);
    expect((await shadowTableNames(db)).filter((n) => n.startsWith('rebuild_0badc0de'))).toEqual([]);
    await mine.release();
    expect(await dropAbandonedShadowTables(db, logger)).toEqual(['a1b2c3d4']);
    expect(await shadowTableNames(db)).toEqual([]);
  });

  it('a replay killed with SIGKILL leaves tables the next rebuild drops; while it runs they are kept', { timeout: 180_000 }, async () => {
    const reference = await freshDb();
    await rebuild({ db: reference, kafka, codec, topic, consumer: 'scc-inventory', partTtlMs: 3_600_000, logger });
    const expected = await canonicalDump(reference);

    const db = await freshDb();
    const schema = (await db.query<{ s: string }>('SELECT current_schema() AS s')).rows[0]!.s;
    // A live apply in flight: the rebuild reads and writes everything, then waits at its swap for this lock.
    let endApply!: () => void;
    const applyHeld = new Promise<void>((resolve) => (endApply = resolve));
    cleanUps.push(() => endApply());
    let applying!: () => void;
    const applyStarted = new Promise<void>((resolve) => (applying = resolve));
    const apply = db.transaction(async (tx) => {
      await tx.query(`SELECT pg_advisory_xact_lock_shared(hashtext(current_schema() || ':scc-inventory'))`);
      applying();
      await applyHeld;
    });
    await applyStarted;

    // node --import tsx, not the tsx CLI: the CLI is a wrapper process, and killing it would leave the replay running.
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/replay.ts', 'scc-inventory'], {
      cwd: repoRoot,
      env: { ...process.env, KAFKA_TOPIC_PREFIX: kafkaCfg.KAFKA_TOPIC_PREFIX, DB_SCHEMA: schema, LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    children.push(child);
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    // Waiting for that lock with every record folded: its shadow tables exist and hold the rows. (A one-bigint
    // advisory key shows in pg_locks as its low 32 bits in objid, with objsubid 1.)
    const waiting = async () => {
      const r = await db.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objsubid = 1
            AND objid::bigint = (hashtext(current_schema() || ':scc-inventory')::bigint & 4294967295)`,
      );
      return Number(r.rows[0]!.n) > 0;
    };
    expect(await eventually(waiting, 90_000, 100)).toBe(true);
    const tables = await shadowTableNames(db);
    expect(tables).toHaveLength(4);
    const token = tables[0]!.split('_')[1]!;

    // Running (in another process), holding the session lock on its token (a two-int key: objsubid 2): kept.
    const lockHeld = async () => {
      const r = await db.query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND objid::bigint = $1`, [Number.parseInt(token, 16)]);
      return Number(r.rows[0]!.n) > 0;
    };
    expect(await lockHeld()).toBe(true);
    expect(await dropAbandonedShadowTables(db, logger)).toEqual([]);
    expect(await shadowTableNames(db)).toEqual(tables);

    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    // Its session lock goes with its connection, which the server closes once it sees the process gone.
    expect(await eventually(async () => !(await lockHeld()), 30_000, 100)).toBe(true);
    expect(await shadowTableNames(db)).toEqual(tables); // nobody has looked yet

    endApply();
    await apply;
    // Nothing of the killed rebuild reached the live tables. The next rebuild drops its tables, says so and
    // builds the whole inventory.
    expect(await canonicalDump(db)).not.toBe(expected);
    const result = await rebuild({ db, kafka, codec, topic, consumer: 'scc-inventory', partTtlMs: 3_600_000, logger });
    expect(lines.some((l) => l.includes(`rebuild_${token}_*`))).toBe(true);
    expect(result.records).toBe(REPORTS);
    expect(await canonicalDump(db)).toBe(expected);
    expect(await shadowTableNames(db)).toEqual([]);
  });

  it('a start of the service drops tables a killed rebuild left', { timeout: 60_000 }, async () => {
    const db = await freshDb();
    await createShadowTables(db, shadowTables('0badc0de'));
    const service = await startService(serviceConfig(kafkaCfg, { SCC_INVENTORY_GROUP_ID: `${kafkaCfg.KAFKA_TOPIC_PREFIX}leftovers` }), db);
    try {
      expect(await shadowTableNames(db)).toEqual([]);
      expect(service.logLines.some((l) => l.includes('rebuild_0badc0de_*'))).toBe(true);
    } finally {
      await service.stop();
    }
  });
});
