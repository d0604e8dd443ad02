// Every SQL statement of the SCC inventory. The same functions write the live tables and the shadow
// tables of a rebuild (a `Tables` set names which), and read the live inventory or a named snapshot.
import type { Db, Queryable } from '../shared/db.js';
import type { Change, ReportType, SystemState } from './fold.js';
import { systemId } from './fold.js';

/** The tables one projection lives in: the live ones, or a rebuild's shadow copies. */
export interface Tables {
  systems: string;
  history: string;
  parts: string;
  processed: string;
}

export const LIVE_TABLES: Tables = { systems: 'systems', history: 'system_history', parts: 'report_parts', processed: 'processed_events' };

export function shadowTables(token: string): Tables {
  if (!/^[a-z0-9_]{1,30}$/.test(token)) throw new Error(`invalid shadow token: ${token}`);
  const p = `rebuild_${token}_`;
  return { systems: `${p}systems`, history: `${p}history`, parts: `${p}parts`, processed: `${p}processed` };
}

const SYSTEM_COLUMNS = 'id, tenant, subaccount, location_id, host, protocol, type, system_status, description, system_number, reachable, created_at, updated_at, last_report_id';
const HISTORY_COLUMNS = 'system_id, report_id, event_id, report_type, change, before, after, changed_at, source_partition, source_offset';
const PART_COLUMNS = 'report_id, part, parts, tenant, report_type, event_id, received_at, payload';

export async function createShadowTables(db: Db, t: Tables): Promise<void> {
  await db.exec(`
    CREATE TABLE ${t.systems} (LIKE ${LIVE_TABLES.systems} INCLUDING ALL);
    CREATE TABLE ${t.history} (LIKE ${LIVE_TABLES.history} INCLUDING ALL);
    CREATE TABLE ${t.parts} (LIKE ${LIVE_TABLES.parts} INCLUDING ALL);
    CREATE TABLE ${t.processed} (LIKE ${LIVE_TABLES.processed} INCLUDING ALL);`);
}

export async function dropShadowTables(db: Db, t: Tables): Promise<void> {
  await db.exec(`DROP TABLE IF EXISTS ${t.systems}, ${t.history}, ${t.parts}, ${t.processed}`);
}

// Advisory locks. Every live apply holds the service-wide key in shared mode and its tenant's key
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

/** false when the event was already recorded: a duplicate delivery. */
export async function recordProcessed(q: Queryable, t: Tables, consumer: string, eventId: string, outcome: string): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO ${t.processed} (consumer, event_id, outcome) VALUES ($1, $2, $3) ON CONFLICT (consumer, event_id) DO NOTHING RETURNING 1`,
    [consumer, eventId, outcome],
  );
  return r.rows.length > 0;
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

interface SystemRow {
  id: string;
  tenant: string;
  subaccount: string;
  location_id: string;
  host: string;
  protocol: string | null;
  type: string | null;
  system_status: string | null;
  description: string | null;
  system_number: string | null;
  reachable: boolean;
  created_at: Date | string;
  updated_at: Date | string;
  last_report_id: string;
}

export async function loadTenantSystems(q: Queryable, t: Tables, tenant: string): Promise<SystemState[]> {
  const r = await q.query<SystemRow>(`SELECT ${FOLD_COLUMNS} FROM ${t.systems} WHERE tenant = $1`, [tenant]);
  return r.rows.map(stateOf);
}

/**
 * The current systems of several tenants in one query, per tenant and keyed by their stored id:
 * the rebuild reads every tenant of a chunk at once instead of one round trip per tenant.
 */
export async function loadSystemsOfTenants(q: Queryable, t: Tables, tenants: readonly string[]): Promise<Map<string, Map<string, SystemState>>> {
  const out = new Map<string, Map<string, SystemState>>(tenants.map((tenant) => [tenant, new Map()]));
  if (tenants.length === 0) return out;
  const r = await q.query<SystemRow>(`SELECT ${FOLD_COLUMNS} FROM ${t.systems} WHERE tenant = ANY($1::text[])`, [tenants]);
  for (const row of r.rows) out.get(row.tenant)?.set(row.id, stateOf(row));
  return out;
}

/** What the fold needs of a system row (no timestamps: parsing them is most of reading a row). */
const FOLD_COLUMNS = 'id, tenant, subaccount, location_id, host, protocol, type, system_status, description, system_number, reachable';

function stateOf(row: Pick<SystemRow, 'tenant' | 'subaccount' | 'location_id' | 'host' | 'protocol' | 'type' | 'system_status' | 'description' | 'system_number' | 'reachable'>): SystemState {
  return {
    tenant: row.tenant,
    subaccount: row.subaccount,
    locationId: row.location_id,
    host: row.host,
    protocol: row.protocol,
    type: row.type,
    systemStatus: row.system_status,
    description: row.description,
    systemNumber: row.system_number,
    reachable: row.reachable,
  };
}

export interface ChangeContext {
  reportId: string;
  reportType: ReportType;
  /** The record that completed the report. */
  eventId: string;
  receivedAt: Date;
  partition: number;
  offset: string;
}

/** Writes the current state of every changed system and one history row per change, in two statements. */
export async function applyChanges(q: Queryable, t: Tables, changes: Change[], ctx: ChangeContext): Promise<void> {
  if (changes.length === 0) return;
  const at = ctx.receivedAt.toISOString();
  const systems = changes.map((c) => ({
    id: systemId(c.key),
    tenant: c.after.tenant,
    subaccount: c.after.subaccount,
    location_id: c.after.locationId,
    host: c.after.host,
    protocol: c.after.protocol,
    type: c.after.type,
    system_status: c.after.systemStatus,
    description: c.after.description,
    system_number: c.after.systemNumber,
    reachable: c.after.reachable,
  }));
  await q.query(
    `INSERT INTO ${t.systems} (${SYSTEM_COLUMNS})
     SELECT x.id, x.tenant, x.subaccount, x.location_id, x.host, x.protocol, x.type, x.system_status, x.description,
            x.system_number, x.reachable, $2::timestamptz, $2::timestamptz, $3
     FROM jsonb_to_recordset($1::jsonb) AS x(id text, tenant text, subaccount text, location_id text, host text, protocol text,
          type text, system_status text, description text, system_number text, reachable boolean)
     ON CONFLICT (id) DO UPDATE SET protocol = EXCLUDED.protocol, type = EXCLUDED.type, system_status = EXCLUDED.system_status,
          description = EXCLUDED.description, system_number = EXCLUDED.system_number, reachable = EXCLUDED.reachable,
          updated_at = EXCLUDED.updated_at, last_report_id = EXCLUDED.last_report_id`,
    [JSON.stringify(systems), at, ctx.reportId],
  );
  const history = changes.map((c) => ({ system_id: systemId(c.key), change: c.kind, before: c.before, after: c.after }));
  await q.query(
    `INSERT INTO ${t.history} (${HISTORY_COLUMNS})
     SELECT x.system_id, $2, $3, $4, x.change, x.before, x.after, $5::timestamptz, $6, $7
     FROM jsonb_to_recordset($1::jsonb) AS x(system_id text, change text, before jsonb, after jsonb)
     ON CONFLICT (system_id, report_id) DO NOTHING`,
    [JSON.stringify(history), ctx.reportId, ctx.eventId, ctx.reportType, at, ctx.partition, ctx.offset],
  );
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

/** Tenants with buffered parts of incomplete reports (the only tenants dropStaleParts can change). */
export async function tenantsWithParts(q: Queryable, t: Tables): Promise<Set<string>> {
  const r = await q.query<{ tenant: string }>(`SELECT DISTINCT tenant FROM ${t.parts}`);
  return new Set(r.rows.map((row) => row.tenant));
}

/** One system's net effect of several consecutive changes: its last state, first and last change time. */
export interface SystemWrite {
  after: SystemState;
  firstAt: Date;
  lastAt: Date;
  lastReportId: string;
}

export interface HistoryWrite {
  change: Change;
  ctx: ChangeContext;
}

/**
 * The writes of many reports in two statements. Equal to applyChanges per report in order: each upsert
 * sets every mutable column, so only a system's last state, last time and last report survive, and
 * created_at is the first change's time when the row is new (kept when it exists).
 */
export async function applyManyChanges(q: Queryable, t: Tables, systems: Map<string, SystemWrite>, history: HistoryWrite[]): Promise<void> {
  if (systems.size > 0) {
    const rows = [...systems].map(([id, w]) => ({
      id, tenant: w.after.tenant, subaccount: w.after.subaccount, location_id: w.after.locationId, host: w.after.host,
      protocol: w.after.protocol, type: w.after.type, system_status: w.after.systemStatus, description: w.after.description,
      system_number: w.after.systemNumber, reachable: w.after.reachable, created_at: w.firstAt.toISOString(),
      updated_at: w.lastAt.toISOString(), last_report_id: w.lastReportId,
    }));
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
      [JSON.stringify(rows)],
    );
  }
  if (history.length > 0) {
    const rows = history.map(({ change: c, ctx }) => ({
      system_id: systemId(c.key), report_id: ctx.reportId, event_id: ctx.eventId, report_type: ctx.reportType, change: c.kind,
      before: c.before, after: c.after, changed_at: ctx.receivedAt.toISOString(), source_partition: ctx.partition, source_offset: ctx.offset,
    }));
    await q.query(
      `INSERT INTO ${t.history} (${HISTORY_COLUMNS})
       SELECT x.system_id, x.report_id, x.event_id, x.report_type, x.change, x.before, x.after, x.changed_at, x.source_partition, x.source_offset
       FROM jsonb_to_recordset($1::jsonb) AS x(system_id text, report_id text, event_id text, report_type text, change text,
            before jsonb, after jsonb, changed_at timestamptz, source_partition int, source_offset bigint)
       ON CONFLICT (system_id, report_id) DO NOTHING`,
      [JSON.stringify(rows)],
    );
  }
}

/** Replaces the live projection and this consumer's idempotency rows by a rebuild's, in the caller's transaction. */
export async function copyShadowIntoLive(q: Queryable, shadow: Tables, consumer: string): Promise<void> {
  const live = LIVE_TABLES;
  // DELETE rather than TRUNCATE: readers keep their MVCC snapshot of the old rows and are never blocked.
  await q.query(`DELETE FROM ${live.systems}`);
  await q.query(`INSERT INTO ${live.systems} (${SYSTEM_COLUMNS}) SELECT ${SYSTEM_COLUMNS} FROM ${shadow.systems}`);
  await q.query(`DELETE FROM ${live.history}`);
  await q.query(`INSERT INTO ${live.history} (${HISTORY_COLUMNS}) SELECT ${HISTORY_COLUMNS} FROM ${shadow.history}`);
  await q.query(`DELETE FROM ${live.parts}`);
  await q.query(`INSERT INTO ${live.parts} (${PART_COLUMNS}) SELECT ${PART_COLUMNS} FROM ${shadow.parts}`);
  await q.query(`DELETE FROM ${live.processed} WHERE consumer = $1`, [consumer]);
  await q.query(
    `INSERT INTO ${live.processed} (consumer, event_id, outcome, processed_at)
     SELECT consumer, event_id, outcome, processed_at FROM ${shadow.processed} WHERE consumer = $1`,
    [consumer],
  );
}

/** Stores a rebuild's systems and history as the named snapshot (replacing one of the same name). */
export async function saveSnapshot(q: Queryable, shadow: Tables, name: string, asOf: Date, records: number): Promise<void> {
  await q.query('DELETE FROM snapshots WHERE name = $1', [name]);
  await q.query('INSERT INTO snapshots (name, as_of, records) VALUES ($1, $2, $3)', [name, asOf, records]);
  await q.query(`INSERT INTO snapshot_systems (snapshot, ${SYSTEM_COLUMNS}) SELECT $1, ${SYSTEM_COLUMNS} FROM ${shadow.systems}`, [name]);
  await q.query(`INSERT INTO snapshot_system_history (snapshot, ${HISTORY_COLUMNS}) SELECT $1, ${HISTORY_COLUMNS} FROM ${shadow.history}`, [name]);
}

// ---------------------------------------------------------------------------------------------
// Reads (the query API). A source is the live inventory or one named snapshot.

export type Source = { kind: 'live' } | { kind: 'snapshot'; name: string };

function sourceTables(source: Source, params: unknown[]): { systems: string; history: string; where: string[] } {
  if (source.kind === 'live') return { systems: 'systems', history: 'system_history', where: [] };
  params.push(source.name);
  return { systems: 'snapshot_systems', history: 'snapshot_system_history', where: [`snapshot = $${params.length}`] };
}

export interface SystemView {
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
  status: 'reachable' | 'unreachable';
  createdAt: string;
  updatedAt: string;
  lastReportId: string;
}

export interface HistoryView {
  change: string;
  reportId: string;
  reportType: string;
  eventId: string;
  changedAt: string;
  before: unknown;
  after: unknown;
}

export interface SystemFilters {
  tenant?: string | undefined;
  subaccount?: string | undefined;
  locationId?: string | undefined;
  status?: 'reachable' | 'unreachable' | undefined;
}

/** Systems ordered by id; `after` is the last id of the previous page (keyset pagination). */
export async function listSystems(q: Queryable, source: Source, f: SystemFilters, limit: number, after?: string): Promise<SystemView[]> {
  const params: unknown[] = [];
  const src = sourceTables(source, params);
  const where = [...src.where];
  const add = (sql: string, value: unknown) => {
    params.push(value);
    where.push(sql.replace('?', `$${params.length}`));
  };
  if (f.tenant !== undefined) add('tenant = ?', f.tenant);
  if (f.subaccount !== undefined) add('subaccount = ?', f.subaccount);
  if (f.locationId !== undefined) add('location_id = ?', f.locationId);
  if (f.status !== undefined) add('reachable = ?', f.status === 'reachable');
  if (after !== undefined) add('id > ?', after);
  params.push(limit);
  const r = await q.query<SystemRow>(
    `SELECT ${SYSTEM_COLUMNS} FROM ${src.systems} ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id LIMIT $${params.length}`,
    params,
  );
  return r.rows.map(toView);
}

export async function getSystem(q: Queryable, source: Source, id: string): Promise<(SystemView & { history: HistoryView[] }) | null> {
  const params: unknown[] = [];
  const src = sourceTables(source, params);
  params.push(id);
  const where = [...src.where, `id = $${params.length}`].join(' AND ');
  const r = await q.query<SystemRow>(`SELECT ${SYSTEM_COLUMNS} FROM ${src.systems} WHERE ${where}`, params);
  const row = r.rows[0];
  if (!row) return null;
  const hwhere = [...src.where, `system_id = $${params.length}`].join(' AND ');
  const h = await q.query<{ change: string; report_id: string; report_type: string; event_id: string; changed_at: Date | string; before: unknown; after: unknown }>(
    `SELECT change, report_id, report_type, event_id, changed_at, before, after FROM ${src.history} WHERE ${hwhere}
     ORDER BY changed_at, source_partition, source_offset`,
    params,
  );
  return {
    ...toView(row),
    history: h.rows.map((x) => ({
      change: x.change,
      reportId: x.report_id,
      reportType: x.report_type,
      eventId: x.event_id,
      changedAt: iso(x.changed_at),
      before: parseJson(x.before),
      after: parseJson(x.after),
    })),
  };
}

export interface SccSummary {
  tenant: string;
  subaccount: string;
  locationId: string;
  reachable: number;
  unreachable: number;
  lastUpdatedAt: string;
}

export async function sccSummaries(q: Queryable, source: Source, tenant?: string): Promise<SccSummary[]> {
  const params: unknown[] = [];
  const src = sourceTables(source, params);
  const where = [...src.where];
  if (tenant !== undefined) {
    params.push(tenant);
    where.push(`tenant = $${params.length}`);
  }
  const r = await q.query<{ tenant: string; subaccount: string; location_id: string; reachable: string | number; unreachable: string | number; last: Date | string }>(
    `SELECT tenant, subaccount, location_id,
            count(*) FILTER (WHERE reachable) AS reachable, count(*) FILTER (WHERE NOT reachable) AS unreachable,
            max(updated_at) AS last
     FROM ${src.systems} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
     GROUP BY tenant, subaccount, location_id ORDER BY tenant, subaccount, location_id`,
    params,
  );
  return r.rows.map((x) => ({
    tenant: x.tenant,
    subaccount: x.subaccount,
    locationId: x.location_id,
    reachable: Number(x.reachable),
    unreachable: Number(x.unreachable),
    lastUpdatedAt: iso(x.last),
  }));
}

export async function listSnapshots(q: Queryable): Promise<Array<{ name: string; asOf: string; builtAt: string; records: number }>> {
  const r = await q.query<{ name: string; as_of: Date | string; built_at: Date | string; records: string | number }>(
    'SELECT name, as_of, built_at, records FROM snapshots ORDER BY name',
  );
  return r.rows.map((x) => ({ name: x.name, asOf: iso(x.as_of), builtAt: iso(x.built_at), records: Number(x.records) }));
}

export async function snapshotExists(q: Queryable, name: string): Promise<boolean> {
  return (await q.query('SELECT 1 FROM snapshots WHERE name = $1', [name])).rows.length > 0;
}

export async function countByReachability(q: Queryable): Promise<{ reachable: number; unreachable: number }> {
  const r = await q.query<{ reachable: string | number; unreachable: string | number }>(
    'SELECT count(*) FILTER (WHERE reachable) AS reachable, count(*) FILTER (WHERE NOT reachable) AS unreachable FROM systems',
  );
  return { reachable: Number(r.rows[0]?.reachable ?? 0), unreachable: Number(r.rows[0]?.unreachable ?? 0) };
}

/**
 * A canonical, order-independent text dump of a projection (systems and history), for comparing a
 * rebuild with the live inventory. Equal dumps mean equal projections.
 */
export async function canonicalDump(q: Queryable, t: Tables = LIVE_TABLES): Promise<string> {
  const s = await q.query(`SELECT ${SYSTEM_COLUMNS} FROM ${t.systems} ORDER BY id`);
  const h = await q.query(`SELECT ${HISTORY_COLUMNS} FROM ${t.history} ORDER BY system_id, report_id`);
  const norm = (row: Record<string, unknown>) =>
    JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : k === 'before' || k === 'after' ? parseJson(v) : String(v)])));
  return [...s.rows.map((r) => `S ${norm(r)}`), ...h.rows.map((r) => `H ${norm(r)}`)].join('\n');
}

function toView(row: SystemRow): SystemView {
  const { reachable, ...state } = stateOf(row);
  return {
    id: row.id,
    ...state,
    status: reachable ? 'reachable' : 'unreachable',
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    lastReportId: row.last_report_id,
  };
}

function iso(v: Date | string): string {
  return (v instanceof Date ? v : new Date(v)).toISOString();
}

function parseJson(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}
