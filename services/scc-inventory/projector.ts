// Where a Kafka record becomes a projection change. A chunk of records is one transaction: it records
// the chunk's event_ids, buffers the parts of split reports, folds every report the chunk completes
// (fold.ts foldReport: decide, then evolve) over the systems of their tenants, and persists the changes
// (writes.ts persist). The live consumer projects chunks of one record. A rebuild folds in memory instead
// (rebuild-fold.ts) with the same fold and this module's split-report handling (completeReportBody), and
// writes the same rows (test/integration/scc-rebuild-batched.test.ts compares them).
import type { Db, Queryable } from '../shared/db.js';
import type { Envelope } from '../shared/envelope.js';
import { PermanentError } from '../shared/errors.js';
import { foldReport, parseReport, ReportRejected, systemId, type ParsedBody, type Report, type ReportType } from './fold.js';
import type { SccMetrics } from './metrics.js';
import type { Tables } from './tables.js';
import {
  countParts, deleteParts, dropStaleParts, insertPart, loadInventories, loadPartPayloads, lockForApply, persist, recordProcessedMany,
  tenantsWithParts, type ChangeContext, type ChangeWrite,
} from './writes.js';

export interface ProjectorOptions {
  db: Db;
  tables: Tables;
  consumer: string;
  partTtlMs: number;
  /** Take the advisory locks (live consumers; false only where nothing else writes the tables). */
  lock: boolean;
  metrics?: SccMetrics | undefined;
  /** Told about each report applied (for logs) */
  onApplied?: (info: AppliedReport) => void;
}

export interface RecordPosition {
  partition: number;
  offset: string;
}

export interface ReportPart {
  tenant: string;
  reportId: string;
  reportType: ReportType;
  part: number;
  parts: number;
}

/** Reads the SAP report attributes of an envelope (the conventions in services/shared/README.md). */
export function reportPartOf(envelope: Envelope): ReportPart {
  const a = envelope.attributes;
  if (envelope.kind !== 'sap.report') throw new PermanentError(`not a SAP report record (kind ${envelope.kind})`);
  if (!envelope.tenant) throw new PermanentError('SAP report record without tenant');
  const reportType = a.report_type;
  if (reportType !== 'full' && reportType !== 'delta') throw new PermanentError(`invalid report_type attribute: ${String(reportType)}`);
  if (!a.report_id) throw new PermanentError('missing report_id attribute');
  const part = Number(a.part ?? '1');
  const parts = Number(a.parts ?? '1');
  if (!Number.isInteger(part) || !Number.isInteger(parts) || part < 1 || parts < 1 || part > parts) {
    throw new PermanentError(`invalid part attributes: part=${String(a.part)} parts=${String(a.parts)}`);
  }
  return { tenant: envelope.tenant, reportId: a.report_id, reportType, part, parts };
}

export type ProjectOutcome = 'processed' | 'duplicate';

/** A report the projection applied: which record completed it, and the systems it changed. */
export interface AppliedReport {
  eventId: string;
  reportId: string;
  tenant: string;
  reportType: ReportType;
  changes: number;
  systemIds: string[];
}

export interface RecordToProject {
  envelope: Envelope;
  pos: RecordPosition;
}

/** One record in its own transaction: what the live consumer does with every record. */
export async function projectRecord(opts: ProjectorOptions, envelope: Envelope, pos: RecordPosition): Promise<ProjectOutcome> {
  return (await projectRecords(opts, [{ envelope, pos }]))[0]!;
}

/**
 * Several records in one transaction, all or nothing, with the same result as one transaction per record
 * in order: the idempotency rows in one statement (the first record of an event_id is the one recorded, a
 * later one in the topic or the chunk is a duplicate), each tenant's systems read once, every report the
 * chunk completes folded in order, and the changes of all of them persisted in two statements.
 * A report the contract rejects is a PermanentError for the whole chunk (a caller redoes it one record per
 * transaction, so only that record is left out, as the live consumer dead-letters it alone).
 */
export async function projectRecords(opts: ProjectorOptions, records: readonly RecordToProject[]): Promise<ProjectOutcome[]> {
  const infos = records.map((r) => reportPartOf(r.envelope));
  const t = opts.tables;
  const tenants = [...new Set(infos.map((i) => i.tenant))].sort();
  return opts.db.transaction(async (tx) => {
    // Sorted, so that two chunks sharing tenants never wait on each other in a cycle.
    if (opts.lock) for (const tenant of tenants) await lockForApply(tx, tenant);
    const fresh = await recordProcessedMany(tx, t, opts.consumer, records.map((r) => r.envelope.event_id), 'processed');
    const withParts = await tenantsWithParts(tx, t, tenants);
    const outcomes: ProjectOutcome[] = [];
    const complete: Array<{ report: Report; ctx: ChangeContext }> = [];
    for (const [i, { envelope, pos }] of records.entries()) {
      const info = infos[i]!;
      if (!fresh.delete(envelope.event_id)) {
        outcomes.push('duplicate');
        continue;
      }
      outcomes.push('processed');
      const receivedAt = new Date(envelope.received_at);
      if (withParts.has(info.tenant)) {
        const dropped = await dropStaleParts(tx, t, info.tenant, new Date(envelope.received_at - opts.partTtlMs));
        if (dropped > 0) opts.metrics?.incompleteDropped.inc(dropped);
      }
      if (info.parts > 1) withParts.add(info.tenant);
      const body = await completeReportBody(tx, t, envelope, info, receivedAt);
      if (!body) continue; // held until the rest arrives
      const ctx = { reportId: info.reportId, reportType: info.reportType, eventId: envelope.event_id, receivedAt, partition: pos.partition, offset: pos.offset };
      const report: Report = { tenant: info.tenant, reportType: info.reportType, sccs: parseOrReject(body, info.reportId).sccs };
      complete.push({ report, ctx });
    }
    if (complete.length === 0) return outcomes;

    const started = process.hrtime.bigint();
    const states = await loadInventories(tx, t, [...new Set(complete.map((c) => c.report.tenant))]);
    const writes: ChangeWrite[] = [];
    const applied: Array<{ ctx: ChangeContext; tenant: string; changes: number; systemIds: string[] }> = [];
    for (const { report, ctx } of complete) {
      const changes = foldReport(states.get(report.tenant)!, report);
      for (const change of changes) writes.push({ change, ctx });
      applied.push({ ctx, tenant: report.tenant, changes: changes.length, systemIds: opts.onApplied ? [...new Set(changes.map((c) => systemId(c.key)))] : [] });
    }
    await persist(tx, t, writes);

    const seconds = Number(process.hrtime.bigint() - started) / 1e9 / applied.length;
    for (const { ctx, tenant, changes, systemIds } of applied) {
      opts.metrics?.foldDuration.observe({ report_type: ctx.reportType }, seconds);
      opts.metrics?.reportsApplied.inc({ report_type: ctx.reportType });
      opts.onApplied?.({ eventId: ctx.eventId, reportId: ctx.reportId, tenant, reportType: ctx.reportType, changes, systemIds });
    }
    for (const { change } of writes) opts.metrics?.changes.inc({ change: change.kind });
    return outcomes;
  });
}

/**
 * The whole report body once this record completes it: a one-part report is its payload; a part of a
 * split report is buffered, and the body is assembled (and the parts removed) when the last one arrives.
 * Undefined while parts are still missing.
 */
export async function completeReportBody(tx: Queryable, t: Tables, envelope: Envelope, info: ReportPart, receivedAt: Date): Promise<Buffer | undefined> {
  if (info.parts === 1) return envelope.payload;
  await insertPart(tx, t, {
    reportId: info.reportId, part: info.part, parts: info.parts, tenant: info.tenant, reportType: info.reportType,
    eventId: envelope.event_id, receivedAt, payload: envelope.payload,
  });
  if ((await countParts(tx, t, info.reportId)) < info.parts) return undefined;
  const body = Buffer.concat(await loadPartPayloads(tx, t, info.reportId));
  await deleteParts(tx, t, info.reportId);
  return body;
}

/**
 * Parses a complete report; a report ingress would have refused is a permanent error. It is thrown inside
 * the record's transaction, so the part stays unrecorded and a redrive after a fix completes it.
 */
export function parseOrReject(body: Buffer, reportId: string): ParsedBody {
  try {
    // Decoded straight from the record's buffer (parseReport would copy the bytes first).
    return parseReport(body.toString('utf8'));
  } catch (err) {
    if (err instanceof ReportRejected) throw new PermanentError(`report ${reportId} rejected: ${err.message}`);
    throw err;
  }
}
