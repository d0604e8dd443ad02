// Hostile input against every ingress endpoint of a real ingress process on the real broker:
// property-based (fast-check) random and malformed bodies, wrong content types, deep nesting,
// invalid UTF-8, oversized headers, random Authorization values, tampered and confused JWTs.
// The only answers allowed are the documented ones; never a 5xx or a crash; no record in Kafka
// beyond those of accepted requests; bounded memory; no secret in any log line. Whether a generated
// body is valid is decided here, by hand-written rules from the senders' documents and docs/ingress.md
// (nspsExpected, onceExpected, sapExpected below), never by the product's own parsers: each input's
// exact status and body are asserted.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/stack.js';
import { createKafka } from '../../services/shared/kafka.js';
import { rawTopics, topicNames } from '../../services/shared/topics.js';
import { captureLogger, testKafkaConfig } from '../support/env.js';
import { findSecretLeaks, startService, type ServiceProcess } from '../support/processes.js';

const NSPS_TOKEN = 'hostile-nsps-token-5f1c2a9e';
const ONCE_USER = 'streamer';
const ONCE_PASSWORD = 'hostile-once-pw-88e1d0';
const SAP_SECRET = 'hostile-sap-hs256-secret-0c3f9d7a61b2';
const PORT = 18380;
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const cases: Record<string, number> = { nsps: 0, '1nce': 0, sap: 0 };

const basic = (user: string, pw: string): string => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const sample = (name: string): string => readFileSync(join(repoRoot, 'samples', name), 'utf8');

describe('hostile input against ingress', () => {
  const cfg = testKafkaConfig();
  const topics = topicNames(cfg.KAFKA_TOPIC_PREFIX);
  const kafka = createKafka(cfg, captureLogger().logger);
  let ingress: ServiceProcess;
  let jwks: Server;
  let rsaPrivate: PrivateKey;
  let rsaPublicPem: string;
  let otherPrivate: PrivateKey;
  let expectedRecords = 0;
  const issuedTokens: string[] = [];

  const url = `http://127.0.0.1:${PORT}`;
  const send = async (method: string, path: string, headers: Record<string, string>, body?: string | Uint8Array) => {
    const res = await fetch(`${url}${path}`, { method, headers, body: body as RequestInit['body'] });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, json, headers: res.headers };
  };

  const sapToken = async (opts: { key?: PrivateKey | Uint8Array; alg?: string; claims?: Record<string, unknown>; exp?: number | null; nbf?: number } = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    let jwt = new SignJWT(opts.claims ?? { tenant: { consumerTenant: 'hostile-tenant', externalTenant: 'hostile-ext' } }).setProtectedHeader({ alg: opts.alg ?? 'HS256' }).setIssuedAt(now);
    if (opts.exp !== null) jwt = jwt.setExpirationTime(opts.exp ?? now + 600);
    if (opts.nbf !== undefined) jwt = jwt.setNotBefore(opts.nbf);
    const token = await jwt.sign(opts.key ?? new TextEncoder().encode(SAP_SECRET));
    issuedTokens.push(token);
    return token;
  };

  beforeAll(async () => {
    const rsa = await generateKeyPair('RS256', { extractable: true });
    rsaPrivate = rsa.privateKey;
    rsaPublicPem = await exportSPKI(rsa.publicKey);
    otherPrivate = (await generateKeyPair('RS256')).privateKey;
    const jwk: JWK = { ...(await exportJWK(rsa.publicKey)), alg: 'RS256', use: 'sig', kid: 'k1' };
    jwks = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    const jwksPort = (jwks.address() as { port: number }).port;
    ingress = await startService('ingress', PORT, {
      KAFKA_BROKERS: cfg.KAFKA_BROKERS.join(','),
      SCHEMA_REGISTRY_URL: cfg.SCHEMA_REGISTRY_URL,
      KAFKA_TOPIC_PREFIX: cfg.KAFKA_TOPIC_PREFIX,
      KAFKA_TOPIC_PARTITIONS: '3',
      LOG_LEVEL: 'trace',
      NSPS_API_TOKENS: `${NSPS_TOKEN},second-token-rotated-in`,
      ONCE_BASIC_AUTH_USERS: `${ONCE_USER}:${ONCE_PASSWORD}`,
      SAP_JWT_HS256_SECRET: SAP_SECRET,
      SAP_JWKS_URL: `http://127.0.0.1:${jwksPort}/jwks`,
      SAP_JWT_ALGORITHMS: 'HS256,RS256',
      BODY_TIMEOUT_MS: '2000',
      HTTP_REQUEST_TIMEOUT_MS: '5000',
      HTTP_CONNECTION_TIMEOUT_MS: '5000',
    });
  }, 120_000);

  afterAll(async () => {
    await ingress?.stop();
    await new Promise((r) => jwks?.close(r));
  });

  const rss = (): number => {
    const status = readFileSync(`/proc/${ingress.pid()}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024;
  };

  const NSPS_401 = { message: 'Authentication failed', error: 'Invalid API token', type: 'AUTHENTICATION_ERROR' };
  const NSPS_202 = { message: 'Event accepted for processing' };
  const printable = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 200 });

  it('NSPS: random Authorization values get exactly the documented 401', async () => {
    const body = sample('nsps-event.json');
    await fc.assert(
      fc.asyncProperty(fc.oneof(printable, printable.map((s) => `Bearer ${s}`), fc.constant('Bearer'), fc.constant(`bearer ${NSPS_TOKEN}x`), fc.constant(`Bearer ${NSPS_TOKEN.slice(0, -1)}`), fc.constant(NSPS_TOKEN)), async (auth) => {
        cases.nsps!++;
        const r = await send('POST', '/process-event', { authorization: auth, 'content-type': 'application/json' }, body);
        expect(r.status).toBe(401);
        expect(r.json).toEqual(NSPS_401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer');
      }),
      { numRuns: 150 },
    );
  });

  it('NSPS: random JSON values and bytes get 202 only when they are an Event, otherwise the documented 422 naming the problem', async () => {
    const auth = { authorization: `Bearer ${NSPS_TOKEN}`, 'content-type': 'application/json' };
    const eventLike = fc.record({
      event_id: fc.oneof(fc.uuid(), fc.integer(), fc.constant(null), fc.constant('')),
      data: fc.oneof(fc.record({ event_type: fc.oneof(fc.string(), fc.integer(), fc.constant(null)), variables: fc.oneof(fc.object(), fc.array(fc.integer()), fc.constant(null)) }, { requiredKeys: [] }), fc.string()),
      pb_data: fc.oneof(fc.object(), fc.constant(null), fc.string(), fc.record({ account_info: fc.oneof(fc.object(), fc.constant(null), fc.integer()), sim_info: fc.oneof(fc.object(), fc.string()), access_policy_info: fc.oneof(fc.object(), fc.array(fc.object())) }, { requiredKeys: [] })),
      handler_id: fc.oneof(fc.string(), fc.constant(null), fc.integer()),
      created_at: fc.oneof(fc.string(), fc.constant(null), fc.boolean()),
      status: fc.oneof(fc.string(), fc.object()),
    }, { requiredKeys: [] });
    // Events as the document describes them, with random content: these must all be accepted.
    const validEvent = fc.record({
      event_id: fc.uuid(),
      data: fc.record({ event_type: fc.string(), variables: fc.object() }, { requiredKeys: ['event_type'] }),
      pb_data: fc.oneof(fc.constant(null), fc.record({ sim_info: fc.record({ imsi: fc.string() }), account_info: fc.oneof(fc.object(), fc.constant(null)) }, { requiredKeys: [] })),
      handler_id: fc.oneof(fc.string(), fc.constant(null)),
      extra: fc.jsonValue(),
    }, { requiredKeys: ['event_id', 'data'] });
    const seen = { 202: 0, 422: 0 };
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), eventLike.map((v) => JSON.stringify(v)), validEvent.map((v) => JSON.stringify(v)), fc.string(), fc.uint8Array({ maxLength: 300 })), async (input) => {
        cases.nsps!++;
        const body = typeof input === 'string' ? Buffer.from(input) : Buffer.from(input);
        const expected = nspsExpected(body);
        const r = await send('POST', '/process-event', auth, body);
        expect(r.status, r.text).toBe(expected.status);
        seen[expected.status]++;
        if (expected.status === 202) {
          expectedRecords += 1;
          expect(r.json).toEqual(NSPS_202);
        } else {
          expect(r.json).toEqual({ message: 'Validation failed', error: expected.error, type: 'VALIDATION_ERROR' });
        }
      }),
      { numRuns: 300 },
    );
    // The generators reach both answers (an oracle that always said 422 would prove nothing).
    expect(seen[202]).toBeGreaterThan(10);
    expect(seen[422]).toBeGreaterThan(10);
  });

  it('NSPS: wrong content types, invalid UTF-8, deep nesting and a huge body get documented answers', async () => {
    const auth = { authorization: `Bearer ${NSPS_TOKEN}` };
    const event = JSON.parse(sample('nsps-event.json')) as Record<string, unknown>;
    // Any valid media type is read as JSON (docs/ingress.md, "Content types"); an empty header is not a media type.
    for (const ct of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded']) {
      cases.nsps!++;
      event.event_id = `ct-${Math.random()}`;
      const r = await send('POST', '/process-event', { ...auth, 'content-type': ct }, JSON.stringify(event));
      expect(r.status, `content-type "${ct}" → ${r.status} ${r.text}`).toBe(202);
      expect(r.json).toEqual(NSPS_202);
      expectedRecords += 1;
    }
    cases.nsps!++;
    const noType = await send('POST', '/process-event', { ...auth, 'content-type': '' }, JSON.stringify(event));
    expect(noType.status, noType.text).toBe(422);
    expect(noType.json).toEqual({ message: 'Validation failed', error: 'the Content-Type header is missing or not valid', type: 'VALIDATION_ERROR' });
    const invalidUtf8 = Buffer.concat([Buffer.from('{"event_id":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('","data":{"event_type":"SIM/Updated"}}')]);
    cases.nsps!++;
    let r = await send('POST', '/process-event', { ...auth, 'content-type': 'application/json' }, invalidUtf8);
    expect(r.status).toBe(422);
    expect(r.json).toEqual({ message: 'Validation failed', error: 'body is not valid UTF-8', type: 'VALIDATION_ERROR' });
    cases.nsps!++;
    const deepArray = '['.repeat(100_000) + ']'.repeat(100_000);
    r = await send('POST', '/process-event', { ...auth, 'content-type': 'application/json' }, deepArray);
    const deep = nspsExpected(Buffer.from(deepArray));
    expect(deep.status).toBe(422);
    expect(r.status).toBe(422);
    expect(r.json).toEqual({ message: 'Validation failed', error: deep.status === 422 ? deep.error : '', type: 'VALIDATION_ERROR' });
    cases.nsps!++;
    r = await send('POST', '/process-event', { ...auth, 'content-type': 'application/json' }, `{"event_id":"x","data":{"event_type":"a","variables":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}}`);
    // 25 kB, well under NSPS_MAX_BODY_BYTES, and an Event: deep variables are the sender's business.
    expect(r.status, r.text).toBe(202);
    expectedRecords += 1;
    cases.nsps!++;
    // The server answers as soon as the limit is passed and closes the connection while the client is still writing.
    const huge = await sendEarlyAnswered('/process-event', { ...auth, 'content-type': 'application/json' }, JSON.stringify({ event_id: 'huge', data: { event_type: 'x', variables: { pad: 'x'.repeat(4 * 1024 * 1024) } } }));
    expect(huge.status).toBe(413);
    expect(JSON.parse(huge.text)).toEqual({ message: 'Validation failed', error: 'request body larger than 524288 bytes', type: 'VALIDATION_ERROR' });
  });

  it('1NCE: random Authorization values get 401; every JSON array gets 200 (records it cannot classify quarantined), anything else the documented refusal', async () => {
    const path = '/1nce/data-streamer';
    const events = sample('1nce-events.json');
    await fc.assert(
      fc.asyncProperty(fc.oneof(printable, printable.map((s) => `Basic ${Buffer.from(s).toString('base64')}`), fc.constant(basic(ONCE_USER, `${ONCE_PASSWORD}x`)), fc.constant(basic(`${ONCE_USER}x`, ONCE_PASSWORD))), async (auth) => {
        cases['1nce']!++;
        const r = await send('POST', path, { authorization: auth, 'content-type': 'application/json' }, events);
        expect(r.status).toBe(401);
        expect(r.json).toEqual({ error: 'unauthorized', message: 'valid HTTP Basic credentials are required' });
        expect(r.headers.get('www-authenticate')).toBe('Basic realm="switchboard", charset="UTF-8"');
      }),
      { numRuns: 100 },
    );
    const auth = { authorization: basic(ONCE_USER, ONCE_PASSWORD), 'content-type': 'application/json' };
    const recordLike = fc.record({
      id: fc.oneof(fc.integer(), fc.string(), fc.constant(null), fc.constant('  '), fc.double()),
      event_type: fc.object(), traffic_type: fc.object(), volume: fc.object(), start_timestamp: fc.string(), sim: fc.record({ iccid: fc.string() }),
    }, { requiredKeys: [] });
    const seen = { 200: 0, quarantined: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.array(recordLike, { maxLength: 20 }).map((v) => JSON.stringify(v)), fc.string(), fc.uint8Array({ maxLength: 200 })), async (input) => {
        cases['1nce']!++;
        const body = Buffer.from(input);
        const expected = onceExpected(body);
        const r = await send('POST', path, auth, body);
        expect(r.status, r.text).toBe(expected.status);
        expect(r.json).toEqual(expected.body);
        if (expected.status === 200) {
          // One odd record never fails the batch: each element is stored, in its raw topic or in quarantine.
          expectedRecords += expected.body.accepted + expected.body.quarantined;
          seen[200]++;
          if (expected.body.quarantined > 0) seen.quarantined++;
        } else seen.refused++;
      }),
      { numRuns: 250 },
    );
    expect(seen[200]).toBeGreaterThan(10);
    expect(seen.quarantined).toBeGreaterThan(5);
    expect(seen.refused).toBeGreaterThan(10);
  });

  it('SAP: random, tampered, expired, not-yet-valid, alg none and alg-confused tokens all get the documented 401', async () => {
    const body = sample('sap-delta.json');
    const now = Math.floor(Date.now() / 1000);
    const valid = await sapToken();
    const [h, p, s] = valid.split('.') as [string, string, string];
    const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
    const bad: Record<string, string> = {
      'tampered payload': `${h}.${b64({ ...payload, tenant: { consumerTenant: 'other', externalTenant: 'x' } })}.${s}`,
      'tampered header': `${b64({ alg: 'HS512' })}.${p}.${s}`,
      'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`,
      'alg none with signature': `${b64({ alg: 'none' })}.${p}.${s}`,
      expired: await sapToken({ exp: now - 3600 }),
      'not yet valid': await sapToken({ nbf: now + 3600 }),
      'no exp': await sapToken({ exp: null }),
      'signed with another RSA key': await sapToken({ key: otherPrivate, alg: 'RS256' }),
      'RS256 public key used as HS256 secret': await sapToken({ key: new TextEncoder().encode(rsaPublicPem), alg: 'HS256' }),
      'no tenant claim': await sapToken({ claims: { sub: 'x' } }),
      'tenant without externalTenant': await sapToken({ claims: { tenant: { consumerTenant: 'a' } } }),
      'tenant as broken JSON string': await sapToken({ claims: { tenant: '{"consumerTenant":' } }),
      'wrong secret': await sapToken({ key: new TextEncoder().encode(`${SAP_SECRET}-not`) }),
    };
    for (const [name, token] of Object.entries(bad)) {
      cases.sap!++;
      const r = await send('PUT', '/api/v1/notifications?reportType=delta', { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body);
      expect(r.status, name).toBe(401);
      expect(r.json, name).toEqual({ error: { code: 401, message: 'unauthorized' } });
    }
    await fc.assert(
      fc.asyncProperty(fc.oneof(printable, printable.map((x) => `Bearer ${x}`), fc.tuple(printable, printable, printable).map(([a, b, c]) => `Bearer ${a}.${b}.${c}`)), async (auth) => {
        cases.sap!++;
        const r = await send('PUT', '/api/v1/notifications?reportType=full', { authorization: auth, 'content-type': 'application/json' }, body);
        expect(r.status).toBe(401);
        expect(r.json).toEqual({ error: { code: 401, message: 'unauthorized' } });
      }),
      { numRuns: 100 },
    );
    // The RS256 path through the JWKS works, so the 401s above are not an RS256 outage.
    cases.sap!++;
    const rsOk = await send('PUT', '/api/v1/notifications?reportType=delta', { authorization: `Bearer ${await sapToken({ key: rsaPrivate, alg: 'RS256' })}`, 'content-type': 'application/json' }, body);
    expect(rsOk.status).toBe(204);
    expectedRecords += 1;
  });

  it('SAP: random bodies and query strings get 204 only for valid reports, otherwise the documented 400 naming the problem', async () => {
    const token = await sapToken();
    const text = fc.oneof(fc.string(), fc.constant(''), fc.constant(null));
    const system = fc.record({ protocol: text, host: fc.oneof(text, fc.integer()), type: text, status: text, description: fc.string() }, { requiredKeys: [] });
    const scc = fc.record({ subaccount: fc.oneof(fc.string(), fc.integer(), fc.constant(null)), locationId: fc.string(), LocationID: fc.string(), exposedSystems: fc.oneof(fc.array(fc.oneof(system, fc.constant(null)), { maxLength: 3 }), fc.constant(null), fc.object()) }, { requiredKeys: [] });
    const report = fc.record({ type: fc.oneof(fc.string(), fc.constant('notification-service')), value: fc.oneof(fc.array(scc, { maxLength: 3 }), fc.constant(null)) }, { requiredKeys: [] });
    // Reports as the document describes them, with random content: these must all be accepted.
    const filled = fc.string({ minLength: 1 });
    const validSystem = fc.record({ protocol: filled, host: filled, type: filled, status: filled, description: fc.oneof(fc.string(), fc.constant(null)), systemNumber: fc.string() }, { requiredKeys: ['protocol', 'host', 'type', 'status'] });
    const validReport = fc.record({ type: filled, value: fc.array(fc.record({ subaccount: filled, locationId: fc.string(), exposedSystems: fc.array(validSystem, { maxLength: 3 }) }, { requiredKeys: ['subaccount', 'exposedSystems'] }), { maxLength: 3 }) });
    const seen = { 204: 0, 400: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ arbitrary: fc.constantFrom('full', 'delta'), weight: 4 }, fc.string(), fc.constant('FULL')),
        fc.oneof(report.map((v) => JSON.stringify(v)), validReport.map((v) => JSON.stringify(v)), fc.jsonValue().map((v) => JSON.stringify(v)), fc.string(), fc.uint8Array({ maxLength: 200 })),
        async (reportType, input) => {
          cases.sap!++;
          const body = Buffer.from(input);
          const expected = sapExpected(reportType, body);
          const r = await send('PUT', `/api/v1/notifications?reportType=${encodeURIComponent(reportType)}`, { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body);
          expect(r.status, r.text).toBe(expected.status);
          seen[expected.status]++;
          if (expected.status === 204) {
            expect(r.text).toBe('');
            expectedRecords += 1;
          } else expect(r.json).toEqual({ error: { code: 400, message: expected.message } });
        },
      ),
      { numRuns: 250 },
    );
    expect(seen[204]).toBeGreaterThan(10);
    expect(seen[400]).toBeGreaterThan(10);
  });

  it('oversized headers and header injection attempts get a protocol answer, never a 5xx', async () => {
    cases.nsps!++;
    const big = await rawRequest(`POST /process-event HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'a'.repeat(40_000)}\r\nContent-Length: 2\r\n\r\n{}`);
    expect(big).toMatch(/^HTTP\/1\.1 431/);
    cases.nsps!++;
    const injected = await rawRequest(`POST /process-event HTTP/1.1\r\nHost: x\r\nX-Request-Id: abc\rSet-Cookie: pwned=1\r\nAuthorization: Bearer ${NSPS_TOKEN}\r\nContent-Length: 2\r\n\r\n{}`);
    expect(injected).toMatch(/^HTTP\/1\.1 (400|422)/);
    expect(injected).not.toMatch(/\r\nSet-Cookie: pwned/i);
    cases.nsps!++;
    const weirdId = await send('POST', '/process-event', { authorization: `Bearer ${NSPS_TOKEN}`, 'content-type': 'application/json', 'x-request-id': `"><script>${'z'.repeat(5000)}` }, '{}');
    expect(weirdId.status).toBe(422);
    expect(weirdId.json).toEqual({ message: 'Validation failed', error: 'event_id: field required', type: 'VALIDATION_ERROR' });
    expect(weirdId.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('slow clients cannot hold connections beyond the configured timeouts', async () => {
    const before = rss();
    const closedWithin = await Promise.all(Array.from({ length: 50 }, () => slowLoris()));
    // Each connection is closed by the server (BODY_TIMEOUT_MS 2 s, HTTP_REQUEST_TIMEOUT_MS 5 s); the client never stops trickling.
    for (const closed of closedWithin) expect(closed).toBe(true);
    expect(rss() - before).toBeLessThan(100 * 1024 * 1024);
  }, 60_000);

  it('memory stays bounded and Kafka holds exactly the records of accepted requests', async () => {
    const totalCases = Object.values(cases).reduce((a, b) => a + b, 0);
    console.log(`hostile-input cases tried: ${JSON.stringify(cases)} (total ${totalCases}); records expected in Kafka: ${expectedRecords}`);
    expect(totalCases).toBeGreaterThan(1000);
    expect(rss()).toBeLessThan(512 * 1024 * 1024);
    const admin = kafka.admin();
    await admin.connect();
    let inKafka = 0;
    try {
      for (const topic of [...rawTopics(topics), topics.quarantine]) {
        for (const p of await admin.fetchTopicOffsets(topic)) inKafka += Number(p.high) - Number(p.low);
      }
    } finally {
      await admin.disconnect();
    }
    expect(inKafka).toBe(expectedRecords);
  });

  it('no log line of the ingress process contains a token, password, JWT or Basic credential', () => {
    expect(ingress.lines.length).toBeGreaterThan(100);
    const secrets = [NSPS_TOKEN, ONCE_PASSWORD, SAP_SECRET, Buffer.from(`${ONCE_USER}:${ONCE_PASSWORD}`).toString('base64'), ...issuedTokens, ...issuedTokens.map((t) => t.split('.')[2]!)];
    expect(findSecretLeaks(ingress.lines, secrets)).toEqual([]);
  });

  /** A raw socket: it still reads an answer the server sends (and closes) before the body was fully written. */
  function sendEarlyAnswered(path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve) => {
      const socket = connect(PORT, '127.0.0.1');
      let out = '';
      socket.on('data', (d) => (out += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => {
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 0);
        const text = out.includes('\r\n\r\n') ? out.slice(out.indexOf('\r\n\r\n') + 4) : '';
        resolve({ status, text: /^[0-9a-f]+\r\n/i.test(text) ? text.replace(/^[0-9a-f]+\r\n/i, '').replace(/\r\n0\r\n\r\n$/, '').replace(/\r\n$/, '') : text });
      });
      const head = Object.entries({ ...headers, host: 'x', 'content-length': String(Buffer.byteLength(body)), connection: 'close' }).map(([k, v]) => `${k}: ${v}`).join('\r\n');
      socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n\r\n`);
      const bytes = Buffer.from(body);
      let offset = 0;
      const pump = (): void => {
        while (offset < bytes.length && !socket.destroyed) {
          const chunk = bytes.subarray(offset, offset + 64 * 1024);
          offset += chunk.length;
          if (!socket.write(chunk)) return void socket.once('drain', pump);
        }
      };
      pump();
      setTimeout(() => socket.destroy(), 15_000);
    });
  }

  function rawRequest(text: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = connect(PORT, '127.0.0.1');
      let out = '';
      socket.on('data', (d) => (out += d.toString()));
      socket.on('close', () => resolve(out));
      socket.on('error', () => resolve(out));
      socket.write(text);
      setTimeout(() => socket.destroy(), 5000);
    });
  }

  /** Sends headers and then one body byte a second forever; resolves true when the server closes it within 15 s. */
  function slowLoris(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = connect(PORT, '127.0.0.1');
      let timer: NodeJS.Timeout | undefined;
      const giveUp = setTimeout(() => {
        clearInterval(timer);
        socket.destroy();
        resolve(false);
      }, 15_000);
      socket.on('connect', () => {
        socket.write(`POST /process-event HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${NSPS_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{`);
        timer = setInterval(() => socket.write('"'), 1000);
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        clearInterval(timer);
        clearTimeout(giveUp);
        resolve(true);
      });
    });
  }
});

// ---- What each sender's document says the answer must be, written out independently of services/ ----

type JsonObject = Record<string, unknown>;
const isJsonObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Strict decoding (docs/ingress.md, "Strict UTF-8"): invalid UTF-8 or a byte-order mark is not JSON. */
function decodeJson(body: Uint8Array): { ok: true; value: unknown } | { ok: false; error: string } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body);
  } catch {
    return { ok: false, error: 'body is not valid UTF-8' };
  }
  if (text.startsWith('\ufeff')) return { ok: false, error: 'body is not valid JSON' };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, error: 'body is not valid JSON' };
  }
}

/**
 * NSPS (nsps-connector-get-started.md, the reference connector's Event model; docs/ingress.md "Event
 * rules"): 202 for an Event, else 422 naming the first problem in this order.
 */
function nspsExpected(body: Uint8Array): { status: 202 } | { status: 422; error: string } {
  const refuse = (error: string) => ({ status: 422 as const, error });
  const json = decodeJson(body);
  if (!json.ok) return refuse(json.error);
  const e = json.value;
  if (!isJsonObject(e)) return refuse('body must be a JSON object');
  if (e.event_id === undefined || e.event_id === null) return refuse('event_id: field required');
  if (typeof e.event_id !== 'string' || e.event_id === '') return refuse('event_id: must be a non-empty string');
  if (e.data === undefined || e.data === null) return refuse('data: field required');
  if (!isJsonObject(e.data)) return refuse('data: must be an object');
  if (e.data.event_type === undefined || e.data.event_type === null) return refuse('data.event_type: field required');
  if (typeof e.data.event_type !== 'string') return refuse('data.event_type: must be a string');
  if ('variables' in e.data && !isJsonObject(e.data.variables)) return refuse('data.variables: must be an object');
  if (e.pb_data !== undefined && e.pb_data !== null) {
    if (!isJsonObject(e.pb_data)) return refuse('pb_data: must be an object');
    for (const part of ['account_info', 'sim_info', 'access_policy_info']) {
      const v = e.pb_data[part];
      if (v !== undefined && v !== null && !isJsonObject(v)) return refuse(`pb_data.${part}: must be an object`);
    }
  }
  for (const field of ['handler_id', 'created_at', 'updated_at', 'status']) {
    const v = e[field];
    if (v !== undefined && v !== null && typeof v !== 'string') return refuse(`${field}: must be a string`);
  }
  return { status: 202 };
}

/**
 * 1NCE (1nce-data-streamer-webhook.md: a JSON array of event and usage records, told apart by shape;
 * docs/ingress.md: what cannot be classified is quarantined, the batch still answered 200).
 */
function onceExpected(body: Uint8Array): { status: 200; body: { accepted: number; quarantined: number } } | { status: 400 | 422; body: { error: string; message: string } } {
  const json = decodeJson(body);
  if (!json.ok) return { status: 400, body: { error: 'invalid_json', message: json.error } };
  if (!Array.isArray(json.value)) return { status: 422, body: { error: 'not_an_array', message: 'body must be a JSON array of records' } };
  let accepted = 0;
  for (const r of json.value) {
    if (!isJsonObject(r)) continue;
    const hasId = (typeof r.id === 'number' && Number.isFinite(r.id)) || (typeof r.id === 'string' && r.id.trim() !== '');
    const usage = ['traffic_type', 'volume', 'start_timestamp'].some((f) => f in r);
    const event = 'event_type' in r;
    if (hasId && usage !== event) accepted++;
  }
  return { status: 200, body: { accepted, quarantined: json.value.length - accepted } };
}

/**
 * SAP (sap-ns-adapter-notifications.md; docs/ingress.md "Check order" and "Validation like the
 * reference adapter"): reportType, then parse, then the Go decoder's types (keys case-insensitive, an
 * exact key first; null reads as the zero value), then the required properties in document order.
 */
function sapExpected(reportType: string, body: Uint8Array): { status: 204 } | { status: 400; message: string } {
  const bad = (message: string) => ({ status: 400 as const, message });
  const PARSE = 'failed to parse request body';
  if (reportType !== 'full' && reportType !== 'delta') return bad("the query parameter 'reportType' is missing or invalid");
  const json = decodeJson(body);
  if (!json.ok) return bad(PARSE);
  const get = (o: JsonObject, key: string): unknown => {
    if (Object.hasOwn(o, key)) return o[key];
    const k = Object.keys(o).find((x) => x.toLowerCase() === key.toLowerCase());
    return k === undefined ? undefined : o[k];
  };
  const asObject = (v: unknown): JsonObject | undefined => (v === null ? {} : isJsonObject(v) ? v : undefined);
  const isText = (v: unknown) => v === undefined || v === null || typeof v === 'string';
  const isList = (v: unknown) => v === undefined || v === null || Array.isArray(v);
  const report = asObject(json.value);
  if (!report || !isText(get(report, 'type')) || !isList(get(report, 'value'))) return bad(PARSE);
  const sccs: JsonObject[] = [];
  for (const raw of (get(report, 'value') as unknown[] | null | undefined) ?? []) {
    const scc = asObject(raw);
    if (!scc || !isText(get(scc, 'subaccount')) || !isText(get(scc, 'locationID')) || !isList(get(scc, 'exposedSystems'))) return bad(PARSE);
    for (const rawSystem of (get(scc, 'exposedSystems') as unknown[] | null | undefined) ?? []) {
      const system = asObject(rawSystem);
      if (!system || !['protocol', 'host', 'type', 'description', 'status', 'systemNumber'].every((k) => isText(get(system, k)))) return bad(PARSE);
    }
    sccs.push(scc);
  }
  const filled = (v: unknown) => typeof v === 'string' && v !== '';
  if (!filled(get(report, 'type'))) return bad('type key is required');
  if (!Array.isArray(get(report, 'value'))) return bad('value key is required');
  for (const scc of sccs) {
    if (!filled(get(scc, 'subaccount'))) return bad('subaccount key is required');
    const systems = get(scc, 'exposedSystems');
    if (!Array.isArray(systems)) return bad('exposedSystems key is required');
    for (const system of systems) {
      const fields = asObject(system)!;
      for (const key of ['protocol', 'host', 'type', 'status']) if (!filled(get(fields, key))) return bad(`${key} key is required`);
    }
  }
  return { status: 204 };
}

