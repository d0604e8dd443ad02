// SAP JWT verification with a shared secret (no network): algorithms, expiry with clock tolerance,
// not-before, issuer and audience, tenant claims.
import { describe, expect, it } from 'vitest';
import { loadIngressConfig } from '../../services/ingress/config.js';
import { createSapVerifier } from '../../services/ingress/sources/sap-auth.js';
import { DEFAULT_TENANT, hs256Token, unsignedToken } from '../support/jwt.js';

const SECRET = 'unit-secret-0123456789abcdef';
const verifier = (extra: Record<string, string> = {}) =>
  createSapVerifier(loadIngressConfig({ KAFKA_BROKERS: '127.0.0.1:1', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:1', SAP_JWT_HS256_SECRET: SECRET, SAP_JWT_CLOCK_TOLERANCE_SECONDS: '30', ...extra }));
const now = () => Math.floor(Date.now() / 1000);

describe('SAP JWT verification', () => {
  it('accepts a valid HS256 token and returns its tenant', async () => {
    expect(await verifier()(await hs256Token(SECRET))).toEqual({ ok: true, tenant: DEFAULT_TENANT });
  });
  it('tolerates a little clock skew on exp and nbf, not more', async () => {
    expect((await verifier()(await hs256Token(SECRET, { exp: now() - 10 }))).ok).toBe(true);
    expect(await verifier()(await hs256Token(SECRET, { exp: now() - 120 }))).toMatchObject({ ok: false, reason: 'invalid', detail: 'ERR_JWT_EXPIRED' });
    expect((await verifier()(await hs256Token(SECRET, { nbf: now() + 10 }))).ok).toBe(true);
    expect(await verifier()(await hs256Token(SECRET, { nbf: now() + 120 }))).toMatchObject({ ok: false, reason: 'invalid' });
  });
  it('requires exp, refuses alg none and algorithms not configured', async () => {
    expect(await verifier()(await hs256Token(SECRET, { exp: null }))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await verifier()(unsignedToken())).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await verifier({ SAP_JWT_ALGORITHMS: 'HS512' })(await hs256Token(SECRET))).toMatchObject({ ok: false, reason: 'invalid', detail: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });
  it('checks issuer and audience when configured', async () => {
    const v = verifier({ SAP_JWT_ISSUER: 'https://ns.example', SAP_JWT_AUDIENCE: 'switchboard' });
    expect((await v(await hs256Token(SECRET, { issuer: 'https://ns.example', audience: 'switchboard' }))).ok).toBe(true);
    expect(await v(await hs256Token(SECRET, { issuer: 'https://evil.example', audience: 'switchboard' }))).toMatchObject({ ok: false, reason: 'invalid' });
    expect(await v(await hs256Token(SECRET, { issuer: 'https://ns.example' }))).toMatchObject({ ok: false, reason: 'invalid' });
  });
  it('refuses tokens without both tenant ids', async () => {
    expect(await verifier()(await hs256Token(SECRET, { claims: { tenant: { externalTenant: 'e' } } }))).toMatchObject({ ok: false, reason: 'no_tenant' });
  });
});
