// Where a Kafka record becomes a projection change. One record = one transaction that records its
// event_id, buffers its part, and — when it completes its report — folds the whole report and writes
// the changes. The live consumer and a rebuild both come through here; only the tables differ.
import type { Db, Queryable } from '../shared/db.js';
import type { Envelope } from '../shared/envelope.js';
import { PermanentError } from '../shared/errors.js';
import { decide, parseReport, ReportRejected, systemId, type ParsedBody, type Report, type ReportType } from './fold.js';
import type { SccMetrics } from './metrics.js';
import {
  applyChanges, applyManyChanges, countParts, deleteParts, dropStaleParts, insertPart, loadPartPayloads, loadSystemsOfTenants, loadTenantSystems, lockForApply,
  recordProcessed, recordProcessedMany, tenantsWithParts, type HistoryWrite, type SystemWrite, type Tables,
} from './store.js';

export interface ProjectorOptions {
  db: Db;
  tables: Tables;
  consumer: string;
  partTtlMs: number;
  /** Take the advisory locks (live consumers); a rebuild writing its own shadow tables does not. */
  lock: boolean;
  metrics?: SccMetrics | undefined;
  /** Told about each report applied (for logs) */
  onApplied?: (info: { reportId: string; tenant: string; reportType: ReportType; changes: number; skippedSystems: number }) => void;
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

export async function projectRecord(opts: ProjectorOptions, envelope: Envelope, pos: RecordPosition): Promise<ProjectOutcome> {
  const info = reportPartOf(envelope);
  return opts.db.transaction((tx) => projectWithin(tx, opts, envelope, info, pos));
}

/**
 * The rebuild's projection of several records in one transaction, with the fold in memory: the
 * idempotency rows in one statement, each tenant's systems read once, and every system and history
 * write of the chunk in two statements at the end. Only for a single writer of its own tables (no
 * locks: nothing else may write them meanwhile). Same result as projectRecord per record in order —
 * the live consumer's path — which the rebuild tests compare against. All or nothing, like projectRecords.
 */
export async function projectRecordsOffline(opts: ProjectorOptions, records: Array<{ envelope: Envelope; pos: RecordPosition }>): Promise<ProjectOutcome[]> {
  if (opts.lock) throw new Error('projectRecordsOffline is for a single writer of its own tables');
  const infos = records.map((r) => reportPartOf(r.envelope));
  const t = opts.tables;
  return opts.db.transaction(async (tx) => {
    const fresh = await recordProcessedMany(tx, t, opts.consumer, records.map((r) => r.envelope.event_id), 'processed');
    const withParts = await tenantsWithParts(tx, t);
    const tenants = await loadSystemsOfTenants(tx, t, [...new Set(infos.map((i) => i.tenant))]);
    const systems = new Map<string, SystemWrite>();
    const history: HistoryWrite[] = [];
    const outcomes: ProjectOutcome[] = [];
    for (let i = 0; i < records.length; i++) {
      const { envelope, pos } = records[i]!;
      const info = infos[i]!;
      // The first record of an event_id in the chunk is the one recorded; any later one is a duplicate.
      if (!fresh.delete(envelope.event_id)) {
        outcomes.push('duplicate');
        continue;
      }
      const receivedAt = new Date(envelope.received_at);
      if (withParts.has(info.tenant)) await dropStaleParts(tx, t, info.tenant, new Date(envelope.received_at - opts.partTtlMs));
      if (info.parts > 1) withParts.add(info.tenant);
      const body = await completeReportBody(tx, t, envelope, info, receivedAt);
      if (!body) {
        outcomes.push('processed');
        continue;
      }
      const parsed = parseOrReject(body, info.reportId);
      const state = tenants.get(info.tenant)!;
      const changes = decide({ tenant: info.tenant, reportType: info.reportType, sccs: parsed.sccs }, [...state.values()]);
      const ctx = { reportId: info.reportId, reportType: info.reportType, eventId: envelope.event_id, receivedAt, partition: pos.partition, offset: pos.offset };
      for (const change of changes) {
        const id = systemId(change.key);
        state.set(id, change.after);
        const w = systems.get(id);
        if (w) Object.assign(w, { after: change.after, lastAt: receivedAt, lastReportId: info.reportId });
        else systems.set(id, { after: change.after, firstAt: receivedAt, lastAt: receivedAt, lastReportId: info.reportId });
        history.push({ change, ctx });
      }
      outcomes.push('processed');
    }
    await applyManyChanges(tx, t, systems, history);
    return outcomes;
  });
}

async function projectWithin(tx: Queryable, opts: ProjectorOptions, envelope: Envelope, info: ReportPart, pos: RecordPosition): Promise<ProjectOutcome> {
  const t = opts.tables;
  const receivedAt = new Date(envelope.received_at);
  if (opts.lock) await lockForApply(tx, info.tenant);
  if (!(await recordProcessed(tx, t, opts.consumer, envelope.event_id, 'processed'))) return 'duplicate';

  const dropped = await dropStaleParts(tx, t, info.tenant, new Date(envelope.received_at - opts.partTtlMs));
  if (dropped > 0) opts.metrics?.incompleteDropped.inc(dropped);

  const body = await completeReportBody(tx, t, envelope, info, receivedAt);
  if (!body) return 'processed'; // held until the rest arrives

  const started = process.hrtime.bigint();
  const parsed = parseOrReject(body, info.reportId);
  const report: Report = { tenant: info.tenant, reportType: info.reportType, sccs: parsed.sccs };
  const changes = decide(report, await loadTenantSystems(tx, t, info.tenant));
  await applyChanges(tx, t, changes, {
    reportId: info.reportId, reportType: info.reportType, eventId: envelope.event_id, receivedAt,
    partition: pos.partition, offset: pos.offset,
  });
  opts.metrics?.foldDuration.observe({ report_type: info.reportType }, Number(process.hrtime.bigint() - started) / 1e9);
  opts.metrics?.reportsApplied.inc({ report_type: info.reportType });
  for (const c of changes) opts.metrics?.changes.inc({ change: c.kind });
  opts.onApplied?.({ reportId: info.reportId, tenant: info.tenant, reportType: info.reportType, changes: changes.length, skippedSystems: parsed.skippedSystems });
  return 'processed';
}

/**
 * The whole report body once this record completes it: a one-part report is its payload; a part of a
 * split report is buffered, and the body is assembled (and the parts removed) when the last one arrives.
 * Undefined while parts are still missing.
 */
async function completeReportBody(tx: Queryable, t: Tables, envelope: Envelope, info: ReportPart, receivedAt: Date): Promise<Buffer | undefined> {
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
function parseOrReject(body: Buffer, reportId: string): ParsedBody {
  try {
    return parseReport(body);
  } catch (err) {
    if (err instanceof ReportRejected) throw new PermanentError(`report ${reportId} rejected: ${err.message}`);
    throw err;
  }
}
