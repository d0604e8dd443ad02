// Effects under failure and scale: a provisioning process killed with SIGKILL in the middle of a batch
// (calls that WTL received and applied, answers not yet back) and restarted re-sends exactly those calls,
// with the same idempotency key, which a WTL honouring the key drops (exactly once) and a WTL that does
// not applies again without rolling any subscriber back; two instances sharing one consumer group provision
// every NSPS event exactly once, in per-subscriber order. The WTL emulator applies a request on receipt.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { openDb, type Db } from '../../services/shared/db.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { processedCount } from '../../services/shared/idempotency.js';
import { createKafka, createProducer, produceAll } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames, type TopicNames } from '../../services/shared/topics.js';
import type { KafkaConfig } from '../../services/shared/config.js';
import { loadProvisioningConfig } from '../../services/provisioning/config.js';
import { startProvisioning } from '../../services/provisioning/main.js';
import { startWtlEmulator, type WtlEmulator } from '../emulators/wtl.js';
import { captureLogger, eventually, testKafkaConfig, uniqueName } from '../support/env.js';

const repoRoot = join(import.meta.dirname, '..', '..');
const BILL = ['open', 'closed', 'open', 'suspended'] as const;

interface TestEvent { event_id: string; imsi: string; bill: string; payload: Buffer }

/** `perImsi` events for each of `imsis` subscribers; the bill status alternates so the last state is known. */
function makeEvents(imsis: number, perImsi: number, imsiBase: number): TestEvent[] {
  const out: TestEvent[] = [];
  for (let round = 0; round < perImsi; round++) {
    for (let s = 0; s < imsis; s++) {
      const imsi = `00101${String(imsiBase + s).padStart(10, '0')}`;
      const bill = BILL[round % BILL.length]!;
      const event_id = randomUUID();
      const body = {
        event_id, data: { event_type: 'SIM/Updated', variables: {} },
        pb_data: { account_info: { bill_status: bill, blocked: false, id: `7912${imsiBase + s}@msisdn` }, sim_info: { imsi } },
        created_at: new Date().toISOString(),
      };
      out.push({ event_id, imsi, bill, payload: Buffer.from(JSON.stringify(body)) });
    }
  }
  return out;
}

describe('provisioning exactly once under crashes and scaling', () => {
  const { logger } = captureLogger('test');
  const kafka = createKafka(testKafkaConfig(), logger, 'test');
  // Each test gets its own topics (prefix) and its own PostgreSQL schema.
  let kcfg: KafkaConfig;
  let prefix: string;
  let names: TopicNames;
  let codec: EnvelopeCodec;
  let wtl: WtlEmulator;
  let producer: Producer;
  let db: Db;
  let schema: string;

  beforeAll(async () => {
    wtl = await startWtlEmulator();
    producer = await createProducer(kafka);
  });
  afterAll(async () => {
    await producer?.disconnect();
    await wtl?.close();
  });
  beforeEach(async () => {
    wtl.reset();
    kcfg = testKafkaConfig();
    prefix = kcfg.KAFKA_TOPIC_PREFIX;
    names = topicNames(prefix);
    codec = EnvelopeCodec.create(kcfg.SCHEMA_REGISTRY_URL);
    await ensureTopics(kafka, kcfg, [names.nspsEvents]);
    await codec.registerFor([names.nspsEvents]); // as ingress does at start (then encodes may run in parallel)
    schema = uniqueName('t').toLowerCase();
    db = await openDb({ url: process.env.DATABASE_URL, schema });
    return async () => {
      await db.close();
    };
  });

  async function produce(events: TestEvent[]): Promise<void> {
    const t = Date.now();
    const messages = await Promise.all(events.map(async (e, i) => {
      const envelope: Envelope = {
        event_id: e.event_id, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: t + i,
        request_id: `req-${i}`, content_type: 'application/json', payload: e.payload, attributes: {},
      };
      return { key: e.imsi, value: await codec.encode(names.nspsEvents, envelope) };
    }));
    await produceAll(producer, [{ topic: names.nspsEvents, messages }], { timeoutMs: 10_000 });
  }

  function serviceEnv(groupId: string): Record<string, string> {
    return {
      ...(process.env as Record<string, string>),
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_TOPIC_PARTITIONS: '3',
      PROVISIONING_GROUP_ID: groupId,
      DB_SCHEMA: schema,
      PORT: '0',
      WTL_BASE_URL: wtl.url,
      WTL_TIMEOUT_MS: '1000',
      PROVISIONING_SESSION_TIMEOUT_MS: '8000', // the restarted process waits this long for the killed one's partitions
      PROVISIONING_RETRY_INITIAL_MS: '50',
      PROVISIONING_RETRY_MAX_MS: '500',
      LOG_LEVEL: 'info',
    };
  }

  /** Every event applied exactly once, and each subscriber's events applied in order. */
  function expectExactlyOnceInOrder(events: TestEvent[]): void {
    const applied = wtl.appliedCountByEvent();
    expect(events.filter((e) => applied.get(e.event_id) !== 1).map((e) => [e.event_id, applied.get(e.event_id)])).toEqual([]);
    expect(applied.size).toBe(events.length);
    const byImsi = new Map<string, string[]>();
    for (const e of events) byImsi.set(e.imsi, [...(byImsi.get(e.imsi) ?? []), e.event_id]);
    for (const [imsi, expected] of byImsi) {
      const order = wtl.requests.filter((r) => r.applied && (r.body as { imsi: string }).imsi === imsi).map((r) => r.headers['x-event-id']);
      expect(order, imsi).toEqual(expected);
      const last = events.filter((e) => e.imsi === imsi).at(-1)!;
      expect(wtl.subscribers.get(imsi)?.subscriber_status).toBe(last.bill === 'open' ? 'SERVICE_GRANTED' : 'OPERATOR_DETERMINED_BARRING');
    }
  }

  function startChild(env: Record<string, string>): { child: ChildProcess; output: string[]; exited: Promise<number | null> } {
    // node --import tsx (not the tsx binary, which runs the service in a grandchild): SIGKILL must hit the service itself.
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/provisioning/main.ts'], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    child.stdout!.on('data', (c: Buffer) => output.push(c.toString()));
    child.stderr!.on('data', (c: Buffer) => output.push(c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    return { child, output, exited };
  }

  it('a process killed mid-batch re-sends only the calls WTL applied but did not answer, each once, keyed by event id', { timeout: 150_000 }, async () => {
    const events = makeEvents(8, 4, 1000);
    await produce(events);
    const groupId = `${prefix}provisioning-crash`;
    wtl.honourIdempotencyKey(true);
    wtl.setLatency(5);
    wtl.holdAfter(10); // the 11th call onwards hangs inside "WTL": the kill lands while calls are in flight

    const first = startChild(serviceEnv(groupId));
    try {
      // Kill only when every answer WTL delivered is recorded and calls are parked in flight (applied by
      // WTL on receipt, answer held), so the kill hits exactly the unsafe moment: applied, outcome unknown
      // to the caller, batch uncommitted.
      const settled = await eventually(async () =>
        wtl.heldCount() >= 1 && wtl.pendingAnswers() === 0 && (await processedCount(db, 'provisioning')) === wtl.requests.filter((r) => r.applied && r.answered).length,
      60_000, 100);
      expect(settled, first.output.join('')).toBe(true);
    } finally {
      first.child.kill('SIGKILL');
    }
    await first.exited;
    const heldAtKill = wtl.heldCount();
    expect(await eventually(async () => wtl.requests.filter((r) => r.aborted).length === heldAtKill)).toBe(true);
    wtl.release(); // nothing to answer: those clients are gone
    expect(await processedCount(db, 'provisioning')).toBeLessThan(events.length);
    const inflight = await db.query<{ n: string }>('SELECT count(*) AS n FROM provisioning_inflight');
    expect(Number(inflight.rows[0]!.n)).toBeGreaterThanOrEqual(1);

    const second = startChild(serviceEnv(groupId));
    try {
      const done = await eventually(async () => (await processedCount(db, 'provisioning')) === events.length, 60_000, 200);
      expect(done, second.output.join('')).toBe(true);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    // At a WTL that honours the idempotency key: every event applied exactly once, in order.
    expectExactlyOnceInOrder(events);
    // The calls cut off by the kill had been applied on receipt; the restarted process sent each of them
    // again, once, with the same key — and only those: nothing answered before the kill was re-sent.
    const aborted = wtl.requests.filter((r) => r.aborted);
    expect(aborted.length).toBe(heldAtKill);
    expect(aborted.every((r) => r.applied)).toBe(true);
    const resends = wtl.requests.filter((r) => r.resend);
    expect(resends.map((r) => r.idempotencyKey).sort()).toEqual(aborted.map((r) => r.headers['x-event-id']).sort());
    expect(resends.every((r) => r.dropped && r.idempotencyKey === r.headers['x-event-id'])).toBe(true);
    // A WTL that ignores the key applies each re-send a second time. That is harmless only if the re-send
    // is still its subscriber's newest state: no other request for that IMSI landed between the two.
    for (const again of resends) {
      const imsi = (again.body as { imsi: string }).imsi;
      const between = wtl.requests.filter((r) => r.applied && (r.body as { imsi: string }).imsi === imsi && r.headers['x-event-id'] !== again.idempotencyKey
        && r.seq > aborted.find((a) => a.headers['x-event-id'] === again.idempotencyKey)!.seq && r.seq < again.seq);
      expect(between, imsi).toEqual([]);
    }
    expect(second.output.join('')).toContain('has no recorded outcome: re-sending');
    const left = await db.query<{ n: string }>('SELECT count(*) AS n FROM provisioning_inflight');
    expect(Number(left.rows[0]!.n)).toBe(0);
  });

  it('two instances in one group provision every event exactly once', { timeout: 150_000 }, async () => {
    const groupId = `${prefix}provisioning-pair`;
    // A call timeout (and so a lease) long enough that a busy test machine holding up this process or the
    // emulator (in this process) does not make a call time out or a claim lapse: this test is about two
    // instances splitting the work, and asserts that no request is sent twice. The re-send after an
    // ambiguous timeout or a lapsed lease is the crash tests' subject.
    const env = { ...serviceEnv(groupId), WTL_TIMEOUT_MS: '5000' };
    const a = await startProvisioning(loadProvisioningConfig(env), { logger: captureLogger('a').logger });
    const b = await startProvisioning(loadProvisioningConfig(env), { logger: captureLogger('b').logger });
    const admin = kafka.admin();
    await admin.connect();
    try {
      let seen = '';
      const joined = await eventually(async () => {
        const { groups } = await admin.describeGroups([groupId]);
        const g = groups[0];
        seen = JSON.stringify({ state: g?.state, members: g?.members.map((m) => m.memberAssignment.length) });
        return g?.state === 'Stable' && g.members.length === 2 && g.members.every((m) => m.memberAssignment.length > 0);
      }, 60_000, 300);
      expect(joined, seen).toBe(true);

      wtl.setLatency(10);
      const events = makeEvents(18, 3, 5000);
      await produce(events);
      const done = await eventually(async () => (await processedCount(db, 'provisioning')) === events.length, 60_000, 200);
      const diagnosis = JSON.stringify({
        processed: await processedCount(db, 'provisioning'), requests: wtl.requests.length, applied: wtl.appliedCountByEvent().size,
        a: (await a.metrics.consumerMessages.get()).values, b: (await b.metrics.consumerMessages.get()).values,
      });
      expect(done, diagnosis).toBe(true);
      expectExactlyOnceInOrder(events);
      expect(wtl.requests).toHaveLength(events.length); // not a single re-send

      const processedBy = async (m: typeof a.metrics) =>
        (await m.consumerMessages.get()).values.filter((v) => v.labels.outcome === 'processed').reduce((n, v) => n + v.value, 0);
      const [na, nb] = [await processedBy(a.metrics), await processedBy(b.metrics)];
      expect(na).toBeGreaterThan(0);
      expect(nb).toBeGreaterThan(0);
      expect(na + nb).toBe(events.length);
    } finally {
      await admin.disconnect();
      await a.stop();
      await b.stop();
    }
  });
});
