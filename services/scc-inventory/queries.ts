// The query API's reads of the inventory: systems, one system with its history, SCC summaries,
// snapshots, and the systems gauge. A source is the live inventory or one named snapshot.
import type { Queryable } from '../shared/db.js';
import type { SystemAttributes, SystemKey } from './fold.js';
import { LIVE_TABLES, SYSTEM_COLUMNS, stateOf, type SystemRow } from './tables.js';

export type Source = { kind: 'live' } | { kind: 'snapshot'; name: string };

function sourceTables(source: Source, params: unknown[]): { systems: string; history: string; where: string[] } {
  if (source.kind === 'live') return { systems: LIVE_TABLES.systems, history: LIVE_TABLES.history, where: [] };
  params.push(source.name);
  return { systems: 'snapshot_systems', history: 'snapshot_system_history', where: [`snapshot = $${params.length}`] };
}

/** A system as the API serves it: its key and attributes, its reachability as `status`, and its row's bookkeeping. */
export interface SystemView extends SystemKey, SystemAttributes {
  id: string;
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
    `SELECT count(*) FILTER (WHERE reachable) AS reachable, count(*) FILTER (WHERE NOT reachable) AS unreachable FROM ${LIVE_TABLES.systems}`,
  );
  return { reachable: Number(r.rows[0]?.reachable ?? 0), unreachable: Number(r.rows[0]?.unreachable ?? 0) };
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
