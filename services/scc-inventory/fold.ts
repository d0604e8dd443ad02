// The SCC inventory fold, as pure code over plain data (the decider pattern):
//   parseReport(body)            → the report's SCCs and their exposed systems
//   decide(report, current)      → the changes the report makes to one tenant's systems
//   evolve(state, change)        → the state after one change
// No Kafka, no database: the projector feeds it rows and writes back what it returns, and a
// rebuild folds the same records through the same functions, which is why replay is trustworthy.
import { createHash } from 'node:crypto';
import { isObject } from '../shared/json.js';

export type ReportType = 'full' | 'delta';

/** What an SCC says about one exposed system (the fields the inventory tracks besides its identity). */
export interface SystemAttributes {
  protocol: string | null;
  type: string | null;
  /** The status the SCC reported (e.g. "disabled"), not the reachability. */
  systemStatus: string | null;
  description: string | null;
  systemNumber: string | null;
}

/** Identity: the SCC label {Subaccount, LocationID, Host}, scoped by tenant so tenants never collide. */
export interface SystemKey {
  tenant: string;
  subaccount: string;
  locationId: string;
  host: string;
}

export interface SystemState extends SystemKey, SystemAttributes {
  reachable: boolean;
}

export interface ReportedScc {
  subaccount: string;
  locationId: string;
  systems: Array<{ host: string } & SystemAttributes>;
}

export interface Report {
  tenant: string;
  reportType: ReportType;
  sccs: ReportedScc[];
}

export type ChangeKind = 'create' | 'update' | 'unreachable' | 'reachable';

/** One change to one system; `before` is null for a create. `after` is the complete new state. */
export interface Change {
  kind: ChangeKind;
  key: SystemKey;
  before: SystemState | null;
  after: SystemState;
}

export class ReportRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportRejected';
  }
}

export interface ParsedBody {
  sccs: ReportedScc[];
  /** Systems without a host cannot be identified; they are left out and counted. */
  skippedSystems: number;
}

const ATTRIBUTE_FIELDS = ['protocol', 'type', 'systemStatus', 'description', 'systemNumber'] as const;

/**
 * Parses a complete report body. Rejects what ingress would have rejected (not JSON, no `value`
 * array, an SCC without `subaccount`). A missing `locationId` is "" (the SCC has no location id);
 * a missing `exposedSystems` is an empty list (the SCC exposes nothing now).
 * An SCC listed twice is merged; a host listed twice in one SCC keeps its last description.
 */
export function parseReport(body: string | Uint8Array): ParsedBody {
  let json: unknown;
  try {
    json = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch {
    throw new ReportRejected('failed to parse request body');
  }
  if (!isObject(json) || !Array.isArray(json.value)) throw new ReportRejected('report has no "value" array');
  const merged = new Map<string, ReportedScc & { byHost: Map<string, ReportedScc['systems'][number]> }>();
  let skippedSystems = 0;
  json.value.forEach((scc, i) => {
    if (!isObject(scc)) throw new ReportRejected(`value[${i}] is not an object`);
    if (typeof scc.subaccount !== 'string' || scc.subaccount === '') throw new ReportRejected('subaccount key is required');
    const locationId = typeof scc.locationId === 'string' ? scc.locationId : '';
    const id = sccId(scc.subaccount, locationId);
    let entry = merged.get(id);
    if (!entry) {
      entry = { subaccount: scc.subaccount, locationId, systems: [], byHost: new Map() };
      merged.set(id, entry);
    }
    const exposed = Array.isArray(scc.exposedSystems) ? scc.exposedSystems : [];
    for (const s of exposed) {
      if (!isObject(s) || typeof s.host !== 'string' || s.host === '') {
        skippedSystems++;
        continue;
      }
      entry.byHost.set(s.host, {
        host: s.host,
        protocol: str(s.protocol),
        type: str(s.type),
        systemStatus: str(s.status),
        description: str(s.description),
        systemNumber: str(s.systemNumber),
      });
    }
  });
  const sccs = [...merged.values()].map(({ subaccount, locationId, byHost }) => ({ subaccount, locationId, systems: [...byHost.values()] }));
  return { sccs, skippedSystems };
}

/**
 * The changes a report makes, given the current systems of the report's tenant
 * (systems of other tenants are ignored, so callers may pass more than needed).
 */
export function decide(report: Report, current: readonly SystemState[]): Change[] {
  const changes: Change[] = [];
  // Keyed once: the loops below look systems up and walk them by these keys.
  const bySystem = new Map<string, SystemState>();
  for (const s of current) if (s.tenant === report.tenant) bySystem.set(foldKey(s), s);
  const reportedSccs = new Set(report.sccs.map((s) => sccId(s.subaccount, s.locationId)));
  const listed = new Set<string>();

  for (const scc of report.sccs) {
    for (const reported of scc.systems) {
      const ks = foldKeyOf(report.tenant, scc.subaccount, scc.locationId, reported.host);
      listed.add(ks);
      const before = bySystem.get(ks);
      // Objects are built only for a change: most systems of most reports are unchanged.
      if (!before) {
        const key: SystemKey = { tenant: report.tenant, subaccount: scc.subaccount, locationId: scc.locationId, host: reported.host };
        changes.push({ kind: 'create', key, before: null, after: { ...key, ...pickAttributes(reported), reachable: true } });
      } else if (!before.reachable) {
        changes.push({ kind: 'reachable', key: keyOf(before), before, after: { ...before, ...pickAttributes(reported), reachable: true } });
      } else if (!sameAttributes(before, reported)) {
        changes.push({ kind: 'update', key: keyOf(before), before, after: { ...before, ...pickAttributes(reported) } });
      }
    }
  }

  // Systems not listed: in a listed SCC always; in an unlisted SCC only for a full report.
  for (const [ks, system] of bySystem) {
    if (!system.reachable || listed.has(ks)) continue;
    if (report.reportType === 'full' || reportedSccs.has(sccId(system.subaccount, system.locationId))) {
      changes.push({ kind: 'unreachable', key: keyOf(system), before: system, after: { ...system, reachable: false } });
    }
  }
  return changes;
}

/** Applies one change to a state held as a map from systemKeyString to the system. */
export function evolve(state: ReadonlyMap<string, SystemState>, change: Change): Map<string, SystemState> {
  const next = new Map(state);
  next.set(systemKeyString(change.key), change.after);
  return next;
}

/** Folds reports from nothing: what the inventory is after them (used by tests and as the specification). */
export function foldReports(reports: readonly Report[], initial: ReadonlyMap<string, SystemState> = new Map()): Map<string, SystemState> {
  let state = new Map(initial);
  for (const report of reports) {
    for (const change of decide(report, [...state.values()])) state = evolve(state, change);
  }
  return state;
}

export function keyOf(s: SystemKey): SystemKey {
  return { tenant: s.tenant, subaccount: s.subaccount, locationId: s.locationId, host: s.host };
}

export function systemKeyString(k: SystemKey): string {
  return JSON.stringify([k.tenant, k.subaccount, k.locationId, k.host]);
}

/** A stable id for a system, the same in every rebuild: a hash of its identity. */
export function systemId(k: SystemKey): string {
  return createHash('sha256').update(systemKeyString(k)).digest('hex').slice(0, 32);
}

/**
 * Map key of a system inside decide(): as unambiguous as systemKeyString (every field but the last
 * is length-prefixed) and much cheaper to build, which matters when a rebuild folds 100,000 reports.
 * Never stored: ids come from systemKeyString.
 */
function foldKey(k: SystemKey): string {
  return foldKeyOf(k.tenant, k.subaccount, k.locationId, k.host);
}

function foldKeyOf(tenant: string, subaccount: string, locationId: string, host: string): string {
  return `${tenant.length}:${tenant}${subaccount.length}:${subaccount}${locationId.length}:${locationId}${host}`;
}

function sccId(subaccount: string, locationId: string): string {
  return `${subaccount.length}:${subaccount}${locationId}`;
}

function pickAttributes(a: SystemAttributes): SystemAttributes {
  return { protocol: a.protocol, type: a.type, systemStatus: a.systemStatus, description: a.description, systemNumber: a.systemNumber };
}

function sameAttributes(a: SystemAttributes, b: SystemAttributes): boolean {
  return ATTRIBUTE_FIELDS.every((f) => a[f] === b[f]);
}


function str(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  return typeof v === 'string' ? v : JSON.stringify(v);
}
