// Fault scenario c: the schema registry goes away for minutes while the consumers restart (their schema
// caches empty), events keep arriving (ingress has its schema ids cached and keeps answering 2xx) and an
// operator runs a rebuild. Promised: not one dead letter; /readyz says the consumers wait; the rebuild
// aborts with a non-zero exit and the live inventory stays as it was; once the registry is back, every
// event is applied exactly once and a rebuild then equals the live projection.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../../services/shared/kafka.js';
import { loadConfig, kafkaConfigShape } from '../../../services/shared/config.js';
import { EnvelopeCodec } from '../../../services/shared/envelope.js';
import { rawTopics, topicNames } from '../../../services/shared/topics.js';
import { openDb } from '../../../services/shared/db.js';
import { canonicalDump } from '../../integration/scc-helpers.js';
import { repoRoot } from '../../../infra/local/stack.js';
import { startWtlEmulator, type WtlEmulator } from '../../emulators/wtl.js';
import { startSheetsEmulator, type SheetsEmulator } from '../../emulators/sheets.js';
import { captureLogger, eventually, readTopic } from '../../support/env.js';
import { startService, type ServiceProcess } from '../../support/processes.js';
import { runLoad, type Delivery } from '../../support/load.js';
import { proxiedUrl, startTcpProxy, targetOf, type TcpProxy } from '../../support/tcp-proxy.js';
import { deadLetterCounts, faultRun, lagging, lastProblems, serviceEnvs, type ServiceEnvs } from '../../support/fault-env.js';

const execFileP = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// Several minutes in the words; two by default keeps the suite inside CI's budget, and is four
// times the consumers' longest backoff, so every waiting record has retried many times.
const OUTAGE_MS = Number(process.env.FAULTS_REGISTRY_OUTAGE_MS ?? 120_000);

describe('fault c: the schema registry is down for minutes', () => {
  const r = faultRun('reg');
  const names = topicNames(r.prefix);
  const { logger } = captureLogger();
  let proxy: TcpProxy;
  let wtl: WtlEmulator;
  let sheets: SheetsEmulator;
  let envs: ServiceEnvs;
  const services: Record<string, ServiceProcess> = {};
  const ports = { ingress: 18680, provisioning: 19401, 'sheet-export': 19411, 'scc-inventory': 18690 } as const;
  const consumers = ['provisioning', 'sheet-export', 'scc-inventory'] as const;
  const kafkaCfg = () => loadConfig(kafkaConfigShape, { ...process.env, KAFKA_TOPIC_PREFIX: r.prefix });
  const kafka = () => createKafka(kafkaCfg(), logger);

  const load = (tag: string, spreadOverMs: number): Promise<Delivery[]> =>
    runLoad(
      { ingressUrl: services.ingress!.url, nspsToken: r.secrets.nsps, onceUser: 'streamer', oncePassword: r.secrets.oncePw, sapSecret: r.secrets.sap },
      { nspsEvents: 40, onceBatches: 4, onceBatchSize: 25, sapReports: 8, sapTenants: 2, concurrency: 4, maxAttempts: 10, spreadOverMs },
      `${r.run}${tag}`,
    );

  const replay = (registryUrl: string, extra: string[] = []) =>
    execFileP(process.execPath, ['--import', 'tsx', 'scripts/replay.ts', 'scc-inventory', ...extra], {
      cwd: repoRoot,
      env: { ...process.env, ...envs['scc-inventory'], SCHEMA_REGISTRY_URL: registryUrl, LOG_LEVEL: 'warn' },
      timeout: 300_000,
    }).then((res) => ({ code: 0, ...res }), (err: { code?: number; stdout?: string; stderr?: string }) => ({ code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }));

  const inventoryDump = async (): Promise<string> => {
    const db = await openDb({ url: process.env.DATABASE_URL, schema: r.schemas.inventory });
    try {
      return await canonicalDump(db);
    } finally {
      await db.close();
    }
  };

  const readyz = async (svc: ServiceProcess) => {
    const res = await fetch(`${svc.url}/readyz`).catch(() => undefined);
    return res ? { status: res.status, body: (await res.json()) as { checks: Record<string, boolean> } } : { status: 0, body: { checks: {} } };
  };

  beforeAll(async () => {
    proxy = await startTcpProxy(targetOf(process.env.SCHEMA_REGISTRY_URL!));
    wtl = await startWtlEmulator();
    sheets = await startSheetsEmulator();
    envs = serviceEnvs(r, { brokers: process.env.KAFKA_BROKERS!, registryUrl: proxiedUrl(proxy, process.env.SCHEMA_REGISTRY_URL!), wtl, sheets });
    services.ingress = await startService('ingress', ports.ingress, envs.ingress);
    for (const c of consumers) services[c] = await startService(c, ports[c], envs[c]);
  }, 240_000);

  afterAll(async () => {
    await Promise.all(Object.values(services).map((s) => s.stop()));
    await proxy?.close();
    await wtl?.close();
    await sheets?.close();
  }, 120_000);

  it('dead-letters nothing, keeps the live inventory through an aborted rebuild, and applies every event once after it', async () => {
    const admin = kafka().admin();
    await admin.connect();
    const caughtUp = async (timeoutMs: number) => eventually(async () => (await lagging(admin, r, names)).length === 0, timeoutMs, 1000);

    // Before: traffic flows and is applied.
    const before = await load('a', 5000);
    expect(before.filter((d) => d.final < 200 || d.final >= 300).map((d) => `${d.source} ${d.attempts.join(',')}`)).toEqual([]);
    expect(await caughtUp(120_000), 'caught up before the outage').toBe(true);
    const inventoryBefore = await inventoryDump();
    expect(inventoryBefore.length).toBeGreaterThan(0);

    // The registry goes away; every consumer restarts with an empty schema cache.
    const outageStarted = Date.now();
    await proxy.cut();
    for (const c of consumers) await services[c]!.restart();

    // Events keep arriving: ingress has its schema ids cached.
    const during = await load('b', 10_000);
    const duringOk = during.filter((d) => d.final >= 200 && d.final < 300).length;

    // The consumers wait and say so.
    const waiting = await eventually(async () => {
      const states = await Promise.all(consumers.map((c) => readyz(services[c]!)));
      return states.every((s) => s.status === 503 && s.body.checks.infrastructure === false) ? states : undefined;
    }, 60_000, 1000);
    expect(waiting, 'every consumer reports it waits for infrastructure').toBeDefined();

    // A rebuild during the outage aborts and leaves the live inventory as it was.
    const aborted = await replay(proxiedUrl(proxy, process.env.SCHEMA_REGISTRY_URL!), ['--wait', '15']);
    expect(aborted.code, aborted.stderr).toBe(1);
    expect(aborted.stderr).toMatch(/rebuild aborted, the live inventory is unchanged/);
    const snapshot = await replay(proxiedUrl(proxy, process.env.SCHEMA_REGISTRY_URL!), ['--wait', '5', '--as-of', new Date().toISOString(), '--snapshot', 'during-outage']);
    expect(snapshot.code, snapshot.stderr).toBe(1);
    expect(await inventoryDump()).toBe(inventoryBefore);

    const deadDuring = await deadLetterCounts(kafka(), names);
    await sleep(Math.max(0, OUTAGE_MS - (Date.now() - outageStarted)));
    const lagDuring = (await lagging(admin, r, names)).length;
    expect(await inventoryDump()).toBe(inventoryBefore);

    // Back: everything is applied, once.
    await proxy.restore();
    const outageSeconds = (Date.now() - outageStarted) / 1000;
    const caught = await caughtUp(180_000);
    if (!caught) console.log(`STILL BEHIND: ${(await lagging(admin, r, names)).join('; ')}\n${lastProblems(Object.values(services))}`);
    expect(caught, 'caught up after the outage').toBe(true);
    await admin.disconnect();

    const codec = EnvelopeCodec.create(process.env.SCHEMA_REGISTRY_URL!);
    const k = kafka();
    const ends = await (async () => {
      const a = k.admin();
      await a.connect();
      const out: Record<string, number> = {};
      for (const t of rawTopics(names)) out[t] = (await a.fetchTopicOffsets(t)).reduce((n, p) => n + Number(p.high), 0);
      await a.disconnect();
      return out;
    })();
    const kinds = new Map<string, string>();
    for (const t of [names.nspsEvents, names.onceEvents, names.onceUsage]) {
      for (const m of await readTopic(k, t, ends[t]!, 60_000)) {
        const e = await codec.decode(m.value!);
        kinds.set(e.event_id, e.kind);
      }
    }
    const nspsIds = [...kinds].filter(([, kind]) => kind === 'nsps.event').map(([id]) => id);
    const sheetIds = [...kinds.keys()];
    const applied = wtl.appliedCountByEvent();
    const rows = new Map<string, number>();
    for (const tab of sheets.tabs()) for (const row of sheets.rows(tab).slice(1)) rows.set(String(row[0]), (rows.get(String(row[0])) ?? 0) + 1);
    const deadAfter = await deadLetterCounts(k, names);

    // The rebuild, now that the registry answers, equals the live projection.
    const liveAfter = await inventoryDump();
    const rebuilt = await replay(process.env.SCHEMA_REGISTRY_URL!);
    expect(rebuilt.code, rebuilt.stderr).toBe(0);
    expect(await inventoryDump(), 'a rebuild equals the live projection').toBe(liveAfter);
    const rebuiltResult = JSON.parse(rebuilt.stdout) as { records: number; rejected: number };

    const figures = {
      outage_seconds: Math.round(outageSeconds),
      requests_before: before.length,
      requests_during: during.length,
      requests_2xx_during: duringOk,
      consumers_restarted_during: consumers.length,
      partitions_behind_during: lagDuring,
      dead_letters_during: deadDuring,
      dead_letters_after: deadAfter,
      nsps_events: nspsIds.length,
      wtl_events_applied_once: nspsIds.filter((id) => applied.get(id) === 1).length,
      wtl_events_applied_twice_or_more: nspsIds.filter((id) => (applied.get(id) ?? 0) > 1).length,
      wtl_events_not_applied: nspsIds.filter((id) => !applied.get(id)).length,
      sheet_records: sheetIds.length,
      sheet_rows_once: sheetIds.filter((id) => rows.get(id) === 1).length,
      sheet_duplicate_rows: [...rows.values()].reduce((n, c) => n + Math.max(0, c - 1), 0),
      sheet_missing_rows: sheetIds.filter((id) => !rows.get(id)).length,
      rebuild_during_outage_exit_code: aborted.code,
      live_inventory_unchanged_during_outage: true,
      rebuild_after: rebuiltResult,
    };
    console.log(`REGISTRY OUTAGE FIGURES ${JSON.stringify(figures, null, 2)}`);

    expect(duringOk, 'ingress kept accepting on its cached schema ids').toBe(during.length);
    expect(lagDuring, 'records waited in Kafka during the outage').toBeGreaterThan(0);
    expect(deadDuring).toEqual({ provisioning: 0, 'sheet-export': 0, 'scc-inventory': 0 });
    expect(deadAfter).toEqual({ provisioning: 0, 'sheet-export': 0, 'scc-inventory': 0 });
    expect(figures.wtl_events_applied_once).toBe(nspsIds.length);
    expect(figures.sheet_rows_once).toBe(sheetIds.length);
    expect(figures.sheet_duplicate_rows).toBe(0);
    expect(rebuiltResult.rejected).toBe(0);
    expect(liveAfter, 'the reports sent during the outage were applied').not.toBe(inventoryBefore);
  }, 900_000);
});
