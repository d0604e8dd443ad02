// Hostile input against every ingress endpoint of a real ingress process on the real broker:
// property-based (fast-check) random and malformed bodies, wrong content types, deep nesting,
// invalid UTF-8, oversized headers, random Authorization values, tampered and confused JWTs.
// The only answers allowed are the documented ones; never a 5xx or a crash; no record in Kafka
// beyond those of accepted requests; bounded memory; no secret in any log line.
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/stack.js';
import { createKafka } from '../../services/shared/kafka.js';
import { parseJsonBytes } from '../../services/ingress/domain/json.js';
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

  it('NSPS: random JSON values and bytes get 202 only when they are an Event, otherwise the documented 422', async () => {
    const auth = { authorization: `Bearer ${NSPS_TOKEN}`, 'content-type': 'application/json' };
    const eventLike = fc.record({
      event_id: fc.oneof(fc.uuid(), fc.integer(), fc.constant(null)),
      data: fc.oneof(fc.record({ event_type: fc.oneof(fc.string(), fc.integer()), variables: fc.oneof(fc.object(), fc.array(fc.integer())) }, { requiredKeys: [] }), fc.string()),
      pb_data: fc.oneof(fc.object(), fc.constant(null), fc.string()),
    }, { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), eventLike.map((v) => JSON.stringify(v)), fc.string(), fc.uint8Array({ maxLength: 300 })), async (body) => {
        cases.nsps!++;
        const r = await send('POST', '/process-event', auth, body);
        expect([202, 422]).toContain(r.status);
        if (r.status === 202) {
          expectedRecords += 1;
          expect(r.json).toEqual({ message: expect.any(String) });
        } else {
          expect(r.json).toMatchObject({ message: 'Validation failed', type: 'VALIDATION_ERROR' });
          expect(typeof (r.json as { error: unknown }).error).toBe('string');
        }
      }),
      { numRuns: 300 },
    );
  });

  it('NSPS: wrong content types, invalid UTF-8, deep nesting and a huge body get documented answers', async () => {
    const auth = { authorization: `Bearer ${NSPS_TOKEN}` };
    const event = JSON.parse(sample('nsps-event.json')) as Record<string, unknown>;
    for (const ct of ['text/plain', 'application/xml', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '']) {
      cases.nsps!++;
      event.event_id = `ct-${Math.random()}`;
      const r = await send('POST', '/process-event', { ...auth, 'content-type': ct }, JSON.stringify(event));
      expect([202, 422], `content-type "${ct}" → ${r.status} ${r.text}`).toContain(r.status);
      if (r.status === 202) expectedRecords += 1;
      else expect(r.json).toMatchObject({ message: 'Validation failed', type: 'VALIDATION_ERROR' });
    }
    const invalidUtf8 = Buffer.concat([Buffer.from('{"event_id":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('","data":{"event_type":"SIM/Updated"}}')]);
    cases.nsps!++;
    let r = await send('POST', '/process-event', { ...auth, 'content-type': 'application/json' }, invalidUtf8);
    expect(r.status).toBe(422);
    cases.nsps!++;
    r = await send('POST', '/process-event', { ...auth, 'content-type': 'application/json' }, '['.repeat(100_000) + ']'.repeat(100_000));
    expect(r.status).toBe(422);
    cases.nsps!++;
    r = await send('POST', '/process-event', { ...auth, 'content-type': 'application/json' }, `{"event_id":"x","data":{"event_type":"a","variables":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}}`);
    expect([202, 413, 422]).toContain(r.status);
    if (r.status === 202) expectedRecords += 1;
    cases.nsps!++;
    // The server answers as soon as the limit is passed and closes the connection while the client is still writing.
    const huge = await sendEarlyAnswered('/process-event', { ...auth, 'content-type': 'application/json' }, JSON.stringify({ event_id: 'huge', data: { event_type: 'x', variables: { pad: 'x'.repeat(4 * 1024 * 1024) } } }));
    expect([413, 422]).toContain(huge.status);
    expect(JSON.parse(huge.text)).toMatchObject({ type: 'VALIDATION_ERROR' });
  });

  it('1NCE: random Authorization values get 401; every JSON array gets 200 (records it cannot classify quarantined), anything else the documented refusal', async () => {
    const path = '/1nce/data-streamer';
    const events = sample('1nce-events.json');
    await fc.assert(
      fc.asyncProperty(fc.oneof(printable, printable.map((s) => `Basic ${Buffer.from(s).toString('base64')}`), fc.constant(basic(ONCE_USER, `${ONCE_PASSWORD}x`)), fc.constant(basic(`${ONCE_USER}x`, ONCE_PASSWORD))), async (auth) => {
        cases['1nce']!++;
        const r = await send('POST', path, { authorization: auth, 'content-type': 'application/json' }, events);
        expect(r.status).toBe(401);
      }),
      { numRuns: 100 },
    );
    const auth = { authorization: basic(ONCE_USER, ONCE_PASSWORD), 'content-type': 'application/json' };
    const recordLike = fc.record({ id: fc.oneof(fc.integer(), fc.string(), fc.constant(null)), event_type: fc.object(), traffic_type: fc.object(), volume: fc.object() }, { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.array(recordLike, { maxLength: 20 }).map((v) => JSON.stringify(v)), fc.string(), fc.uint8Array({ maxLength: 200 })), async (body) => {
        cases['1nce']!++;
        const r = await send('POST', path, auth, body);
        expect(r.status, r.text).toBeLessThan(500);
        expect(r.status >= 300 && r.status < 400, 'never a redirect').toBe(false);
        const parsed = parseJsonBytes(typeof body === 'string' ? Buffer.from(body) : body);
        if (parsed.ok && Array.isArray(parsed.value)) {
          // One odd record never fails the batch: each element is stored, in its raw topic or in quarantine.
          expect(r.status, r.text).toBe(200);
          const answer = r.json as { accepted: number; quarantined: number };
          expect(answer.accepted + answer.quarantined).toBe(parsed.value.length);
          expectedRecords += parsed.value.length;
        } else {
          expect([400, 413, 415, 422]).toContain(r.status);
        }
      }),
      { numRuns: 250 },
    );
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

  it('SAP: random bodies and query strings get 204 only for valid reports, otherwise a documented 400', async () => {
    const token = await sapToken();
    const system = fc.record({ protocol: fc.string(), host: fc.string(), type: fc.string(), status: fc.string(), description: fc.string() }, { requiredKeys: [] });
    const report = fc.record({ type: fc.string(), value: fc.array(fc.record({ subaccount: fc.oneof(fc.string(), fc.integer()), locationId: fc.string(), exposedSystems: fc.array(system, { maxLength: 3 }) }, { requiredKeys: [] }), { maxLength: 3 }) }, { requiredKeys: [] });
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.constant('full'), fc.constant('delta'), fc.string(), fc.constant('FULL')),
        fc.oneof(report.map((v) => JSON.stringify(v)), fc.jsonValue().map((v) => JSON.stringify(v)), fc.string(), fc.uint8Array({ maxLength: 200 })),
        async (reportType, body) => {
          cases.sap!++;
          const r = await send('PUT', `/api/v1/notifications?reportType=${encodeURIComponent(reportType)}`, { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body);
          expect([204, 400], r.text).toContain(r.status);
          if (r.status === 204) expectedRecords += 1;
          else expect(r.json).toMatchObject({ error: { code: 400, message: expect.any(String) } });
        },
      ),
      { numRuns: 250 },
    );
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
