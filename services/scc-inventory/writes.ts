// What the projector reads and writes: the advisory locks, the idempotency rows, the buffered parts of
// split reports (in a rebuild's shadow tables too), the systems the fold starts from, and persist() — the
// one write of the changes the fold decided (a rebuild writes the same rows through rebuild-writes.ts).
import type { Queryable } from '../shared/db.js';
import { systemId, systemKeyString, type Change, type Inventory, type ReportType } from './fold.js';
import { FOLD_COLUMNS, HISTORY_COLUMNS, PART_COLUMNS, SYSTEM_COLUMNS, stateOf, type SystemRow, type Tables } from './tables.js';

// Advisory locks. Every live apply holds the service-wide key in shared mode and its tenants' keys
// exclusively; a rebuild's swap holds the service-wide key exclusively, so it waits for applies in
// flight and holds new ones back until the swapped tables are committed. The keys include the
// schema so that two inventories in one database never wait on each other.
export async function lockForApply(q: Queryable, tenant: string): Promise<void> {
  await q.query(
    `SELECT pg_advisory_xact_lock_shared(hashtext(current_schema() || ':scc-inventory')),
            pg_advisory_xact_lock(hashtext(current_schema() || ':scc-inventory:tenant:' || $1::text))`,
    [tenant],
  );
}

export async function lockAllApplies(q: Queryable): Promise<void> {
  await q.query(`SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':scc-inventory'))`);
}

/** Of these event_ids (in order), the ones not recorded before: recorded now, in one statement. */
export async function recordProcessedMany(q: Queryable, t: Tables, consumer: string, eventIds: string[], outcome: string): Promise<Set<string>> {
  if (eventIds.length === 0) return new Set();
  const r = await q.query<{ event_id: string }>(
    `INSERT INTO ${t.processed} (consumer, event_id, outcome) SELECT $1, e, $3 FROM unnest($2::text[]) AS e
     ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id`,
    [consumer, eventIds, outcome],
  );
  return new Set(r.rows.map((row) => row.event_id));
}

export interface StoredPart {
  reportId: string;
  part: number;
  parts: number;
  tenant: string;
  reportType: ReportType;
  eventId: string;
  receivedAt: Date;
  payload: Buffer;
}

export async function insertPart(q: Queryable, t: Tables, p: StoredPart): Promise<void> {
  await q.query(
    `INSERT INTO ${t.parts} (${PART_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (report_id, part) DO NOTHING`,
    [p.reportId, p.part, p.parts, p.tenant, p.reportType, p.eventId, p.receivedAt, p.payload],
  );
}

export async function countParts(q: Queryable, t: Tables, reportId: string): Promise<number> {
  const r = await q.query<{ n: string | number }>(`SELECT count(*) AS n FROM ${t.parts} WHERE report_id = $1`, [reportId]);
  return Number(r.rows[0]?.n ?? 0);
}

/** The payloads of a report's parts in part order. */
export async function loadPartPayloads(q: Queryable, t: Tables, reportId: string): Promise<Buffer[]> {
  const r = await q.query<{ payload: Uint8Array }>(`SELECT payload FROM ${t.parts} WHERE report_id = $1 ORDER BY part`, [reportId]);
  return r.rows.map((row) => Buffer.from(row.payload));
}

export async function deleteParts(q: Queryable, t: Tables, reportId: string): Promise<void> {
  await q.query(`DELETE FROM ${t.parts} WHERE report_id = $1`, [reportId]);
}

/** Of these tenants, the ones with buffered parts of incomplete reports (the only tenants dropStaleParts can change). */
export async function tenantsWithParts(q: Queryable, t: Tables, tenants: readonly string[]): Promise<Set<string>> {
  const r = await q.query<{ tenant: string }>(`SELECT DISTINCT tenant FROM ${t.parts} WHERE tenant = ANY($1::text[])`, [tenants]);
  return new Set(r.rows.map((row) => row.tenant));
}

/**
 * Drops a tenant's incomplete reports whose newest part was received before `before`; returns how many
 * reports were dropped. Measured in the records' own time, so a rebuild drops exactly what live did.
 */
export async function dropStaleParts(q: Queryable, t: Tables, tenant: string, before: Date): Promise<number> {
  const r = await q.query<{ report_id: string }>(
    `DELETE FROM ${t.parts} WHERE report_id IN (
       SELECT report_id FROM ${t.parts} WHERE tenant = $1 GROUP BY report_id HAVING max(received_at) < $2)
     RETURNING report_id`,
    [tenant, before],
  );
  return new Set(r.rows.map((row) => row.report_id)).size;
}

/**
 * The fold's starting state for several tenants in one query: each tenant's systems as an Inventory
 * (keyed by systemKeyString, as evolve() keys them). A tenant without systems gets an empty one.
 */
export async function loadInventories(q: Queryable, t: Tables, tenants: readonly string[]): Promise<Map<string, Inventory>> {
  const out = new Map<string, Inventory>(tenants.map((tenant) => [tenant, new Map()]));
  if (tenants.length === 0) return out;
  const r = await q.query<SystemRow>(`SELECT ${FOLD_COLUMNS} FROM ${t.systems} WHERE tenant = ANY($1::text[])`, [tenants]);
  for (const row of r.rows) {
    const state = stateOf(row);
    out.get(row.tenant)?.set(systemKeyString(state), state);
  }
  return out;
}

/** Where a change comes from: the report, and the record that completed it. */
export interface ChangeContext {
  reportId: string;
  reportType: ReportType;
  /** The record that completed the report. */
  eventId: string;
  receivedAt: Date;
  partition: number;
  offset: string;
}

/** One change the fold decided, with the report it came from. */
export interface ChangeWrite {
  change: Change;
  ctx: ChangeContext;
}

/**
 * Writes the difference: the changes of one or more reports, in the order they were decided, in two
 * statements. Each system's row gets its last state, the time and report of its last change, and — when
 * the row is new — the time of its first change as created_at (an existing row keeps its created_at);
 * every change is one history row. So writing the changes of many reports at once equals writing them
 * report by report.
 */
export async function persist(q: Queryable, t: Tables, writes: readonly ChangeWrite[]): Promise<void> {
  if (writes.length === 0) return;
  const systems = new Map<string, Record<string, unknown>>();
  const history: Array<Record<string, unknown>> = [];
  for (const { change: c, ctx } of writes) {
    const id = systemId(c.key);
    const at = ctx.receivedAt.toISOString();
    const a = c.after;
    const row = systems.get(id);
    const current = {
      protocol: a.protocol, type: a.type, system_status: a.systemStatus, description: a.description, system_number: a.systemNumber,
      reachable: a.reachable, updated_at: at, last_report_id: ctx.reportId,
    };
    if (row) Object.assign(row, current);
    else systems.set(id, { id, tenant: a.tenant, subaccount: a.subaccount, location_id: a.locationId, host: a.host, created_at: at, ...current });
    history.push({
      system_id: id, report_id: ctx.reportId, event_id: ctx.eventId, report_type: ctx.reportType, change: c.kind,
      before: c.before, after: c.after, changed_at: at, source_partition: ctx.partition, source_offset: ctx.offset,
    });
  }
  await q.query(
    `INSERT INTO ${t.systems} (${SYSTEM_COLUMNS})
     SELECT x.id, x.tenant, x.subaccount, x.location_id, x.host, x.protocol, x.type, x.system_status, x.description,
            x.system_number, x.reachable, x.created_at, x.updated_at, x.last_report_id
     FROM jsonb_to_recordset($1::jsonb) AS x(id text, tenant text, subaccount text, location_id text, host text, protocol text,
          type text, system_status text, description text, system_number text, reachable boolean, created_at timestamptz,
          updated_at timestamptz, last_report_id text)
     ON CONFLICT (id) DO UPDATE SET protocol = EXCLUDED.protocol, type = EXCLUDED.type, system_status = EXCLUDED.system_status,
          description = EXCLUDED.description, system_number = EXCLUDED.system_number, reachable = EXCLUDED.reachable,
          updated_at = EXCLUDED.updated_at, last_report_id = EXCLUDED.last_report_id`,
    [JSON.stringify([...systems.values()])],
  );
  await q.query(
    `INSERT INTO ${t.history} (${HISTORY_COLUMNS})
     SELECT x.system_id, x.report_id, x.event_id, x.report_type, x.change, x.before, x.after, x.changed_at, x.source_partition, x.source_offset
     FROM jsonb_to_recordset($1::jsonb) AS x(system_id text, report_id text, event_id text, report_type text, change text,
          before jsonb, after jsonb, changed_at timestamptz, source_partition int, source_offset bigint)
     ON CONFLICT (system_id, report_id) DO NOTHING`,
    [JSON.stringify(history)],
  );
}
