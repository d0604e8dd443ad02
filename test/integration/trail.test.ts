// The trail through the real broker, registry and PostgreSQL: raw envelopes (an NSPS event, a 1NCE batch of
// three, a SAP report in two parts) and outcome records for them, produced as ingress and the consumers
// write them, appear as timelines with siblings; the list filters and pages; the API wants a token; the
// same records produced again add no row; pruning removes what is older than the retention.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import type { Db } from '../../services/shared/db.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { createKafka, createProducer, produceAll } from '../../services/shared/kafka.js';
import { createMetrics } from '../../services/shared/metrics.js';
import { OutcomeCodec, type OutcomeRecord } from '../../services/shared/outcome.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { loadTrailConfig } from '../../services/trail/config.js';
import { startTrail, type RunningTrail } from '../../services/trail/main.js';
import { captureLogger, eventually, testDb, testKafkaConfig } from '../support/env.js';

const TOKEN = 'trail-test-token';

describe('trail service', () => {
  const kafkaCfg = testKafkaConfig();
  const kafka = createKafka(kafkaCfg, captureLogger().logger);
  const names = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX);
  const envelopeCodec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
  const outcomeCodec = OutcomeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
  const metrics = createMetrics('trail');
  let producer: Producer;
  let db: Db;
  let service: RunningTrail;

  const now = Date.now();
  const imsi = `00101${String(Math.floor(Math.random() * 1e10)).padStart(10, '0')}`;
  const nsps: Envelope = {
    event_id: `nsps-${randomUUID()}`, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: now - 60_000, request_id: 'req-nsps',
    content_type: 'application/json', attributes: { event_type: 'SIM/Updated' },
    payload: Buffer.from(JSON.stringify({ event_id: 'x', data: { event_type: 'SIM/Updated', variables: {} }, pb_data: { sim_info: { imsi } } })),
  };
  const batchRequest = `req-${randomUUID()}`;
  const batch: Envelope[] = [0, 1, 2].map((i) => ({
    event_id: `1nce-event:${randomUUID()}`, source: '1nce', kind: '1nce.event', tenant: null, received_at: now - 50_000, request_id: batchRequest,
    content_type: 'application/json', attributes: { index: String(i) },
    payload: Buffer.from(JSON.stringify({ id: i, iccid: `8988${i}`, event_type: { id: 1, description: 'Update location' } })),
  }));
  const reportId = randomUUID();
  const report: Envelope[] = [1, 2].map((part) => ({
    event_id: `sap:${reportId}:${part}`, source: 'sap', kind: 'sap.report', tenant: 'tenant-t', received_at: now - 40_000, request_id: 'req-sap',
    content_type: 'application/json', attributes: { report_id: reportId, report_type: 'full', part: String(part), parts: '2' },
    payload: Buffer.from(part === 1 ? '{"type":"notification-service",' : '"value":[]}'),
  }));
  const outcome = (e: Envelope, topic: string, o: Partial<OutcomeRecord>): OutcomeRecord => ({
    event_id: e.event_id, consumer: 'provisioning', outcome: 'applied', attempt: 1, reason: null, effect: {}, at: now - 30_000, topic, partition: 0, offset: 0, ...o,
  });
  const outcomes: OutcomeRecord[] = [
    outcome(nsps, names.nspsEvents, { outcome: 'retrying', reason: 'unavailable: WTL timeout', at: now - 35_000 }),
    outcome(nsps, names.nspsEvents, { outcome: 'dead_lettered', attempt: 2, reason: 'WTL 400: bad msisdn', at: now - 30_000 }),
    outcome(nsps, names.nspsEvents, { consumer: 'sheet-export', effect: { tab: 'nsps', range: 'A2:F2' }, at: now - 32_000 }),
    ...batch.map((e) => outcome(e, names.onceEvents, { consumer: 'sheet-export', effect: { tab: '1nce-events' } })),
    outcome(report[1]!, names.sapReports, { consumer: 'scc-inventory', effect: { report_id: reportId, system_ids: 'a,b' } }),
    // A replay's run of duplicates: one outcome record for the whole 1NCE batch, filed per event.
    outcome(batch[0]!, names.onceEvents, {
      consumer: 'sheet-export', outcome: 'duplicate', at: now - 20_000, offset: 7, also: batch.slice(1).map((e, i) => ({ event_id: e.event_id, offset: 8 + i })),
    }),
  ];
  /** The trail's outcome rows: one per event an outcome record stands for. */
  const outcomeRowCount = outcomes.reduce((n, o) => n + 1 + (o.also?.length ?? 0), 0);

  const produceAllRecords = async () => {
    const message = async (topic: string, key: string, e: Envelope) => ({ key, value: await envelopeCodec.encode(topic, e) });
    await produceAll(producer, [
      { topic: names.nspsEvents, messages: [await message(names.nspsEvents, imsi, nsps)] },
      { topic: names.onceEvents, messages: await Promise.all(batch.map((e, i) => message(names.onceEvents, `8988${i}`, e))) },
      { topic: names.sapReports, messages: [await message(names.sapReports, 'tenant-t', report[0]!), await message(names.sapReports, 'tenant-t', report[1]!)] },
    ], { timeoutMs: 15_000 });
    const messages = [];
    for (const o of outcomes) messages.push({ key: o.event_id, value: await outcomeCodec.encode(names.outcomes, o) });
    await produceAll(producer, [{ topic: names.outcomes, messages }], { timeoutMs: 15_000 });
  };
  const consumed = async () => {
    const values = (await metrics.consumerMessages.get()).values;
    return values.reduce((n, v) => n + (v.labels.outcome === 'processed' || v.labels.outcome === 'duplicate' ? v.value : 0), 0);
  };
  const rowCounts = async () => {
    const r = await db.query<{ events: string; outcomes: string }>('SELECT (SELECT count(*) FROM events) AS events, (SELECT count(*) FROM outcomes) AS outcomes');
    return { events: Number(r.rows[0]!.events), outcomes: Number(r.rows[0]!.outcomes) };
  };
  const get = async (path: string, token = TOKEN) => {
    const res = await fetch(`${service.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    return { status: res.status, headers: res.headers, body: (await res.json().catch(() => undefined)) as any };
  };
  const total = 1 + batch.length + report.length + outcomeRowCount;

  beforeAll(async () => {
    await ensureTopics(kafka, kafkaCfg, [names.nspsEvents, names.onceEvents, names.onceUsage, names.sapReports, names.quarantine, names.outcomes]);
    producer = await createProducer(kafka);
    db = await testDb();
    await produceAllRecords();
    const config = loadTrailConfig({
      ...process.env,
      KAFKA_TOPIC_PREFIX: kafkaCfg.KAFKA_TOPIC_PREFIX,
      KAFKA_TOPIC_PARTITIONS: String(kafkaCfg.KAFKA_TOPIC_PARTITIONS),
      PORT: '0',
      LOG_LEVEL: 'warn',
      TRAIL_API_TOKENS: `other-token,${TOKEN}`,
      TRAIL_GROUP_ID: `${kafkaCfg.KAFKA_TOPIC_PREFIX}trail`,
    });
    service = await startTrail(config, { db, metrics, logger: captureLogger('trail').logger });
    expect(await eventually(async () => (await consumed()) >= total, 60_000)).toBe(true);
  });
  afterAll(async () => {
    await service?.stop();
    await producer?.disconnect();
    await db?.close();
  });

  it('wants a valid bearer token for the API, not for the page and the ops routes', async () => {
    for (const token of ['', 'wrong', `${TOKEN}x`, TOKEN.slice(0, -1)]) {
      const res = await get(`/events/${nsps.event_id}`, token);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect((await get('/events', '')).status).toBe(401);
    expect((await get(`/events/${nsps.event_id}`, 'other-token')).status).toBe(200);
    const page = await fetch(`${service.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(await page.text()).toContain('Latest dead letters');
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${service.url}/readyz`)).status).toBe(200);
    expect(await (await fetch(`${service.url}/metrics`)).text()).toContain('switchboard_consumer_messages_total');
  });

  it('shows an event with its outcomes oldest first, and 404 for an unknown id', async () => {
    const res = await get(`/events/${encodeURIComponent(nsps.event_id)}`);
    expect(res.status).toBe(200);
    expect(res.body.event).toMatchObject({
      event_id: nsps.event_id, source: 'nsps', kind: 'nsps.event', event_type: 'SIM/Updated', key: imsi, request_id: 'req-nsps',
      received_at: new Date(nsps.received_at).toISOString(), topic: names.nspsEvents, size: nsps.payload.length,
    });
    expect(res.body.outcomes.map((o: any) => [o.consumer, o.outcome])).toEqual([
      ['provisioning', 'retrying'], ['sheet-export', 'applied'], ['provisioning', 'dead_lettered'],
    ]);
    expect(res.body.outcomes[2]).toMatchObject({ reason: 'WTL 400: bad msisdn', attempt: 2, at: new Date(now - 30_000).toISOString() });
    expect(res.body.outcomes[1].effect).toEqual({ tab: 'nsps', range: 'A2:F2' });
    expect(res.body.siblings).toEqual([]);

    const missing = await get('/events/no-such-event');
    expect(missing.status).toBe(404);
    expect(missing.body).toMatchObject({ error: 'event not found' });
  });

  it('finds a 1NCE batch and a split SAP report by any of their event ids', async () => {
    const middle = await get(`/events/${encodeURIComponent(batch[1]!.event_id)}`);
    expect(middle.body.event).toMatchObject({ source: '1nce', event_type: 'Update location', key: '89881', sibling_group: `1nce:${batchRequest}` });
    expect(middle.body.siblings).toEqual([batch[0]!.event_id, batch[2]!.event_id]);
    expect(middle.body.outcomes.map((o: any) => o.outcome)).toEqual(['applied', 'duplicate']);
    // Each event of the duplicate run is filed with its own record's position, and is its consumer's latest outcome.
    for (const [i, e] of batch.entries()) {
      const t = await get(`/events/${encodeURIComponent(e.event_id)}`);
      expect(t.body.outcomes[1]).toMatchObject({ consumer: 'sheet-export', outcome: 'duplicate', topic: names.onceEvents, offset: 7 + i, at: new Date(now - 20_000).toISOString() });
    }
    const latest = await get(`/events?outcome=duplicate&consumer=sheet-export`);
    expect(latest.body.items.map((e: any) => e.event_id).sort()).toEqual(batch.map((e) => e.event_id).sort());

    const part1 = await get(`/events/${encodeURIComponent(report[0]!.event_id)}`);
    expect(part1.body.event).toMatchObject({ source: 'sap', key: 'tenant-t', tenant: 'tenant-t', event_type: 'full' });
    expect(part1.body.siblings).toEqual([report[1]!.event_id]);
    const part2 = await get(`/events/${encodeURIComponent(report[1]!.event_id)}`);
    expect(part2.body.siblings).toEqual([report[0]!.event_id]);
    expect(part2.body.outcomes[0]).toMatchObject({ consumer: 'scc-inventory', outcome: 'applied', effect: { report_id: reportId, system_ids: 'a,b' } });
  });

  it('lists with filters and pages with a cursor', async () => {
    const since = new Date(now - 120_000).toISOString();
    const dead = await get(`/events?outcome=dead_lettered&from=${since}`);
    expect(dead.status).toBe(200);
    expect(dead.body.items.map((e: any) => e.event_id)).toEqual([nsps.event_id]);
    expect(dead.body.items[0].latest).toEqual(expect.arrayContaining([
      expect.objectContaining({ consumer: 'provisioning', outcome: 'dead_lettered', reason: 'WTL 400: bad msisdn' }),
      expect.objectContaining({ consumer: 'sheet-export', outcome: 'applied' }),
    ]));
    expect((await get(`/events?outcome=dead_lettered&from=${new Date(now - 55_000).toISOString()}`)).body.items).toEqual([]);
    expect((await get(`/events?outcome=dead_lettered&consumer=sheet-export`)).body.items).toEqual([]);
    expect((await get(`/events?key=${imsi}`)).body.items.map((e: any) => e.event_id)).toEqual([nsps.event_id]);
    expect((await get('/events?source=sap')).body.items.map((e: any) => e.event_id).sort()).toEqual(report.map((e) => e.event_id).sort());

    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const res: { status: number; body: any } = await get(`/events?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      seen.push(...res.body.items.map((e: any) => e.event_id));
      cursor = res.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen.slice(0, 2).sort()).toEqual(report.map((e) => e.event_id).sort()); // newest first
    expect(seen.at(-1)).toBe(nsps.event_id);
    expect(new Set(seen).size).toBe(6);

    for (const bad of ['limit=0', 'limit=501', 'outcome=exploded', 'from=yesterday', 'cursor=abc', 'colour=red', 'key=a%00b']) {
      const res = await get(`/events?${bad}`);
      expect(res.status, bad).toBe(400);
      expect(res.body.error).toBe('bad request');
    }
    // A NUL character cannot reach PostgreSQL text: the client's 400, not the database's 500.
    const nul = await get('/events/abc%00def');
    expect(nul.status).toBe(400);
    expect(nul.body.message).toContain('NUL');
  });

  it('adds no row when the same records are produced again', async () => {
    const before = await rowCounts();
    expect(before).toEqual({ events: 6, outcomes: outcomeRowCount });
    const consumedBefore = await consumed();
    await produceAllRecords();
    expect(await eventually(async () => (await consumed()) >= consumedBefore + total, 60_000)).toBe(true);
    expect(await rowCounts()).toEqual(before);
    const res = await get(`/events/${encodeURIComponent(nsps.event_id)}`);
    expect(res.body.outcomes).toHaveLength(3);
    expect(res.body.deliveries).toHaveLength(1);
  });

  it('prunes index rows older than the retention', async () => {
    // 31 days on, with the default retention of 30: everything is older than the cutoff.
    const pruned = await service.prune(new Date(now + 31 * 86_400_000));
    expect(pruned).toEqual({ events: 6, outcomes: outcomeRowCount });
    expect((await get(`/events/${encodeURIComponent(nsps.event_id)}`)).status).toBe(404);
    expect((await get('/events')).body.items).toEqual([]);
  });
});
