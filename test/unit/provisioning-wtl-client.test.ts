// The WTL client over real HTTP against the emulator: request shape, authentication headers,
// and the one-time classification of every failure (transient vs permanent), plus dry run.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PermanentError, TransientError } from '../../services/shared/errors.js';
import { createMetrics } from '../../services/shared/metrics.js';
import { createWtlClient, type WtlClientOptions } from '../../services/provisioning/wtl-client.js';
import { retryAfterMs } from '../../services/shared/retry-after.js';
import type { UnifiedSyncRequest } from '../../services/provisioning/mapping.js';
import { startWtlEmulator, type WtlEmulator } from '../emulators/wtl.js';
import { captureLogger } from '../support/env.js';

const request: UnifiedSyncRequest = {
  imsi: '001010000020349', subscriber_status: 'SERVICE_GRANTED', msisdn: ['79123456789'],
  cs_profile: 'cs-pp-20250319', eps_profile: 'eps-pp-20250319', action: 'update',
};
const ctx = { eventId: 'ev-1', requestId: 'req-1' };

describe('WTL client', () => {
  let wtl: WtlEmulator;
  beforeAll(async () => {
    wtl = await startWtlEmulator();
  });
  afterAll(async () => {
    await wtl.close();
  });
  beforeEach(() => wtl.reset());

  function client(extra: Partial<WtlClientOptions> = {}) {
    const { logger, lines } = captureLogger();
    const metrics = createMetrics('provisioning');
    const c = createWtlClient({ baseUrl: wtl.url, syncPath: wtl.syncPath, timeoutMs: 2000, apiKey: 'wtl-secret-key', authHeader: 'Authorization', idempotencyHeader: 'Idempotency-Key', logger, metrics, ...extra });
    return { c, lines, metrics };
  }

  it('POSTs the unified request as JSON with a bearer key and correlation headers', async () => {
    const { c } = client();
    await expect(c.sync(request, ctx)).resolves.toMatchObject({ is_successful: true });
    expect(wtl.requests).toHaveLength(1);
    const [r] = wtl.requests;
    expect(r!.method).toBe('POST');
    expect(r!.path).toBe('/api/v1/subscribers/sync');
    expect(r!.body).toEqual(request);
    expect(r!.headers.authorization).toBe('Bearer wtl-secret-key');
    expect(r!.headers['x-event-id']).toBe('ev-1');
    expect(r!.headers['x-request-id']).toBe('req-1');
    expect(r!.headers['idempotency-key']).toBe('ev-1');
  });

  it('sends the event id as the idempotency key under a configured header name, the same on a re-send', async () => {
    const { c } = client({ idempotencyHeader: 'X-Idempotency-Key' });
    await c.sync(request, ctx);
    await c.sync(request, ctx);
    expect(wtl.requests.map((r) => r.headers['x-idempotency-key'])).toEqual(['ev-1', 'ev-1']);
    expect(wtl.requests[0]!.headers['idempotency-key']).toBeUndefined();
  });

  it('against a WTL that honours the key, a re-send is answered as the first time and not applied again', async () => {
    wtl.honourIdempotencyKey(true);
    const { c } = client();
    await expect(c.sync(request, ctx)).resolves.toMatchObject({ is_successful: true });
    await expect(c.sync({ ...request, subscriber_status: 'OPERATOR_DETERMINED_BARRING' }, ctx)).resolves.toMatchObject({ is_successful: true });
    expect(wtl.requests.map((r) => [r.applied, r.resend, r.dropped])).toEqual([[true, false, false], [false, true, true]]);
    expect(wtl.subscribers.get(request.imsi)).toMatchObject({ subscriber_status: 'SERVICE_GRANTED' });
    expect(wtl.appliedCountByEvent().get('ev-1')).toBe(1);
  });

  it('against a WTL that does not honour the key, a re-send is applied again (recorded on receipt)', async () => {
    const { c } = client();
    await c.sync(request, ctx);
    await c.sync(request, ctx);
    expect(wtl.requests.map((r) => [r.applied, r.resend, r.dropped])).toEqual([[true, false, false], [true, true, false]]);
    expect(wtl.appliedCountByEvent().get('ev-1')).toBe(2);
  });

  it('applies a request on receipt even when the caller gave up before the answer', async () => {
    wtl.setLatency(400);
    await expect(client({ timeoutMs: 100 }).c.sync(request, ctx)).rejects.toBeInstanceOf(TransientError);
    expect(wtl.requests[0]).toMatchObject({ applied: true, answered: false });
    expect(wtl.subscribers.has(request.imsi)).toBe(true);
  });

  it('sends the key as is under a custom header name', async () => {
    const { c } = client({ authHeader: 'X-Api-Key' });
    await c.sync(request, ctx);
    expect(wtl.requests[0]!.headers['x-api-key']).toBe('wtl-secret-key');
    expect(wtl.requests[0]!.headers.authorization).toBeUndefined();
  });

  it.each([500, 502, 503, 408])('classifies %i as transient', async (status) => {
    wtl.enqueue({ status, body: { is_successful: false, error: 'down' } });
    const { c, metrics } = client();
    await expect(c.sync(request, ctx)).rejects.toBeInstanceOf(TransientError);
    expect(await metrics.registry.getSingleMetricAsString('switchboard_external_call_errors_total')).toMatch(/class="transient"[^\n]* 1/);
  });

  it('classifies 429 as transient and carries Retry-After', async () => {
    wtl.enqueue({ status: 429, headers: { 'retry-after': '3' }, body: { is_successful: false, error: 'slow down' } });
    const err = await client().c.sync(request, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as TransientError).retryAfterMs).toBe(3000);
  });

  it('classifies 400 and is_successful:false as permanent, with the reason', async () => {
    wtl.enqueue({ status: 400, body: { is_successful: false, error: 'invalid imsi' } });
    const e1 = await client().c.sync(request, ctx).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(PermanentError);
    expect((e1 as Error).message).toMatch(/400.*invalid imsi/);
    wtl.enqueue({ status: 200, body: { is_successful: false, error: 'subscriber locked' } });
    const e2 = await client().c.sync(request, ctx).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(PermanentError);
    expect((e2 as Error).message).toBe('WTL service error: subscriber locked');
  });

  it('classifies a 200 that is not a WTL response as permanent', async () => {
    wtl.enqueue({ status: 200, body: { ok: true } });
    await expect(client().c.sync(request, ctx)).rejects.toBeInstanceOf(PermanentError);
    wtl.enqueue({ status: 200, body: 'not json' });
    await expect(client().c.sync(request, ctx)).rejects.toBeInstanceOf(PermanentError);
  });

  it('classifies a timeout as transient', async () => {
    wtl.setLatency(500);
    const err = await client({ timeoutMs: 100 }).c.sync(request, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientError);
    expect((err as Error).message).toMatch(/did not answer within 100 ms/);
  });

  it('classifies a refused connection as transient', async () => {
    const spare = createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    const port = (spare.address() as AddressInfo).port;
    await new Promise<void>((r) => spare.close(() => r()));
    await expect(client({ baseUrl: `http://127.0.0.1:${port}` }).c.sync(request, ctx)).rejects.toBeInstanceOf(TransientError);
  });

  it('keeps the API key out of error messages and logs', async () => {
    wtl.enqueue({ status: 401, body: { is_successful: false, error: 'bad key' } });
    const { c, lines } = client();
    const err = await c.sync(request, ctx).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PermanentError);
    expect(`${(err as Error).message}\n${lines.join('\n')}`).not.toContain('wtl-secret-key');
  });

  it('in dry run logs the request at info and succeeds without calling WTL', async () => {
    const { c, lines } = client({ baseUrl: undefined });
    expect(c.dryRun).toBe(true);
    await expect(c.sync(request, ctx)).resolves.toMatchObject({ is_successful: true });
    expect(wtl.requests).toHaveLength(0);
    const line = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'wtl dry run');
    expect(line).toMatchObject({ level: 'info', event_id: 'ev-1', wtl_request: request });
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
