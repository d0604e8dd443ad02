// Provisioning through the real broker, registry and PostgreSQL against the WTL emulator: NSPS events
// produced to the raw topic exactly as ingress writes them end as WTL calls — once each.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import type { Db } from '../../services/shared/db.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { createKafka, createProducer, produceAll } from '../../services/shared/kafka.js';
import { topicNames } from '../../services/shared/topics.js';
import { loadProvisioningConfig } from '../../services/provisioning/config.js';
import { startProvisioning, type RunningProvisioning } from '../../services/provisioning/main.js';
import { runDlq } from '../../scripts/dlq.js';
import { startWtlEmulator, type WtlEmulator } from '../emulators/wtl.js';
import { captureLogger, eventually, testDb, testKafkaConfig } from '../support/env.js';

function nspsEvent(imsi: string | undefined, over: { eventType?: string; bill?: string; blocked?: boolean; createdAt?: string } = {}) {
  return {
    event_id: randomUUID(),
    data: { event_type: over.eventType ?? 'SIM/Updated', variables: { i_env: 1, i_event: 999999, i_account: 1 } },
    pb_data: {
      account_info: { bill_status: over.bill ?? 'open', blocked: over.blocked ?? false, i_account: 1, id: '79123456789@msisdn' },
      sim_info: { i_sim_card: 3793, ...(imsi ? { imsi } : {}), msisdn: '79123456789', status: 'active' },
      access_policy_info: {
        i_access_policy: 179,
        attributes: [
          { group_name: 'lte.wtl', name: 'cs_profile', value: 'cs-pp-20250319' },
          { group_name: 'lte.wtl', name: 'eps_profile', value: 'eps-pp-20250319' },
        ],
      },
    },
    handler_id: 'p1-nsps',
    created_at: over.createdAt ?? new Date().toISOString(),
    status: 'received',
  };
}

let imsiSeq = 0;
const nextImsi = () => `0010100000${String(++imsiSeq).padStart(5, '0')}`;

describe('provisioning service (Kafka + PostgreSQL + WTL emulator)', () => {
  const kcfg = testKafkaConfig();
  const prefix = kcfg.KAFKA_TOPIC_PREFIX;
  const names = topicNames(prefix);
  const { logger, lines } = captureLogger('provisioning');
  const kafka = createKafka(kcfg, logger, 'test');
  const codec = EnvelopeCodec.create(kcfg.SCHEMA_REGISTRY_URL);
  const dlqEnv = { ...process.env, KAFKA_TOPIC_PREFIX: prefix, LOG_LEVEL: 'error' };
  let wtl: WtlEmulator;
  let db: Db;
  let producer: Producer;
  let svc: RunningProvisioning;

  beforeAll(async () => {
    wtl = await startWtlEmulator();
    db = await testDb();
    const cfg = loadProvisioningConfig({
      ...process.env,
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_TOPIC_PARTITIONS: '3',
      PROVISIONING_GROUP_ID: `${prefix}provisioning`,
      PORT: '0',
      WTL_BASE_URL: wtl.url,
      WTL_API_KEY: 'wtl-test-key',
      WTL_TIMEOUT_MS: '2000',
      PROVISIONING_RETRY_INITIAL_MS: '20',
      PROVISIONING_RETRY_MAX_MS: '200',
      PROVISIONING_RETRY_MAX_ATTEMPTS: '4',
    });
    svc = await startProvisioning(cfg, { logger, db });
    producer = await createProducer(kafka);
  });
  afterAll(async () => {
    await svc?.stop();
    await producer?.disconnect();
    await db?.close();
    await wtl?.close();
  });
  beforeEach(() => wtl.reset());

  /** Writes the event as ingress does: envelope conventions for NSPS, key = IMSI. */
  async function produce(event: ReturnType<typeof nspsEvent>, receivedAt = Date.now()): Promise<void> {
    const payload = Buffer.from(JSON.stringify(event));
    const envelope: Envelope = {
      event_id: event.event_id, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: receivedAt,
      request_id: `req-${event.event_id.slice(0, 8)}`, content_type: 'application/json', payload, attributes: {},
    };
    const key = event.pb_data.sim_info.imsi ?? String(event.pb_data.account_info.i_account);
    const value = await codec.encode(names.nspsEvents, envelope);
    await produceAll(producer, [{ topic: names.nspsEvents, messages: [{ key, value }] }], { timeoutMs: 10_000 });
  }

  async function outcomes(outcome: string): Promise<number> {
    const m = await svc.metrics.consumerMessages.get();
    return m.values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
  }

  const callsFor = (eventId: string) => wtl.requests.filter((r) => r.headers['x-event-id'] === eventId);

  /** The dead letters of one event, polled until there is at least one (undefined on timeout). */
  async function lettersOf(eventId: string): Promise<Record<string, unknown>[] | undefined> {
    return eventually(async () => {
      const found = (await deadLetters()).filter((l) => l.eventId === eventId);
      return found.length > 0 ? found : undefined;
    }, 30_000, 300);
  }

  async function deadLetters(): Promise<Record<string, unknown>[]> {
    const out: string[] = [];
    await runDlq(['list', 'provisioning', '--json'], dlqEnv, (l) => out.push(l));
    return out.map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('turns one NSPS event into exactly one WTL call with the mapped body', async () => {
    const imsi = nextImsi();
    const event = nspsEvent(imsi);
    await produce(event);
    await eventually(async () => wtl.subscribers.has(imsi));
    expect(callsFor(event.event_id)).toHaveLength(1);
    const call = callsFor(event.event_id)[0]!;
    expect(call.body).toEqual({
      imsi, subscriber_status: 'SERVICE_GRANTED', msisdn: ['79123456789'],
      cs_profile: 'cs-pp-20250319', eps_profile: 'eps-pp-20250319', action: 'update',
    });
    expect(call.headers.authorization).toBe('Bearer wtl-test-key');
    expect(call.headers['idempotency-key']).toBe(event.event_id);
    expect(lines.join('\n')).not.toContain('wtl-test-key');
    // The emulator records a call when it receives it; the service logs its line once the answer is back.
    const provisionedLine = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'provisioned' && l.event_id === event.event_id);
    const logged = await eventually(async () => provisionedLine());
    expect(logged).toMatchObject({ request_id: `req-${event.event_id.slice(0, 8)}` });
  });

  it('calls WTL once for the same event produced three times', async () => {
    const imsi = nextImsi();
    const event = nspsEvent(imsi);
    const before = await outcomes('duplicate');
    for (let i = 0; i < 3; i++) await produce(event);
    await eventually(async () => (await outcomes('duplicate')) >= before + 2);
    expect(callsFor(event.event_id)).toHaveLength(1);
    expect(wtl.appliedCountByEvent().get(event.event_id)).toBe(1);
  });

  it('retries 503 twice and then provisions with one successful call', async () => {
    wtl.enqueue({ status: 503, body: { is_successful: false, error: 'maintenance' } }, 2);
    const imsi = nextImsi();
    const event = nspsEvent(imsi, { blocked: true });
    await produce(event);
    await eventually(async () => wtl.subscribers.has(imsi));
    const calls = callsFor(event.event_id);
    expect(calls.map((c) => c.status)).toEqual([503, 503, 200]);
    expect(wtl.appliedCountByEvent().get(event.event_id)).toBe(1);
    expect(wtl.subscribers.get(imsi)).toMatchObject({ subscriber_status: 'OPERATOR_DETERMINED_BARRING' });
    expect(await outcomes('retried')).toBeGreaterThanOrEqual(2);
  });

  it('waits out a 429 and provisions once', async () => {
    wtl.enqueue({ status: 429, headers: { 'retry-after': '1' }, body: { is_successful: false, error: 'rate limited' } });
    const imsi = nextImsi();
    const event = nspsEvent(imsi);
    await produce(event);
    await eventually(async () => wtl.subscribers.has(imsi));
    const calls = callsFor(event.event_id);
    expect(calls.map((c) => c.status)).toEqual([429, 200]);
    // Retry-After (1 s) outweighs the configured 200 ms backoff ceiling.
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(950);
  });

  it('skips an unmapped event type without calling WTL', async () => {
    const imsi = nextImsi();
    const before = await outcomes('skipped');
    await produce(nspsEvent(imsi, { eventType: 'Account/BalanceChanged' }));
    await eventually(async () => (await outcomes('skipped')) > before);
    expect(wtl.requests).toHaveLength(0);
    expect(await svc.metrics.registry.getSingleMetricAsString('switchboard_provisioning_skipped_total')).toContain('event_type="Account/BalanceChanged"');
  });

  it('dead-letters an event without an IMSI with the mapping reason', async () => {
    const event = nspsEvent(undefined);
    await produce(event);
    const letters = (await lettersOf(event.event_id)) ?? [];
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ errorClass: 'PermanentError', attempts: 1, originalTopic: names.nspsEvents });
    expect(String(letters[0]!.reason)).toMatch(/pb_data\.sim_info\.imsi is missing/);
    expect(wtl.requests).toHaveLength(0);
  });

  it('dead-letters a WTL 400 with its reason, and a redrive after the fix provisions it once', async () => {
    wtl.setDefault({ status: 400, body: { is_successful: false, error: 'unknown cs_profile' } });
    const imsi = nextImsi();
    const event = nspsEvent(imsi);
    await produce(event);
    const letters = (await lettersOf(event.event_id)) ?? [];
    expect(letters).toHaveLength(1);
    expect(String(letters[0]!.reason)).toMatch(/400.*unknown cs_profile/);
    expect(callsFor(event.event_id)).toHaveLength(1); // permanent: not retried

    wtl.setDefault(undefined); // WTL fixed
    const out: string[] = [];
    expect(await runDlq(['redrive', 'provisioning', '--event-id', event.event_id], dlqEnv, (l) => out.push(l))).toBe(0);
    expect(out.join('\n')).toContain(`redriven ${event.event_id}`);
    await eventually(async () => wtl.subscribers.has(imsi));
    expect(wtl.appliedCountByEvent().get(event.event_id)).toBe(1);

    // Redriving the same dead letter again changes nothing at WTL.
    const dupBefore = await outcomes('duplicate');
    await runDlq(['redrive', 'provisioning', '--event-id', event.event_id], dlqEnv, () => undefined);
    await eventually(async () => (await outcomes('duplicate')) > dupBefore);
    expect(wtl.appliedCountByEvent().get(event.event_id)).toBe(1);
  });

  it('never applies a redriven dead letter over a newer state of the same subscriber', async () => {
    const imsi = nextImsi();
    const older = nspsEvent(imsi, { bill: 'open' });
    const newer = nspsEvent(imsi, { bill: 'closed' });
    wtl.setDefault({ status: 200, body: { is_successful: false, error: 'HLR busy' } });
    const t = Date.now();
    await produce(older, t);
    expect(await lettersOf(older.event_id)).toHaveLength(1);
    wtl.setDefault(undefined);
    await produce(newer, t + 1000);
    await eventually(async () => wtl.subscribers.has(imsi));

    const supersededBefore = await outcomes('superseded');
    await runDlq(['redrive', 'provisioning', '--event-id', older.event_id], dlqEnv, () => undefined);
    await eventually(async () => (await outcomes('superseded')) > supersededBefore);
    expect(wtl.appliedCountByEvent().get(older.event_id)).toBeUndefined();
    expect(wtl.subscribers.get(imsi)).toMatchObject({ subscriber_status: 'OPERATOR_DETERMINED_BARRING', msisdn: [] });
    const row = await db.query<{ event_id: string }>('SELECT event_id FROM provisioning_subscribers WHERE imsi = $1', [imsi]);
    expect(row.rows[0]?.event_id).toBe(newer.event_id);
  });

  it('applies one subscriber\'s events in order', async () => {
    const imsi = nextImsi();
    const t = Date.now();
    const events = [nspsEvent(imsi, { bill: 'open' }), nspsEvent(imsi, { blocked: true }), nspsEvent(imsi, { bill: 'closed' }), nspsEvent(imsi, { bill: 'open' })];
    wtl.setLatency(15);
    for (const [i, e] of events.entries()) await produce(e, t + i);
    await eventually(async () => events.every((e) => wtl.appliedCountByEvent().get(e.event_id) === 1));
    const order = wtl.requests.filter((r) => (r.body as { imsi?: string }).imsi === imsi).map((r) => r.headers['x-event-id']);
    expect(order).toEqual(events.map((e) => e.event_id));
    expect(wtl.subscribers.get(imsi)).toMatchObject({ subscriber_status: 'SERVICE_GRANTED' });
  });

  it('serves its metrics and readiness on the ops port', async () => {
    const ready = await fetch(`http://127.0.0.1:${svc.port}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${svc.port}/metrics`)).text();
    expect(metrics).toMatch(/switchboard_consumer_messages_total\{[^}]*outcome="processed"/);
    expect(metrics).toMatch(/switchboard_external_call_duration_seconds_bucket\{[^}]*target="wtl"/);
    expect(metrics).toMatch(/switchboard_external_call_errors_total\{[^}]*class="permanent"/);
  });
});
