// A rebuild's chunk write whose commit reached PostgreSQL but whose acknowledgement did not (PostgreSQL crashed
// in between: test/e2e/faults/rebuild-crash.test.ts met it now and then) is retried as an outage. Promised: the
// retry leaves each row once, the same rows as a rebuild whose writes all came back. Here every write is
// committed and then reported as a lost connection once, deterministically, against the real PostgreSQL.
import { afterAll, describe, expect, it } from 'vitest';
import type { Db } from '../../services/shared/db.js';
import { RebuildFold } from '../../services/scc-inventory/rebuild-fold.js';
import { createShadowTables } from '../../services/scc-inventory/rebuild-tables.js';
import { shadowTables } from '../../services/scc-inventory/tables.js';
import { captureLogger } from '../support/env.js';
import { canonicalDump, deltaReportEnvelopes, migratedInventoryDb } from './scc-helpers.js';

const T0 = Date.parse('2026-05-01T00:00:00Z');

describe('rebuild: a write committed without its acknowledgement', () => {
  const { logger } = captureLogger('rebuild-lost-ack');
  // One set for both folds: each report gets a random report_id.
  const envelopes = deltaReportEnvelopes(400, { tenants: 7, hosts: 4, t0: T0 });
  const dbs: Db[] = [];
  afterAll(async () => {
    for (const db of dbs) await db.close().catch(() => undefined);
  });

  /** Folds the envelopes into fresh shadow tables; returns their dump and the idempotency rows' counts. */
  const foldInto = async (loseFirstAck: boolean) => {
    const db = await migratedInventoryDb(dbs);
    const tables = shadowTables('10057ac4');
    await createShadowTables(db, tables);
    let lost = 0;
    const fold = new RebuildFold({
      db, tables, consumer: 'scc-inventory', partTtlMs: 3_600_000, chunkSize: 50, logger,
      withRetries: async (what, work) => {
        if (!loseFirstAck || what !== 'writing the shadow tables') return work();
        await work(); // committed…
        lost++;
        return work(); // …but reported as a lost connection, so done again
      },
    });
    envelopes.forEach((e, i) => fold.apply(e, { partition: 0, offset: String(i) }));
    await fold.finish();
    const counts = await db.query<{ rows: string; ids: string }>(`SELECT count(*) AS rows, count(DISTINCT event_id) AS ids FROM ${tables.processed}`);
    return { dump: await canonicalDump(db, tables), rows: Number(counts.rows[0]!.rows), ids: Number(counts.rows[0]!.ids), lost };
  };

  it('leaves every idempotency, history and system row once, as a rebuild whose writes came back', { timeout: 60_000 }, async () => {
    const reference = await foldInto(false);
    const retried = await foldInto(true);
    expect(retried.lost).toBeGreaterThan(8); // every chunk (400 records / 50) and the systems
    expect(reference.rows).toBe(400);
    expect(retried.rows).toBe(400);
    expect(retried.ids).toBe(400);
    expect(retried.dump).toBe(reference.dump);
  });
});
