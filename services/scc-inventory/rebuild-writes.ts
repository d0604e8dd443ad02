// What a rebuild writes into its shadow tables, from rows its in-memory fold built (rebuild-fold.ts):
// idempotency and history rows appended a chunk at a time, the systems once at the end. One statement
// per table and chunk, with every column passed as one array and unnested in SQL: that runs on
// PostgreSQL and PGlite alike, and costs one parameter per column instead of one per value.
// The rows are those writes.ts persist() and recordProcessedMany() write for the same changes.
import type { Queryable } from '../shared/db.js';
import { HISTORY_COLUMNS, SYSTEM_COLUMNS, type Tables } from './tables.js';

/** One system_history row; before/after are the states as JSON text (jsonb in the table). */
export interface HistoryRow {
  systemId: string;
  reportId: string;
  eventId: string;
  reportType: string;
  change: string;
  before: string | null;
  after: string;
  changedAt: string;
  partition: number;
  offset: string;
}

/** One systems row: its last state, and the times and report of its first and last change. */
export interface SystemRowToWrite {
  id: string;
  tenant: string;
  subaccount: string;
  locationId: string;
  host: string;
  protocol: string | null;
  type: string | null;
  systemStatus: string | null;
  description: string | null;
  systemNumber: string | null;
  reachable: boolean;
  createdAt: string;
  updatedAt: string;
  lastReportId: string;
}

/**
 * The idempotency rows of records the rebuild processed (the fold already left duplicates out; the
 * conflict clause only makes a retried statement harmless).
 */
export async function insertProcessedRows(q: Queryable, t: Tables, consumer: string, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await q.query(
    `INSERT INTO ${t.processed} (consumer, event_id, outcome) SELECT $1, e, 'processed' FROM unnest($2::text[]) AS e
     ON CONFLICT (consumer, event_id) DO NOTHING`,
    [consumer, eventIds],
  );
}

/**
 * History rows in the order they were decided. As in persist(), a row whose (system_id, report_id) is
 * already there is left out: the caller passes each key once per call, and calls come in order.
 */
export async function insertHistoryRows(q: Queryable, t: Tables, rows: readonly HistoryRow[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO ${t.history} (${HISTORY_COLUMNS})
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::jsonb[], $7::jsonb[], $8::timestamptz[], $9::int[], $10::bigint[])
     ON CONFLICT (system_id, report_id) DO NOTHING`,
    [
      rows.map((r) => r.systemId), rows.map((r) => r.reportId), rows.map((r) => r.eventId), rows.map((r) => r.reportType),
      rows.map((r) => r.change), rows.map((r) => r.before), rows.map((r) => r.after), rows.map((r) => r.changedAt),
      rows.map((r) => r.partition), rows.map((r) => r.offset),
    ],
  );
}

/** The systems, each written once (the rebuild's shadow systems table is empty before). */
export async function insertSystemRows(q: Queryable, t: Tables, rows: readonly SystemRowToWrite[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO ${t.systems} (${SYSTEM_COLUMNS})
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                          $10::text[], $11::boolean[], $12::timestamptz[], $13::timestamptz[], $14::text[])`,
    [
      rows.map((r) => r.id), rows.map((r) => r.tenant), rows.map((r) => r.subaccount), rows.map((r) => r.locationId), rows.map((r) => r.host),
      rows.map((r) => r.protocol), rows.map((r) => r.type), rows.map((r) => r.systemStatus), rows.map((r) => r.description),
      rows.map((r) => r.systemNumber), rows.map((r) => r.reachable), rows.map((r) => r.createdAt), rows.map((r) => r.updatedAt),
      rows.map((r) => r.lastReportId),
    ],
  );
}

/** Whether any part of an incomplete report of this tenant is buffered. */
export async function tenantHasParts(q: Queryable, t: Tables, tenant: string): Promise<boolean> {
  const r = await q.query<{ found: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${t.parts} WHERE tenant = $1) AS found`, [tenant]);
  return r.rows[0]?.found === true;
}

/** Whether this event_id has an idempotency row already (the rebuild's check when its filter cannot rule it out). */
export async function isProcessed(q: Queryable, t: Tables, consumer: string, eventId: string): Promise<boolean> {
  const r = await q.query<{ found: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${t.processed} WHERE consumer = $1 AND event_id = $2) AS found`, [consumer, eventId]);
  return r.rows[0]?.found === true;
}
