// Test helpers for the SCC inventory: produce SAP reports to the topic exactly as ingress does
// (services/shared/README.md, "Envelope conventions"), and start the service against a test topic
// prefix and PostgreSQL schema.
import { randomUUID } from 'node:crypto';
import type { Kafka, Producer } from 'kafkajs';
import type { KafkaConfig } from '../../services/shared/config.js';
import { openDb, type Db, type Queryable } from '../../services/shared/db.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { produceAll } from '../../services/shared/kafka.js';
import { createMetrics, type Metrics } from '../../services/shared/metrics.js';
import { MAX_RECORD_BYTES } from '../../services/shared/topics.js';
import { loadSccInventoryConfig, type SccInventoryConfig } from '../../services/scc-inventory/config.js';
import { migrateInventory, startSccInventory, type RunningSccInventory } from '../../services/scc-inventory/main.js';
import { HISTORY_COLUMNS, LIVE_TABLES, SYSTEM_COLUMNS, type Tables } from '../../services/scc-inventory/tables.js';
import { projectRecord } from '../../services/scc-inventory/projector.js';
import { PermanentError } from '../../services/shared/errors.js';
import { captureLogger, eventually, readTopic, testDb } from '../support/env.js';

export interface ExposedSystem {
  host: string;
  protocol?: string;
  type?: string;
  status?: string;
  description?: string;
  systemNumber?: string;
}

export interface SccInput {
  subaccount: string;
  locationId?: string;
  exposedSystems: ExposedSystem[];
}

/** A report body in the documented shape. */
export function reportBody(sccs: SccInput[]): Buffer {
  return Buffer.from(JSON.stringify({
    type: 'notification-service',
    value: sccs.map((s) => ({
      subaccount: s.subaccount,
      ...(s.locationId === undefined ? {} : { locationId: s.locationId }),
      exposedSystems: s.exposedSystems.map((x) => ({ protocol: 'HTTP', type: 'on-premise-system', status: 'enabled', description: 'system', systemNumber: 'n-1', ...x })),
    })),
  }));
}

/** Consecutive byte slices of at most maxBytes each (ingress's split). */
export function splitBody(body: Buffer, maxBytes = MAX_RECORD_BYTES): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += maxBytes) parts.push(body.subarray(i, i + maxBytes));
  return parts.length > 0 ? parts : [Buffer.alloc(0)];
}

export interface ReportOptions {
  tenant: string;
  reportType: 'full' | 'delta';
  body: Buffer;
  /** Split into this many parts (default: as ingress would, by MAX_RECORD_BYTES). */
  parts?: number;
  receivedAt?: number;
  reportId?: string;
}

/** The envelopes ingress would write for one delivery, in part order. */
export function reportEnvelopes(o: ReportOptions): Envelope[] {
  const reportId = o.reportId ?? randomUUID();
  const slices = o.parts ? splitBody(o.body, Math.ceil(o.body.length / o.parts)) : splitBody(o.body);
  const receivedAt = o.receivedAt ?? Date.now();
  return slices.map((payload, i) => ({
    event_id: `sap:${reportId}:${i + 1}`,
    source: 'sap',
    kind: 'sap.report',
    tenant: o.tenant,
    received_at: receivedAt,
    request_id: `req-${reportId}`,
    content_type: 'application/json',
    payload,
    attributes: { report_id: reportId, report_type: o.reportType, part: String(i + 1), parts: String(slices.length), external_tenant: `ext-${o.tenant}` },
  }));
}

/**
 * A topic's worth of one-part delta reports, one a second from t0: report i comes from tenant `i % tenants`
 * and changes the description of its host `h-(i % hosts)`, so every report after a tenant's first few changes
 * one system (a history row each).
 */
export function deltaReportEnvelopes(count: number, o: { tenants: number; hosts: number; t0: number }): Envelope[] {
  const envelopes: Envelope[] = [];
  for (let i = 0; i < count; i++) {
    envelopes.push(...reportEnvelopes({
      tenant: `tenant-${i % o.tenants}`, reportType: 'delta', receivedAt: o.t0 + i * 1000,
      body: reportBody([{ subaccount: 'sa', locationId: 'loc', exposedSystems: [{ host: `h-${i % o.hosts}`, description: `change ${i}` }] }]),
    }));
  }
  return envelopes;
}

/** A fresh PostgreSQL schema with the inventory's tables; added to `opened`, for the caller to close. */
export async function migratedInventoryDb(opened: Db[]): Promise<Db> {
  const db = await testDb();
  opened.push(db);
  await migrateInventory(db);
  return db;
}

export async function produceEnvelopes(producer: Producer, codec: EnvelopeCodec, topic: string, envelopes: Envelope[]): Promise<void> {
  // Sequential: concurrent first registrations of one subject race in the registry (ingress registers at start).
  const messages = [];
  for (const e of envelopes) messages.push({ key: e.tenant, value: await codec.encode(topic, e) });
  await produceAll(producer, [{ topic, messages }], { timeoutMs: 15_000 });
}

/** The service configuration for a test: its topic prefix, an ephemeral port, optional overrides. */
export function serviceConfig(kafkaCfg: KafkaConfig, extra: Record<string, string> = {}): SccInventoryConfig {
  return loadSccInventoryConfig({
    ...process.env,
    KAFKA_TOPIC_PREFIX: kafkaCfg.KAFKA_TOPIC_PREFIX,
    KAFKA_TOPIC_PARTITIONS: String(kafkaCfg.KAFKA_TOPIC_PARTITIONS),
    PORT: '0',
    LOG_LEVEL: 'warn',
    INVENTORY_API_TOKENS: '',
    // Group ids are global in Kafka: each test gets its own, or test files would share one group.
    SCC_INVENTORY_GROUP_ID: `${kafkaCfg.KAFKA_TOPIC_PREFIX}scc-inventory`,
    ...extra,
  });
}

export async function startService(config: SccInventoryConfig, db: Db): Promise<RunningSccInventory & { metrics: Metrics; logLines: string[] }> {
  const metrics = createMetrics('scc-inventory');
  const { logger, lines } = captureLogger('scc-inventory');
  const running = await startSccInventory(config, { db, metrics, logger });
  return { ...running, metrics, logLines: lines };
}

/** A second handle on the same PostgreSQL schema (what another process would have). */
export async function sameSchema(db: Db): Promise<Db> {
  const r = await db.query<{ s: string }>('SELECT current_schema() AS s');
  return openDb({ url: process.env.DATABASE_URL, schema: r.rows[0]!.s });
}

export async function processedCount(db: Db): Promise<number> {
  const r = await db.query<{ n: string }>("SELECT count(*) AS n FROM processed_events WHERE consumer = 'scc-inventory'");
  return Number(r.rows[0]!.n);
}

export async function outcomeCount(metrics: Metrics, outcome: string): Promise<number> {
  const m = await metrics.consumerMessages.get();
  return m.values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
}

export async function getJson<T = any>(url: string, token?: string): Promise<{ status: number; body: T }> {
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: (await res.json()) as T };
}

/** Waits until the group is stable with `members` members that all hold partitions (joining can be slow on a busy broker). */
export async function waitForGroup(kafka: Kafka, groupId: string, members = 1, timeoutMs = 100_000): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await eventually(async () => {
      const g = (await admin.describeGroups([groupId])).groups[0];
      return g?.state === 'Stable' && g.members.length === members && g.members.every((m) => m.memberAssignment.length > 0);
    }, timeoutMs, 500);
  } finally {
    await admin.disconnect();
  }
}

/**
 * A canonical, order-independent text dump of a projection (systems and history), for comparing a
 * rebuild with the live inventory. Equal dumps mean equal projections.
 */
export async function canonicalDump(q: Queryable, t: Tables = LIVE_TABLES): Promise<string> {
  const s = await q.query(`SELECT ${SYSTEM_COLUMNS} FROM ${t.systems} ORDER BY id`);
  const h = await q.query(`SELECT ${HISTORY_COLUMNS} FROM ${t.history} ORDER BY system_id, report_id`);
  const json = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
  const norm = (row: Record<string, unknown>) =>
    JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : k === 'before' || k === 'after' ? json(v) : String(v)])));
  return [...s.rows.map((r) => `S ${norm(r)}`), ...h.rows.map((r) => `H ${norm(r)}`)].join('\n');
}

/**
 * The live consumer's path over a whole topic, as the reference a rebuild must equal: every record, in
 * partition order, through projectRecord into the live tables, one transaction each; a record it rejects
 * is left out, as the live consumer dead-letters it.
 */
export async function projectTopicLikeLive(db: Db, kafka: Kafka, codec: EnvelopeCodec, topic: string, records: number, partTtlMs: number): Promise<void> {
  const messages = await readTopic(kafka, topic, records);
  if (messages.length !== records) throw new Error(`read ${messages.length} of ${records} records of ${topic}`);
  messages.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  const projector = { db, tables: LIVE_TABLES, consumer: 'scc-inventory', partTtlMs, lock: true };
  for (const m of messages) {
    try {
      await projectRecord(projector, await codec.decode(m.value!), { partition: m.partition, offset: m.offset });
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err;
    }
  }
}

/** This consumer's idempotency rows (event_id and outcome), sorted. */
export async function processedRows(q: Queryable): Promise<string> {
  const r = await q.query<{ event_id: string; outcome: string }>("SELECT event_id, outcome FROM processed_events WHERE consumer = 'scc-inventory' ORDER BY event_id");
  return r.rows.map((row) => `${row.event_id} ${row.outcome}`).join('\n');
}
