// A rebuild's fold, in memory. The rebuild owns its shadow tables and nobody else reads them until the
// swap, so it never reads back what it wrote: it keeps every tenant's systems in memory and folds each
// report there (fold.ts foldTenantReport), and appends the idempotency and history rows a chunk at a
// time (rebuild-writes.ts); the systems are written once, at the end (finish()).
//
// The rows are those the live consumer's path (projector.ts projectRecords, one record per transaction)
// builds from the same records, in the same order:
//   - a record the contract or its attributes reject is left out whole (no idempotency row, no fold),
//     as the live consumer dead-letters it;
//   - the first record of an event_id is processed, any later one is a duplicate and changes nothing
//     (a SeenFilter rules most ids out in memory; a "maybe" is checked against the rows written);
//   - a system's row carries its last state, the time and report of its last change and the time of
//     its first change; every change is one history row, the first one of a (system, report) kept;
//   - the parts of split reports are buffered in the shadow parts table by the live code (projector.ts
//     completeReportBody, writes.ts dropStaleParts), one record per transaction, so that a rejected
//     report leaves the parts as they were.
//
// Memory: the inventory (every system's state and row) stays in memory; idempotency and history rows
// only until their chunk is written, and the filter is a fixed 4 MiB.
import type { Db } from '../shared/db.js';
import type { Envelope } from '../shared/envelope.js';
import { PermanentError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { foldTenantReport, systemFoldKey, systemId, type Change, type ReportedScc, type SystemState, type TenantSystems } from './fold.js';
import { completeReportBody, parseOrReject, reportPartOf, type RecordPosition, type ReportPart } from './projector.js';
import {
  isProcessed, removeChunkRows, tenantHasParts, writeHistoryRows, writeProcessedRows, writeSystemRows, type HistoryRow, type SystemRowToWrite,
} from './rebuild-writes.js';
import { SeenFilter } from './seen-filter.js';
import { indexShadowProcessed } from './rebuild-tables.js';
import type { Tables } from './tables.js';
import { dropStaleParts } from './writes.js';

export interface RebuildFoldOptions {
  db: Db;
  tables: Tables;
  consumer: string;
  partTtlMs: number;
  /** Records whose rows are written together (one statement per table). */
  chunkSize: number;
  logger: Logger;
  /** Runs database work, waiting out outages (rebuild.ts). */
  withRetries: <T>(what: string, work: () => Promise<T>) => Promise<T>;
}

/** The time and report of a system's first and last change: the rest of its row is its state. */
interface SystemMeta {
  id: string;
  createdAt: string;
  updatedAt: string;
  lastReportId: string;
}

interface TenantInventory {
  systems: TenantSystems;
  meta: Map<string, SystemMeta>;
}

interface PendingHistory {
  meta: SystemMeta;
  change: Change;
  reportId: string;
  eventId: string;
  reportType: string;
  changedAt: string;
  pos: RecordPosition;
  /** An earlier chunk may hold a row of this report (its report_id was folded before). */
  reportMaybeSeen: boolean;
}

export class RebuildFold {
  applied = 0;
  duplicates = 0;
  rejected = 0;

  private readonly tenants = new Map<string, TenantInventory>();
  private readonly seen = new SeenFilter();
  /** Report ids whose changes were folded: a report delivered again may meet its first history rows. */
  private readonly reportsWithChanges = new SeenFilter(23);
  /** Tenants that may have buffered parts: their records take the parts path. */
  private readonly tenantsWithParts = new Set<string>();
  // The chunk being gathered: its event_ids and its history. The ids are also kept as a set, for
  // duplicates within the chunk, but only once the filter first says "maybe" in this chunk: most chunks
  // of most topics never need it, and filling it cost a set insertion per record.
  private eventIds: string[] = [];
  private pendingIds: Set<string> | undefined;
  private history: PendingHistory[] = [];
  private records = 0;
  /** Whether the shadow idempotency rows are indexed yet (only once something must be looked up). */
  private processedIndexed = false;
  /** The chunk being written; rows are written one chunk at a time, in order. */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly opts: RebuildFoldOptions) {}

  /**
   * Folds one record. Undefined when it was handled at once (the usual case), a promise when it needs
   * the database first (a possible duplicate, a part of a split report) or its chunk is to be written.
   */
  apply(envelope: Envelope, pos: RecordPosition): Promise<void> | undefined {
    let info: ReportPart;
    try {
      info = reportPartOf(envelope);
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err;
      this.reject(envelope, err);
      return undefined;
    }
    const id = envelope.event_id;
    if (this.seen.mightHave(id)) {
      // Every id of the chunk is in the filter, so a duplicate within the chunk is always a "maybe".
      this.pendingIds ??= new Set(this.eventIds);
      if (this.pendingIds.has(id)) {
        this.duplicates++;
        return undefined;
      }
      return this.applyUnlessStored(envelope, pos, info);
    }
    if (info.parts > 1 || this.tenantsWithParts.has(info.tenant)) return this.applyWithParts(envelope, pos, info);

    return this.foldWhole(envelope, pos, info) ? this.chunkDone() : undefined;
  }

  /** A one-part report: parsed and folded in memory, or rejected (false) when it breaks the contract. */
  private foldWhole(envelope: Envelope, pos: RecordPosition, info: ReportPart): boolean {
    let sccs: ReportedScc[];
    try {
      sccs = parseOrReject(envelope.payload, info.reportId).sccs;
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err;
      this.reject(envelope, err);
      return false;
    }
    this.record(envelope.event_id);
    this.fold(info, sccs, envelope, pos);
    return true;
  }

  /** Writes what is still in memory: the last chunk, then every system. Call once, after the last record. */
  async finish(): Promise<void> {
    await this.writeChunk();
    await this.writing;
    const rows: SystemRowToWrite[] = [];
    const write = async () => {
      const batch = rows.splice(0);
      await this.writeAgainSafely(
        () => writeSystemRows(this.opts.db, this.opts.tables, batch),
        { consumer: this.opts.consumer, eventIds: [], systemIds: batch.map((r) => r.id) },
      );
    };
    for (const { systems, meta } of this.tenants.values()) {
      for (const s of [...systems.values()].flatMap((scc) => [...scc.values()])) {
        const m = meta.get(systemFoldKey(s))!;
        rows.push({
          id: m.id, tenant: s.tenant, subaccount: s.subaccount, locationId: s.locationId, host: s.host, protocol: s.protocol, type: s.type,
          systemStatus: s.systemStatus, description: s.description, systemNumber: s.systemNumber, reachable: s.reachable,
          createdAt: m.createdAt, updatedAt: m.updatedAt, lastReportId: m.lastReportId,
        });
        if (rows.length >= SYSTEMS_PER_STATEMENT) await write();
      }
    }
    await write();
  }

  /** A record the filter could not rule out: a duplicate if its idempotency row is written already. */
  private async applyUnlessStored(envelope: Envelope, pos: RecordPosition, info: ReportPart): Promise<void> {
    await this.writing; // every earlier chunk is in the table
    const { db, tables, consumer } = this.opts;
    if (!this.processedIndexed) {
      await this.opts.withRetries('indexing the shadow tables', () => indexShadowProcessed(db, tables));
      this.processedIndexed = true;
    }
    if (await this.opts.withRetries('reading the shadow tables', () => isProcessed(db, tables, consumer, envelope.event_id))) {
      this.duplicates++;
      return;
    }
    if (info.parts > 1 || this.tenantsWithParts.has(info.tenant)) return this.applyWithParts(envelope, pos, info);
    if (this.foldWhole(envelope, pos, info)) await this.chunkDone();
  }

  /**
   * A part of a split report, or any record of a tenant with buffered parts: the live consumer's part
   * handling in a transaction of its own, which a rejected report rolls back.
   */
  private async applyWithParts(envelope: Envelope, pos: RecordPosition, info: ReportPart): Promise<void> {
    const { db, tables: t, partTtlMs } = this.opts;
    let outcome: { sccs: ReportedScc[] | undefined; partsLeft: boolean };
    try {
      outcome = await this.opts.withRetries('writing the shadow tables', () =>
        db.transaction(async (tx) => {
          if (this.tenantsWithParts.has(info.tenant)) await dropStaleParts(tx, t, info.tenant, new Date(envelope.received_at - partTtlMs));
          const body = await completeReportBody(tx, t, envelope, info, new Date(envelope.received_at));
          const sccs = body ? parseOrReject(body, info.reportId).sccs : undefined;
          return { sccs, partsLeft: await tenantHasParts(tx, t, info.tenant) };
        }),
      );
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err;
      this.reject(envelope, err);
      return;
    }
    if (outcome.partsLeft) this.tenantsWithParts.add(info.tenant);
    else this.tenantsWithParts.delete(info.tenant);
    this.record(envelope.event_id);
    if (outcome.sccs) this.fold(info, outcome.sccs, envelope, pos);
    await this.chunkDone();
  }

  private reject(envelope: Envelope, err: PermanentError): void {
    this.rejected++;
    this.opts.logger.warn({ event_id: envelope.event_id, reason: err.message }, 'rebuild: record rejected (the live consumer dead-letters it)');
  }

  private record(eventId: string): void {
    this.applied++;
    this.seen.add(eventId);
    this.pendingIds?.add(eventId);
    this.eventIds.push(eventId);
  }

  private fold(info: ReportPart, sccs: ReportedScc[], envelope: Envelope, pos: RecordPosition): void {
    let inventory = this.tenants.get(info.tenant);
    if (!inventory) {
      inventory = { systems: new Map(), meta: new Map() };
      this.tenants.set(info.tenant, inventory);
    }
    const changes = foldTenantReport(inventory.systems, { tenant: info.tenant, reportType: info.reportType, sccs });
    if (changes.length === 0) return;
    const changedAt = new Date(envelope.received_at).toISOString();
    const reportMaybeSeen = this.reportsWithChanges.mightHave(info.reportId);
    if (!reportMaybeSeen) this.reportsWithChanges.add(info.reportId);
    for (const change of changes) {
      const key = systemFoldKey(change.key);
      let meta = inventory.meta.get(key);
      if (!meta) {
        meta = { id: systemId(change.key), createdAt: changedAt, updatedAt: changedAt, lastReportId: info.reportId };
        inventory.meta.set(key, meta);
      } else {
        meta.updatedAt = changedAt;
        meta.lastReportId = info.reportId;
      }
      this.history.push({ meta, change, reportId: info.reportId, eventId: envelope.event_id, reportType: info.reportType, changedAt, pos, reportMaybeSeen });
    }
  }

  /**
   * Writes rows, waiting outages out; before each attempt after the first, removes what an earlier attempt may
   * have written (its commit can have reached the table without its acknowledgement reaching us).
   */
  private writeAgainSafely(write: () => Promise<void>, written: Parameters<typeof removeChunkRows>[2]): Promise<void> {
    let attempts = 0;
    return this.opts.withRetries('writing the shadow tables', async () => {
      if (attempts++ > 0) await removeChunkRows(this.opts.db, this.opts.tables, written);
      await write();
    });
  }

  private chunkDone(): Promise<void> | undefined {
    return ++this.records >= this.opts.chunkSize ? this.writeChunk() : undefined;
  }

  /**
   * Hands the gathered chunk to the writer, behind the chunk before it; resolves once that one is
   * written, so one chunk is written while the next is folded, and no more is held.
   */
  private writeChunk(): Promise<void> {
    const eventIds = this.eventIds;
    const history = this.history;
    this.eventIds = [];
    this.history = [];
    this.pendingIds = undefined; // from now on looked up in the table (applyUnlessStored waits for the write)
    this.records = 0;
    const previous = this.writing;
    if (eventIds.length === 0 && history.length === 0) return previous;
    const { db, tables, consumer } = this.opts;
    const { fresh, maybeSeen } = historyRows(history);
    this.writing = previous.then(() =>
      this.writeAgainSafely(async () => {
        await writeProcessedRows(db, tables, consumer, eventIds);
        await writeHistoryRows(db, tables, fresh, maybeSeen);
      }, { consumer, eventIds, fresh }),
    );
    this.writing.catch(() => undefined); // a failure surfaces at the next wait for this.writing
    return previous;
  }
}

const SYSTEMS_PER_STATEMENT = 5000;

/**
 * The history rows of a chunk, the first of each (system, report) only, as persist() keeps them; apart,
 * those of reports that an earlier chunk may hold rows of (written so that those rows stay).
 */
function historyRows(pending: readonly PendingHistory[]): { fresh: HistoryRow[]; maybeSeen: HistoryRow[] } {
  const fresh: HistoryRow[] = [];
  const maybeSeen: HistoryRow[] = [];
  const keys = new Set<string>();
  // A change's after-state is the very object the system's next change has as its before-state (fold.ts):
  // within a chunk each state is turned into JSON once, not twice. Only for the chunk, so nothing is held.
  const json = new Map<SystemState, string>();
  const jsonOf = (state: SystemState): string => {
    let text = json.get(state);
    if (text === undefined) json.set(state, (text = JSON.stringify(state)));
    return text;
  };
  for (const h of pending) {
    const key = `${h.meta.id}\n${h.reportId}`;
    if (keys.has(key)) continue;
    keys.add(key);
    (h.reportMaybeSeen ? maybeSeen : fresh).push({
      systemId: h.meta.id, reportId: h.reportId, eventId: h.eventId, reportType: h.reportType, change: h.change.kind,
      before: h.change.before === null ? null : jsonOf(h.change.before), after: jsonOf(h.change.after),
      changedAt: h.changedAt, partition: h.pos.partition, offset: h.pos.offset,
    });
  }
  return { fresh, maybeSeen };
}
