// What a rebuild writes into its shadow tables, from rows its in-memory fold built (rebuild-fold.ts):
// idempotency and history rows appended a chunk at a time, the systems once at the end. On PostgreSQL
// each chunk is one COPY per table (the cheapest way in for rows nobody else writes). PGlite does not
// take COPY FROM STDIN, so there each chunk is one INSERT per table with every column passed as one
// array and unnested in SQL. The rows are those writes.ts persist() and recordProcessedMany() write for
// the same changes.
import type { Db, Queryable } from '../shared/db.js';
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

/** The idempotency rows of records the rebuild processed (the fold already left duplicates out). */
export async function insertProcessedRows(q: Queryable, t: Tables, consumer: string, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  await q.query(`INSERT INTO ${t.processed} (consumer, event_id, outcome) SELECT $1, e, 'processed' FROM unnest($2::text[]) AS e`, [consumer, eventIds]);
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

/**
 * The idempotency rows of a chunk: event_ids the fold knows are not written yet (a retry first removes what
 * an earlier attempt wrote: removeChunkRows).
 */
export async function writeProcessedRows(db: Db, t: Tables, consumer: string, eventIds: readonly string[]): Promise<void> {
  if (eventIds.length === 0) return;
  if (!db.copyFrom) return insertProcessedRows(db, t, consumer, eventIds);
  const c = copyValue(consumer);
  const data = new CopyData();
  for (const id of eventIds) data.addRow(`${c}\t${copyValue(id)}\tprocessed\n`);
  await db.copyFrom(`COPY ${t.processed} (consumer, event_id, outcome) FROM STDIN`, data.bytes());
}

/**
 * The history rows of a chunk, each (system_id, report_id) once. `fresh` rows belong to reports whose
 * report_id no earlier chunk wrote (COPY on PostgreSQL); `maybeSeen` rows go through the conflict
 * clause, so that the first row of a (system, report) stays, as in persist().
 */
export async function writeHistoryRows(db: Db, t: Tables, fresh: readonly HistoryRow[], maybeSeen: readonly HistoryRow[]): Promise<void> {
  if (!db.copyFrom) return insertHistoryRows(db, t, [...fresh, ...maybeSeen]);
  if (fresh.length > 0) {
    const data = new CopyData();
    for (const r of fresh) {
      // Escaped only where the text can need it: the report and event ids come from the sender; the
      // system id (hex), report type and change (known words), time and position (digits) never do.
      data.addRow(`${r.systemId}\t${copyValue(r.reportId)}\t${copyValue(r.eventId)}\t${r.reportType}\t${r.change}\t` +
        `${copyJson(r.before)}\t${copyJson(r.after)}\t${r.changedAt}\t${r.partition}\t${r.offset}\n`);
    }
    await db.copyFrom(`COPY ${t.history} (${HISTORY_COLUMNS}) FROM STDIN`, data.bytes());
  }
  await insertHistoryRows(db, t, maybeSeen);
}

/**
 * Removes what an earlier attempt at a chunk may have written, before the chunk is written again: PostgreSQL can
 * commit a write whose acknowledgement never arrives (it crashed in between), and the rows written again would
 * then be there twice (the idempotency rows have no key, the copy into the live table failed on its key) or
 * refused (the history's and the systems' keys). `fresh` history rows and the systems are those no earlier chunk
 * wrote, and each event_id is in one chunk only, so nothing of another chunk goes. The `maybeSeen` history rows
 * are written with ON CONFLICT DO NOTHING and need no removal.
 */
export async function removeChunkRows(
  q: Queryable, t: Tables, chunk: { consumer: string; eventIds: readonly string[]; fresh?: readonly HistoryRow[]; systemIds?: readonly string[] },
): Promise<void> {
  if (chunk.eventIds.length > 0) await q.query(`DELETE FROM ${t.processed} WHERE consumer = $1 AND event_id = ANY($2::text[])`, [chunk.consumer, chunk.eventIds]);
  if (chunk.fresh && chunk.fresh.length > 0) {
    await q.query(
      `DELETE FROM ${t.history} h USING unnest($1::text[], $2::text[]) AS k(system_id, report_id) WHERE h.system_id = k.system_id AND h.report_id = k.report_id`,
      [chunk.fresh.map((r) => r.systemId), chunk.fresh.map((r) => r.reportId)],
    );
  }
  if (chunk.systemIds && chunk.systemIds.length > 0) await q.query(`DELETE FROM ${t.systems} WHERE id = ANY($1::text[])`, [chunk.systemIds]);
}

/** The systems, each once, into the (empty) shadow systems table. */
export async function writeSystemRows(db: Db, t: Tables, rows: readonly SystemRowToWrite[]): Promise<void> {
  if (rows.length === 0) return;
  if (!db.copyFrom) return insertSystemRows(db, t, rows);
  const data = new CopyData();
  for (const r of rows) {
    data.addRow(`${copyValue(r.id)}\t${copyValue(r.tenant)}\t${copyValue(r.subaccount)}\t${copyValue(r.locationId)}\t${copyValue(r.host)}\t` +
      `${copyValue(r.protocol)}\t${copyValue(r.type)}\t${copyValue(r.systemStatus)}\t${copyValue(r.description)}\t${copyValue(r.systemNumber)}\t` +
      `${r.reachable ? 't' : 'f'}\t${r.createdAt}\t${r.updatedAt}\t${copyValue(r.lastReportId)}\n`);
  }
  await db.copyFrom(`COPY ${t.systems} (${SYSTEM_COLUMNS}) FROM STDIN`, data.bytes());
}

/**
 * A chunk's COPY text, each row encoded into one growing buffer as it is added. A string grown with += is
 * a rope of thousands of pieces that the socket write first had to flatten and then encode: ~7 % of the
 * rebuild's profile, and about three times the time of writing the rows this way (a 5,000-row history chunk).
 */
export class CopyData {
  private buf = Buffer.allocUnsafe(256 * 1024);
  private length = 0;

  addRow(row: string): void {
    // A UTF-16 code unit takes at most 3 bytes in UTF-8.
    if (this.length + row.length * 3 > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.length + row.length * 3));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    this.length += this.buf.write(row, this.length, 'utf8');
  }

  /** The rows so far, as a view of the buffer (valid until the next addRow). */
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

const COPY_SPECIAL = /[\\\n\r\t]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * JSON text (JSON.stringify's) in COPY's text format: JSON writes every control character as an escape,
 * so a backslash is the only character COPY needs escaped.
 */
export function copyJson(v: string | null): string {
  if (v === null) return '\\N';
  return v.includes('\\') ? v.replaceAll('\\', '\\\\') : v;
}

/** A value in COPY's text format: NULL as \N; backslash, newline, carriage return and tab escaped. */
export function copyValue(v: string | null): string {
  if (v === null) return '\\N';
  return COPY_SPECIAL.test(v) ? v.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c]!) : v;
}
