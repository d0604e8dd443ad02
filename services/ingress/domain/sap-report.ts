// SAP Notification Service reports: query and body checks that answer exactly like the reference
// NS-Adapter (Go encoding/json + ozzo-validation), the tenant claim, and the split into record parts.
import { isPlainObject } from './nsps-event.js';

export type ReportType = 'full' | 'delta';

export function parseReportType(value: unknown): ReportType | undefined {
  return value === 'full' || value === 'delta' ? value : undefined;
}

export type ReportCheck = { ok: true } | { ok: false; message: string };

export const PARSE_FAILED = 'failed to parse request body';

class ParseProblem extends Error {}

/**
 * Mirrors the reference adapter: a value of the wrong JSON type fails decoding ("failed to parse
 * request body"); a missing, null or empty required property fails validation ("<key> key is
 * required"). The first problem in document order is reported: report `type`, `value`, then per
 * SCC `subaccount`, `exposedSystems`, then per system `protocol`, `host`, `type`, `status`.
 */
export function checkSapReport(body: unknown): ReportCheck {
  try {
    return checkReport(body);
  } catch (err) {
    if (err instanceof ParseProblem) return { ok: false, message: PARSE_FAILED };
    throw err;
  }
}

const required = (key: string): ReportCheck => ({ ok: false, message: `${key} key is required` });

function checkReport(body: unknown): ReportCheck {
  // Go decodes a top-level null into the zero value, which then fails validation.
  const report = body === null ? {} : asObject(body);
  const type = stringField(report, 'type');
  const value = arrayField(report, 'value');
  const sccs = (value ?? []).map((scc) => (scc === null ? {} : asObject(scc)));
  const systemsPerScc = sccs.map((scc) => {
    stringField(scc, 'subaccount');
    stringField(scc, 'locationID');
    const systems = arrayField(scc, 'exposedSystems');
    return (systems ?? []).map((system) => {
      const fields = system === null ? {} : asObject(system);
      for (const key of ['protocol', 'host', 'type', 'description', 'status', 'systemNumber']) stringField(fields, key);
      return fields;
    });
  });
  // Decoding succeeded; now validation, in the order the adapter declares its rules.
  if (!type) return required('type');
  if (value === undefined) return required('value');
  for (const [i, scc] of sccs.entries()) {
    if (!stringField(scc, 'subaccount')) return required('subaccount');
    if (arrayField(scc, 'exposedSystems') === undefined) return required('exposedSystems');
    for (const system of systemsPerScc[i]!) {
      for (const key of ['protocol', 'host', 'type', 'status']) if (!stringField(system, key)) return required(key);
    }
  }
  return { ok: true };
}

function asObject(value: unknown): Record<string, unknown> {
  if (!isPlainObject(value)) throw new ParseProblem();
  return value;
}

/** Go's encoding/json matches keys case-insensitively, preferring an exact match ("locationId" fills LocationID). */
function lookup(obj: Record<string, unknown>, key: string): unknown {
  if (Object.hasOwn(obj, key)) return obj[key];
  const lower = key.toLowerCase();
  const found = Object.keys(obj).find((k) => k.toLowerCase() === lower);
  return found === undefined ? undefined : obj[found];
}

/** A string property; null and absent read as "" (Go's zero value); another type is a decode failure. */
function stringField(obj: Record<string, unknown>, key: string): string {
  const value = lookup(obj, key);
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') throw new ParseProblem();
  return value;
}

/** An array property; null and absent read as undefined (a nil slice); another type is a decode failure. */
function arrayField(obj: Record<string, unknown>, key: string): unknown[] | undefined {
  const value = lookup(obj, key);
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw new ParseProblem();
  return value;
}

export interface TenantClaim {
  consumerTenant: string;
  externalTenant: string;
}

/** `tenant` may arrive as a nested object or as a JSON-encoded string (as XSUAA tokens carry it). */
export function tenantFromClaims(claims: Record<string, unknown>): TenantClaim | undefined {
  let tenant: unknown = claims.tenant;
  if (typeof tenant === 'string') {
    try {
      tenant = JSON.parse(tenant);
    } catch {
      return undefined;
    }
  }
  if (!isPlainObject(tenant)) return undefined;
  const { consumerTenant, externalTenant } = tenant;
  if (typeof consumerTenant !== 'string' || consumerTenant === '') return undefined;
  if (typeof externalTenant !== 'string' || externalTenant === '') return undefined;
  return { consumerTenant, externalTenant };
}

/** Consecutive slices of at most `maxBytes`; concatenated in order they are the body again. */
export function splitIntoParts(body: Buffer, maxBytes: number): Buffer[] {
  if (maxBytes < 1) throw new RangeError('maxBytes must be positive');
  const parts: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += maxBytes) parts.push(body.subarray(offset, Math.min(body.length, offset + maxBytes)));
  if (parts.length === 0) parts.push(body.subarray(0, 0));
  return parts;
}
