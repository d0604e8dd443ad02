// The SCC inventory fold, as pure code over plain data (the decider pattern):
//   parseReport(body)            → the report's SCCs and their exposed systems (the shared SAP contract)
//   decide(report, current)      → the changes the report makes to one tenant's systems
//   evolve(state, change)        → the state after one change
//   foldReport(state, report)    → decide, then evolve by each change; returns the changes
// No Kafka, no database. The projector loads the systems of a chunk's tenants, calls foldReport for each
// complete report of the chunk (one report live, many in a rebuild) and persists the changes it returns:
// the code these functions' tests run is the code every record goes through.
import { createHash } from 'node:crypto';
import { bytesView, decodeText } from '../shared/contracts/json.js';
import { decodeSapReport, PARSE_FAILED, type ReportType } from '../shared/contracts/sap-report.js';
import { readCanonicalReport } from './canonical-report.js';
import { storableOrNull, storableText } from '../shared/pg-text.js';

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
 * A body spelled exactly as the contract names its keys is read directly (canonical-report.ts), with
 * the same result. An SCC listed twice is merged; a host listed twice in one SCC keeps its last description.
 */
export function parseReport(body: string | Uint8Array): ParsedBody {
  let json: unknown;
  try {
    // Decoded as UTF-8 with invalid sequences replaced, as ever (ASCII bodies, nearly all, as latin1: the same text).
    json = JSON.parse(typeof body === 'string' ? body : decodeText(bytesView(body)));
  } catch {
    throw new ReportRejected(PARSE_FAILED);
  }
  return { sccs: mergeSccs(readCanonicalReport(json) ?? readByContract(json)) };
}

function readByContract(json: unknown): ReportedScc[] {
  const parsed = decodeSapReport(json);
  if (!parsed.ok) throw new ReportRejected(parsed.message);
  return parsed.report.value.map((scc) => ({
    subaccount: scc.subaccount,
    locationId: scc.locationId,
    systems: scc.exposedSystems.map((s) => ({
      // Free text with a U+0000 is stored with U+FFFD in its place (pg-text.ts); the key parts cannot hold one (the contract refuses it).
      host: s.host, protocol: storableText(s.protocol), type: storableText(s.type), systemStatus: storableText(s.status),
      description: storableOrNull(s.description), systemNumber: storableOrNull(s.systemNumber),
    })),
  }));
}

/** Each SCC once (the first listing's place), each host once within it (its first place, its last listing). */
function mergeSccs(sccs: ReportedScc[]): ReportedScc[] {
  if (sccs.length === 1 && !hasRepeatedHost(sccs[0]!.systems)) return sccs;
  const merged = new Map<string, { subaccount: string; locationId: string; byHost: Map<string, ReportedScc['systems'][number]> }>();
  for (const scc of sccs) {
    const id = sccId(scc.subaccount, scc.locationId);
    let entry = merged.get(id);
    if (!entry) {
      entry = { subaccount: scc.subaccount, locationId: scc.locationId, byHost: new Map() };
      merged.set(id, entry);
    }
    for (const s of scc.systems) entry.byHost.set(s.host, s);
  }
  return [...merged.values()].map(({ subaccount, locationId, byHost }) => ({ subaccount, locationId, systems: [...byHost.values()] }));
}

function hasRepeatedHost(systems: ReportedScc['systems']): boolean {
  if (systems.length > 16) return new Set(systems.map((s) => s.host)).size < systems.length;
  for (let i = 1; i < systems.length; i++) for (let j = 0; j < i; j++) if (systems[i]!.host === systems[j]!.host) return true;
  return false;
}

/**
 * The changes a report makes, given the current systems of the report's tenant
 * (systems of other tenants are ignored, so callers may pass more than needed).
 */
export function decide(report: Report, current: Iterable<SystemState>): Change[] {
  const systems: TenantSystems = new Map();
  for (const s of current) if (s.tenant === report.tenant) placeSystem(systems, s);
  return decideFor(report, systems);
}

/**
 * One tenant's systems grouped by SCC (keyed by sccId), each SCC's by host: how decide() looks them up,
 * and how a rebuild holds every tenant's inventory in memory between reports (foldTenantReport).
 */
export type TenantSystems = Map<string, Map<string, SystemState>>;

/**
 * decide() over the report's tenant's systems already grouped (decide groups them for each report).
 * `report.sccs` is as parseReport returns it: each SCC once, each host once within its SCC.
 */
export function decideFor(report: Report, systems: ReadonlyMap<string, ReadonlyMap<string, SystemState>>): Change[] {
  const changes: Change[] = [];
  const unreachable: Change[] = [];
  for (const scc of report.sccs) {
    const current = systems.get(sccId(scc.subaccount, scc.locationId));
    let listedCurrent = 0;
    for (const reported of scc.systems) {
      const before = current?.get(reported.host);
      // Objects are built only for a change: most systems of most reports are unchanged.
      if (!before) {
        const key: SystemKey = { tenant: report.tenant, subaccount: scc.subaccount, locationId: scc.locationId, host: reported.host };
        changes.push({ kind: 'create', key, before: null, after: systemState(key, reported, true) });
        continue;
      }
      listedCurrent++;
      if (!before.reachable) {
        changes.push({ kind: 'reachable', key: keyOf(before), before, after: systemState(before, reported, true) });
      } else if (!sameAttributes(before, reported)) {
        changes.push({ kind: 'update', key: keyOf(before), before, after: systemState(before, reported, true) });
      }
    }
    // Systems of a listed SCC that it no longer lists (none when it lists every system it had).
    if (current && listedCurrent < current.size) {
      const hosts = new Set(scc.systems.map((s) => s.host));
      for (const system of current.values()) if (system.reachable && !hosts.has(system.host)) unreachable.push(goneUnreachable(system));
    }
  }
  // A full report: also every system of the SCCs it does not list.
  if (report.reportType === 'full' && systems.size > 0) {
    const listed = new Set(report.sccs.map((s) => sccId(s.subaccount, s.locationId)));
    for (const [id, current] of systems) {
      if (listed.has(id)) continue;
      for (const system of current.values()) if (system.reachable) unreachable.push(goneUnreachable(system));
    }
  }
  return unreachable.length === 0 ? changes : changes.concat(unreachable);
}

/**
 * foldReport over one tenant's grouped systems (the report's tenant's only): decideFor, then each
 * change's after-state replaces the system. The rebuild folds every report through this.
 */
export function foldTenantReport(systems: TenantSystems, report: Report): Change[] {
  const changes = decideFor(report, systems);
  for (const change of changes) placeSystem(systems, change.after);
  return changes;
}

function placeSystem(systems: TenantSystems, s: SystemState): void {
  const id = sccId(s.subaccount, s.locationId);
  let scc = systems.get(id);
  if (!scc) {
    scc = new Map();
    systems.set(id, scc);
  }
  scc.set(s.host, s);
}

function goneUnreachable(system: SystemState): Change {
  return { kind: 'unreachable', key: keyOf(system), before: system, after: systemState(system, system, false) };
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
 * A system's identity as a map key: as unambiguous as systemKeyString (every field but the last is
 * length-prefixed) and much cheaper to build, which matters when a rebuild folds 100,000 reports.
 * Never stored: ids come from systemKeyString.
 */
export function systemFoldKey(k: SystemKey): string {
  return `${k.tenant.length}:${k.tenant}${sccId(k.subaccount, k.locationId)}${k.host}`;
}

/** An SCC's identity within a tenant as a map key (length-prefixed, so unambiguous). */
function sccId(subaccount: string, locationId: string): string {
  return `${subaccount.length}:${subaccount}${locationId.length}:${locationId}`;
}

/**
 * A system's state, always built by this one literal: every state then has the same shape, so the fold's
 * reads of them stay monomorphic (spreading objects into each other gave states of several shapes, and
 * the spreads themselves were a large part of deciding a report).
 */
function systemState(key: SystemKey, a: SystemAttributes, reachable: boolean): SystemState {
  return {
    tenant: key.tenant, subaccount: key.subaccount, locationId: key.locationId, host: key.host,
    protocol: a.protocol, type: a.type, systemStatus: a.systemStatus, description: a.description, systemNumber: a.systemNumber,
    reachable,
  };
}

function sameAttributes(a: SystemAttributes, b: SystemAttributes): boolean {
  return a.protocol === b.protocol && a.type === b.type && a.systemStatus === b.systemStatus && a.description === b.description && a.systemNumber === b.systemNumber;
}

