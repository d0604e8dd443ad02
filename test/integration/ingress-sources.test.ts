// The ingress service against the real broker and registry: every documented answer of every
// source, the senders' own example requests as written, large batches and reports, and after each
// 2xx every record read back, decoded through the registry, with the payload equal to the bytes sent.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/stack.js';
import { loadIngressConfig } from '../../services/ingress/config.js';
import { startIngress, type RunningIngress } from '../../services/ingress/main.js';
import { SAP_PART_BYTES } from '../../services/ingress/sources/sap.js';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { quarantineEnvelope } from '../../services/ingress/domain/quarantine.js';
import { runQuarantine } from '../../scripts/quarantine.js';
import { topicNames } from '../../services/shared/topics.js';
import { captureLogger, readTopic, uniqueName } from '../support/env.js';
import { DEFAULT_TENANT, hs256Token, startJwksServer, unsignedToken, type JwksServer } from '../support/jwt.js';

const NSPS_TOKENS = ['nsps-token-old-3b7c1e', 'nsps-token-new-9d2a4f'];
const ONCE_USER = 'streamer';
const ONCE_PASSWORD = 'once-pw:with-colon-61ac';
const SAP_SECRET = 'sap-shared-secret-7f3e2d1c0b9a';
const NSPS_401 = { message: 'Authentication failed', error: 'Invalid API token', type: 'AUTHENTICATION_ERROR' };
const SAP_401 = { error: { code: 401, message: 'unauthorized' } };
const FIVE_MB = 5 * 1024 * 1024;
const NSPS_LIMIT = 64 * 1024;

/** The senders' example request bodies exactly as their documents write them (samples/ when the documents are absent). */
function referenceExamples(): { nsps: string; onceEvent: string; onceUsage: string; sapDelta: string; sapFull: string } {
  const dir = process.env.REFERENCE_DIR ?? '/work/shared/reference';
  const sample = (name: string): string => readFileSync(join(repoRoot, 'samples', name), 'utf8');
  if (!existsSync(join(dir, '1nce-data-streamer-webhook.md'))) {
    return { nsps: sample('nsps-event.json'), onceEvent: sample('1nce-events.json'), onceUsage: sample('1nce-usage.json'), sapDelta: sample('sap-delta.as-documented.json'), sapFull: sample('sap-full.as-documented.json') };
  }
  const read = (name: string): string => readFileSync(join(dir, name), 'utf8');
  const once = [...read('1nce-data-streamer-webhook.md').matchAll(/--data-raw '([\s\S]*?)'\n/g)].map((m) => m[1]!);
  const sap = [...read('sap-ns-adapter-notifications.md').matchAll(/reportType=(delta|full) \\[\s\S]*?--data \\\n'([\s\S]*?)'\n/g)];
  const nsps = /-d '([\s\S]*?)'\n/.exec(read('nsps-connector-get-started.md'))![1]!;
  return {
    nsps, onceEvent: once[0]!, onceUsage: once[1]!,
    sapDelta: sap.find((m) => m[1] === 'delta')![2]!, sapFull: sap.find((m) => m[1] === 'full')![2]!,
  };
}

describe('ingress sources', () => {
  const prefix = `${uniqueName('t')}.`;
  const topics = topicNames(prefix);
  const { logger, lines } = captureLogger('ingress');
  const examples = referenceExamples();
  let jwks: JwksServer;
  let ingress: RunningIngress;
  let cfg: ReturnType<typeof loadIngressConfig>;
  const codec = EnvelopeCodec.create(process.env.SCHEMA_REGISTRY_URL!);
  const written: Record<string, number> = {};
  const issuedTokens: string[] = [];
  let seq = 0;

  const send = async (method: string, path: string, headers: Record<string, string>, body?: string | Buffer) => {
    const requestId = headers['x-request-id'] ?? `req-${++seq}-${Date.now()}`;
    const res = await fetch(`${ingress.url}${path}`, { method, headers: { 'x-request-id': requestId, ...headers }, body: body as RequestInit['body'] });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json, headers: res.headers, requestId };
  };
  /** The decoded records one request wrote to `topic`, given how many it should have written. */
  const recordsOf = async (topic: string, requestId: string, expected: number) => {
    written[topic] = (written[topic] ?? 0) + expected;
    const kafka = createKafka(cfg, logger);
    const messages = await readTopic(kafka, topic, written[topic]!);
    const all = await Promise.all(messages.map(async (m) => ({ key: m.key!.toString(), partition: m.partition, offset: Number(m.offset), envelope: await codec.decode(m.value!) })));
    return all.filter((r) => r.envelope.request_id === requestId).sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  };
  const nspsAuth = (token = NSPS_TOKENS[0]!) => ({ authorization: `Bearer ${token}`, 'content-type': 'application/json' });
  const onceAuth = (user = ONCE_USER, pw = ONCE_PASSWORD) => ({ authorization: `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`, 'content-type': 'application/json' });
  const sapAuth = async (token?: string) => {
    const t = token ?? (await hs256Token(SAP_SECRET));
    issuedTokens.push(t);
    return { authorization: `Bearer ${t}`, 'content-type': 'application/json' };
  };

  beforeAll(async () => {
    jwks = await startJwksServer();
    cfg = loadIngressConfig({
      ...process.env,
      KAFKA_TOPIC_PREFIX: prefix,
      KAFKA_TOPIC_PARTITIONS: '3',
      PORT: '0',
      NSPS_API_TOKENS: NSPS_TOKENS.join(','),
      ONCE_BASIC_AUTH_USERS: `someone-else:pw,${ONCE_USER}:${ONCE_PASSWORD}`,
      SAP_JWT_HS256_SECRET: SAP_SECRET,
      SAP_JWKS_URL: jwks.url,
      SAP_JWT_ALGORITHMS: 'HS256,RS256',
      BODY_TIMEOUT_MS: '2000',
      HTTP_REQUEST_TIMEOUT_MS: '10000',
      NSPS_MAX_BODY_BYTES: String(NSPS_LIMIT),
    });
    ingress = await startIngress(cfg, { logger });
  });
  afterAll(async () => {
    await ingress?.stop();
    await jwks?.close();
  });

  describe('NSPS POST /process-event', () => {
    it('accepts the documented example as written with 202 after the ack; the record reads back byte for byte', async () => {
      const r = await send('POST', '/process-event', nspsAuth(), examples.nsps);
      expect(r.status).toBe(202);
      expect(r.json).toEqual({ message: 'Event accepted for processing' });
      expect(r.headers.get('x-request-id')).toBe(r.requestId);
      const [record, ...rest] = await recordsOf(topics.nspsEvents, r.requestId, 1);
      expect(rest).toEqual([]);
      expect(record!.key).toBe('001010000020349');
      expect(record!.envelope).toMatchObject({ event_id: '3e84c79f-ab6f-4546-8e27-0b6ab866f1fb', source: 'nsps', kind: 'nsps.event', tenant: null, request_id: r.requestId, content_type: 'application/json' });
      expect(record!.envelope.payload.equals(Buffer.from(examples.nsps))).toBe(true);
    });

    it('serves the URL with a trailing slash as well, and authenticates it the same', async () => {
      const r = await send('POST', '/process-event/', nspsAuth(), examples.nsps);
      expect(r.status).toBe(202);
      const [record] = await recordsOf(topics.nspsEvents, r.requestId, 1);
      expect(record!.envelope.payload.equals(Buffer.from(examples.nsps))).toBe(true);
      const refused = await send('POST', '/process-event/', { authorization: 'Bearer not-the-token' }, examples.nsps);
      expect(refused.status).toBe(401);
    });

    it('refuses an event_id over 255 bytes with 422 naming it (it keys every consumer\'s database), stores nothing; 255 bytes is accepted', async () => {
      const event = (id: string) => JSON.stringify({ event_id: id, data: { event_type: 'SIM/Updated' }, pb_data: { sim_info: { imsi: '001010000000777' } } });
      const long = await send('POST', '/process-event', nspsAuth(), event(`long-${'x'.repeat(251)}`));
      expect(long.status).toBe(422);
      expect(long.json).toEqual({ message: 'Validation failed', error: 'event_id: must be at most 255 bytes', type: 'VALIDATION_ERROR' });
      const edge = await send('POST', '/process-event', nspsAuth(), event(`edge-${'x'.repeat(250)}`));
      expect(edge.status, edge.text).toBe(202);
      const [record] = await recordsOf(topics.nspsEvents, edge.requestId, 1);
      expect(record!.envelope.event_id).toHaveLength(255);
      expect(await recordsOf(topics.nspsEvents, long.requestId, 0)).toEqual([]);
    });

    it('accepts the second configured token and an unknown event type; generates a request id when none is sent', async () => {
      const body = JSON.stringify({ event_id: 'evt-unknown-1', data: { event_type: 'Brand/New', variables: {} }, pb_data: { account_info: { i_account: 42 } } });
      const res = await fetch(`${ingress.url}/process-event`, { method: 'POST', headers: nspsAuth(NSPS_TOKENS[1]), body });
      expect(res.status).toBe(202);
      const generated = res.headers.get('x-request-id')!;
      expect(generated).toMatch(/^[0-9a-f-]{36}$/);
      const [record] = await recordsOf(topics.nspsEvents, generated, 1);
      expect(record!.key).toBe('42');
      expect(record!.envelope.payload.toString()).toBe(body);
    });

    it.each([
      ['a wrong token', { authorization: 'Bearer not-the-token' }],
      ['a missing Authorization header', {}],
      ['another scheme', { authorization: `Basic ${NSPS_TOKENS[0]}` }],
    ])('answers %s with the documented 401 and WWW-Authenticate: Bearer', async (_name, headers) => {
      const r = await send('POST', '/process-event', { 'content-type': 'application/json', ...headers }, examples.nsps);
      expect(r.status).toBe(401);
      expect(r.json).toEqual(NSPS_401);
      expect(r.headers.get('www-authenticate')).toBe('Bearer');
    });

    it.each([
      ['unparseable JSON', '{"event_id": "x",', 'body is not valid JSON'],
      ['a missing event_type', '{"event_id":"x","data":{}}', 'data.event_type: field required'],
      ['a missing event_id', '{"data":{"event_type":"SIM/Updated"}}', 'event_id: field required'],
      ['variables that are not an object', '{"event_id":"x","data":{"event_type":"a","variables":[1]}}', 'data.variables: must be an object'],
    ])('answers %s with 422 naming the problem', async (_name, body, error) => {
      const r = await send('POST', '/process-event', nspsAuth(), body);
      expect(r.status).toBe(422);
      expect(r.json).toEqual({ message: 'Validation failed', error, type: 'VALIDATION_ERROR' });
    });

    it('answers a body over NSPS_MAX_BODY_BYTES with 413 in the validation shape', async () => {
      const r = await send('POST', '/process-event', nspsAuth(), JSON.stringify({ event_id: 'big', data: { event_type: 'a', variables: { pad: 'x'.repeat(70 * 1024) } } }));
      expect(r.status).toBe(413);
      expect(r.json).toMatchObject({ message: 'Validation failed', type: 'VALIDATION_ERROR' });
    });
  });

  describe('1NCE Data Streamer POST', () => {
    it('accepts both documented examples as written (trailing-slash URL, "user": null, placeholders) and routes them by shape', async () => {
      const ev = await send('POST', '/1nce/data-streamer/', onceAuth(), examples.onceEvent);
      expect(ev.status).toBe(200);
      const us = await send('POST', '/1nce/data-streamer', onceAuth(), examples.onceUsage);
      expect(us.status).toBe(200);
      const [event] = await recordsOf(topics.onceEvents, ev.requestId, 1);
      const [usage] = await recordsOf(topics.onceUsage, us.requestId, 1);
      expect(event!.envelope).toMatchObject({ event_id: '1nce-event:1234567890', kind: '1nce.event', source: '1nce', tenant: '1234' });
      expect(event!.key).toBe('<iccid>');
      expect(usage!.envelope).toMatchObject({ event_id: '1nce-usage:1234567890', kind: '1nce.usage', tenant: '1234' });
      // Each payload is the element's exact bytes: the example body minus its enclosing brackets.
      expect(event!.envelope.payload.toString()).toBe(examples.onceEvent.trim().slice(1, -1));
      expect(usage!.envelope.payload.toString()).toBe(examples.onceUsage.trim().slice(1, -1));
    });

    it('answers missing or wrong Basic credentials with 401 and a Basic challenge', async () => {
      for (const headers of [{ 'content-type': 'application/json' }, onceAuth(ONCE_USER, 'wrong'), onceAuth('someone-else', ONCE_PASSWORD)]) {
        const r = await send('POST', '/1nce/data-streamer', headers, examples.onceEvent);
        expect(r.status).toBe(401);
        expect(r.json).toEqual({ error: 'unauthorized', message: 'valid HTTP Basic credentials are required' });
        expect(r.headers.get('www-authenticate')).toMatch(/^Basic realm="switchboard"/);
      }
    });

    it.each([
      ['a body that is not an array', '{"id":1,"event_type":{}}', 422, 'not_an_array'],
      ['unparseable JSON', '[{"id":1,', 400, 'invalid_json'],
    ])('fails the whole request for %s, writing nothing', async (_name, body, status, error) => {
      const r = await send('POST', '/1nce/data-streamer', onceAuth(), body);
      expect(r.status).toBe(status);
      expect(r.json).toMatchObject({ error });
    });

    // The odd elements of one batch, as written (spacing and all), with the reason each is quarantined for.
    const odd: [string, string][] = [
      ['{ "event_type" : {"id":1},"sim":{"iccid":"q-1"} }', 'no_id'],
      ['{"id":902,"brand_new_kind":{"x":[1,2]}}', 'unknown_shape'],
      ['"just a string, ü"', 'not_an_object'],
      ['{"id":903,"event_type":{},"volume":{"total":1}}', 'ambiguous_shape'],
      ['[ 1, 2 ]', 'not_an_object'],
      ['null', 'not_an_object'],
    ];
    const goodEvent = '{"id":901,"event_type":{"id":1},"sim":{"iccid":"q-1"}}';
    const goodUsage = '{"id":904, "traffic_type":{"id":5},"volume":{"total":1},"imsi":"26201"}';
    const mixedBody = `[\n ${goodEvent},\n${odd[0]![0]} , ${odd[1]![0]},${odd[2]![0]},\n  ${goodUsage},${odd[3]![0]}, ${odd[4]![0]},${odd[5]![0]}\n]`;
    const positions = [1, 2, 3, 5, 6, 7];
    const sha = (text: string) => `1nce-quarantine:${createHash('sha256').update(text).digest('hex')}`;

    it('answers 200 for a batch with records it cannot classify: the good ones in their topics, each odd one quarantined with its exact bytes and reason', async () => {
      const before = Date.now();
      const r = await send('POST', '/1nce/data-streamer', onceAuth(), mixedBody);
      expect(r.status, r.text).toBe(200);
      expect(r.json).toEqual({ accepted: 2, quarantined: 6 });
      const [event] = await recordsOf(topics.onceEvents, r.requestId, 1);
      const [usage] = await recordsOf(topics.onceUsage, r.requestId, 1);
      expect(event!.envelope).toMatchObject({ event_id: '1nce-event:901', attributes: { index: '0' } });
      expect(event!.envelope.payload.toString()).toBe(goodEvent);
      expect(usage!.envelope).toMatchObject({ event_id: '1nce-usage:904', attributes: { index: '4' } });
      expect(usage!.envelope.payload.toString()).toBe(goodUsage);

      const quarantined = await recordsOf(topics.quarantine, r.requestId, 6);
      expect(quarantined).toHaveLength(6);
      const byIndex = new Map(quarantined.map((q) => [Number(q.envelope.attributes.index), q]));
      for (const [i, [text, reason]] of odd.entries()) {
        const q = byIndex.get(positions[i]!)!;
        expect(q, `position ${positions[i]}`).toBeDefined();
        expect(q.envelope.payload.equals(Buffer.from(text)), `position ${positions[i]}: ${q.envelope.payload.toString()}`).toBe(true);
        expect(q.envelope).toMatchObject({ event_id: sha(text), source: '1nce', kind: '1nce.quarantined', request_id: r.requestId, content_type: 'application/json', attributes: { reason } });
        expect(q.envelope.attributes.detail).toContain(`record ${positions[i]}`);
        expect(q.envelope.received_at).toBeGreaterThanOrEqual(before);
        expect(q.envelope.received_at).toBeLessThanOrEqual(Date.now());
        expect(q.key).toBe(sha(text));
      }

      // The streamer resends the same batch: 200 again, the odd records under the same ids.
      const again = await send('POST', '/1nce/data-streamer', onceAuth(), mixedBody);
      expect(again.status).toBe(200);
      await recordsOf(topics.onceEvents, again.requestId, 1);
      await recordsOf(topics.onceUsage, again.requestId, 1);
      const resent = await recordsOf(topics.quarantine, again.requestId, 6);
      expect(resent.map((q) => q.envelope.event_id).sort()).toEqual(quarantined.map((q) => q.envelope.event_id).sort());

      const metrics = (await send('GET', '/metrics', {})).text;
      for (const [reason, n] of [['no_id', 2], ['unknown_shape', 2], ['ambiguous_shape', 2], ['not_an_object', 6]] as const) {
        expect(metrics).toMatch(new RegExp(`switchboard_records_quarantined_total\\{[^}]*source="1nce",reason="${reason}"[^}]*\\} ${n}\\n`));
      }
    });

    it('lists the quarantine and redrives with the current classification: what classifies now reaches its raw topic under the event id it would have had, twice without a new id; the rest stays', async () => {
      const dlqEnv = { ...process.env, KAFKA_TOPIC_PREFIX: prefix, LOG_LEVEL: 'error' };
      // A record an older ingress quarantined (say, before event records without a description were understood):
      // the current rules classify it. Written as that ingress wrote it, resent once.
      const bytes = Buffer.from('{"id":905,  "event_type":{"id":4},"imsi":{"imsi":"001019"}}');
      const facts = { received_at: 1_700_000_000_000, request_id: 'old-request-1', content_type: 'application/json' };
      const kafka = createKafka(cfg, logger);
      const producer = await createProducer(kafka);
      try {
        for (const index of [3, 3]) {
          const envelope = quarantineEnvelope(bytes, index, { reason: 'unknown_shape', error: 'record 3: is neither an event record nor a usage record' }, facts);
          await producer.send({ topic: topics.quarantine, acks: -1, messages: [{ key: envelope.event_id, value: await codec.encode(topics.quarantine, envelope) }] });
        }
      } finally {
        await producer.disconnect();
      }
      written[topics.quarantine] = (written[topics.quarantine] ?? 0) + 2;

      const listed: string[] = [];
      expect(await runQuarantine(['list', '--json'], dlqEnv, (l) => listed.push(l))).toBe(0);
      const rows = listed.map((l) => JSON.parse(l) as { event_id: string; reason: string; index: number; request_id: string; payload: string; now: { classifies: boolean; event_id?: string } });
      expect(rows).toHaveLength(written[topics.quarantine]!);
      const old = rows.filter((row) => row.request_id === 'old-request-1');
      expect(old).toHaveLength(2);
      expect(old[0]).toMatchObject({ event_id: sha(bytes.toString()), reason: 'unknown_shape', index: 3, payload: bytes.toString(), now: { classifies: true, event_id: '1nce-event:905' } });
      expect(rows.filter((row) => row.now.classifies)).toHaveLength(2);
      const table: string[] = [];
      await runQuarantine(['list', '--reason', 'no_id'], dlqEnv, (l) => table.push(l));
      expect(table[0]).toMatch(/^RECEIVED_AT\s+REQUEST_ID\s+POS\s+REASON\s+NOW\s+EVENT_ID\s+PREVIEW\n/);
      expect(table[0]!.split('\n').slice(1).every((line) => /\s1\s+no_id\s+no_id\s+1nce-quarantine:[0-9a-f]{64}\s+\{ "event_type"/.test(line))).toBe(true);

      for (let round = 1; round <= 2; round++) {
        const out: string[] = [];
        expect(await runQuarantine(['redrive'], dlqEnv, (l) => out.push(l))).toBe(0);
        expect(out.filter((l) => l.startsWith('redriven '))).toEqual([`redriven ${sha(bytes.toString())} (request old-request-1, position 3) → ${topics.onceEvents} as 1nce-event:905`]);
        expect(out.filter((l) => l.startsWith('still quarantined '))).toHaveLength(6);
        expect(out.at(-1)).toBe(`1 record(s) written to their raw topics; 6 still unclassifiable, left in ${topics.quarantine}`);
        const redriven = await recordsOf(topics.onceEvents, 'old-request-1', 1);
        expect(redriven).toHaveLength(round);
        for (const rec of redriven) {
          expect(rec.key).toBe('001019');
          expect(rec.envelope).toMatchObject({ event_id: '1nce-event:905', source: '1nce', kind: '1nce.event', ...facts, attributes: { index: '3', redriven_from: sha(bytes.toString()) } });
          expect(rec.envelope.payload.equals(bytes)).toBe(true);
        }
      }
      const none: string[] = [];
      expect(await runQuarantine(['redrive', '--event-id', 'not-there', '--dry-run'], dlqEnv, (l) => none.push(l))).toBe(2);
      expect(none[0]).toBe('not in the quarantine topic: not-there');
    });

    it('quarantines a record whose id is over 255 bytes (no usable id) and stores its neighbours: 200', async () => {
      const good = JSON.stringify({ id: 'bounded-ok-1', event_type: { id: 1 }, sim: { iccid: '8988303000000001234' } });
      const long = JSON.stringify({ id: `long-${'9'.repeat(251)}`, event_type: { id: 1 } });
      const r = await send('POST', '/1nce/data-streamer', onceAuth(), `[${good},${long}]`);
      expect(r.status, r.text).toBe(200);
      expect(r.json).toEqual({ accepted: 1, quarantined: 1 });
      const [event] = await recordsOf(topics.onceEvents, r.requestId, 1);
      expect(event!.envelope.event_id).toBe('1nce-event:bounded-ok-1');
      const [q] = await recordsOf(topics.quarantine, r.requestId, 1);
      expect(q!.envelope.attributes).toMatchObject({ reason: 'no_id', index: '1', detail: 'record 1: id: must be at most 255 bytes' });
      expect(q!.envelope.payload.toString()).toBe(long);
    });

    it('gives records whose ids differ beyond 2^53 their own event ids (JSON.parse would round both to one)', async () => {
      const body = '[{"id": 9007199254740993, "event_type": {"id": 1}}, {"id": 9007199254740992, "event_type": {"id": 1}}]';
      const r = await send('POST', '/1nce/data-streamer', onceAuth(), body);
      expect(r.status, r.text).toBe(200);
      expect(r.json).toEqual({ accepted: 2, quarantined: 0 });
      const records = await recordsOf(topics.onceEvents, r.requestId, 2);
      expect(records.map((x) => x.envelope.event_id).sort()).toEqual(['1nce-event:9007199254740992', '1nce-event:9007199254740993']);
    });

    it('takes a batch of exactly 3,000 records: every one lands in its topic with its exact bytes; 3,001 are refused', async () => {
      const event = JSON.parse(examples.onceEvent.trim())[0] as Record<string, unknown>;
      const usage = JSON.parse(examples.onceUsage.trim())[0] as Record<string, unknown>;
      const records = Array.from({ length: 3000 }, (_, i) =>
        i % 3 === 0
          ? { ...usage, id: 500_000 + i, sim: { iccid: `8988${i % 97}` } }
          : { ...event, id: 100_000 + i, sim: { iccid: `8988${i % 97}` }, description: `event ${i} ü€` },
      );
      // Varied spacing, so "exact bytes" means more than re-serialising.
      const body = `[\n${records.map((r, i) => (i % 2 ? JSON.stringify(r) : JSON.stringify(r, null, 2))).join(' ,\n')}\n]`;
      const r = await send('POST', '/1nce/data-streamer', onceAuth(), body);
      expect(r.status, r.text).toBe(200);
      expect(r.json).toEqual({ accepted: 3000, quarantined: 0 });
      const events = await recordsOf(topics.onceEvents, r.requestId, 2000);
      const usages = await recordsOf(topics.onceUsage, r.requestId, 1000);
      expect(events).toHaveLength(2000);
      expect(usages).toHaveLength(1000);
      const sent = new Map(records.map((rec, i) => [String(rec.id), i % 2 ? JSON.stringify(rec) : JSON.stringify(rec, null, 2)]));
      for (const { envelope } of [...events, ...usages]) {
        const id = envelope.event_id.split(':')[1]!;
        expect(envelope.payload.toString()).toBe(sent.get(id));
      }
      const tooMany = `[${[...records, records[1]].map((x) => JSON.stringify(x)).join(',')}]`;
      const refused = await send('POST', '/1nce/data-streamer', onceAuth(), tooMany);
      expect(refused.status).toBe(413);
      expect(refused.json).toEqual({ error: 'too_many_records', message: '3001 records in one request; at most 3000 are accepted' });
    });
  });

  describe('SAP PUT /api/v1/notifications', () => {
    const valid = (text: string): string => text.replace('"cccccccc-cccc-cccc-cccc-cccccccccccc"\n', '"cccccccc-cccc-cccc-cccc-cccccccccccc",\n');

    it('answers the documented examples as written (they lack a comma) with the documented parse error', async () => {
      for (const [type, body] of [['delta', examples.sapDelta], ['full', examples.sapFull]] as const) {
        const r = await send('PUT', `/api/v1/notifications/?reportType=${type}`, await sapAuth(), body);
        expect(r.status).toBe(400);
        expect(r.json).toEqual({ error: { code: 400, message: 'failed to parse request body' } });
      }
    });

    it('stores the corrected examples (HS256 and RS256 via JWKS) as one part each, keyed by tenant; 204', async () => {
      for (const [type, body, auth] of [
        ['delta', valid(examples.sapDelta), await sapAuth()],
        ['full', valid(examples.sapFull), await sapAuth(await jwks.rs256Token({ claims: { tenant: JSON.stringify(DEFAULT_TENANT) } }))],
      ] as const) {
        expect(() => JSON.parse(body)).not.toThrow();
        const r = await send('PUT', `/api/v1/notifications?reportType=${type}`, auth, body);
        expect(r.status, r.text).toBe(204);
        expect(r.text).toBe('');
        const [record, ...rest] = await recordsOf(topics.sapReports, r.requestId, 1);
        expect(rest).toEqual([]);
        expect(record!.key).toBe(DEFAULT_TENANT.consumerTenant);
        expect(record!.envelope).toMatchObject({ source: 'sap', kind: 'sap.report', tenant: DEFAULT_TENANT.consumerTenant });
        expect(record!.envelope.attributes).toMatchObject({ report_type: type, part: '1', parts: '1', external_tenant: DEFAULT_TENANT.externalTenant });
        expect(record!.envelope.event_id).toBe(`sap:${record!.envelope.attributes.report_id}:1`);
        expect(record!.envelope.payload.toString()).toBe(body);
      }
    });

    it('refuses a report whose host, subaccount or location id is over 255 bytes (they key the inventory) with 400 naming it', async () => {
      const report = (scc: Record<string, unknown>, host: string) => JSON.stringify({ type: 'notification-service', value: [
        { subaccount: 'sa-1', locationId: 'loc-1', ...scc, exposedSystems: [{ protocol: 'HTTPS', host: 'ok:443', type: 'on-premise-system', status: 'reachable' }, { protocol: 'HTTPS', host, type: 'on-premise-system', status: 'reachable' }] },
      ] });
      for (const [body, field] of [
        [report({}, `h${'é'.repeat(128)}`), 'host'],
        [report({ subaccount: 's'.repeat(256) }, 'h:1'), 'subaccount'],
        [report({ locationId: 'l'.repeat(256) }, 'h:1'), 'locationId'],
      ] as const) {
        const r = await send('PUT', '/api/v1/notifications?reportType=full', await sapAuth(), body);
        expect(r.status, field).toBe(400);
        expect(r.json).toEqual({ error: { code: 400, message: `${field}: must be at most 255 bytes` } });
        expect(await recordsOf(topics.sapReports, r.requestId, 0)).toEqual([]);
      }
    });

    it('refuses missing, expired, foreign-key, alg none and tenant-less tokens with the documented 401 — before looking at the body', async () => {
      const now = Math.floor(Date.now() / 1000);
      const tokens = {
        missing: undefined,
        expired: await hs256Token(SAP_SECRET, { exp: now - 3600 }),
        'signed with another key': await jwks.strangerToken(),
        'wrong shared secret': await hs256Token(`${SAP_SECRET}x`),
        'alg none': unsignedToken(),
        'no tenant claim': await hs256Token(SAP_SECRET, { claims: { sub: 'x' } }),
        'tenant without externalTenant': await hs256Token(SAP_SECRET, { claims: { tenant: { consumerTenant: 'c' } } }),
      };
      for (const [name, token] of Object.entries(tokens)) {
        const headers = token === undefined ? { 'content-type': 'application/json' } : await sapAuth(token);
        // An unparseable body and no reportType: authentication still answers first.
        const r = await send('PUT', '/api/v1/notifications', headers, '{not json');
        expect(r.status, name).toBe(401);
        expect(r.json, name).toEqual(SAP_401);
      }
    });

    it.each([
      ['a missing reportType', '', "the query parameter 'reportType' is missing or invalid"],
      ['an invalid reportType', '?reportType=weekly', "the query parameter 'reportType' is missing or invalid"],
      ['a missing subaccount', '?reportType=delta', 'subaccount key is required', { subaccount: undefined }],
      ['a system without protocol', '?reportType=full', 'protocol key is required', { exposedSystems: [{ host: 'h', type: 't', status: 's' }] }],
      ['a system without host', '?reportType=full', 'host key is required', { exposedSystems: [{ protocol: 'p', type: 't', status: 's' }] }],
      ['a system without type', '?reportType=full', 'type key is required', { exposedSystems: [{ protocol: 'p', host: 'h', status: 's' }] }],
      ['a system without status', '?reportType=full', 'status key is required', { exposedSystems: [{ protocol: 'p', host: 'h', type: 't' }] }],
    ])('answers %s with the documented 400', async (_name, query, message, sccOverride?: Record<string, unknown>) => {
      const scc = { subaccount: 'sa', locationId: 'l', exposedSystems: [], ...sccOverride };
      const r = await send('PUT', `/api/v1/notifications${query}`, await sapAuth(), JSON.stringify({ type: 'notification-service', value: [scc] }));
      expect(r.status).toBe(400);
      expect(r.json).toEqual({ error: { code: 400, message } });
    });

    it('answers 408 with the documented body when the body does not arrive within BODY_TIMEOUT_MS', async () => {
      const { authorization } = await sapAuth();
      const response = await new Promise<string>((resolve) => {
        const socket = connect(Number(new URL(ingress.url).port), '127.0.0.1');
        let out = '';
        socket.on('data', (d) => (out += d.toString()));
        socket.on('close', () => resolve(out));
        socket.on('error', () => resolve(out));
        socket.write(`PUT /api/v1/notifications?reportType=delta HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"type":`);
      });
      expect(response).toMatch(/^HTTP\/1\.1 408/);
      expect(response.toLowerCase()).toContain('connection: close');
      expect(JSON.parse(response.slice(response.indexOf('\r\n\r\n') + 4))).toEqual({ error: { code: 408, message: 'timeout' } });
    });

    it('accepts a report of exactly 5 MB, split into parts of at most 900 KiB that reassemble to the exact body; 5 MB + 1 byte gets 413 text/plain', async () => {
      const system = (i: number) => ({ protocol: 'HTTP', host: `host-${i}.example:8080`, type: 'on-premise-system', status: 'reachable', description: `system ${i} ü`, systemNumber: `n-${i}` });
      const value = Array.from({ length: 40 }, (_, s) => ({ subaccount: `sub-${s}`, locationId: `loc-${s}`, exposedSystems: Array.from({ length: 250 }, (_, i) => system(s * 1000 + i)) }));
      const skeleton = JSON.stringify({ type: 'notification-service', value, padding: '' });
      const body = Buffer.from(skeleton.replace('"padding":""', `"padding":"${'p'.repeat(FIVE_MB - Buffer.byteLength(skeleton))}"`));
      expect(body.length).toBe(FIVE_MB);
      const r = await send('PUT', '/api/v1/notifications?reportType=full', await sapAuth(), body);
      expect(r.status, r.text).toBe(204);
      const parts = await recordsOf(topics.sapReports, r.requestId, Math.ceil(FIVE_MB / SAP_PART_BYTES));
      expect(parts.length).toBe(Math.ceil(FIVE_MB / SAP_PART_BYTES));
      const reportId = parts[0]!.envelope.attributes.report_id;
      for (const p of parts) {
        expect(p.key).toBe(DEFAULT_TENANT.consumerTenant);
        expect(p.envelope.attributes).toMatchObject({ report_id: reportId, parts: String(parts.length) });
        expect(p.envelope.payload.length).toBeLessThanOrEqual(SAP_PART_BYTES);
      }
      // All parts share a key, hence a partition; Kafka order is part order.
      expect(parts.map((p) => Number(p.envelope.attributes.part))).toEqual(parts.map((_, i) => i + 1));
      expect(Buffer.concat(parts.map((p) => p.envelope.payload)).equals(body)).toBe(true);

      const over = Buffer.concat([body.subarray(0, body.length - 1), Buffer.from(" }")]);
      expect(over.length).toBe(FIVE_MB + 1);
      const refused = await send('PUT', '/api/v1/notifications?reportType=full', await sapAuth(), over);
      expect(refused.status).toBe(413);
      expect(refused.headers.get('content-type')).toMatch(/^text\/plain/);
    });
  });

  describe('content types', () => {
    it('reads the body whatever JSON-ish type is declared, and answers an unusable Content-Type in each source\'s shape', async () => {
      const event = JSON.stringify({ event_id: 'ct-text-plain', data: { event_type: 'SIM/Updated' } });
      expect((await send('POST', '/process-event', { ...nspsAuth(), 'content-type': 'text/plain' }, event)).status).toBe(202);
      written[topics.nspsEvents] = (written[topics.nspsEvents] ?? 0) + 1;
      const nsps = await send('POST', '/process-event', { ...nspsAuth(), 'content-type': '' }, event);
      expect(nsps.status).toBe(422);
      expect(nsps.json).toEqual({ message: 'Validation failed', error: 'the Content-Type header is missing or not valid', type: 'VALIDATION_ERROR' });
      const once = await send('POST', '/1nce/data-streamer', { ...onceAuth(), 'content-type': '' }, '[]');
      expect(once.status).toBe(415);
      expect(once.json).toMatchObject({ error: 'unsupported_media_type' });
      const sap = await send('PUT', '/api/v1/notifications?reportType=delta', { ...(await sapAuth()), 'content-type': '' }, '{}');
      expect(sap.status).toBe(400);
      expect(sap.json).toEqual({ error: { code: 400, message: 'failed to parse request body' } });
    });
  });

  describe('content encodings', () => {
    it('decodes gzip, deflate, br and chains of them: the stored payload is the JSON the sender compressed', async () => {
      const event = JSON.stringify({ event_id: 'ce-gzip-1', data: { event_type: 'SIM/Updated', variables: { note: 'zipped ü€' } } });
      const nsps = await send('POST', '/process-event', { ...nspsAuth(), 'content-encoding': 'gzip' }, gzipSync(event));
      expect(nsps.status, nsps.text).toBe(202);
      const [record] = await recordsOf(topics.nspsEvents, nsps.requestId, 1);
      expect(record!.envelope.event_id).toBe('ce-gzip-1');
      expect(record!.envelope.payload.toString()).toBe(event);

      const usage = JSON.parse(examples.onceUsage.trim())[0] as Record<string, unknown>;
      const records = [1, 2, 3].map((i) => JSON.stringify({ ...usage, id: 770_000 + i }, null, i));
      const batch = `[${records.join(',\n')}]`;
      for (const [coding, body] of [
        ['br', brotliCompressSync(batch)],
        ['deflate', deflateSync(batch)],
        // Applied in the order listed: deflate first, then gzip; identity means nothing was applied.
        ['identity, deflate, GZIP', gzipSync(deflateSync(batch))],
      ] as const) {
        const once = await send('POST', '/1nce/data-streamer', { ...onceAuth(), 'content-encoding': coding }, body);
        expect(once.status, `${coding}: ${once.text}`).toBe(200);
        expect(once.json).toEqual({ accepted: 3, quarantined: 0 });
        const stored = await recordsOf(topics.onceUsage, once.requestId, 3);
        expect(stored.map((r) => r.envelope.payload.toString()).sort(), coding).toEqual([...records].sort());
      }
    });

    it('refuses a coding it cannot undo, and data that does not decode, in each source\'s shape', async () => {
      const event = JSON.stringify({ event_id: 'ce-refused', data: { event_type: 'SIM/Updated' } });
      const unsupported = 'Content-Encoding compress is not supported (gzip, deflate, br and identity are)';
      const nsps = await send('POST', '/process-event', { ...nspsAuth(), 'content-encoding': 'compress' }, event);
      expect(nsps.status).toBe(422);
      expect(nsps.json).toEqual({ message: 'Validation failed', error: unsupported, type: 'VALIDATION_ERROR' });
      const once = await send('POST', '/1nce/data-streamer', { ...onceAuth(), 'content-encoding': 'compress' }, '[]');
      expect(once.status).toBe(415);
      expect(once.json).toEqual({ error: 'unsupported_encoding', message: unsupported });
      const sap = await send('PUT', '/api/v1/notifications?reportType=delta', { ...(await sapAuth()), 'content-encoding': 'compress' }, '{}');
      expect(sap.status).toBe(400);
      expect(sap.json).toEqual({ error: { code: 400, message: 'failed to parse request body' } });

      // Says gzip, is plain JSON.
      const notGzip = await send('POST', '/process-event', { ...nspsAuth(), 'content-encoding': 'gzip' }, event);
      expect(notGzip.status).toBe(400);
      expect(notGzip.json).toMatchObject({ message: 'Validation failed', type: 'VALIDATION_ERROR' });
      expect((notGzip.json as { error: string }).error).toMatch(/^the request body could not be decoded as its Content-Encoding says: /);
      const onceNotBr = await send('POST', '/1nce/data-streamer', { ...onceAuth(), 'content-encoding': 'br' }, '[{"id": 1}]');
      expect(onceNotBr.status).toBe(400);
      expect(onceNotBr.json).toMatchObject({ error: 'body_unreadable' });
      const sapNotDeflate = await send('PUT', '/api/v1/notifications?reportType=delta', { ...(await sapAuth()), 'content-encoding': 'deflate' }, '{}');
      expect(sapNotDeflate.status).toBe(400);
      expect(sapNotDeflate.json).toEqual({ error: { code: 400, message: 'faild to retrieve request body' } });
    });

    it('holds the size limit on the decoded body: a few KB of gzip that decode to 10 MB are a 413, not 10 MB in memory', async () => {
      const bomb = gzipSync(JSON.stringify({ event_id: 'ce-bomb', data: { event_type: 'a', variables: { pad: ' '.repeat(10 * 1024 * 1024) } } }));
      expect(bomb.length).toBeLessThan(NSPS_LIMIT);
      const r = await send('POST', '/process-event', { ...nspsAuth(), 'content-encoding': 'gzip' }, bomb);
      expect(r.status).toBe(413);
      expect(r.json).toEqual({ message: 'Validation failed', error: `request body larger than ${NSPS_LIMIT} bytes`, type: 'VALIDATION_ERROR' });
      // Just under the limit once decoded: accepted.
      const fits = JSON.stringify({ event_id: 'ce-fits', data: { event_type: 'a', variables: { pad: ' '.repeat(NSPS_LIMIT - 100) } } });
      expect(fits.length).toBeLessThanOrEqual(NSPS_LIMIT);
      const ok = await send('POST', '/process-event', { ...nspsAuth(), 'content-encoding': 'gzip' }, gzipSync(fits));
      expect(ok.status, ok.text).toBe(202);
      written[topics.nspsEvents] = (written[topics.nspsEvents] ?? 0) + 1;
    });
  });

  describe('Expect: 100-continue', () => {
    /**
     * Sends the head only, as a client that waits for "100 Continue" does; sends `body` once the interim
     * answer arrives; resolves with everything read when the final answer is complete (or the socket closes).
     */
    const exchange = (head: string, body: string) =>
      new Promise<{ raw: string; ms: number }>((resolve) => {
        const started = Date.now();
        const socket = connect(Number(new URL(ingress.url).port), '127.0.0.1');
        let raw = '';
        let sent = false;
        const done = () => {
          socket.destroy();
          resolve({ raw, ms: Date.now() - started });
        };
        socket.on('data', (d) => {
          raw += d.toString();
          if (!sent && raw.startsWith('HTTP/1.1 100 Continue\r\n\r\n')) {
            sent = true;
            socket.write(body);
          }
          const final = raw.replace(/^HTTP\/1\.1 100 Continue\r\n\r\n/, '');
          const end = final.indexOf('\r\n\r\n');
          const length = /content-length: (\d+)/i.exec(final);
          if (end >= 0 && length && final.length >= end + 4 + Number(length[1])) done();
        });
        socket.on('close', done);
        socket.on('error', done);
        socket.write(head);
      });

    it('answers a refused sender without asking for its body, and asks an accepted one for it only then', async () => {
      const event = JSON.stringify({ event_id: 'expect-continue-1', data: { event_type: 'SIM/Updated' } });
      const head = (authorization: string, length = Buffer.byteLength(event)) =>
        `POST /process-event HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

      const wrong = await exchange(head('Bearer not-the-token'), event);
      expect(wrong.raw).toMatch(/^HTTP\/1\.1 401 /);
      expect(wrong.raw).not.toContain('100 Continue');

      const tooLarge = await exchange(head(`Bearer ${NSPS_TOKENS[0]}`, NSPS_LIMIT + 1), event);
      expect(tooLarge.raw).toMatch(/^HTTP\/1\.1 413 /);
      expect(tooLarge.raw).not.toContain('100 Continue');
      // Not held for the body it told the sender not to send.
      expect(tooLarge.ms).toBeLessThan(1500);

      const right = await exchange(head(`Bearer ${NSPS_TOKENS[0]}`), event);
      expect(right.raw).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 202 /);
      const requestId = /x-request-id: (\S+)/i.exec(right.raw)![1]!;
      const [record] = await recordsOf(topics.nspsEvents, requestId, 1);
      expect(record!.envelope.payload.toString()).toBe(event);
    });
  });

  describe('operations', () => {
    it('answers a webhook URL asked with another method with 405 and Allow (not a 404 a sender takes as final); other URLs stay 404', async () => {
      for (const [method, path, allow] of [
        ['GET', '/process-event', 'POST'],
        ['PUT', '/process-event/', 'POST'],
        ['POST', '/api/v1/notifications?reportType=full', 'PUT'],
        ['GET', '/1nce/data-streamer', 'POST'],
        ['DELETE', '/api/v1/notifications/', 'PUT'],
      ] as const) {
        const r = await send(method, path, nspsAuth());
        expect(r.status, `${method} ${path}`).toBe(405);
        expect(r.headers.get('allow')).toBe(allow);
        expect(r.json).toEqual({ message: `Method ${method} is not allowed on ${path.split('?')[0]}; use ${allow}`, error: 'Method Not Allowed', statusCode: 405 });
      }
      // The body is not read: a report over the SAP limit sent with the wrong method is still told the method.
      const big = await send('POST', '/api/v1/notifications?reportType=full', { 'content-type': 'application/json' }, Buffer.alloc(6 * 1024 * 1024, 0x20));
      expect(big.status).toBe(405);
      const unknown = await send('GET', '/process-events', {});
      expect(unknown.status).toBe(404);
      expect(unknown.json).toEqual({ message: 'Route GET:/process-events not found', error: 'Not Found', statusCode: 404 });
    });

    it('serves /healthz, /readyz (Kafka and registry) and /metrics with the ingress families', async () => {
      expect((await send('GET', '/healthz', {})).status).toBe(200);
      const ready = await send('GET', '/readyz', {});
      expect(ready.status).toBe(200);
      expect(ready.json).toEqual({ status: 'ready', checks: { kafka: true, registry: true } });
      const metrics = (await send('GET', '/metrics', {})).text;
      expect(metrics).toMatch(/switchboard_http_requests_total\{[^}]*source="nsps",route="\/process-event",status="202"/);
      expect(metrics).toMatch(/switchboard_records_accepted_total\{[^}]*source="1nce",kind="1nce.event"[^}]*\} (\d+)/);
      expect(metrics).toMatch(/switchboard_records_rejected_total\{[^}]*source="sap",reason="unauthorized"/);
      expect(metrics).toMatch(/switchboard_request_body_bytes_bucket\{[^}]*source="sap"/);
      expect(metrics).toMatch(/switchboard_http_request_duration_seconds_count\{[^}]*source="1nce"/);
      // The batches above, sent one at a time, were read on the reader thread (ONCE_READER_THREADS=1).
      expect(metrics).toMatch(/switchboard_once_batches_read_total\{[^}]*thread="reader"[^}]*\} [1-9]/);
      expect(metrics).toMatch(/switchboard_produce_duration_seconds_count\{[^}]*topic="[^"]*raw\.sap\.reports"/);
      // Every NSPS request is timed once, and every one that reached the handler had its body measured.
      const sum = (re: RegExp): number => [...metrics.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
      const nspsRequests = sum(/switchboard_http_requests_total\{[^}]*source="nsps"[^}]*\} (\d+)/g);
      expect(nspsRequests).toBeGreaterThan(0);
      expect(sum(/switchboard_http_request_duration_seconds_count\{[^}]*source="nsps"[^}]*\} (\d+)/g)).toBe(nspsRequests);
      expect(sum(/switchboard_request_body_bytes_count\{[^}]*source="nsps"[^}]*\} (\d+)/g)).toBeGreaterThan(0);
      expect(sum(/switchboard_request_body_bytes_sum\{[^}]*source="1nce"[^}]*\} (\d+)/g)).toBeGreaterThan(0);
    });

    it('logs every request with its request id and never a token, password or JWT', () => {
      const requestLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request completed');
      expect(requestLines.length).toBeGreaterThan(20);
      for (const l of requestLines) expect(typeof l.request_id).toBe('string');
      const secrets = [...NSPS_TOKENS, ONCE_PASSWORD, SAP_SECRET, Buffer.from(`${ONCE_USER}:${ONCE_PASSWORD}`).toString('base64'), ...issuedTokens.filter((t) => t.length > 20)];
      const leaks = lines.filter((l) => secrets.some((s) => l.includes(s)));
      expect(leaks).toEqual([]);
    });
  });
});
