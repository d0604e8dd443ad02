// The sheet exporter's memory of what it wrote: pending batches (appends in flight, or interrupted)
// and the exported event ids, which live in the shared idempotency table processed_events.
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate, type Db } from '../shared/db.js';
import { migrateShared } from '../shared/idempotency.js';

export const CONSUMER = 'sheet-export';
const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface PendingBatch {
  batchId: string;
  eventIds: string[];
}

export interface Ledger {
  /** Of the given ids, those already in the sheet. */
  exported(eventIds: string[]): Promise<Set<string>>;
  /** Commits a pending batch before its append is attempted; returns its id. */
  beginBatch(tab: string, eventIds: string[]): Promise<string>;
  /** After a successful append: the batch's ids become exported and the batch stops being pending, atomically. */
  completeBatch(tab: string, batchId: string): Promise<void>;
  pending(tab: string): Promise<PendingBatch[]>;
  /** Reconciliation result: `present` ids of these batches are exported, the rest will be appended again. */
  resolve(tab: string, batchIds: string[], present: string[]): Promise<void>;
  /** Tabs that have pending batches. */
  tabsWithPending(): Promise<string[]>;
  /**
   * Runs fn holding a per-tab lock across instances (PostgreSQL advisory lock), so that one instance
   * never reconciles another's batch while that append is still in flight. PGlite is single-process.
   */
  withTabLock<T>(tab: string, fn: () => Promise<T>): Promise<T>;
}

export async function openLedger(db: Db): Promise<Ledger> {
  await migrateShared(db);
  await migrate(db, migrationsDir, CONSUMER);

  return {
    async exported(eventIds) {
      if (eventIds.length === 0) return new Set();
      const r = await db.query<{ event_id: string }>(
        'SELECT event_id FROM processed_events WHERE consumer = $1 AND event_id = ANY($2::text[])',
        [CONSUMER, eventIds],
      );
      return new Set(r.rows.map((row) => row.event_id));
    },
    async beginBatch(tab, eventIds) {
      const batchId = randomUUID();
      await db.transaction(async (tx) => {
        await tx.query('INSERT INTO sheet_pending_batches (batch_id, tab) VALUES ($1, $2)', [batchId, tab]);
        await tx.query('INSERT INTO sheet_pending_rows (batch_id, event_id) SELECT $1, unnest($2::text[])', [batchId, eventIds]);
      });
      return batchId;
    },
    async completeBatch(tab, batchId) {
      await db.transaction(async (tx) => {
        await tx.query(
          `INSERT INTO processed_events (consumer, event_id, outcome)
           SELECT $1, event_id, $2 FROM sheet_pending_rows WHERE batch_id = $3
           ON CONFLICT (consumer, event_id) DO NOTHING`,
          [CONSUMER, `exported:${tab}`, batchId],
        );
        await tx.query('DELETE FROM sheet_pending_batches WHERE batch_id = $1', [batchId]);
      });
    },
    async pending(tab) {
      const r = await db.query<{ batch_id: string; event_id: string }>(
        `SELECT b.batch_id, r.event_id FROM sheet_pending_batches b JOIN sheet_pending_rows r USING (batch_id)
         WHERE b.tab = $1 ORDER BY b.created_at, b.batch_id`,
        [tab],
      );
      const byBatch = new Map<string, string[]>();
      for (const row of r.rows) {
        const list = byBatch.get(row.batch_id);
        if (list) list.push(row.event_id);
        else byBatch.set(row.batch_id, [row.event_id]);
      }
      return [...byBatch].map(([batchId, eventIds]) => ({ batchId, eventIds }));
    },
    async resolve(tab, batchIds, present) {
      await db.transaction(async (tx) => {
        if (present.length > 0) {
          await tx.query(
            `INSERT INTO processed_events (consumer, event_id, outcome) SELECT $1, unnest($2::text[]), $3
             ON CONFLICT (consumer, event_id) DO NOTHING`,
            [CONSUMER, present, `exported:${tab}`],
          );
        }
        await tx.query('DELETE FROM sheet_pending_batches WHERE batch_id = ANY($1::text[])', [batchIds]);
      });
    },
    async tabsWithPending() {
      const r = await db.query<{ tab: string }>('SELECT DISTINCT tab FROM sheet_pending_batches');
      return r.rows.map((row) => row.tab);
    },
    async withTabLock(tab, fn) {
      if (db.kind === 'pglite') return fn();
      // The lock lives as long as this transaction's connection; a crashed holder's lock goes with it.
      return db.transaction(async (tx) => {
        await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sheet-export:${tab}`]);
        return fn();
      });
    },
  };
}
