// The whole system under faults (npm run test:faults). Ingress and every consumer run as real
// processes on a private Kafka broker (so it can be stopped), the shared schema registry and the
// real PostgreSQL, while a load generator that retries like the real senders delivers a known set of
// webhooks from all three sources. Meanwhile: the broker stops for several seconds and comes back;
// a provisioning instance is SIGKILLed mid-batch and restarted; sheet export scales 1 → 3 → 1;
// the WTL and Sheets emulators turn slow, fail (5xx, 429, written-then-500) and flap; PostgreSQL
// restarts under the consumers. Then it reconciles every promise and prints the figures.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafka, stopKafka } from '../../../infra/local/stack.js';
import { loadConfig, kafkaConfigShape } from '../../../services/shared/config.js';
import { createKafka } from '../../../services/shared/kafka.js';
import { EnvelopeCodec, type Envelope } from '../../../services/shared/envelope.js';
import { rawTopics, topicNames } from '../../../services/shared/topics.js';
import { readDeadLetters } from '../../../services/shared/dead-letter.js';
import { openDb, type Db } from '../../../services/shared/db.js';
import { foldReports, parseReport, decide, type Report, type SystemState, systemKeyString } from '../../../services/scc-inventory/fold.js';
import { startWtlEmulator, type WtlEmulator } from '../../emulators/wtl.js';
import { startSheetsEmulator, type SheetsEmulator } from '../../emulators/sheets.js';
import { captureLogger, eventually, readTopic } from '../../support/env.js';
import { allServiceLines, findSecretLeaks, startService, type ServiceProcess } from '../../support/processes.js';
import { runLoad, type Delivery } from '../../support/load.js';

const KAFKA_PORT = 31492; // below the ephemeral port range (32768+), so no client socket can hold it
const run = `f${Date.now().toString(36)}`;
const secrets = { nsps: `faults-nsps-${run}-token`, oncePw: `faults-once-${run}-pw`, sap: `faults-sap-${run}-secret-0123456789abcdef` };
const faults: Record<string, number> = { kafka_stopped: 0, consumer_sigkilled: 0, scaled_up: 0, scaled_down: 0, wtl_fault_windows: 0, sheets_faults: 0, postgres_restarted: 0 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function restartPostgres(): void {
  const versions = readdirSync('/etc/postgresql');
  const r = spawnSync('pg_ctlcluster', ['--skip-systemctl-redirect', versions[0]!, 'main', 'restart'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`pg_ctlcluster restart failed: ${r.stderr}`);
}

describe('fault injection: nothing lost, nothing doubled', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'switchboard-faults-kafka-'));
  const prefix = `${run}.`;
  const topics = topicNames(prefix);
  let brokers = '';
  let wtl: WtlEmulator;
  let sheets: SheetsEmulator;
  let ingress: ServiceProcess;
  const provisioning: ServiceProcess[] = [];
  const sheetExport: ServiceProcess[] = [];
  let inventory: ServiceProcess;
  let deliveries: Delivery[] = [];
  let credsFile = '';
  const schemas = { provisioning: `${run}_prov`, sheets: `${run}_sheets`, inventory: `${run}_inv` };

  const baseEnv = (): Record<string, string> => ({
    KAFKA_BROKERS: brokers,
    SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL!,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_TOPIC_PARTITIONS: '3',
    DATABASE_URL: process.env.DATABASE_URL!,
    LOG_LEVEL: 'info',
    PROVISIONING_GROUP_ID: `${run}-provisioning`,
    SHEET_EXPORT_GROUP_ID: `${run}-sheet-export`,
    SCC_INVENTORY_GROUP_ID: `${run}-scc-inventory`,
  });
  const provisioningEnv = (): Record<string, string> => ({
    ...baseEnv(), DB_SCHEMA: schemas.provisioning, WTL_BASE_URL: wtl.url, WTL_API_KEY: `wtl-${run}-key`, WTL_TIMEOUT_MS: '3000',
    PROVISIONING_RETRY_MAX_ATTEMPTS: '10', PROVISIONING_RETRY_MAX_MS: '3000', PROVISIONING_SESSION_TIMEOUT_MS: '10000',
  });
  const sheetEnv = (): Record<string, string> => ({
    ...baseEnv(), DB_SCHEMA: schemas.sheets, GOOGLE_SHEETS_SPREADSHEET_ID: sheets.spreadsheetId, GOOGLE_APPLICATION_CREDENTIALS: credsFile,
    GOOGLE_SHEETS_ROOT_URL: sheets.rootUrl, SHEETS_BATCH_MAX_WAIT_MS: '500', SHEETS_MIN_CALL_INTERVAL_MS: '100', SHEET_EXPORT_SESSION_TIMEOUT_MS: '10000',
  });

  beforeAll(async () => {
    brokers = await startKafka({ stateDir, kafkaPort: KAFKA_PORT, controllerPort: KAFKA_PORT + 1, registryPort: 0, log: () => undefined });
    // WTL applies on receipt; this one honours the idempotency key (the event id), so the re-send of a call
    // cut off by the SIGKILL is dropped, and counted below. effect-crash.test.ts measures both kinds of WTL.
    wtl = await startWtlEmulator({ honourIdempotencyKey: true });
    sheets = await startSheetsEmulator();
    credsFile = join(mkdtempSync(join(tmpdir(), 'switchboard-faults-sa-')), 'sa.json');
    writeFileSync(credsFile, sheets.serviceAccountJson);
    ingress = await startService('ingress', 18480, {
      ...baseEnv(), NSPS_API_TOKENS: secrets.nsps, ONCE_BASIC_AUTH_USERS: `streamer:${secrets.oncePw}`, SAP_JWT_HS256_SECRET: secrets.sap,
      KAFKA_PRODUCE_TIMEOUT_MS: '5000', KAFKA_RETRY_AFTER_SECONDS: '1',
    });
    provisioning.push(await startService('provisioning', 19201, provisioningEnv()));
    sheetExport.push(await startService('sheet-export', 19211, sheetEnv()));
    inventory = await startService('scc-inventory', 18490, { ...baseEnv(), DB_SCHEMA: schemas.inventory });
  }, 240_000);

  afterAll(async () => {
    await Promise.all([ingress, inventory, ...provisioning, ...sheetExport].filter(Boolean).map((s) => s.stop()));
    await stopKafka(stateDir, () => undefined);
    await wtl?.close();
    await sheets?.close();
  }, 120_000);

  it('survives broker outage, SIGKILL, scaling, flapping APIs and a PostgreSQL restart with zero lost and zero duplicate effects', async () => {
    const load = runLoad(
      { ingressUrl: ingress.url, nspsToken: secrets.nsps, onceUser: 'streamer', oncePassword: secrets.oncePw, sapSecret: secrets.sap },
      { nspsEvents: 240, onceBatches: 16, onceBatchSize: 50, sapReports: 24, sapTenants: 3, concurrency: 6, maxAttempts: 20, spreadOverMs: 45_000 },
      run,
    ).then((d) => (deliveries = d));

    // The fault timeline, while the load runs.
    const flapping = (async () => {
      for (let i = 0; i < 10; i++) {
        faults.wtl_fault_windows!++;
        const mode = i % 3;
        if (mode === 0) wtl.setDefault({ status: 503, body: { is_successful: false, error: 'maintenance' } });
        if (mode === 1) wtl.setDefault({ status: 429, headers: { 'retry-after': '1' }, body: { is_successful: false } });
        if (mode === 2) wtl.setLatency(400);
        sheets.fail('append', i % 2 === 0 ? { status: 429, times: 2, retryAfterSeconds: 1 } : { status: 500, times: 1, applyFirst: true });
        faults.sheets_faults!++;
        await sleep(700);
        wtl.setDefault(undefined);
        wtl.setLatency(0);
        await sleep(1300);
      }
    })();

    await sleep(3000);
    faults.consumer_sigkilled!++;
    await provisioning[0]!.kill();
    await sleep(1500);
    await provisioning[0]!.restart();

    faults.scaled_up!++;
    sheetExport.push(await startService('sheet-export', 19212, sheetEnv()), await startService('sheet-export', 19213, sheetEnv()));

    // The load lasts 45 s, so the outage meets traffic however long the restart and scale-up above took (behind
    // them it once came after the last request); 8 s is longer than KAFKA_PRODUCE_TIMEOUT_MS (5 s).
    faults.kafka_stopped!++;
    await stopKafka(stateDir, () => undefined);
    await sleep(8000);
    await startKafka({ stateDir, kafkaPort: KAFKA_PORT, controllerPort: KAFKA_PORT + 1, registryPort: 0, log: () => undefined });

    await sleep(3000);
    faults.postgres_restarted!++;
    restartPostgres();

    await sleep(3000);
    faults.scaled_down!++;
    await Promise.all(sheetExport.splice(1).map((s) => s.stop()));

    await flapping;
    await load;
    wtl.setDefault(undefined);
    wtl.setLatency(0);

    // ---- reconcile --------------------------------------------------------------------------
    const { logger } = captureLogger();
    const cfg = loadConfig(kafkaConfigShape, { ...baseEnv() });
    const kafka = createKafka(cfg, logger);
    const codec = EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL);
    const admin = kafka.admin();
    await admin.connect();
    let total = 0;
    const ends: Record<string, number> = {};
    for (const t of rawTopics(topics)) {
      ends[t] = (await admin.fetchTopicOffsets(t)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
      total += ends[t]!;
    }
    const envelopes: (Envelope & { topic: string; partition: number; offset: string })[] = [];
    for (const t of rawTopics(topics)) {
      for (const m of await readTopic(kafka, t, ends[t]!, 60_000)) envelopes.push({ ...(await codec.decode(m.value!)), topic: t, partition: m.partition, offset: m.offset });
    }
    expect(envelopes.length).toBe(total);

    const inKafka = new Map<string, number>();
    for (const e of envelopes) inKafka.set(e.event_id, (inKafka.get(e.event_id) ?? 0) + 1);
    // SAP reports: complete when all parts are there; the marker identifies the sender's report.
    const reportParts = new Map<string, (typeof envelopes)[number][]>();
    for (const e of envelopes.filter((x) => x.kind === 'sap.report')) {
      const id = e.attributes.report_id!;
      reportParts.set(id, [...(reportParts.get(id) ?? []), e]);
    }
    const completeReports = [...reportParts.values()]
      .filter((parts) => new Set(parts.map((p) => p.attributes.part)).size === Number(parts[0]!.attributes.parts))
      .map((parts) => {
        const ordered = [...new Map(parts.map((p) => [p.attributes.part, p])).values()].sort((a, b) => Number(a.attributes.part) - Number(b.attributes.part));
        const body = Buffer.concat(ordered.map((p) => p.payload)).toString('utf8');
        const last = parts.reduce((a, b) => (BigInt(a.offset) > BigInt(b.offset) ? a : b));
        return { reportId: ordered[0]!.attributes.report_id!, tenant: ordered[0]!.tenant!, type: ordered[0]!.attributes.report_type as 'full' | 'delta', body, partition: last.partition, offset: BigInt(last.offset) };
      });

    const ok = deliveries.filter((d) => d.final >= 200 && d.final < 300);
    const retriableErrors = deliveries.reduce((n, d) => n + d.attempts.filter((s) => s === 0 || s >= 500 || s === 408 || s === 429).length, 0);
    let lostInKafka = 0;
    for (const d of ok) {
      if (d.source === 'sap') {
        if (!completeReports.some((r) => r.body.includes(d.marker!))) lostInKafka++;
      } else {
        lostInKafka += d.eventIds.filter((id) => !inKafka.has(id)).length;
      }
    }

    // Wait until every consumer has caught up: lag 0 for all three groups.
    const groups = [`${run}-provisioning`, `${run}-sheet-export`, `${run}-scc-inventory`];
    const lagging = async (): Promise<string[]> => {
      const behind: string[] = [];
      for (const groupId of groups) {
        const offsets = await admin.fetchOffsets({ groupId, topics: rawTopics(topics) }).catch(() => []);
        for (const { topic, partitions } of offsets) {
          const relevant = groupId.endsWith('-provisioning') ? topic === topics.nspsEvents : groupId.endsWith('-scc-inventory') ? topic === topics.sapReports : topic !== topics.sapReports;
          if (!relevant) continue;
          for (const p of await admin.fetchTopicOffsets(topic)) {
            const c = partitions.find((x) => x.partition === p.partition);
            if (Number(p.high) > 0 && (!c || Number(c.offset) < Number(p.high))) behind.push(`${groupId} ${topic}[${p.partition}] committed ${c?.offset ?? 'none'} of ${p.high}`);
          }
        }
      }
      return behind;
    };
    const caughtUp = await eventually(async () => (await lagging()).length === 0, 180_000, 1000);
    if (!caughtUp) {
      console.log(`STILL BEHIND: ${(await lagging()).join('; ')}`);
      for (const svc of [ingress, inventory, ...provisioning, ...sheetExport]) {
        console.log(`--- ${svc.name}:${svc.port} last warnings/errors`);
        console.log(svc.lines.filter((l) => /"level":"(warn|error|fatal)"/.test(l) || !l.startsWith('{')).slice(-12).join('\n'));
      }
    }
    expect(caughtUp, 'consumers caught up').toBe(true);
    await admin.disconnect();

    // Provisioning: exactly one applied WTL call per NSPS event, or a dead letter with a reason.
    const nspsIds = [...inKafka.keys()].filter((id) => envelopes.find((e) => e.event_id === id)!.kind === 'nsps.event');
    const dead = await readDeadLetters(kafka, topics.deadLetter('provisioning'));
    const deadIds = new Set(dead.filter((l) => l.reason.length > 0).map((l) => l.eventId));
    const applied = wtl.appliedCountByEvent();
    let provDup = 0;
    let provLost = 0;
    for (const id of nspsIds) {
      const n = applied.get(id) ?? 0;
      if (n > 1) provDup += n - 1;
      if (n === 0 && !deadIds.has(id)) provLost++;
    }

    // Sheet export: exactly one row per NSPS event and 1NCE record.
    const rowCount = new Map<string, number>();
    for (const tab of sheets.tabs()) for (const row of sheets.rows(tab).slice(1)) rowCount.set(String(row[0]), (rowCount.get(String(row[0])) ?? 0) + 1);
    const sheetIds = [...inKafka.keys()].filter((id) => !id.startsWith('sap:'));
    let sheetDup = 0;
    let sheetLost = 0;
    for (const id of sheetIds) {
      const n = rowCount.get(id) ?? 0;
      if (n > 1) sheetDup += n - 1;
      if (n === 0) sheetLost++;
    }

    // SCC inventory: the projection equals the fold of the complete reports in topic order, with one history row per change.
    const db: Db = await openDb({ url: process.env.DATABASE_URL, schema: schemas.inventory });
    const expectedState = new Map<string, SystemState>();
    let expectedChanges = 0;
    const byTenant = new Map<string, typeof completeReports>();
    for (const r of completeReports) byTenant.set(r.tenant, [...(byTenant.get(r.tenant) ?? []), r]);
    for (const [tenant, reports] of byTenant) {
      const ordered = reports.sort((a, b) => (a.partition - b.partition) || (a.offset < b.offset ? -1 : 1));
      let state = new Map<string, SystemState>();
      for (const r of ordered) {
        const report: Report = { tenant, reportType: r.type, sccs: parseReport(r.body).sccs };
        expectedChanges += decide(report, [...state.values()]).length;
        state = foldReports([report], state);
      }
      for (const [k, v] of state) expectedState.set(k, v);
    }
    const rows = (await db.query<{ tenant: string; subaccount: string; location_id: string; host: string; reachable: boolean; description: string | null }>(
      'SELECT tenant, subaccount, location_id, host, reachable, description FROM systems',
    )).rows;
    const historyRows = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM system_history')).rows[0]!.n);
    await db.close();
    const actualState = new Map(rows.map((r) => [systemKeyString({ tenant: r.tenant, subaccount: r.subaccount, locationId: r.location_id, host: r.host }), r]));
    let sccMismatch = 0;
    for (const [k, v] of expectedState) {
      const a = actualState.get(k);
      if (!a || a.reachable !== v.reachable || a.description !== v.description) sccMismatch++;
    }
    sccMismatch += [...actualState.keys()].filter((k) => !expectedState.has(k)).length;

    const figures = {
      requests_sent: deliveries.length,
      requests_2xx: ok.length,
      requests_failed_finally: deliveries.length - ok.length,
      retriable_error_answers: retriableErrors,
      records_in_kafka: total,
      distinct_event_ids_in_kafka: inKafka.size,
      duplicate_records_in_kafka_from_resends: total - inKafka.size,
      lost_after_2xx: lostInKafka,
      wtl_applied_events: [...applied.values()].filter((n) => n > 0).length,
      wtl_resends_of_applied_events: wtl.requests.filter((r) => r.resend).length,
      wtl_resends_dropped_by_idempotency_key: wtl.requests.filter((r) => r.dropped).length,
      wtl_dead_lettered: deadIds.size,
      wtl_duplicate_effects: provDup,
      wtl_lost: provLost,
      sheet_rows: [...rowCount.values()].reduce((a, b) => a + b, 0),
      sheet_duplicate_rows: sheetDup,
      sheet_lost_rows: sheetLost,
      scc_reports_complete: completeReports.length,
      scc_systems: rows.length,
      scc_history_rows: historyRows,
      scc_expected_changes: expectedChanges,
      scc_state_mismatches: sccMismatch,
      faults,
    };
    console.log(`FAULT SUITE FIGURES ${JSON.stringify(figures, null, 2)}`);

    // The faults really hit the traffic: senders saw retriable errors, WTL and Sheets failed calls.
    expect(retriableErrors, 'senders felt the broker outage').toBeGreaterThan(0);
    expect(wtl.requests.some((r) => r.status !== undefined && r.status >= 429), 'WTL failures were retried').toBe(true);
    expect(ok.length, 'most deliveries eventually succeed').toBeGreaterThan(deliveries.length * 0.95);
    expect(lostInKafka).toBe(0);
    expect(provDup).toBe(0);
    expect(provLost).toBe(0);
    expect(sheetDup).toBe(0);
    expect(sheetLost).toBe(0);
    expect(sccMismatch).toBe(0);
    expect(historyRows).toBe(expectedChanges);
    expect(Object.values(faults).every((n) => n > 0)).toBe(true);
  }, 600_000);

  it('no service log line contains a configured secret', () => {
    expect(allServiceLines.length).toBeGreaterThan(50);
    const leaks = findSecretLeaks(allServiceLines, [secrets.nsps, secrets.oncePw, secrets.sap, `wtl-${run}-key`, Buffer.from(`streamer:${secrets.oncePw}`).toString('base64')]);
    expect(leaks).toEqual([]);
  });
});
