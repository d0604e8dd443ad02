// Verification of the SAP Notification Service's JWT: signature (HS* with the shared secret,
// asymmetric algorithms through the JWKS URL), allowed algorithms (never `none`), exp/nbf with a
// small clock tolerance, optional issuer/audience, and the tenant claims.
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { sapAlgorithms, type IngressConfig } from '../config.js';
import { tenantFromClaims, type TenantClaim } from '../../shared/contracts/sap-report.js';

type SapAuthResult =
  | { ok: true; tenant: TenantClaim }
  /** `unverifiable`: the keys could not be fetched, so the sender is not at fault. */
  | { ok: false; reason: 'invalid' | 'no_tenant' | 'unverifiable'; detail: string };

export function createSapVerifier(cfg: IngressConfig): (token: string) => Promise<SapAuthResult> {
  const algorithms = sapAlgorithms(cfg);
  const secret = cfg.SAP_JWT_HS256_SECRET ? new TextEncoder().encode(cfg.SAP_JWT_HS256_SECRET) : undefined;
  const jwks = cfg.SAP_JWKS_URL ? createRemoteJWKSet(new URL(cfg.SAP_JWKS_URL), { timeoutDuration: 5_000, cooldownDuration: 30_000 }) : undefined;
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg.startsWith('HS')) {
      if (!secret) throw new joseErrors.JOSEAlgNotAllowed('no shared secret configured');
      return secret;
    }
    if (!jwks) throw new joseErrors.JOSEAlgNotAllowed('no JWKS URL configured');
    return jwks(header, token);
  };
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, getKey, {
        algorithms,
        clockTolerance: cfg.SAP_JWT_CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['exp'],
        ...(cfg.SAP_JWT_ISSUER ? { issuer: cfg.SAP_JWT_ISSUER } : {}),
        ...(cfg.SAP_JWT_AUDIENCE ? { audience: cfg.SAP_JWT_AUDIENCE } : {}),
      });
      const tenant = tenantFromClaims(payload);
      if (!tenant) return { ok: false, reason: 'no_tenant', detail: 'tenant.consumerTenant and tenant.externalTenant are required (non-empty strings of at most 255 bytes, without U+0000)' };
      return { ok: true, tenant };
    } catch (err) {
      if (err instanceof joseErrors.JWKSTimeout || !(err instanceof joseErrors.JOSEError)) {
        return { ok: false, reason: 'unverifiable', detail: err instanceof Error ? err.message : String(err) };
      }
      // The code names the check that failed (e.g. ERR_JWT_EXPIRED); never the token itself.
      return { ok: false, reason: 'invalid', detail: err.code };
    }
  };
}
