// Where one projection lives: the live tables or a rebuild's shadow copies (a `Tables` set names
// which), their column lists, and the reading of a system row. Used by the writes, the rebuild
// tables and the queries alike, so a new column is added here once.
import type { SystemState } from './fold.js';

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

export const SYSTEM_COLUMNS = 'id, tenant, subaccount, location_id, host, protocol, type, system_status, description, system_number, reachable, created_at, updated_at, last_report_id';
export const HISTORY_COLUMNS = 'system_id, report_id, event_id, report_type, change, before, after, changed_at, source_partition, source_offset';
export const PART_COLUMNS = 'report_id, part, parts, tenant, report_type, event_id, received_at, payload';
/** What the fold needs of a system row (no timestamps: parsing them is most of reading a row). */
export const FOLD_COLUMNS = 'id, tenant, subaccount, location_id, host, protocol, type, system_status, description, system_number, reachable';

export interface SystemRow {
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

export function stateOf(row: Pick<SystemRow, 'tenant' | 'subaccount' | 'location_id' | 'host' | 'protocol' | 'type' | 'system_status' | 'description' | 'system_number' | 'reachable'>): SystemState {
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
