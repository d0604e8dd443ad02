// Effect, then crash (issue 13, 5d). Ingress, two provisioning deployments and sheet-export run as real
// processes on a private Kafka broker, the shared schema registry and the real PostgreSQL. The emulators
// apply every write ON RECEIPT. While NSPS events (several per subscriber, each changing its state) and 1NCE
// records flow, the consumers are SIGKILLed from outside, many times, at the moment an emulator has just
// received a write from them:
//   - "held": the emulator holds its answer until the process is dead — the effect happened, the caller
//     never learns it, nothing (idempotency record, offset) was committed;
//   - "raced": the answer is written and the kill follows within a few milliseconds, so it lands somewhere
//     between the answer, the idempotency record and the offset commit.
// Each killed process is restarted at once. The two provisioning deployments read the same topic with
// their own group and database: one calls a WTL that honours the idempotency key, the other a WTL that
// ignores it, so one run measures both. Then everything is reconciled from what the emulators hold.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portAnswers, repoRoot, startKafka, stopKafka } from '../../../infra/local/stack.js';
import { loadConfig, kafkaConfigShape } from '../../../services/shared/config.js';
import { createKafka } from '../../../services/shared/kafka.js';
import { readDeadLetters } from '../../../services/shared/dead-letter.js';
import { topicNames } from '../../../services/shared/topics.js';
import { startWtlEmulator, type RecordedRequest, type WtlEmulator } from '../../emulators/wtl.js';
import { startSheetsEmulator, type SheetsEmulator } from '../../emulators/sheets.js';
import { captureLogger, eventually } from '../../support/env.js';
import { startService, type ServiceProcess } from '../../support/processes.js';
import { runLoad, type Delivery } from '../../support/load.js';

// Ports of this file only (other fault files run their own services; a port already answering would be
// mistaken for ours by the readiness check, so the start refuses it).
const KAFKA_PORT = 31506;
const PORTS = { ingress: 18680, provHonours: 19401, provIgnores: 19402, sheetExport: 19411 };
const run = `x${Date.now().toString(36)}`;
const secrets = { nsps: `effect-nsps-${run}-token`, oncePw: `effect-once-${run}-pw`, sap: `effect-sap-${run}-secret-0123456789abcdef` };
const KILLS = 10; // per consumer process
const SUBSCRIBERS = 100;
const MIN_ROUNDS = 6; // events per subscriber (more while the kills go on), each a different state from the one before
const MAX_ROUNDS = 24;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const progress = (msg: string): void => console.log(`[effect-crash +${Math.round((Date.now() - t0) / 1000)}s] ${msg}`);

/** The states a subscriber goes through, round by round (so the last one is known and differs from the one before). */
const STATES = [
  { bill: 'open', blocked: false },
  { bill: 'closed', blocked: false },
  { bill: 'open', blocked: true },
  { bill: 'open', blocked: false },
  { bill: 'suspended', blocked: false },
  { bill: 'open', blocked: false },
] as const;

interface SentEvent { eventId: string; imsi: string; round: number; msisdn: string; status: number }

type KillKind = 'held' | 'raced';
interface KillLog { service: string; kind: KillKind; at: number }

describe('effect, then crash: SIGKILL between the external write and the commit', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'switchboard-effect-kafka-'));
  const prefix = `${run}.`;
  const topics = topicNames(prefix);
  let brokers = '';
  let wtlHonours: WtlEmulator;
  let wtlIgnores: WtlEmulator;
  let sheets: SheetsEmulator;
  let credsFile = '';
  let ingress: ServiceProcess;
  let provHonours: ServiceProcess;
  let provIgnores: ServiceProcess;
  let sheetExport: ServiceProcess;
  const kills: KillLog[] = [];

  const baseEnv = (): Record<string, string> => ({
    KAFKA_BROKERS: brokers,
    SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL!,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_TOPIC_PARTITIONS: '3',
    DATABASE_URL: process.env.DATABASE_URL!,
    LOG_LEVEL: 'info',
  });
  const provisioningEnv = (name: string, wtl: WtlEmulator): Record<string, string> => ({
    ...baseEnv(), DB_SCHEMA: `${run}_${name}`, PROVISIONING_GROUP_ID: `${run}-${name}`, WTL_BASE_URL: wtl.url,
    // A short timeout keeps the restarted process's wait for the dead owner's in-flight lease (2 × timeout) short.
    WTL_TIMEOUT_MS: '1000', PROVISIONING_RETRY_MAX_ATTEMPTS: '20', PROVISIONING_RETRY_INITIAL_MS: '50', PROVISIONING_RETRY_MAX_MS: '500',
    PROVISIONING_SESSION_TIMEOUT_MS: '6000',
  });
  const sheetEnv = (): Record<string, string> => ({
    ...baseEnv(), DB_SCHEMA: `${run}_sheets`, SHEET_EXPORT_GROUP_ID: `${run}-sheet-export`, GOOGLE_SHEETS_SPREADSHEET_ID: sheets.spreadsheetId,
    GOOGLE_APPLICATION_CREDENTIALS: credsFile, GOOGLE_SHEETS_ROOT_URL: sheets.rootUrl, SHEETS_BATCH_MAX_WAIT_MS: '300', SHEETS_BATCH_MAX_ROWS: '200',
    SHEETS_MIN_CALL_INTERVAL_MS: '100', SHEET_EXPORT_SESSION_TIMEOUT_MS: '6000',
  });

  beforeAll(async () => {
    for (const port of [KAFKA_PORT, ...Object.values(PORTS)]) {
      if (await portAnswers(port)) throw new Error(`port ${port} is already in use: another run of this file, or another fault file, holds it`);
    }
    brokers = await startKafka({ stateDir, kafkaPort: KAFKA_PORT, controllerPort: KAFKA_PORT + 1, registryPort: 0, log: () => undefined });
    progress(`private broker ${brokers}`);
    wtlHonours = await startWtlEmulator({ honourIdempotencyKey: true });
    wtlIgnores = await startWtlEmulator({ honourIdempotencyKey: false });
    sheets = await startSheetsEmulator();
    credsFile = join(mkdtempSync(join(tmpdir(), 'switchboard-effect-sa-')), 'sa.json');
    writeFileSync(credsFile, sheets.serviceAccountJson);
    ingress = await startService('ingress', PORTS.ingress, {
      ...baseEnv(), NSPS_API_TOKENS: secrets.nsps, ONCE_BASIC_AUTH_USERS: `streamer:${secrets.oncePw}`, SAP_JWT_HS256_SECRET: secrets.sap,
    });
    progress('ingress ready');
    // One at a time: each creates the topics it reads, and parallel creation of the same topic can fail.
    provHonours = await startService('provisioning', PORTS.provHonours, provisioningEnv('prov_honours', wtlHonours));
    provIgnores = await startService('provisioning', PORTS.provIgnores, provisioningEnv('prov_ignores', wtlIgnores));
    sheetExport = await startService('sheet-export', PORTS.sheetExport, sheetEnv());
    progress('consumers ready');
  }, 240_000);

  afterAll(async () => {
    wtlHonours?.onReceipt(undefined);
    wtlIgnores?.onReceipt(undefined);
    if (sheets) sheets.onAppend = undefined;
    await Promise.all([ingress, provHonours, provIgnores, sheetExport].filter(Boolean).map((s) => s.stop()));
    await stopKafka(stateDir, () => undefined);
    await wtlHonours?.close();
    await wtlIgnores?.close();
    await sheets?.close();
  }, 120_000);

  /**
   * Kills `svc` `times` times, each time at the next write the emulator receives from it (`arm` installs a
   * one-shot on-receipt hook whose promise holds the answer), then restarts it at once.
   */
  async function killAtWrites(svc: ServiceProcess, label: string, arm: (hook: (() => Promise<void>) | undefined) => void, times: number): Promise<number> {
    let done = 0;
    for (let k = 0; k < times; k++) {
      const kind: KillKind = k % 3 === 2 ? 'raced' : 'held';
      let killed: Promise<void> | undefined;
      const hit = new Promise<void>((resolve) => {
        arm(async () => {
          arm(undefined);
          if (kind === 'held') {
            killed = svc.kill(); // the answer waits until the process is gone
            await killed;
            await sleep(50); // let the emulator see the connection close before it tries to answer
          } else {
            // The answer goes out now; the kill follows it within a few milliseconds.
            killed = sleep(Math.floor(Math.random() * 15)).then(() => svc.kill());
          }
          resolve();
        });
      });
      const hitInTime = await Promise.race([hit.then(() => true), sleep(40_000).then(() => false)]);
      if (!hitInTime) {
        arm(undefined);
        break;
      }
      await killed;
      kills.push({ service: label, kind, at: Date.now() });
      done++;
      progress(`${label}: kill ${done} (${kind})`);
      await svc.restart();
      // Let it work a little before the next kill, so progress is made between kills.
      await sleep(1500 + Math.floor(Math.random() * 1500));
    }
    return done;
  }

  it('re-applications are counted, no stale WTL state, no duplicate sheet row', async () => {
    const started = Date.now();
    const nspsTemplate = JSON.parse(readFileSync(join(repoRoot, 'samples', 'nsps-event.json'), 'utf8')) as {
      event_id: string; created_at: string;
      pb_data: { account_info: { bill_status: string; blocked: boolean; id: string }; sim_info: { imsi: string; msisdn: string } };
    };

    // NSPS: round by round; an event of a subscriber is sent only after the previous one was acknowledged,
    // so Kafka holds each subscriber's events in the order of their states.
    const sent: SentEvent[] = [];
    let nspsDone = false;
    let killsDone = false;
    const sendNsps = async (): Promise<void> => {
      // Keep the writes coming while the kills go on: a kill needs a write to land on.
      for (let round = 0; round < MIN_ROUNDS || (!killsDone && round < MAX_ROUNDS); round++) {
        const state = STATES[round % STATES.length]!;
        const roundStart = Date.now();
        const queue = Array.from({ length: SUBSCRIBERS }, (_, s) => s);
        await Promise.all(Array.from({ length: 6 }, async () => {
          for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
            const imsi = `00101${String(700000000 + s).padStart(10, '0')}`;
            const msisdn = `7912${String(5000000 + s)}`;
            const event = structuredClone(nspsTemplate);
            event.event_id = `${run}-nsps-${s}-${round}-${randomUUID().slice(0, 8)}`;
            event.created_at = new Date(Date.UTC(2026, 0, 1, 0, round)).toISOString();
            event.pb_data.sim_info.imsi = imsi;
            event.pb_data.sim_info.msisdn = msisdn;
            event.pb_data.account_info.id = `${msisdn}@msisdn`;
            event.pb_data.account_info.bill_status = state.bill;
            event.pb_data.account_info.blocked = state.blocked;
            let status = 0;
            for (let attempt = 0; attempt < 20; attempt++) {
              status = await fetch(`${ingress.url}/process-event`, {
                method: 'POST', headers: { authorization: `Bearer ${secrets.nsps}`, 'content-type': 'application/json' }, body: JSON.stringify(event), signal: AbortSignal.timeout(30_000),
              }).then((r) => r.status, () => 0);
              if (status === 202) break;
              await sleep(250 * (attempt + 1));
            }
            sent.push({ eventId: event.event_id, imsi, round, msisdn, status });
          }
        }));
        await sleep(Math.max(0, 7000 - (Date.now() - roundStart)));
      }
      nspsDone = true;
    };
    let onceDeliveries: Delivery[] = [];
    const load = Promise.all([
      sendNsps(),
      runLoad(
        { ingressUrl: ingress.url, nspsToken: secrets.nsps, onceUser: 'streamer', oncePassword: secrets.oncePw, sapSecret: secrets.sap },
        { nspsEvents: 0, onceBatches: 30, onceBatchSize: 40, sapReports: 0, sapTenants: 1, concurrency: 2, maxAttempts: 20, spreadOverMs: 50_000 },
        run,
      ).then((d) => (onceDeliveries = d)),
    ]);

    // Kill until each process has been killed KILLS times (or the work has long run dry).
    const [killsHonours, killsIgnores, killsSheets] = await Promise.all([
      killAtWrites(provHonours, 'provisioning (WTL honours key)', (h) => wtlHonours.onReceipt(h), KILLS),
      killAtWrites(provIgnores, 'provisioning (WTL ignores key)', (h) => wtlIgnores.onReceipt(h), KILLS),
      killAtWrites(sheetExport, 'sheet-export', (h) => (sheets.onAppend = h), KILLS),
    ]);
    killsDone = true;
    progress(`kills done: ${killsHonours}, ${killsIgnores}, ${killsSheets}`);
    await load;
    expect(nspsDone).toBe(true);

    // ---- wait until all three groups have committed everything ------------------------------------
    const { logger } = captureLogger();
    const kafka = createKafka(loadConfig(kafkaConfigShape, { ...baseEnv() }), logger);
    const admin = kafka.admin();
    await admin.connect();
    const groups: [string, string[]][] = [
      [`${run}-prov_honours`, [topics.nspsEvents]],
      [`${run}-prov_ignores`, [topics.nspsEvents]],
      [`${run}-sheet-export`, [topics.nspsEvents, topics.onceEvents, topics.onceUsage]],
    ];
    const lagging = async (): Promise<string[]> => {
      const behind: string[] = [];
      for (const [groupId, groupTopics] of groups) {
        const offsets = await admin.fetchOffsets({ groupId, topics: groupTopics }).catch(() => []);
        for (const topic of groupTopics) {
          for (const p of await admin.fetchTopicOffsets(topic)) {
            const c = offsets.find((o) => o.topic === topic)?.partitions.find((x) => x.partition === p.partition);
            if (Number(p.high) > 0 && (!c || Number(c.offset) < Number(p.high))) behind.push(`${groupId} ${topic}[${p.partition}] ${c?.offset ?? 'none'}/${p.high}`);
          }
        }
      }
      return behind;
    };
    progress('load done; waiting for the groups to catch up');
    const caughtUp = await eventually(async () => (await lagging()).length === 0, 120_000, 1000);
    if (!caughtUp) {
      console.log(`STILL BEHIND: ${(await lagging()).join('; ')}`);
      for (const svc of [provHonours, provIgnores, sheetExport]) console.log(`--- ${svc.name}:${svc.port}\n${svc.lines.filter((l) => /"level":"(warn|error|fatal)"/.test(l) || !l.startsWith('{')).slice(-10).join('\n')}`);
    }
    expect(caughtUp, 'consumers caught up').toBe(true);
    await admin.disconnect();

    // ---- provisioning ---------------------------------------------------------------------------------
    const accepted = sent.filter((e) => e.status === 202);
    expect(accepted.length).toBe(sent.length);
    const byId = new Map(accepted.map((e) => [e.eventId, e]));
    const lastOf = new Map<string, SentEvent>();
    for (const e of accepted) if ((lastOf.get(e.imsi)?.round ?? -1) < e.round) lastOf.set(e.imsi, e);

    // Both deployments are consumer "provisioning" on the same prefix, so they share dlq.provisioning.
    const deadLetters = (await readDeadLetters(kafka, topics.deadLetter('provisioning')).catch(() => [])).length;
    const reconcileWtl = (wtl: WtlEmulator) => {
      const calls = wtl.requests.filter((r) => byId.has(String(r.headers['x-event-id'])));
      const applied = wtl.appliedCountByEvent();
      const neverApplied = accepted.filter((e) => (applied.get(e.eventId) ?? 0) === 0).length;
      const reApplied = [...applied.values()].reduce((n, c) => n + Math.max(0, c - 1), 0);
      // Per subscriber, the rounds in the order WTL applied them must never go down.
      let appliedAfterNewer = 0;
      const lastApplied = new Map<string, number>();
      for (const r of calls.filter((c) => c.applied)) {
        const e = byId.get(String(r.headers['x-event-id']))!;
        if ((lastApplied.get(e.imsi) ?? -1) > e.round) appliedAfterNewer++;
        lastApplied.set(e.imsi, Math.max(lastApplied.get(e.imsi) ?? -1, e.round));
      }
      // The final state of every subscriber is exactly the request of its last event.
      let staleFinal = 0;
      for (const [imsi, last] of lastOf) {
        const actual = wtl.subscribers.get(imsi);
        const lastRequest = calls.find((r: RecordedRequest) => r.applied && r.headers['x-event-id'] === last.eventId)?.body;
        const state = STATES[last.round % STATES.length]!;
        const open = state.bill === 'open';
        const expected = { subscriber_status: open && !state.blocked ? 'SERVICE_GRANTED' : 'OPERATOR_DETERMINED_BARRING', msisdn: open ? [last.msisdn] : [] };
        if (!actual || JSON.stringify(actual) !== JSON.stringify(lastRequest) || actual.subscriber_status !== expected.subscriber_status || JSON.stringify(actual.msisdn) !== JSON.stringify(expected.msisdn)) staleFinal++;
      }
      return {
        events: accepted.length,
        wtl_calls: calls.length,
        calls_whose_answer_never_arrived: calls.filter((r) => r.aborted).length,
        resends_of_applied_event: calls.filter((r) => r.resend).length,
        dropped_by_idempotency_key: calls.filter((r) => r.dropped).length,
        re_applications: reApplied,
        events_never_applied: neverApplied,
        applied_after_a_newer_event: appliedAfterNewer,
        subscribers: lastOf.size,
        subscribers_not_at_last_state: staleFinal,
      };
    };
    const honours = reconcileWtl(wtlHonours);
    const ignores = reconcileWtl(wtlIgnores);

    // ---- sheets ---------------------------------------------------------------------------------------
    const onceOk = onceDeliveries.filter((d) => d.final >= 200 && d.final < 300);
    expect(onceOk.length).toBe(onceDeliveries.length);
    const expectedRows = new Set([...accepted.map((e) => e.eventId), ...onceOk.flatMap((d) => d.eventIds)]);
    const rowCount = new Map<string, number>();
    for (const tab of sheets.tabs()) for (const row of sheets.rows(tab).slice(1)) rowCount.set(String(row[0]), (rowCount.get(String(row[0])) ?? 0) + 1);
    const sheetFigures = {
      records: expectedRows.size,
      append_calls: sheets.appends.length,
      appends_whose_answer_never_arrived: sheets.appends.filter((a) => a.aborted || a.status === undefined).length,
      rows_in_sheet: [...rowCount.values()].reduce((a, b) => a + b, 0),
      duplicate_rows: [...rowCount.values()].reduce((n, c) => n + Math.max(0, c - 1), 0),
      records_without_row: [...expectedRows].filter((id) => !rowCount.has(id)).length,
      rows_of_unknown_records: [...rowCount.keys()].filter((id) => !expectedRows.has(id)).length,
    };

    const seconds = Math.round((Date.now() - started) / 1000);
    const killFigures = {
      provisioning_wtl_honours: { kills: killsHonours, held: kills.filter((k) => k.service.includes('honours') && k.kind === 'held').length },
      provisioning_wtl_ignores: { kills: killsIgnores, held: kills.filter((k) => k.service.includes('ignores') && k.kind === 'held').length },
      sheet_export: { kills: killsSheets, held: kills.filter((k) => k.service === 'sheet-export' && k.kind === 'held').length },
    };
    console.log(`EFFECT-CRASH FIGURES (${seconds} s)\n${JSON.stringify({ kills: killFigures, nsps_rounds: Math.max(...accepted.map((e) => e.round)) + 1, dead_letters: deadLetters, wtl_honours_key: honours, wtl_ignores_key: ignores, sheets: sheetFigures }, null, 2)}`);
    console.table({
      'WTL honours key': honours,
      'WTL ignores key': ignores,
    });
    console.table({ sheets: sheetFigures });

    // The faults really happened, at the moment they were meant to.
    expect(killsHonours).toBeGreaterThanOrEqual(8);
    expect(killsIgnores).toBeGreaterThanOrEqual(8);
    expect(killsSheets).toBeGreaterThanOrEqual(8);
    for (const f of [honours, ignores]) {
      expect(f.calls_whose_answer_never_arrived, 'held kills cut answers off').toBeGreaterThan(0);
      expect(f.events_never_applied).toBe(0);
      expect(f.applied_after_a_newer_event).toBe(0);
      expect(f.subscribers_not_at_last_state).toBe(0);
    }
    expect(deadLetters).toBe(0);
    // A key-honouring WTL applied each event exactly once; the re-sends it saw were all dropped.
    expect(honours.re_applications).toBe(0);
    expect(honours.dropped_by_idempotency_key).toBe(honours.resends_of_applied_event);
    // A WTL ignoring the key applied each re-send again (at least once), and only re-sends.
    expect(ignores.dropped_by_idempotency_key).toBe(0);
    expect(ignores.re_applications).toBe(ignores.resends_of_applied_event);
    expect(sheetFigures.appends_whose_answer_never_arrived).toBeGreaterThan(0);
    expect(sheetFigures.duplicate_rows).toBe(0);
    expect(sheetFigures.records_without_row).toBe(0);
    expect(sheetFigures.rows_of_unknown_records).toBe(0);
  }, 420_000);
});
