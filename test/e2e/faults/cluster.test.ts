// A replicated cluster losing brokers under load (npm run test:faults; alone:
// SWITCHBOARD_FAULTS=true npx vitest run test/e2e/faults/cluster.test.ts).
// A private 3-node KRaft cluster (infra/local startKafkaCluster: every node broker and controller) runs
// the system's topics with replication factor 3 and min.insync.replicas 2; ingress and every consumer
// run as real processes against it, with the shared schema registry and the real PostgreSQL.
//   1. Under load from senders that resend like the real ones, the broker leading most raw-topic
//      partitions gets SIGKILL and comes back with its data some seconds later: every request answered
//      2xx is in Kafka, every record's effect happened exactly once.
//   2. Two of the three brokers die (SIGKILL): ingress answers 503 within KAFKA_PRODUCE_TIMEOUT_MS and never
//      2xx; when they return, every 2xx is in Kafka and new requests succeed.
// Each prints its reconciliation table; the figures are in docs/reliability.md.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { repoRoot, startKafkaCluster, type KafkaCluster, type KafkaNode } from '../../../infra/local/stack.js';
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
import { startService, type ServiceProcess } from '../../support/processes.js';
import { imsiFor, runLoad, type Delivery } from '../../support/load.js';

// Below the ephemeral port range (32768+), so no client socket can hold them: brokers 31620, 31622,
// 31624; controllers 31621, 31623, 31625.
const KAFKA_PORT = 31620;
const PRODUCE_TIMEOUT_MS = 5000;
const run = `c${Date.now().toString(36)}`;
const secrets = { nsps: `cluster-nsps-${run}-token`, oncePw: `cluster-once-${run}-pw`, sap: `cluster-sap-${run}-secret-0123456789abcdef` };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const is2xx = (s: number): boolean => s >= 200 && s < 300;

type StoredEnvelope = Envelope & { topic: string; partition: number; offset: string };

function table(title: string, rows: [string, string | number][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return [`${title}`, ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`)].join('\n');
}

describe('replicated cluster: brokers lost under load', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'switchboard-cluster-'));
  const prefix = `${run}.`;
  const topics = topicNames(prefix);
  let cluster: KafkaCluster;
  let kafka: Kafka;
  let admin: Admin;
  let codec: EnvelopeCodec;
  let wtl: WtlEmulator;
  let sheets: SheetsEmulator;
  let ingress: ServiceProcess;
  let provisioning: ServiceProcess;
  let sheetExport: ServiceProcess;
  let inventory: ServiceProcess;
  let credsFile = '';
  const schemas = { provisioning: `${run}_prov`, sheets: `${run}_sheets`, inventory: `${run}_inv` };
  const groups = { provisioning: `${run}-provisioning`, sheets: `${run}-sheet-export`, inventory: `${run}-scc-inventory` };

  const baseEnv = (): Record<string, string> => ({
    KAFKA_BROKERS: cluster.brokers,
    SCHEMA_REGISTRY_URL: process.env.SCHEMA_REGISTRY_URL!,
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_TOPIC_PARTITIONS: '3',
    KAFKA_REPLICATION_FACTOR: '3',
    KAFKA_MIN_INSYNC_REPLICAS: '2',
    DATABASE_URL: process.env.DATABASE_URL!,
    LOG_LEVEL: 'info',
    PROVISIONING_GROUP_ID: groups.provisioning,
    SHEET_EXPORT_GROUP_ID: groups.sheets,
    SCC_INVENTORY_GROUP_ID: groups.inventory,
  });

  beforeAll(async () => {
    const started = Date.now();
    cluster = await startKafkaCluster({ stateDir, nodes: 3, kafkaPort: KAFKA_PORT, controllerPort: KAFKA_PORT + 1, log: () => undefined });
    console.log(`3-node cluster ${cluster.brokers} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const { logger } = captureLogger();
    const cfg = loadConfig(kafkaConfigShape, baseEnv());
    kafka = createKafka(cfg, logger);
    admin = kafka.admin();
    await admin.connect();
    codec = EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL);
    wtl = await startWtlEmulator();
    sheets = await startSheetsEmulator();
    credsFile = join(mkdtempSync(join(tmpdir(), 'switchboard-cluster-sa-')), 'sa.json');
    writeFileSync(credsFile, sheets.serviceAccountJson);
    // All settled before any failure is thrown, so afterAll stops the services that did start.
    const launched = await Promise.allSettled([
      startService('ingress', 18580, {
        ...baseEnv(), NSPS_API_TOKENS: secrets.nsps, ONCE_BASIC_AUTH_USERS: `streamer:${secrets.oncePw}`, SAP_JWT_HS256_SECRET: secrets.sap,
        KAFKA_PRODUCE_TIMEOUT_MS: String(PRODUCE_TIMEOUT_MS), KAFKA_RETRY_AFTER_SECONDS: '1',
      }),
      startService('provisioning', 19301, {
        ...baseEnv(), DB_SCHEMA: schemas.provisioning, WTL_BASE_URL: wtl.url, WTL_API_KEY: `wtl-${run}-key`,
        // The emulator answers at once; a long timeout keeps a CPU stall on this 2-core machine from
        // turning into a re-sent call, which is not the fault under test here.
        WTL_TIMEOUT_MS: '15000', PROVISIONING_RETRY_MAX_MS: '3000', PROVISIONING_SESSION_TIMEOUT_MS: '15000',
      }),
      startService('sheet-export', 19311, {
        ...baseEnv(), DB_SCHEMA: schemas.sheets, GOOGLE_SHEETS_SPREADSHEET_ID: sheets.spreadsheetId, GOOGLE_APPLICATION_CREDENTIALS: credsFile,
        GOOGLE_SHEETS_ROOT_URL: sheets.rootUrl, SHEETS_BATCH_MAX_WAIT_MS: '500', SHEETS_MIN_CALL_INTERVAL_MS: '100', SHEET_EXPORT_SESSION_TIMEOUT_MS: '15000',
      }),
      startService('scc-inventory', 18590, { ...baseEnv(), DB_SCHEMA: schemas.inventory }),
    ]);
    const ok = (i: number): ServiceProcess => {
      const s = launched[i]!;
      return s.status === 'fulfilled' ? s.value : (undefined as unknown as ServiceProcess);
    };
    [ingress, provisioning, sheetExport, inventory] = [ok(0), ok(1), ok(2), ok(3)];
    const failed = launched.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
  }, 240_000);

  afterAll(async () => {
    await Promise.all([ingress, provisioning, sheetExport, inventory].filter(Boolean).map((s) => s.stop()));
    await admin?.disconnect().catch(() => undefined);
    // The data is thrown away: no controlled shutdown needed.
    await Promise.all((cluster?.nodes ?? []).map((n) => n.kill()));
    rmSync(stateDir, { recursive: true, force: true });
    if (credsFile) rmSync(join(credsFile, '..'), { recursive: true, force: true });
    await wtl?.close();
    await sheets?.close();
  }, 120_000);

  // ---- helpers --------------------------------------------------------------------------------

  /** Raw-topic partitions led by each node id (-1: no leader). */
  async function leadersByNode(): Promise<Map<number, number>> {
    const counts = new Map<number, number>(cluster.nodes.map((n) => [n.id, 0]));
    const { topics: meta } = await admin.fetchTopicMetadata({ topics: rawTopics(topics) });
    for (const t of meta) for (const p of t.partitions) counts.set(p.leader, (counts.get(p.leader) ?? 0) + 1);
    return counts;
  }

  /** Partitions of the raw topics and the consumer-offsets topic whose ISR lacks a replica. */
  async function underReplicated(): Promise<number> {
    const client = kafka.admin();
    try {
      await client.connect();
      const { topics: meta } = await client.fetchTopicMetadata({ topics: [...rawTopics(topics), '__consumer_offsets'] });
      return meta.reduce((n, t) => n + t.partitions.filter((p) => p.isr.length < p.replicas.length || p.leader < 0).length, 0);
    } catch {
      return -1;
    } finally {
      await client.disconnect().catch(() => undefined);
    }
  }

  async function waitInSync(timeoutMs = 90_000): Promise<number> {
    const started = Date.now();
    const ok = await eventually(async () => (await underReplicated()) === 0, timeoutMs, 500);
    expect(ok, 'every partition has its 3 replicas in sync again').toBe(true);
    return Date.now() - started;
  }

  function mostLeading(counts: Map<number, number>, exclude: number[] = []): KafkaNode {
    const [id] = [...counts].filter(([nodeId]) => nodeId > 0 && !exclude.includes(nodeId)).sort((a, b) => b[1] - a[1])[0]!;
    return cluster.nodes.find((n) => n.id === id)!;
  }

  async function readRaw(): Promise<StoredEnvelope[]> {
    const envelopes: StoredEnvelope[] = [];
    for (const t of rawTopics(topics)) {
      const count = (await admin.fetchTopicOffsets(t)).reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
      if (count === 0) continue;
      const messages = await readTopic(kafka, t, count, 60_000);
      expect(messages.length, `all ${count} records of ${t} read back`).toBe(count);
      for (const m of messages) envelopes.push({ ...(await codec.decode(m.value!)), topic: t, partition: m.partition, offset: m.offset });
    }
    return envelopes;
  }

  /** SAP reports whose parts are all in Kafka, re-assembled. */
  function completeReports(envelopes: StoredEnvelope[]) {
    const reportParts = new Map<string, StoredEnvelope[]>();
    for (const e of envelopes.filter((x) => x.kind === 'sap.report')) {
      const id = e.attributes.report_id!;
      reportParts.set(id, [...(reportParts.get(id) ?? []), e]);
    }
    return [...reportParts.values()]
      .filter((parts) => new Set(parts.map((p) => p.attributes.part)).size === Number(parts[0]!.attributes.parts))
      .map((parts) => {
        const ordered = [...new Map(parts.map((p) => [p.attributes.part, p])).values()].sort((a, b) => Number(a.attributes.part) - Number(b.attributes.part));
        const last = parts.reduce((a, b) => (BigInt(a.offset) > BigInt(b.offset) ? a : b));
        return {
          tenant: ordered[0]!.tenant!, type: ordered[0]!.attributes.report_type as 'full' | 'delta',
          body: Buffer.concat(ordered.map((p) => p.payload)).toString('utf8'), partition: last.partition, offset: BigInt(last.offset),
        };
      });
  }

  /** Deliveries answered 2xx whose records are not (all) in Kafka. */
  function lostAfter2xx(deliveries: Delivery[], envelopes: StoredEnvelope[]): number {
    const ids = new Set(envelopes.map((e) => e.event_id));
    const reports = completeReports(envelopes);
    let lost = 0;
    for (const d of deliveries.filter((x) => is2xx(x.final))) {
      if (d.source === 'sap') {
        if (!reports.some((r) => r.body.includes(d.marker!))) lost++;
      } else {
        lost += d.eventIds.filter((id) => !ids.has(id)).length;
      }
    }
    return lost;
  }

  /** On a failure (a timeout too), what each service last warned about: the first thing to read. */
  function printServiceTailsOnFailure(): void {
    onTestFailed(() => {
      for (const svc of [ingress, provisioning, sheetExport, inventory]) {
        const exit = svc.child.exitCode ?? svc.child.signalCode;
        console.log(`--- ${svc.name} (${exit === null ? 'running' : `exited: ${exit}`}) last warnings/errors\n${svc.lines.filter((l) => /"level":"(warn|error|fatal)"/.test(l) || !l.startsWith('{')).slice(-25).join('\n')}`);
      }
    });
  }

  async function lagging(): Promise<string[]> {
    const behind: string[] = [];
    const wanted: [string, string[]][] = [
      [groups.provisioning, [topics.nspsEvents]],
      [groups.sheets, [topics.nspsEvents, topics.onceEvents, topics.onceUsage]],
      [groups.inventory, [topics.sapReports]],
    ];
    for (const [groupId, groupTopics] of wanted) {
      const offsets = await admin.fetchOffsets({ groupId, topics: groupTopics }).catch(() => []);
      for (const topic of groupTopics) {
        const committed = offsets.find((o) => o.topic === topic)?.partitions ?? [];
        for (const p of await admin.fetchTopicOffsets(topic)) {
          const c = committed.find((x) => x.partition === p.partition);
          if (Number(p.high) > 0 && (!c || Number(c.offset) < Number(p.high))) behind.push(`${groupId} ${topic}[${p.partition}] at ${c?.offset ?? 'none'} of ${p.high}`);
        }
      }
    }
    return behind;
  }

  /** Waits for every consumer to commit the end of its topics, then counts effects against Kafka. */
  async function reconcileEffects(envelopes: StoredEnvelope[]) {
    const caughtUp = await eventually(async () => (await lagging()).length === 0, 180_000, 1000);
    // The services' last warnings follow from printServiceTailsOnFailure when the check below fails.
    if (!caughtUp) console.log(`STILL BEHIND: ${(await lagging()).join('; ')}`);
    expect(caughtUp, 'consumers caught up').toBe(true);

    const kinds = new Map(envelopes.map((e) => [e.event_id, e.kind]));
    const nspsIds = [...kinds].filter(([, k]) => k === 'nsps.event').map(([id]) => id);
    const dead = await readDeadLetters(kafka, topics.deadLetter('provisioning')).catch(() => []);
    const deadIds = new Set(dead.filter((l) => l.reason.length > 0).map((l) => l.eventId));
    const applied = wtl.appliedCountByEvent();
    let wtlDup = 0;
    let wtlLost = 0;
    for (const id of nspsIds) {
      const n = applied.get(id) ?? 0;
      if (n > 1) wtlDup += n - 1;
      if (n === 0 && !deadIds.has(id)) wtlLost++;
    }

    const rowCount = new Map<string, number>();
    for (const tab of sheets.tabs()) for (const row of sheets.rows(tab).slice(1)) rowCount.set(String(row[0]), (rowCount.get(String(row[0])) ?? 0) + 1);
    const sheetIds = [...kinds].filter(([, k]) => k !== 'sap.report').map(([id]) => id);
    let sheetDup = 0;
    let sheetLost = 0;
    for (const id of sheetIds) {
      const n = rowCount.get(id) ?? 0;
      if (n > 1) sheetDup += n - 1;
      if (n === 0) sheetLost++;
    }

    // SCC inventory: the projection equals the fold of the complete reports in topic order.
    const reports = completeReports(envelopes);
    const expectedState = new Map<string, SystemState>();
    let expectedChanges = 0;
    const byTenant = new Map<string, typeof reports>();
    for (const r of reports) byTenant.set(r.tenant, [...(byTenant.get(r.tenant) ?? []), r]);
    for (const [tenant, list] of byTenant) {
      let state = new Map<string, SystemState>();
      for (const r of list.sort((a, b) => (a.partition - b.partition) || (a.offset < b.offset ? -1 : 1))) {
        const report: Report = { tenant, reportType: r.type, sccs: parseReport(r.body).sccs };
        expectedChanges += decide(report, [...state.values()]).length;
        state = foldReports([report], state);
      }
      for (const [k, v] of state) expectedState.set(k, v);
    }
    const db: Db = await openDb({ url: process.env.DATABASE_URL, schema: schemas.inventory });
    const rows = (await db.query<{ tenant: string; subaccount: string; location_id: string; host: string; reachable: boolean; description: string | null }>(
      'SELECT tenant, subaccount, location_id, host, reachable, description FROM systems',
    )).rows;
    const historyRows = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM system_history')).rows[0]!.n);
    await db.close();
    const actual = new Map(rows.map((r) => [systemKeyString({ tenant: r.tenant, subaccount: r.subaccount, locationId: r.location_id, host: r.host }), r]));
    let sccMismatch = [...actual.keys()].filter((k) => !expectedState.has(k)).length;
    for (const [k, v] of expectedState) {
      const a = actual.get(k);
      if (!a || a.reachable !== v.reachable || a.description !== v.description) sccMismatch++;
    }
    return {
      nspsEvents: nspsIds.length, wtlApplied: [...applied.values()].filter((n) => n > 0).length, wtlDead: deadIds.size, wtlDup, wtlLost,
      sheetRows: [...rowCount.values()].reduce((a, b) => a + b, 0), sheetDup, sheetLost,
      sccReports: reports.length, sccSystems: rows.length, historyRows, expectedChanges, sccMismatch,
    };
  }

  // ---- scenarios ------------------------------------------------------------------------------

  it('creates every raw topic with replication factor 3, min.insync.replicas 2 and unclean leader election off', async () => {
    const { topics: meta } = await admin.fetchTopicMetadata({ topics: [...rawTopics(topics), '__consumer_offsets'] });
    for (const t of meta) for (const p of t.partitions) expect(p.replicas.length, `${t.name}[${p.partitionId}] replicas`).toBe(3);
    const { resources } = await admin.describeConfigs({
      includeSynonyms: false,
      resources: rawTopics(topics).map((name) => ({ type: 2 /* TOPIC */, name, configNames: ['min.insync.replicas', 'unclean.leader.election.enable'] })),
    });
    for (const r of resources) {
      const value = (name: string) => r.configEntries.find((e) => e.configName === name)?.configValue;
      expect(value('min.insync.replicas'), r.resourceName).toBe('2');
      expect(value('unclean.leader.election.enable'), r.resourceName).toBe('false');
    }
  });

  it('a. SIGKILL of the broker leading most raw partitions under load: 0 acknowledged requests lost, 0 duplicate effects', async () => {
    printServiceTailsOnFailure();
    const started = Date.now();
    const load = runLoad(
      { ingressUrl: ingress.url, nspsToken: secrets.nsps, onceUser: 'streamer', oncePassword: secrets.oncePw, sapSecret: secrets.sap },
      { nspsEvents: 300, onceBatches: 24, onceBatchSize: 50, sapReports: 24, sapTenants: 3, concurrency: 6, maxAttempts: 25, spreadOverMs: 30_000 },
      `${run}a`,
    );

    await sleep(8000);
    const before = await leadersByNode();
    const victim = mostLeading(before);
    const killedAt = Date.now();
    await victim.kill();
    // Leadership moves once the controller fences the dead node (broker.session.timeout.ms, 6 s).
    const movedIn = await eventually(async () => ((await leadersByNode()).get(victim.id) ?? 0) === 0, 30_000, 250).then(() => Date.now() - killedAt);
    await sleep(Math.max(0, 12_000 - (Date.now() - killedAt)));
    const restartAt = Date.now();
    await victim.start();
    const restartMs = Date.now() - restartAt;

    const deliveries = await load;
    const loadMs = Date.now() - started;
    const inSyncMs = await waitInSync();

    const envelopes = await readRaw();
    const ids = new Set(envelopes.map((e) => e.event_id));
    const mine = envelopes.filter((e) => deliveries.some((d) => d.eventIds.includes(e.event_id)) || (e.kind === 'sap.report' && e.payload.toString('utf8').includes(`${run}a-report-`)));
    const ok = deliveries.filter((d) => is2xx(d.final));
    const lost = lostAfter2xx(deliveries, envelopes);
    const retriable = deliveries.reduce((n, d) => n + d.attempts.filter((s) => s === 0 || s >= 500 || s === 408 || s === 429).length, 0);
    const effects = await reconcileEffects(envelopes);

    console.log(table('RECONCILIATION a. leader broker SIGKILLed under load', [
      ['victim: node / raw partitions it led (of 12)', `${victim.id} / ${before.get(victim.id)}`],
      ['leaders moved off the dead node after (ms)', movedIn],
      ['dead for (ms) / restart until it answered (ms)', `${restartAt - killedAt} / ${restartMs}`],
      ['all replicas back in sync after the load (ms)', inSyncMs],
      ['load duration (ms)', loadMs],
      ['requests sent / 2xx in the end', `${deliveries.length} / ${ok.length}`],
      ['retriable answers seen by senders (resent)', retriable],
      ['records in Kafka (this scenario) / distinct event ids', `${mine.length} / ${new Set(mine.map((e) => e.event_id)).size}`],
      ['lost after a 2xx', lost],
      ['WTL: NSPS events / applied / dead-lettered / duplicate effects / lost', `${effects.nspsEvents} / ${effects.wtlApplied} / ${effects.wtlDead} / ${effects.wtlDup} / ${effects.wtlLost}`],
      ['sheet rows / duplicate rows / lost rows', `${effects.sheetRows} / ${effects.sheetDup} / ${effects.sheetLost}`],
      ['SCC: complete reports / systems / history rows / changes expected / mismatches', `${effects.sccReports} / ${effects.sccSystems} / ${effects.historyRows} / ${effects.expectedChanges} / ${effects.sccMismatch}`],
    ]));

    expect(ids.size).toBeGreaterThan(0);
    expect(ok.length, 'every delivery succeeds in the end (a single broker loss is survivable)').toBe(deliveries.length);
    expect(lost).toBe(0);
    expect(effects.wtlDup).toBe(0);
    expect(effects.wtlLost).toBe(0);
    expect(effects.sheetDup).toBe(0);
    expect(effects.sheetLost).toBe(0);
    expect(effects.sccMismatch).toBe(0);
    expect(effects.historyRows).toBe(effects.expectedChanges);
  }, 420_000);

  it('b. two of three brokers down: 503 within KAFKA_PRODUCE_TIMEOUT_MS, never a 2xx; afterwards every 2xx is in Kafka and new requests succeed', async () => {
    printServiceTailsOnFailure();
    await waitInSync();
    const nspsTemplate = JSON.parse(readFileSync(join(repoRoot, 'samples', 'nsps-event.json'), 'utf8')) as { event_id: string; pb_data: { sim_info: { imsi: string } } };
    const onceUsage = (JSON.parse(readFileSync(join(repoRoot, 'samples', '1nce-usage.json'), 'utf8')) as Record<string, unknown>[])[0]!;
    const onceAuth = `Basic ${Buffer.from(`streamer:${secrets.oncePw}`).toString('base64')}`;
    interface Probe { source: 'nsps' | '1nce'; eventIds: string[]; start: number; ms: number; status: number }
    const probes: Probe[] = [];
    let seq = 0;
    let stop = false;
    const onceIdBase = 7_000_000_000_000 + (Date.now() % 100_000_000) * 10_000;
    // Senders that do not resend: every answer is one measurement.
    const sender = async (): Promise<void> => {
      while (!stop) {
        const i = seq++;
        const start = Date.now();
        let status = 0;
        let probe: Probe | undefined;
        try {
          if (i % 5 === 4) {
            const records = Array.from({ length: 10 }, (_, j) => ({ ...structuredClone(onceUsage), id: onceIdBase + i * 10 + j }));
            probe = { source: '1nce', eventIds: records.map((r) => `1nce-usage:${r.id}`), start, ms: 0, status: 0 };
            status = (await fetch(`${ingress.url}/1nce/data-streamer`, { method: 'POST', headers: { authorization: onceAuth, 'content-type': 'application/json' }, body: JSON.stringify(records), signal: AbortSignal.timeout(30_000) })).status;
          } else {
            const event = structuredClone(nspsTemplate);
            event.event_id = `${run}b-nsps-${i}-${randomUUID()}`;
            event.pb_data.sim_info.imsi = imsiFor(5000 + i);
            probe = { source: 'nsps', eventIds: [event.event_id], start, ms: 0, status: 0 };
            status = (await fetch(`${ingress.url}/process-event`, { method: 'POST', headers: { authorization: `Bearer ${secrets.nsps}`, 'content-type': 'application/json' }, body: JSON.stringify(event), signal: AbortSignal.timeout(30_000) })).status;
          }
        } catch {
          probe ??= { source: 'nsps', eventIds: [], start, ms: 0, status: 0 };
        }
        probes.push({ ...probe, status, ms: Date.now() - start });
        await sleep(150);
      }
    };
    const senders = Promise.all([sender(), sender(), sender()]);

    // Kill only once writes flow (a busy machine may need more than a few seconds), then a little more.
    const flowing = await eventually(async () => probes.some((p) => is2xx(p.status)), 60_000, 200);
    expect(flowing, 'writes flow before the kill').toBe(true);
    await sleep(2000);
    // The survivor is the node leading most raw partitions: writes to its partitions wait on followers
    // that are gone (the ISR cannot shrink without a controller quorum), writes to the others find no
    // leader. Both must end in a 503 within the deadline.
    const leaders = await leadersByNode();
    const survivor = mostLeading(leaders);
    const [first, second] = cluster.nodes.filter((n) => n !== survivor) as [KafkaNode, KafkaNode];
    const killedAt = Date.now();
    await Promise.all([first.kill(), second.kill()]);
    await sleep(20_000);
    const restartAt = Date.now();
    await Promise.all([first.start(120_000), second.start(120_000)]);
    const restartMs = Date.now() - restartAt;
    const firstOk = await eventually(async () => probes.find((p) => p.start >= restartAt && is2xx(p.status)), 60_000, 200);
    const inSyncMs = await waitInSync();
    const afterFrom = Date.now();
    await sleep(6000);
    stop = true;
    await senders;

    // Outage: sent after the kill and answered before the restart began, so both brokers were gone for
    // the whole request. A request sent just before the restart may rightly be acknowledged once a node is
    // back inside its deadline (one node restores the quorum and an ISR of 2): it counts as recovering.
    const answeredAt = (p: Probe): number => p.start + p.ms;
    const outage = probes.filter((p) => p.start >= killedAt && answeredAt(p) < restartAt);
    const recovering = probes.filter((p) => p.start >= killedAt && answeredAt(p) >= restartAt && p.start < afterFrom);
    const after = probes.filter((p) => p.start >= afterFrom);
    const beforeKill = probes.filter((p) => p.start < killedAt);
    const outageStatuses = new Map<number, number>();
    for (const p of outage) outageStatuses.set(p.status, (outageStatuses.get(p.status) ?? 0) + 1);
    const outageMs = outage.map((p) => p.ms).sort((a, b) => a - b);
    const pct = (q: number): number => outageMs[Math.min(outageMs.length - 1, Math.floor(q * outageMs.length))] ?? 0;

    const envelopes = await readRaw();
    const ids = new Set(envelopes.map((e) => e.event_id));
    const probeIds = probes.flatMap((p) => p.eventIds);
    const ok = probes.filter((p) => is2xx(p.status));
    const lost = ok.reduce((n, p) => n + p.eventIds.filter((id) => !ids.has(id)).length, 0);
    const refusedButStored = probes.filter((p) => !is2xx(p.status)).reduce((n, p) => n + p.eventIds.filter((id) => ids.has(id)).length, 0);
    const mineInKafka = envelopes.filter((e) => e.event_id.startsWith(`${run}b-`) || probeIds.includes(e.event_id));
    // The records of this scenario are effects too: every one applied exactly once.
    const effects = await reconcileEffects(envelopes);

    console.log(table('RECONCILIATION b. two of three brokers SIGKILLed', [
      ['killed nodes / survivor (raw partitions it led, of 12)', `${first.id}, ${second.id} / ${survivor.id} (${leaders.get(survivor.id) ?? 0})`],
      ['down for (ms) / restart until both answered (ms)', `${restartAt - killedAt} / ${restartMs}`],
      ['first 2xx after the restart began (ms)', firstOk ? firstOk.start + firstOk.ms - restartAt : 'none'],
      ['all replicas back in sync after both answered (ms)', inSyncMs],
      ['requests sent (no resends): before / outage (sent and answered while down) / recovering / after', `${beforeKill.length} / ${outage.length} / ${recovering.length} / ${after.length}`],
      ['outage answers by status', [...outageStatuses].map(([s, n]) => `${s}: ${n}`).join(', ')],
      ['outage answer time p50 / p95 / max (ms), bound KAFKA_PRODUCE_TIMEOUT_MS', `${pct(0.5)} / ${pct(0.95)} / ${outageMs.at(-1) ?? 0}, ${PRODUCE_TIMEOUT_MS}`],
      ['2xx during the outage', outage.filter((p) => is2xx(p.status)).length],
      ['2xx in all / their records lost', `${ok.length} / ${lost}`],
      ['recovering: 2xx / other', `${recovering.filter((p) => is2xx(p.status)).length} / ${recovering.filter((p) => !is2xx(p.status)).length}`],
      ['after: 2xx / other', `${after.filter((p) => is2xx(p.status)).length} / ${after.filter((p) => !is2xx(p.status)).length}`],
      ['records in Kafka (this scenario) / of refused requests (stored anyway, a resend is a duplicate)', `${mineInKafka.length} / ${refusedButStored}`],
      ['whole file: WTL applied / duplicate effects / lost', `${effects.wtlApplied} / ${effects.wtlDup} / ${effects.wtlLost}`],
      ['whole file: sheet rows / duplicate rows / lost rows', `${effects.sheetRows} / ${effects.sheetDup} / ${effects.sheetLost}`],
    ]));

    expect(beforeKill.some((p) => is2xx(p.status)), 'traffic flowed before the kill').toBe(true);
    expect(outage.length).toBeGreaterThan(0);
    expect(outage.filter((p) => is2xx(p.status)), 'never a 2xx while two of three brokers are down').toEqual([]);
    expect([...outageStatuses.keys()], 'a retriable 503').toEqual([503]);
    // The deadline plus HTTP and scheduling slack on a busy 2-core machine.
    expect(outageMs.at(-1)!, 'answered within KAFKA_PRODUCE_TIMEOUT_MS').toBeLessThanOrEqual(PRODUCE_TIMEOUT_MS + 1500);
    expect(lost, 'every 2xx is in Kafka').toBe(0);
    expect(after.length).toBeGreaterThan(0);
    expect(after.filter((p) => !is2xx(p.status)), 'new requests succeed once the brokers are back').toEqual([]);
    expect(effects.wtlDup).toBe(0);
    expect(effects.wtlLost).toBe(0);
    expect(effects.sheetDup).toBe(0);
    expect(effects.sheetLost).toBe(0);
  }, 300_000);
});
