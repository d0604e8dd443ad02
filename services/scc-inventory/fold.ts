// The SCC inventory fold, as pure code over plain data (the decider pattern):
//   parseReport(body)            → the report's SCCs and their exposed systems (the shared SAP contract)
//   decide(report, current)      → the changes the report makes to one tenant's systems
//   evolve(state, change)        → the state after one change
//   foldReport(state, report)    → decide, then evolve by each change; returns the changes
// No Kafka, no database. The projector loads the systems of a chunk's tenants, calls foldReport for each
// complete report of the chunk (one report live, many in a rebuild) and persists the changes it returns:
// the code these functions' tests run is the code every record goes through.
import { createHash } from 'node:crypto';
import { parseSapReport, type ReportType } from '../shared/contracts/sap-report.js';

export type { ReportType };

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

/** The state the fold evolves: systems keyed by systemKeyString (one tenant's, or several tenants'). */
export type Inventory = Map<string, SystemState>;

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
}

/**
 * Parses a complete report body with the SAP report contract (services/shared/contracts/sap-report.ts,
 * the module ingress checks bodies with), so the fold accepts exactly what ingress accepted — keys
 * matched case-insensitively, as the reference adapter does — and rejects the rest with the adapter's message.
 * An SCC listed twice is merged; a host listed twice in one SCC keeps its last description.
 */
export function parseReport(body: string | Uint8Array): ParsedBody {
  const parsed = parseSapReport(body);
  if (!parsed.ok) throw new ReportRejected(parsed.message);
  const merged = new Map<string, { subaccount: string; locationId: string; byHost: Map<string, ReportedScc['systems'][number]> }>();
  for (const scc of parsed.report.value) {
    const id = sccId(scc.subaccount, scc.locationId);
    let entry = merged.get(id);
    if (!entry) {
      entry = { subaccount: scc.subaccount, locationId: scc.locationId, byHost: new Map() };
      merged.set(id, entry);
    }
    for (const s of scc.exposedSystems) {
      entry.byHost.set(s.host, {
        host: s.host, protocol: s.protocol, type: s.type, systemStatus: s.status, description: s.description, systemNumber: s.systemNumber,
      });
    }
  }
  return { sccs: [...merged.values()].map(({ subaccount, locationId, byHost }) => ({ subaccount, locationId, systems: [...byHost.values()] })) };
}

/**
 * The changes a report makes, given the current systems of the report's tenant
 * (systems of other tenants are ignored, so callers may pass more than needed).
 */
export function decide(report: Report, current: Iterable<SystemState>): Change[] {
  const bySystem: TenantSystems = new Map();
  for (const s of current) if (s.tenant === report.tenant) bySystem.set(systemFoldKey(s), s);
  return decideFor(report, bySystem);
}

/**
 * decide() over the report's tenant's systems already keyed by systemFoldKey (decide keys them for each
 * report; a rebuild keeps every tenant's systems keyed so, see foldTenantReport).
 */
export function decideFor(report: Report, bySystem: ReadonlyMap<string, SystemState>): Change[] {
  const changes: Change[] = [];
  const listed = new Set<string>();
  let listedCurrent = 0;

  for (const scc of report.sccs) {
    for (const reported of scc.systems) {
      const ks = foldKeyOf(report.tenant, scc.subaccount, scc.locationId, reported.host);
      const before = bySystem.get(ks);
      if (before && !listed.has(ks)) listedCurrent++;
      listed.add(ks);
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
  if (listedCurrent === bySystem.size) return changes; // every current system was listed

  // Systems not listed: in a listed SCC always; in an unlisted SCC only for a full report. A system is
  // in a listed SCC when its key starts with that SCC's key prefix (length-prefixed, so unambiguous).
  const sccPrefixes = report.reportType === 'full' ? undefined : report.sccs.map((s) => foldKeyOf(report.tenant, s.subaccount, s.locationId, ''));
  for (const [ks, system] of bySystem) {
    if (!system.reachable || listed.has(ks)) continue;
    if (!sccPrefixes || sccPrefixes.some((prefix) => ks.startsWith(prefix))) {
      changes.push({ kind: 'unreachable', key: keyOf(system), before: system, after: { ...system, reachable: false } });
    }
  }
  return changes;
}

/** One tenant's systems keyed by systemFoldKey: how a rebuild holds each tenant's inventory in memory. */
export type TenantSystems = Map<string, SystemState>;

/**
 * foldReport over one tenant's systems keyed by systemFoldKey (the report's tenant's only): decideFor,
 * then each change's after-state replaces the system. The rebuild folds every report through this.
 */
export function foldTenantReport(systems: TenantSystems, report: Report): Change[] {
  const changes = decideFor(report, systems);
  for (const change of changes) systems.set(systemFoldKey(change.after), change.after);
  return changes;
}

/**
 * The state after one change: `after` becomes the system's state. The state is changed in place and
 * returned — the fold owns it, and copying a tenant's systems for each change would make a rebuild
 * of 100,000 reports quadratic.
 */
export function evolve(state: Inventory, change: Change): Inventory {
  state.set(systemKeyString(change.key), change.after);
  return state;
}

/**
 * One report folded into the state: decide() against it, evolve() it by every change, and the changes —
 * what the projector persists. The projector calls this for every complete report, one per chunk live,
 * many per chunk in a rebuild.
 */
export function foldReport(state: Inventory, report: Report): Change[] {
  const changes = decide(report, state.values());
  for (const change of changes) evolve(state, change);
  return changes;
}

/** The inventory after these reports, from `initial` (not changed): foldReport over each in turn. */
export function foldReports(reports: readonly Report[], initial: ReadonlyMap<string, SystemState> = new Map()): Inventory {
  const state: Inventory = new Map(initial);
  for (const report of reports) foldReport(state, report);
  return state;
}

function keyOf(s: SystemKey): SystemKey {
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
 * Map key of a system inside decide() and a rebuild's memory: as unambiguous as systemKeyString (every field but the last
 * is length-prefixed) and much cheaper to build, which matters when a rebuild folds 100,000 reports.
 * Never stored: ids come from systemKeyString.
 */
export function systemFoldKey(k: SystemKey): string {
  return foldKeyOf(k.tenant, k.subaccount, k.locationId, k.host);
}

function foldKeyOf(tenant: string, subaccount: string, locationId: string, host: string): string {
  return `${tenant.length}:${tenant}${subaccount.length}:${subaccount}${locationId.length}:${locationId}${host}`;
}
// (Every field but the host is length-prefixed, so foldKeyOf(t, s, l, '') is a prefix of exactly the
// keys of SCC {s, l}'s systems: the digits before each ':' fix where the next field ends.)

function sccId(subaccount: string, locationId: string): string {
  return `${subaccount.length}:${subaccount}${locationId}`;
}

function pickAttributes(a: SystemAttributes): SystemAttributes {
  return { protocol: a.protocol, type: a.type, systemStatus: a.systemStatus, description: a.description, systemNumber: a.systemNumber };
}

function sameAttributes(a: SystemAttributes, b: SystemAttributes): boolean {
  return a.protocol === b.protocol && a.type === b.type && a.systemStatus === b.systemStatus && a.description === b.description && a.systemNumber === b.systemNumber;
}

