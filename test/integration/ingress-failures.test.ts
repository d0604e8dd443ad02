// Failure answers of ingress: a broker that goes away mid-test (a private one, so nobody else's
// broker is touched) gives every source its retriable error and never a 2xx, and the resend
// succeeds once the broker is back; load shedding answers 503 while the ops routes keep working.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKafka, stopKafka } from '../../infra/local/stack.js';
import { loadIngressConfig } from '../../services/ingress/config.js';
import { startIngress, type RunningIngress } from '../../services/ingress/main.js';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import { createKafka } from '../../services/shared/kafka.js';
import { topicNames } from '../../services/shared/topics.js';
import { captureLogger, eventually, readTopic, uniqueName } from '../support/env.js';
import { hs256Token } from '../support/jwt.js';

const NSPS_TOKEN = 'failure-nsps-token-1f2e';
const ONCE = 'streamer:failure-pw-77';
const SAP_SECRET = 'failure-sap-secret-0a9b8c7d';

const env = (extra: Record<string, string>) =>
  loadIngressConfig({
    ...process.env,
    KAFKA_TOPIC_PREFIX: `${uniqueName('t')}.`,
    KAFKA_TOPIC_PARTITIONS: '2',
    PORT: '0',
    NSPS_API_TOKENS: NSPS_TOKEN,
    ONCE_BASIC_AUTH_USERS: ONCE,
    SAP_JWT_HS256_SECRET: SAP_SECRET,
    ...extra,
  });

async function call(ingress: RunningIngress, source: 'nsps' | '1nce' | 'sap', id: string) {
  const requests = {
    nsps: { method: 'POST', path: '/process-event', auth: `Bearer ${NSPS_TOKEN}`, body: JSON.stringify({ event_id: id, data: { event_type: 'SIM/Updated' } }) },
    '1nce': { method: 'POST', path: '/1nce/data-streamer', auth: `Basic ${Buffer.from(ONCE).toString('base64')}`, body: JSON.stringify([{ id, event_type: { id: 1 } }, { id, traffic_type: { id: 5 }, volume: { total: 1 } }]) },
    sap: { method: 'PUT', path: '/api/v1/notifications?reportType=delta', auth: `Bearer ${await hs256Token(SAP_SECRET)}`, body: JSON.stringify({ type: 'notification-service', value: [{ subaccount: id, locationId: 'l', exposedSystems: [] }] }) },
  }[source];
  const res = await fetch(`${ingress.url}${requests.path}`, { method: requests.method, headers: { authorization: requests.auth, 'content-type': 'application/json', 'x-request-id': `${source}-${id}` }, body: requests.body });
  return { status: res.status, json: await res.json().catch(() => undefined), retryAfter: res.headers.get('retry-after') };
}

describe('ingress when the broker goes away', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'ingress-broker-'));
  const kafkaPort = 31192; // below the ephemeral range (32768+), so no client socket can hold it
  let ingress: RunningIngress;
  let cfg: ReturnType<typeof env>;

  beforeAll(async () => {
    const brokers = await startKafka({ stateDir, kafkaPort, controllerPort: kafkaPort + 1, registryPort: 0, log: () => undefined });
    cfg = env({ KAFKA_BROKERS: brokers, KAFKA_PRODUCE_TIMEOUT_MS: '3000', KAFKA_RETRY_AFTER_SECONDS: '15' });
    ingress = await startIngress(cfg, { logger: captureLogger('ingress').logger });
  }, 180_000);
  afterAll(async () => {
    await Promise.race([ingress?.stop(), new Promise((r) => setTimeout(r, 15_000))]);
    await stopKafka(stateDir, () => undefined);
    rmSync(stateDir, { recursive: true, force: true });
  }, 120_000);

  it('answers 2xx while the broker is up', async () => {
    expect((await call(ingress, 'nsps', 'up-1')).status).toBe(202);
    expect((await call(ingress, '1nce', 'up-1')).status).toBe(200);
    expect((await call(ingress, 'sap', 'up-1')).status).toBe(204);
  });

  it('answers each source\'s retriable error, never a 2xx, when Kafka cannot take the records; the resend succeeds after recovery', async () => {
    await stopKafka(stateDir, () => undefined);

    const nsps = await call(ingress, 'nsps', 'down-1');
    expect(nsps.status).toBe(503);
    expect(nsps.retryAfter).toBe('15');
    expect(nsps.json).toEqual({ message: 'Service unavailable', error: 'Event could not be stored, retry later', type: 'SERVICE_UNAVAILABLE' });

    const once = await call(ingress, '1nce', 'down-1');
    expect(once.status).toBe(503);
    expect(once.retryAfter).toBe('15');
    expect(once.json).toEqual({ error: 'kafka_unavailable', message: 'records could not be stored, retry later' });

    const sap = await call(ingress, 'sap', 'down-1');
    expect(sap.status).toBe(500);
    expect(sap.json).toEqual({ error: { code: 500, message: 'Update failed' } });

    const ready = await fetch(`${ingress.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ checks: { kafka: false } });

    await startKafka({ stateDir, kafkaPort, controllerPort: kafkaPort + 1, registryPort: 0, log: () => undefined });
    // The sender resends the refused batch; the producer reconnects by itself.
    const resent = await eventually(async () => (await call(ingress, '1nce', 'down-1')).status === 200, 60_000, 1_000);
    expect(resent).toBe(true);
    const kafka = createKafka(cfg, captureLogger().logger);
    const codec = EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL);
    const usage = await Promise.all((await readTopic(kafka, topicNames(cfg.KAFKA_TOPIC_PREFIX).onceUsage, 2)).map((m) => codec.decode(m.value!)));
    expect(usage.map((e) => e.event_id).sort()).toEqual(['1nce-usage:down-1', '1nce-usage:up-1']);
  }, 150_000);
});

describe('ingress load shedding', () => {
  let ingress: RunningIngress;
  beforeAll(async () => {
    // A heap limit of one byte: the server is always "under pressure" once under-pressure sampled it.
    ingress = await startIngress(env({ LOAD_MAX_HEAP_USED_BYTES: '1', LOAD_RETRY_AFTER_SECONDS: '7' }), { logger: captureLogger('ingress').logger });
  });
  afterAll(async () => {
    await ingress?.stop();
  });

  it('answers the webhook routes with 503 and Retry-After, in each source\'s shape, while /healthz and /metrics still answer', async () => {
    const shed = await eventually(async () => (await call(ingress, 'nsps', 'load-1')).status === 503, 10_000, 100);
    expect(shed).toBe(true);
    const nsps = await call(ingress, 'nsps', 'load-2');
    expect(nsps.retryAfter).toBe('7');
    expect(nsps.json).toMatchObject({ type: 'SERVICE_UNAVAILABLE' });
    const once = await call(ingress, '1nce', 'load-2');
    expect(once.status).toBe(503);
    expect(once.json).toMatchObject({ error: 'overloaded' });
    const sap = await call(ingress, 'sap', 'load-2');
    expect(sap.status).toBe(503);
    expect(sap.json).toEqual({ error: { code: 503, message: 'service unavailable' } });
    expect((await fetch(`${ingress.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${ingress.url}/metrics`)).status).toBe(200);
  });
});

describe('ingress shutdown', () => {
  it('finishes a request that is in flight when stop() is called, with its record acknowledged, then refuses new connections', async () => {
    const cfg = env({});
    const { logger, lines } = captureLogger('ingress');
    const ingress = await startIngress(cfg, { logger });
    const port = Number(new URL(ingress.url).port);
    const body = JSON.stringify({ event_id: 'in-flight-1', data: { event_type: 'SIM/Updated' } });
    const half = Math.floor(body.length / 2);
    const socket = connect(port, '127.0.0.1');
    let response = '';
    const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
    socket.on('data', (d) => (response += d.toString()));
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    socket.write(`POST /process-event HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${NSPS_TOKEN}\r\nContent-Type: application/json\r\nX-Request-Id: in-flight\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, half)}`);
    // The request has started (its headers are in) when shutdown begins.
    const started = await eventually(async () => lines.some((l) => l.includes('"request_id":"in-flight"') && l.includes('incoming request')), 5_000, 20);
    expect(started).toBe(true);
    const stopping = ingress.stop();
    socket.write(body.slice(half));
    await stopping;
    await closed;
    expect(response).toMatch(/^HTTP\/1\.1 202/);
    const [record] = await readTopic(createKafka(cfg, captureLogger().logger), topicNames(cfg.KAFKA_TOPIC_PREFIX).nspsEvents, 1);
    expect((await EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL).decode(record!.value!)).request_id).toBe('in-flight');
    await expect(fetch(`${ingress.url}/healthz`)).rejects.toThrow();
  });
});
