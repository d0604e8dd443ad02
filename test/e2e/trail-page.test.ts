// The trail's page in a real headless browser (Debian's chromium, driven by playwright-core): an operator
// types the token, searches an event id, and sees each consumer's outcome; the latest dead letters list shows
// the reason. TRAIL_SCREENSHOT=<file.png> saves what the browser shows (docs/trail-page.png was made so).
import { existsSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser } from 'playwright-core';
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

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const TOKEN = `page-${randomUUID()}`;
// CI installs chromium (.ci/run); on a developer machine without it the test says so and is skipped.
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === 'true') throw new Error(`chromium not found at ${CHROMIUM}: CI must install Debian's chromium`);

describe.runIf(haveChromium)('trail page in a headless browser', () => {
  const kafkaCfg = testKafkaConfig();
  const kafka = createKafka(kafkaCfg, captureLogger().logger);
  const names = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX);
  const metrics = createMetrics('trail-page');
  let producer: Producer;
  let db: Db;
  let service: RunningTrail;
  let browser: Browser;

  const imsi = '001010000020349';
  const eventId = `nsps-page-${randomUUID()}`;
  const now = Date.now();
  const event: Envelope = {
    event_id: eventId, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: now - 20_000, request_id: 'req-page',
    content_type: 'application/json', attributes: {},
    payload: Buffer.from(JSON.stringify({ event_id: eventId, data: { event_type: 'SIM/Updated', variables: {} }, pb_data: { sim_info: { imsi } } })),
  };
  const outcome = (o: Partial<OutcomeRecord>): OutcomeRecord => ({
    event_id: eventId, consumer: 'provisioning', outcome: 'applied', attempt: 1, reason: null, effect: {}, at: now - 10_000, topic: names.nspsEvents, partition: 0, offset: 0, ...o,
  });
  // A second event whose latest provisioning outcome stays a dead letter.
  const stuckId = `nsps-stuck-${randomUUID()}`;
  const stuck: Envelope = { ...event, event_id: stuckId, request_id: 'req-stuck', payload: Buffer.from(JSON.stringify({ event_id: stuckId, data: { event_type: 'SIM/Updated' } })) };
  const outcomes = [
    outcome({ outcome: 'dead_lettered', reason: 'WTL rejected the request with 400: invalid msisdn', at: now - 15_000 }),
    outcome({ outcome: 'redriven', effect: { redriven_from: '0:12' }, at: now - 12_000 }),
    outcome({ outcome: 'applied', effect: { http_status: '200', latency_ms: '41' }, at: now - 11_000 }),
    outcome({ consumer: 'sheet-export', effect: { tab: 'NSPS events', range: "'NSPS events'!A2:H2" }, at: now - 14_000 }),
    outcome({ event_id: stuckId, outcome: 'dead_lettered', reason: 'cannot map NSPS event: pb_data.sim_info.imsi is required', at: now - 9_000 }),
  ];

  beforeAll(async () => {
    await ensureTopics(kafka, kafkaCfg, [names.nspsEvents, names.onceEvents, names.onceUsage, names.sapReports, names.quarantine, names.outcomes]);
    producer = await createProducer(kafka);
    const envelopeCodec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
    const outcomeCodec = OutcomeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
    await produceAll(producer, [
      { topic: names.nspsEvents, messages: [{ key: imsi, value: await envelopeCodec.encode(names.nspsEvents, event) }, { key: stuckId, value: await envelopeCodec.encode(names.nspsEvents, stuck) }] },
      { topic: names.outcomes, messages: await Promise.all(outcomes.map(async (o) => ({ key: o.event_id, value: await outcomeCodec.encode(names.outcomes, o) }))) },
    ], { timeoutMs: 15_000 });
    db = await testDb();
    const config = loadTrailConfig({
      ...process.env, KAFKA_TOPIC_PREFIX: kafkaCfg.KAFKA_TOPIC_PREFIX, PORT: '0', LOG_LEVEL: 'warn', TRAIL_API_TOKENS: TOKEN, TRAIL_GROUP_ID: `${kafkaCfg.KAFKA_TOPIC_PREFIX}trail`,
    });
    service = await startTrail(config, { db, metrics, logger: captureLogger('trail').logger });
    const indexed = await eventually(async () => {
      const res = await fetch(`${service.url}/events/${encodeURIComponent(eventId)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      return res.ok && ((await res.json()) as { outcomes: unknown[] }).outcomes.length === outcomes.length - 1;
    }, 60_000);
    expect(indexed).toBe(true);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await service?.stop();
    await producer?.disconnect();
    await db?.close();
  });

  it('finds an event by id and shows each consumer\'s outcomes, and lists the latest dead letters with their reasons', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    await page.goto(`${service.url}/`);
    await page.fill('input[name=token]', TOKEN);
    await page.fill('input[name=q]', eventId);
    await page.click('button[name=byId]');
    const out = page.locator('#out');
    await out.getByText('sheet-export').first().waitFor({ timeout: 15_000 });
    const timeline = await out.innerText();
    expect(timeline).toContain(eventId);
    expect(timeline).toContain(imsi);
    for (const text of ['provisioning', 'sheet-export', 'dead_lettered', 'redriven', 'applied', 'invalid msisdn', "'NSPS events'!A2:H2"]) expect(timeline).toContain(text);
    // Oldest first: the dead letter, then the sheet row, then the redrive and its effect.
    const order = ['dead_lettered', 'redriven'].map((t) => timeline.indexOf(t));
    expect(order[0]).toBeLessThan(order[1]!);
    if (process.env.TRAIL_SCREENSHOT) await page.screenshot({ path: process.env.TRAIL_SCREENSHOT, fullPage: true });

    await page.click('button[name=deadLetters]');
    await out.getByText(stuckId).first().waitFor({ timeout: 15_000 });
    const list = await out.innerText();
    expect(list).toContain('Latest dead letters');
    expect(list).toContain('pb_data.sim_info.imsi is required');
    // The first event's latest provisioning outcome is 'applied' now, so it is no longer among the dead letters.
    expect(list).not.toContain(eventId);

    // A wrong token is refused, and the page says so instead of showing data.
    await page.fill('input[name=token]', 'wrong-token');
    await page.fill('input[name=q]', eventId);
    await page.click('button[name=byId]');
    await expect.poll(async () => page.locator('#status').innerText(), { timeout: 10_000 }).toMatch(/401|unauthori[sz]ed|token/i);
  });
});
