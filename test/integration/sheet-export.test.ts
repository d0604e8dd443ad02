// Sheet export through the real broker, registry and PostgreSQL, against the Sheets emulator
// (real @googleapis/sheets client, real service-account JWT flow) and the CSV default.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Kafka, Producer } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSheetExportConfig, type SheetExportConfig } from '../../services/sheet-export/config.js';
import { startSheetExport, type RunningSheetExport } from '../../services/sheet-export/main.js';
import { createCsvSink, parseCsv } from '../../services/sheet-export/csv-sink.js';
import { openLedger } from '../../services/sheet-export/ledger.js';
import { HEADERS, toRow } from '../../services/sheet-export/rows.js';
import { openDb, type Db } from '../../services/shared/db.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { DLQ_HEADERS } from '../../services/shared/dead-letter.js';
import { createKafka, createProducer, produceAll } from '../../services/shared/kafka.js';
import { ensureTopics, rawTopics, topicNames } from '../../services/shared/topics.js';
import type { KafkaConfig } from '../../services/shared/config.js';
import { captureLogger, eventually, readTopic, testKafkaConfig, uniqueName } from '../support/env.js';
import { startSheetsEmulator, type SheetsEmulator } from '../emulators/sheets.js';

const USAGE_TAB = '1NCE usage';
const NSPS_TAB = 'NSPS events';
const EVENTS_TAB = '1NCE events';

function usageRecord(id: number): Record<string, unknown> {
  const iccid = `89882806660000${String(id % 50).padStart(5, '0')}`;
  return {
    imsi: `90140510${String(id).padStart(7, '0')}`,
    organisation: { name: '8100xxxx', id: 1234 },
    start_timestamp: '2021-08-09T12:59:05Z',
    sim: { msisdn: `88228510${String(id).padStart(7, '0')}`, iccid, id: 123456, production_date: '2018-04-17T15:01:50Z' },
    currency: { id: 1, symbol: '€', code: 'EUR' },
    operator: { id: 2, name: 'T-Mobile', mnc: '01', country: { id: 74, mcc: '262', name: 'Germany' } },
    tariff: { ratezone: { name: 'Rate Zone 2 (EU - DE)', id: 2067 }, name: '1NCE Production 01', id: 398 },
    imsi_id: 1234567,
    traffic_type: { description: 'Data', id: 5 },
    id,
    end_timestamp: '2021-08-09T12:51:20Z',
    endpoint: { tags: null, ip_address: '10.0.0.1', name: `dev-${id}`, imei: '356938035643809', id: 12345678, balance: null },
    cost: 0.001176,
    volume: { total: 0.001176, tx: 0.001176, rx: 0.0 },
  };
}

function onceEventRecord(id: number): Record<string, unknown> {
  return {
    imsi: { imsi: '901405100000001', id: 123456, import_date: '2019-01-21T09:36:17Z' },
    event_source: { description: 'Network', id: 0 },
    organisation: { name: '8100xxxx', id: 1234 },
    event_severity: { id: 0, description: 'INFO' },
    sim: { msisdn: '882285100000001', iccid: '8988280666000000001', id: 1234567, production_date: '2019-01-21T09:36:17Z' },
    description: "New location received from VLR for IMSI='901405100000001', now attached to VLR='491770000000'.",
    alert: false,
    id,
    user: null,
    detail: { name: 'T-Mobile', country: { iso_code: 'nl', country_code: '31', name: 'Netherlands', id: 141, mcc: '204' }, id: 730 },
    endpoint: { tags: null, ip_address: '10.0.0.1', name: 'tracker, "one"', imei: '356938035643809', id: 1234567 },
    event_type: { id: 1, description: 'Update location' },
    timestamp: '2019-01-21T09:36:17Z',
  };
}

function nspsEvent(n: number): Record<string, unknown> {
  return {
    event_id: `nsps-${n}-${uniqueName('e')}`,
    data: { event_type: 'SIM/Updated', variables: { i_env: 1, i_event: 999999, i_account: n } },
    pb_data: {
      account_info: { bill_status: 'open', blocked: false, i_account: n, i_customer: 6392, id: `7912345${String(n).padStart(4, '0')}@msisdn`, product_name: 'wtl Pay as you go' },
      sim_info: { i_sim_card: 3793, imsi: `00101000002${String(n).padStart(4, '0')}`, msisdn: `7912345${String(n).padStart(4, '0')}`, status: 'active' },
    },
    handler_id: 'p1-nsps',
    created_at: '2025-03-12T16:47:30.443939+00:00',
    updated_at: '2025-03-12T16:47:36.585885+00:00',
    status: 'received',
  };
}

/** Produces records to their raw topics the way ingress does: envelope conventions of services/shared/README.md. */
class Ingress {
  readonly names: ReturnType<typeof topicNames>;
  constructor(private readonly producer: Producer, private readonly codec: EnvelopeCodec, cfg: KafkaConfig) {
    this.names = topicNames(cfg.KAFKA_TOPIC_PREFIX);
  }

  async usage(records: Record<string, unknown>[]): Promise<Envelope[]> {
    return this.send(this.names.onceUsage, records.map((r) => this.once('1nce.usage', `1nce-usage:${r.id}`, r)));
  }
  async onceEvents(records: Record<string, unknown>[]): Promise<Envelope[]> {
    return this.send(this.names.onceEvents, records.map((r) => this.once('1nce.event', `1nce-event:${r.id}`, r)));
  }
  async nsps(events: Record<string, unknown>[] | { raw: string; eventId: string }[]): Promise<Envelope[]> {
    return this.send(
      this.names.nspsEvents,
      events.map((e) => {
        const raw = 'raw' in e ? String(e.raw) : JSON.stringify(e);
        const eventId = 'raw' in e ? String(e.eventId) : String(e.event_id);
        const imsi = 'raw' in e ? eventId : String(((e.pb_data as { sim_info: { imsi: string } }).sim_info).imsi);
        return { key: imsi, envelope: envelope('nsps', 'nsps.event', eventId, null, Buffer.from(raw)) };
      }),
    );
  }
  private once(kind: '1nce.usage' | '1nce.event', eventId: string, r: Record<string, unknown>) {
    const sim = r.sim as { iccid: string };
    const org = r.organisation as { id: number };
    return { key: sim.iccid, envelope: envelope('1nce', kind, eventId, String(org.id), Buffer.from(JSON.stringify(r))) };
  }
  private async send(topic: string, items: { key: string; envelope: Envelope }[]): Promise<Envelope[]> {
    for (let i = 0; i < items.length; i += 500) {
      const chunk = items.slice(i, i + 500);
      const messages = await Promise.all(chunk.map(async (it) => ({ key: it.key, value: await this.codec.encode(topic, it.envelope) })));
      await produceAll(this.producer, [{ topic, messages }], { timeoutMs: 20_000 });
    }
    return items.map((i) => i.envelope);
  }
}

function envelope(source: Envelope['source'], kind: Envelope['kind'], eventId: string, tenant: string | null, payload: Buffer): Envelope {
  return { event_id: eventId, source, kind, tenant, received_at: Date.now(), request_id: uniqueName('req'), content_type: 'application/json', payload, attributes: {} };
}

/** True when the group has committed every record currently in the topics. */
async function caughtUp(kafka: Kafka, groupId: string, topics: string[]): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const committed = await admin.fetchOffsets({ groupId, topics });
    for (const topic of topics) {
      const ends = await admin.fetchTopicOffsets(topic);
      const mine = committed.find((c) => c.topic === topic)?.partitions ?? [];
      for (const end of ends) {
        const c = mine.find((p) => p.partition === end.partition)?.offset ?? '-1';
        const at = c === '-1' ? 0n : BigInt(c);
        if (at < BigInt(end.high)) return false;
      }
    }
    return true;
  } finally {
    await admin.disconnect();
  }
}

function counterValue(text: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) total += Number(line.split(' ').pop());
  }
  return total;
}

interface Harness {
  cfg: KafkaConfig;
  kafka: Kafka;
  producer: Producer;
  ingress: Ingress;
  schema: string;
  dataDir: string;
  db: Db;
  env(extra?: Record<string, string>): Record<string, string>;
  config(extra?: Record<string, string>): SheetExportConfig;
  dispose(): Promise<void>;
}

async function harness(emulator?: SheetsEmulator): Promise<Harness> {
  const cfg = testKafkaConfig();
  const { logger } = captureLogger();
  const kafka = createKafka(cfg, logger);
  const names = topicNames(cfg.KAFKA_TOPIC_PREFIX);
  await ensureTopics(kafka, cfg, rawTopics(names));
  const producer = await createProducer(kafka);
  const ingress = new Ingress(producer, EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL), cfg);
  const schema = uniqueName('sheet').toLowerCase();
  const dataDir = mkdtempSync(join(tmpdir(), 'sheet-export-'));
  const db = await openDb({ url: process.env.DATABASE_URL, schema });
  const env = (extra: Record<string, string> = {}): Record<string, string> => ({
    KAFKA_BROKERS: cfg.KAFKA_BROKERS.join(','),
    SCHEMA_REGISTRY_URL: cfg.SCHEMA_REGISTRY_URL,
    KAFKA_TOPIC_PREFIX: cfg.KAFKA_TOPIC_PREFIX,
    KAFKA_TOPIC_PARTITIONS: '3',
    DATABASE_URL: process.env.DATABASE_URL!,
    DB_SCHEMA: schema,
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'warn',
    SHEET_EXPORT_GROUP_ID: uniqueName('sheet-export'),
    SHEETS_BATCH_MAX_WAIT_MS: '300',
    SHEETS_MIN_CALL_INTERVAL_MS: '100',
    ...(emulator
      ? { GOOGLE_SHEETS_SPREADSHEET_ID: emulator.spreadsheetId, GOOGLE_SERVICE_ACCOUNT_JSON: emulator.serviceAccountJson, GOOGLE_SHEETS_ROOT_URL: emulator.rootUrl }
      : {}),
    ...extra,
  });
  return {
    cfg, kafka, producer, ingress, schema, dataDir, db, env,
    config: (extra) => loadSheetExportConfig(env(extra)),
    async dispose() {
      await producer.disconnect();
      await db.exec(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

function inputTopics(h: Harness): string[] {
  const n = h.ingress.names;
  return [n.nspsEvents, n.onceEvents, n.onceUsage];
}

function columnA(emulator: SheetsEmulator, tab: string): string[] {
  return emulator.rows(tab).slice(1).map((r) => String(r[0]));
}

describe('sheet export to Google Sheets (emulator)', () => {
  let emulator: SheetsEmulator;
  let h: Harness;
  let usage: Envelope[];
  const running: RunningSheetExport[] = [];

  beforeAll(async () => {
    emulator = await startSheetsEmulator();
    h = await harness(emulator);
  });
  afterAll(async () => {
    for (const r of running) await r.stop();
    await h?.dispose();
    await emulator?.close();
  });

  it('a burst of 3,000 usage records becomes 3,000 rows in a handful of append calls', async () => {
    usage = await h.ingress.usage(Array.from({ length: 3000 }, (_, i) => usageRecord(100_000 + i)));
    const config = h.config();
    const service = await startSheetExport(config, { logger: captureLogger().logger });
    running.push(service);

    await eventually(async () => columnA(emulator, USAGE_TAB).length >= 3000, 90_000);
    expect(await eventually(() => caughtUp(h.kafka, config.SHEET_EXPORT_GROUP_ID, inputTopics(h)), 30_000)).toBe(true);
    await service.stop();
    running.pop();

    const ids = columnA(emulator, USAGE_TAB);
    expect(ids).toHaveLength(3000);
    expect(new Set(ids)).toEqual(new Set(usage.map((e) => e.event_id)));
    expect(emulator.rows(USAGE_TAB)[0]).toEqual(HEADERS.onceUsage);
    // A row is exactly what rows.ts makes of the record (RAW keeps numbers and strings as they are).
    const sample = usage[1234]!;
    const sheetRow = emulator.rows(USAGE_TAB).find((r) => r[0] === sample.event_id);
    expect(sheetRow).toEqual(toRow(sample).row);
    expect(emulator.calls.append).toBeLessThanOrEqual(8);
    console.log(`burst: 3000 rows in ${emulator.calls.append} append calls of ${emulator.appendSizes.join(', ')} rows; ${emulator.calls.token} token call(s)`);
    expect(emulator.appendSizes.reduce((a, b) => a + b, 0)).toBe(3000);
    expect(emulator.calls.token).toBeGreaterThanOrEqual(1);
    const text = await service.metrics.registry.metrics();
    expect(counterValue(text, 'switchboard_sheet_rows_appended_total', { tab: USAGE_TAB })).toBe(3000);
    expect(counterValue(text, 'switchboard_consumer_messages_total', { outcome: 'processed' })).toBe(3000);
  });

  it('a replay of the topics with a fresh consumer group adds no row', async () => {
    const appendsBefore = emulator.calls.append;
    const config = h.config(); // new SHEET_EXPORT_GROUP_ID, same ledger (DB_SCHEMA)
    const service = await startSheetExport(config, { logger: captureLogger().logger });
    running.push(service);
    expect(await eventually(() => caughtUp(h.kafka, config.SHEET_EXPORT_GROUP_ID, inputTopics(h)), 60_000)).toBe(true);
    await service.stop();
    running.pop();

    expect(columnA(emulator, USAGE_TAB)).toHaveLength(3000);
    expect(emulator.calls.append).toBe(appendsBefore);
    const text = await service.metrics.registry.metrics();
    expect(counterValue(text, 'switchboard_consumer_messages_total', { outcome: 'duplicate' })).toBe(3000);
  });

  it('429s and a 500 after a write neither lose nor duplicate a row', async () => {
    emulator.fail('append', { status: 429, times: 2, retryAfterSeconds: 0 });
    emulator.fail('append', { status: 500, times: 1, applyFirst: true });
    const nsps = await h.ingress.nsps(Array.from({ length: 40 }, (_, i) => nspsEvent(i)));
    const events = await h.ingress.onceEvents(Array.from({ length: 25 }, (_, i) => onceEventRecord(500 + i)));
    const config = h.config();
    const service = await startSheetExport(config, { logger: captureLogger().logger });
    running.push(service);
    expect(await eventually(() => caughtUp(h.kafka, config.SHEET_EXPORT_GROUP_ID, inputTopics(h)), 60_000)).toBe(true);
    await service.stop();
    running.pop();

    const nspsIds = columnA(emulator, NSPS_TAB);
    const eventIds = columnA(emulator, EVENTS_TAB);
    expect(nspsIds.length).toBe(40);
    expect(new Set(nspsIds)).toEqual(new Set(nsps.map((e) => e.event_id)));
    expect(eventIds.length).toBe(25);
    expect(new Set(eventIds)).toEqual(new Set(events.map((e) => e.event_id)));
    expect(columnA(emulator, USAGE_TAB)).toHaveLength(3000);
    const text = await service.metrics.registry.metrics();
    expect(counterValue(text, 'switchboard_sheet_throttled_total', {})).toBe(2);
    // The 500 came after the rows were written: reconciliation found them in column A.
    expect(counterValue(text, 'switchboard_sheet_reconciled_rows_total', { result: 'found' })).toBeGreaterThan(0);
  });
});

describe('sheet export with two instances in one group', () => {
  let emulator: SheetsEmulator;
  let h: Harness;
  const services: RunningSheetExport[] = [];

  beforeAll(async () => {
    emulator = await startSheetsEmulator();
    h = await harness(emulator);
  });
  afterAll(async () => {
    for (const s of services) await s.stop();
    await h?.dispose();
    await emulator?.close();
  });

  it('together write each row exactly once', async () => {
    const config = h.config();
    services.push(await startSheetExport(config, { logger: captureLogger().logger }));
    services.push(await startSheetExport({ ...config, PORT: 0 }, { logger: captureLogger().logger }));
    const usage = await h.ingress.usage(Array.from({ length: 600 }, (_, i) => usageRecord(700_000 + i)));
    const nsps = await h.ingress.nsps(Array.from({ length: 30 }, (_, i) => nspsEvent(i)));
    expect(await eventually(() => caughtUp(h.kafka, config.SHEET_EXPORT_GROUP_ID, inputTopics(h)), 60_000)).toBe(true);
    const usageIds = columnA(emulator, USAGE_TAB);
    expect(usageIds).toHaveLength(600);
    expect(new Set(usageIds)).toEqual(new Set(usage.map((e) => e.event_id)));
    expect(new Set(columnA(emulator, NSPS_TAB))).toEqual(new Set(nsps.map((e) => e.event_id)));
    expect(columnA(emulator, NSPS_TAB)).toHaveLength(30);
  });
});

describe('sheet export when a person deletes a tab', () => {
  let emulator: SheetsEmulator;
  let h: Harness;
  let service: RunningSheetExport | undefined;

  beforeAll(async () => {
    emulator = await startSheetsEmulator();
    h = await harness(emulator);
  });
  afterAll(async () => {
    await service?.stop();
    await h?.dispose();
    await emulator?.close();
  });

  it('re-creates the tab with its header and keeps exporting, dead-lettering nothing', async () => {
    const config = h.config();
    service = await startSheetExport(config, { logger: captureLogger().logger });
    await h.ingress.onceEvents([onceEventRecord(1), onceEventRecord(2)]);
    expect(await eventually(async () => columnA(emulator, EVENTS_TAB).length === 2)).toBe(true);

    emulator.deleteTab(EVENTS_TAB);
    const later = await h.ingress.onceEvents([onceEventRecord(3)]);
    expect(await eventually(async () => columnA(emulator, EVENTS_TAB).length === 1)).toBe(true);
    expect(emulator.rows(EVENTS_TAB)[0]).toEqual(HEADERS.onceEvents);
    expect(columnA(emulator, EVENTS_TAB)).toEqual([later[0]!.event_id]);
    expect(await eventually(() => caughtUp(h.kafka, config.SHEET_EXPORT_GROUP_ID, inputTopics(h)))).toBe(true);
    await service.stop();
    const text = await service.metrics.registry.metrics();
    service = undefined;
    expect(counterValue(text, 'switchboard_consumer_messages_total', { outcome: 'dead_lettered' })).toBe(0);
  });
});

describe('sheet export survives a crash between append and commit', () => {
  let emulator: SheetsEmulator;
  let h: Harness;
  let service: RunningSheetExport | undefined;

  beforeAll(async () => {
    emulator = await startSheetsEmulator();
    h = await harness(emulator);
  });
  afterAll(async () => {
    await service?.stop();
    await h?.dispose();
    await emulator?.close();
  });

  it('leaves no duplicate row after the restarted process reconciles', async () => {
    const usage = await h.ingress.usage(Array.from({ length: 400 }, (_, i) => usageRecord(900_000 + i)));
    // This run reads the key from a file, as most deployments do.
    const keyFile = join(h.dataDir, 'service-account.json');
    writeFileSync(keyFile, emulator.serviceAccountJson, { mode: 0o600 });
    // A short session so the restarted instance need not wait 30 s for the group to give up on the dead one.
    const env = h.env({ SHEETS_BATCH_MAX_ROWS: '150', GOOGLE_APPLICATION_CREDENTIALS: keyFile, SHEET_EXPORT_SESSION_TIMEOUT_MS: '6000' });
    delete env.GOOGLE_SERVICE_ACCOUNT_JSON;

    const child = spawn(process.execPath, ['--import', 'tsx', 'services/sheet-export/main.ts'], {
      cwd: join(import.meta.dirname, '..', '..'),
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, signal) => resolve(signal)));
    // The emulator has written the first append's rows; its answer waits until the process is dead.
    emulator.onAppend = async () => {
      emulator.onAppend = undefined;
      child.kill('SIGKILL');
      await exited;
    };
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    const signal = await exited;
    clearTimeout(timer);
    expect(emulator.appends.length, stderr).toBe(1);
    expect(signal).toBe('SIGKILL');

    // The process died after the sheet got rows but before it recorded them or committed offsets.
    const landed = columnA(emulator, USAGE_TAB).length;
    expect(landed).toBeGreaterThan(0);
    const pending = await h.db.query<{ n: string }>('SELECT count(*) AS n FROM sheet_pending_batches');
    expect(Number(pending.rows[0]!.n)).toBe(1);
    expect(await caughtUp(h.kafka, env.SHEET_EXPORT_GROUP_ID!, inputTopics(h))).toBe(false);

    const config = loadSheetExportConfig(env); // same group: the uncommitted records come again
    service = await startSheetExport(config, { logger: captureLogger().logger });
    expect(await eventually(() => caughtUp(h.kafka, config.SHEET_EXPORT_GROUP_ID, inputTopics(h)), 60_000)).toBe(true);
    await service.stop();

    const ids = columnA(emulator, USAGE_TAB);
    expect(ids).toHaveLength(400);
    expect(new Set(ids)).toEqual(new Set(usage.map((e) => e.event_id)));
    const after = await h.db.query<{ n: string }>('SELECT count(*) AS n FROM sheet_pending_batches');
    expect(Number(after.rows[0]!.n)).toBe(0);
    const text = await service.metrics.registry.metrics();
    expect(counterValue(text, 'switchboard_sheet_reconciled_rows_total', { result: 'found' })).toBe(landed);
    service = undefined;
  });
});

describe('sheet export to CSV files (the embedded default)', () => {
  let h: Harness;
  let service: RunningSheetExport | undefined;

  beforeAll(async () => {
    h = await harness();
  });
  afterAll(async () => {
    await service?.stop();
    await h?.dispose();
  });

  const readTab = (tab: string): string[][] => parseCsv(readFileSync(join(h.dataDir, 'sheets', `${tab}.csv`), 'utf8'));

  it('writes the same rows to one CSV file per tab, dead-letters unreadable payloads, and never duplicates', async () => {
    const nsps = await h.ingress.nsps([nspsEvent(1), nspsEvent(2)]);
    await h.ingress.nsps([{ raw: '{"event_id": "broken", "data": ', eventId: 'broken-1' }]);
    const events = await h.ingress.onceEvents([onceEventRecord(7)]);
    // The same usage record twice, as a 1NCE resend after a failed response would produce it.
    const usage = await h.ingress.usage([usageRecord(1), usageRecord(2), usageRecord(1)]);

    // What a process killed right after its first append leaves behind: a pending batch in the ledger whose
    // row is already in the file. The service must find it in column A instead of appending it again.
    const crashed = createCsvSink(join(h.dataDir, 'sheets'));
    const ledger = await openLedger(h.db);
    await crashed.ensureHeader(USAGE_TAB, HEADERS.onceUsage);
    await ledger.beginBatch(USAGE_TAB, [usage[0]!.event_id]);
    await crashed.append(USAGE_TAB, [toRow(usage[0]!).row]);
    await crashed.close?.();

    const config = h.config();
    service = await startSheetExport(config, { logger: captureLogger().logger });
    expect(await eventually(() => caughtUp(h.kafka, config.SHEET_EXPORT_GROUP_ID, inputTopics(h)), 60_000)).toBe(true);
    await service.stop();
    const firstRun = await service.metrics.registry.metrics();
    expect(counterValue(firstRun, 'switchboard_sheet_reconciled_rows_total', { result: 'found' })).toBe(1);

    const nspsRows = readTab(NSPS_TAB);
    expect(nspsRows[0]).toEqual(HEADERS.nsps);
    // The expected rows are written out from the fixtures above, not produced by the mapping under test.
    const pad = (n: number) => String(n).padStart(4, '0');
    const expectedNsps = nsps.map((e, i) => [
      e.event_id, new Date(e.received_at).toISOString(), 'SIM/Updated', `00101000002${pad(i + 1)}`, `7912345${pad(i + 1)}`, 'open', 'false',
      'wtl Pay as you go', `7912345${pad(i + 1)}@msisdn`, String(i + 1), '6392', 'active', '', 'p1-nsps', '2025-03-12T16:47:30.443939+00:00',
      '2025-03-12T16:47:36.585885+00:00', 'received', `{"i_env":1,"i_event":999999,"i_account":${i + 1}}`, e.request_id,
    ]);
    expect(nspsRows.slice(1).sort()).toEqual(expectedNsps.sort());
    const eventRows = readTab(EVENTS_TAB);
    expect(eventRows).toHaveLength(2);
    const eventRow = Object.fromEntries(HEADERS.onceEvents.map((h, i) => [h, eventRows[1]![i]]));
    expect(eventRow).toMatchObject({
      'Event ID': '1nce-event:7', 'Record ID': '7', Timestamp: '2019-01-21T09:36:17Z', ICCID: '8988280666000000001', IMSI: '901405100000001',
      MSISDN: '882285100000001', 'Event type': 'Update location', Severity: 'INFO', Source: 'Network', Alert: 'false',
      'Endpoint name': 'tracker, "one"', IMEI: '356938035643809', 'Request ID': events[0]!.request_id,
    });
    const usageRows = readTab(USAGE_TAB);
    expect(usageRows.slice(1).map((r) => r[0]).sort()).toEqual(['1nce-usage:1', '1nce-usage:2']);
    for (const row of usageRows.slice(1)) {
      const id = Number(row[0]!.split(':')[1]);
      const cells = Object.fromEntries(HEADERS.onceUsage.map((h, i) => [h, row[i]]));
      expect(cells).toMatchObject({
        'Record ID': String(id), Start: '2021-08-09T12:59:05Z', End: '2021-08-09T12:51:20Z', ICCID: `89882806660000${String(id).padStart(5, '0')}`,
        IMSI: `90140510${String(id).padStart(7, '0')}`, MSISDN: `88228510${String(id).padStart(7, '0')}`, 'Traffic type': 'Data',
      });
    }

    const letters = await readTopic(h.kafka, h.ingress.names.deadLetter('sheet-export'), 1, 20_000);
    expect(letters).toHaveLength(1);
    expect(letters[0]!.headers?.[DLQ_HEADERS.eventId]?.toString()).toBe('broken-1');
    expect(letters[0]!.headers?.[DLQ_HEADERS.reason]?.toString()).toMatch(/not JSON/);

    // Replay with a fresh group: the files do not change.
    const before = [NSPS_TAB, EVENTS_TAB, USAGE_TAB].map((t) => readFileSync(join(h.dataDir, 'sheets', `${t}.csv`), 'utf8'));
    const replay = h.config();
    service = await startSheetExport(replay, { logger: captureLogger().logger });
    expect(await eventually(() => caughtUp(h.kafka, replay.SHEET_EXPORT_GROUP_ID, inputTopics(h)), 60_000)).toBe(true);
    await service.stop();
    service = undefined;
    const after = [NSPS_TAB, EVENTS_TAB, USAGE_TAB].map((t) => readFileSync(join(h.dataDir, 'sheets', `${t}.csv`), 'utf8'));
    expect(after).toEqual(before);
  });
});
