// Ctrl-C the way a terminal does it: `npm start` (npm, then scripts/start.ts, on the shared test broker and
// registry) runs in a process group of its own, ingress is under load and provisioning is busy
// with slow WTL calls, and then SIGINT goes to the whole group at once (process.kill(-pgid)), so every
// service gets the terminal's SIGINT and start.ts's SIGTERM. Each service must drain exactly once: no
// request cut (no connection reset; only 2xx or a retriable 503 before the listener closes, then a
// refused connection), every acknowledged event in Kafka, and provisioning's committed offsets never
// past an event WTL did not receive.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/stack.js';
import { DEV_DEFAULTS, SERVICES } from '../../scripts/dev-defaults.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { rawTopics, topicNames } from '../../services/shared/topics.js';
import { startWtlEmulator, type WtlEmulator } from '../emulators/wtl.js';
import { eventually, readTopic } from '../support/env.js';
import { launchNpmStart, ownDatabase, servicePorts, type NpmStart } from '../support/npm-start.js';

const sample = (name: string): string => readFileSync(join(repoRoot, 'samples', name), 'utf8');

interface Outcome {
  source: 'nsps' | '1nce' | 'sap';
  eventIds: string[];
  marker?: string;
  at: number;
  /** HTTP status, or 0 when the request failed without an answer. */
  status: number;
  /** The failure's code (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET, …) when status is 0. */
  error?: string;
}

function errorCode(err: unknown): string {
  const cause = (err as { cause?: { code?: string; name?: string; message?: string } }).cause;
  return cause?.code ?? cause?.name ?? (err instanceof Error ? err.message : String(err));
}

describe('Ctrl-C on npm start: SIGINT to the whole process group under load', () => {
  const run = `ctrlc${Date.now().toString(36)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-ctrlc-'));
  const prefix = `${run}.`;
  const groups = { provisioning: `${run}-provisioning`, sheet: `${run}-sheet-export`, scc: `${run}-scc-inventory`, trail: `${run}-trail` };
  let system: NpmStart;
  let wtl: WtlEmulator;
  let ingressUrl = '';
  let database: Awaited<ReturnType<typeof ownDatabase>>;

  beforeAll(async () => {
    database = await ownDatabase(run);
    wtl = await startWtlEmulator();
    // Slow answers keep provisioning's calls in flight when the signal arrives.
    wtl.setLatency(400);
    const ports = await servicePorts();
    ingressUrl = `http://127.0.0.1:${ports.INGRESS_PORT}`;
    // npm itself passes the signal on as well, as it does in a terminal: one more signal of the same stop.
    system = await launchNpmStart({
      ...process.env,
      ...ports,
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'info',
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_TOPIC_PARTITIONS: '3',
      PROVISIONING_GROUP_ID: groups.provisioning,
      SHEET_EXPORT_GROUP_ID: groups.sheet,
      SCC_INVENTORY_GROUP_ID: groups.scc,
      TRAIL_GROUP_ID: groups.trail,
      WTL_BASE_URL: wtl.url,
      WTL_TIMEOUT_MS: '5000',
      SHEETS_BATCH_MAX_WAIT_MS: '300',
    });
  }, 180_000);

  afterAll(async () => {
    system?.kill();
    await wtl?.close();
    await database?.drop();
  });

  it('every service drains once; no request is cut and nothing acknowledged is lost', async () => {
    const nspsTemplate = JSON.parse(sample('nsps-event.json')) as { event_id: string; pb_data: { sim_info: { imsi: string } } };
    const onceUsage = (JSON.parse(sample('1nce-usage.json')) as Record<string, unknown>[])[0]!;
    const sapTemplate = JSON.parse(sample('sap-full.json')) as { value: { exposedSystems: Record<string, string>[] }[] };
    const sapToken = await new SignJWT({ tenant: { consumerTenant: `${run}-tenant`, externalTenant: `${run}-ext` } })
      .setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h')
      .sign(new TextEncoder().encode(DEV_DEFAULTS.SAP_JWT_HS256_SECRET!));
    const onceAuth = `Basic ${Buffer.from(DEV_DEFAULTS.ONCE_BASIC_AUTH_USERS!).toString('base64')}`;

    const outcomes: Outcome[] = [];
    let n = 0;
    let idBase = Number(`${Date.now()}`.slice(-9)) * 1000;
    const send = async (): Promise<Outcome> => {
      const i = n++;
      let o: Outcome;
      let req: { url: string; method: string; auth: string; body: string };
      if (i % 25 === 24) {
        const marker = `${run}-report-${i}`;
        const report = structuredClone(sapTemplate);
        for (const scc of report.value) for (const sys of scc.exposedSystems) sys.description = marker;
        o = { source: 'sap', eventIds: [], marker, at: 0, status: -1 };
        req = { url: `${ingressUrl}/api/v1/notifications?reportType=delta`, method: 'PUT', auth: `Bearer ${sapToken}`, body: JSON.stringify(report) };
      } else if (i % 5 === 4) {
        const records = Array.from({ length: 20 }, () => ({ ...onceUsage, id: idBase++ }));
        o = { source: '1nce', eventIds: records.map((r) => `1nce-usage:${r.id}`), at: 0, status: -1 };
        req = { url: `${ingressUrl}/1nce/data-streamer`, method: 'POST', auth: onceAuth, body: JSON.stringify(records) };
      } else {
        const event = structuredClone(nspsTemplate);
        event.event_id = `${run}-nsps-${i}-${randomUUID()}`;
        event.pb_data.sim_info.imsi = `00101${String(800000000 + (i % 500)).padStart(10, '0')}`;
        o = { source: 'nsps', eventIds: [event.event_id], at: 0, status: -1 };
        req = { url: `${ingressUrl}/process-event`, method: 'POST', auth: `Bearer ${DEV_DEFAULTS.NSPS_API_TOKENS}`, body: JSON.stringify(event) };
      }
      try {
        const res = await fetch(req.url, { method: req.method, headers: { authorization: req.auth, 'content-type': 'application/json' }, body: req.body, signal: AbortSignal.timeout(30_000) });
        await res.arrayBuffer();
        o.status = res.status;
      } catch (err) {
        o.status = 0;
        o.error = errorCode(err);
      }
      o.at = Date.now();
      outcomes.push(o);
      return o;
    };

    // Senders with keep-alive connections (fetch's pool), each sending again at once, until ingress
    // refuses connections: a refused connection is the listener gone, which a sender retries later.
    let sigintAt = 0;
    const workers = Array.from({ length: 12 }, async () => {
      for (;;) {
        const o = await send();
        if (o.error === 'ECONNREFUSED' && sigintAt > 0) return;
        if (o.status === 0 && sigintAt === 0) await new Promise((r) => setTimeout(r, 100));
      }
    });

    // A backlog for the consumers and WTL calls in flight before the signal.
    const busy = await eventually(async () => outcomes.length >= 300 && wtl.pendingAnswers() > 0, 60_000, 100);
    expect(busy, `load running (${outcomes.length} answers) and WTL calls in flight (${wtl.pendingAnswers()})`).toBe(true);
    const inFlightAtSignal = wtl.pendingAnswers();
    sigintAt = Date.now();
    process.kill(-system.process.pid!, 'SIGINT');

    const { code, signal } = await system.exited();
    const output = system.output();
    await Promise.race([Promise.all(workers), new Promise((r) => setTimeout(r, 10_000))]);
    // start.ts exits 0; npm, like a shell, then ends itself with the signal it got.
    expect(code === 0 || signal === 'SIGINT', `exit ${code ?? signal}\n${output}`).toBe(true);
    expect(output).toContain('Draining…');
    expect(output).toContain('Stopped.');

    // Each service logged one drain and a clean stop; no signal was taken as "exit now".
    for (const svc of SERVICES) {
      const file = join(dataDir, 'logs', `${svc.name}.log`);
      const lines = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')) : [];
      const msgs = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
      expect(msgs.filter((m) => m.startsWith('draining…')), `${svc.name} drains once`).toHaveLength(1);
      expect(msgs.filter((m) => m === 'stopped'), `${svc.name} stopped`).toHaveLength(1);
      expect(msgs.filter((m) => /^(second signal|shutdown took too long|shutdown step failed)/.test(m)), `${svc.name}: ${msgs.slice(-8).join(' | ')}`).toEqual([]);
      expect(lines.find((l) => l.includes('"msg":"stopped"')), svc.name).toContain('"clean":true');
    }

    // No request was cut: every answer is a 2xx or a retriable 503, every failure a refused connection after the signal.
    const cut = outcomes.filter((o) => o.status === 0 && !(o.error === 'ECONNREFUSED' && o.at >= sigintAt));
    expect(cut.map((o) => `${o.source} ${o.error}`), 'connection resets').toEqual([]);
    const statuses = [...new Set(outcomes.filter((o) => o.status !== 0).map((o) => o.status))].sort();
    expect(statuses.every((s) => (s >= 200 && s < 300) || s === 503), `statuses ${statuses.join(', ')}`).toBe(true);
    const acked = outcomes.filter((o) => o.status >= 200 && o.status < 300);
    const afterSignal = acked.filter((o) => o.at >= sigintAt).length;

    // Every acknowledged event is in Kafka.
    const kafka = new Kafka({ clientId: run, brokers: process.env.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const codec = EnvelopeCodec.create(process.env.SCHEMA_REGISTRY_URL!);
    const names = topicNames(prefix);
    const envelopes: (Envelope & { partition: number; offset: string; topic: string })[] = [];
    for (const topic of rawTopics(names)) {
      const count = (await admin.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high) - Number(p.low), 0);
      if (count === 0) continue;
      const messages = await readTopic(kafka, topic, count, 60_000);
      expect(messages.length, `all of ${topic} read`).toBe(count);
      for (const m of messages) envelopes.push({ ...(await codec.decode(m.value!)), topic, partition: m.partition, offset: m.offset });
    }
    const ids = new Set(envelopes.map((e) => e.event_id));
    const sapPayloads = envelopes.filter((e) => e.kind === 'sap.report').map((e) => e.payload.toString('utf8'));
    const lost = acked.flatMap((o) => (o.source === 'sap' ? (sapPayloads.some((p) => p.includes(o.marker!)) ? [] : [o.marker!]) : o.eventIds.filter((id) => !ids.has(id))));
    expect(lost, 'acknowledged but not in Kafka').toEqual([]);

    // Provisioning committed what it finished and nothing past a record WTL never received.
    const committed = await admin.fetchOffsets({ groupId: groups.provisioning, topics: [names.nspsEvents] });
    await admin.disconnect();
    const applied = wtl.appliedCountByEvent();
    const committedAt = new Map(committed[0]!.partitions.map((p) => [p.partition, Number(p.offset)]));
    const nsps = envelopes.filter((e) => e.topic === names.nspsEvents);
    const belowCommit = nsps.filter((e) => Number(e.offset) < (committedAt.get(e.partition) ?? -1));
    expect(belowCommit.length, 'provisioning committed some progress').toBeGreaterThan(0);
    expect(belowCommit.filter((e) => !applied.has(e.event_id)).map((e) => `${e.partition}@${e.offset}`), 'committed past a record WTL never received').toEqual([]);

    console.log(
      `ctrl-c: ${outcomes.length} requests (${acked.length} acknowledged, ${afterSignal} of them after the signal, ` +
        `${outcomes.filter((o) => o.status === 503).length} × 503, ${outcomes.filter((o) => o.error === 'ECONNREFUSED').length} refused after the listener closed); ` +
        `${inFlightAtSignal} WTL calls in flight at the signal; provisioning committed ${belowCommit.length} of ${nsps.length} NSPS events`,
    );
  }, 150_000);
});
