// The SAP Notification Service report contract, read once for everyone: ingress checks a body with it
// before answering the sender, and the SCC inventory parses the stored bytes with it before folding them,
// so the two never disagree about what a report says. Bodies are read as the reference NS-Adapter reads
// them (Go encoding/json into its structs, then ozzo-validation), keys matched case-insensitively.
// Also here: the reportType query value, the tenant claim, and the split of a body into record parts.
import { isObject } from '../json.js';

export type ReportType = 'full' | 'delta';

export function parseReportType(value: unknown): ReportType | undefined {
  return value === 'full' || value === 'delta' ? value : undefined;
}

/** One exposed on-premise system. Required properties are non-empty; an optional one absent or null is null. */
export interface SapExposedSystem {
  protocol: string;
  host: string;
  type: string;
  status: string;
  description: string | null;
  systemNumber: string | null;
}

/** One SCC of a report: its label parts (`locationId` "" when absent) and the systems it exposes. */
export interface SapScc {
  subaccount: string;
  locationId: string;
  exposedSystems: SapExposedSystem[];
}

export interface SapReport {
  type: string;
  value: SapScc[];
}

/** A report, or the adapter's own error message for why it is not one. */
export type SapReportParse = { ok: true; report: SapReport } | { ok: false; message: string };

export type ReportCheck = { ok: true } | { ok: false; message: string };

export const PARSE_FAILED = 'failed to parse request body';

/** Parses report bytes (a whole body: the concatenation of its parts) into a report or the adapter's error. */
export function parseSapReport(body: string | Uint8Array): SapReportParse {
  let json: unknown;
  try {
    json = JSON.parse(typeof body === 'string' ? body : Buffer.from(body).toString('utf8'));
  } catch {
    return { ok: false, message: PARSE_FAILED };
  }
  return decodeSapReport(json);
}

/** ingress: checks a body it has already parsed as JSON, answering what the adapter would answer. */
export function checkSapReport(body: unknown): ReportCheck {
  const parsed = decodeSapReport(body);
  return parsed.ok ? { ok: true } : parsed;
}

class ParseProblem extends Error {}

/**
 * A parsed JSON value as the adapter reads it. A value of the wrong JSON type fails decoding
 * ("failed to parse request body"); a missing, null or empty required property then fails validation
 * ("<key> key is required"). The first problem in document order is reported: report `type`, `value`,
 * then per SCC `subaccount`, `exposedSystems`, then per system `protocol`, `host`, `type`, `status`.
 */
export function decodeSapReport(body: unknown): SapReportParse {
  let decoded: Decoded;
  try {
    decoded = decode(body);
  } catch (err) {
    if (err instanceof ParseProblem) return { ok: false, message: PARSE_FAILED };
    throw err;
  }
  return validate(decoded);
}

/** What Go's decoder leaves in the adapter's structs: strings (zero value ""), slices (nil: undefined). */
interface Decoded {
  type: string;
  value: Array<{ subaccount: string; locationId: string; exposedSystems: Array<Record<SystemKey, string | null>> | undefined }> | undefined;
}

const SYSTEM_KEYS = ['protocol', 'host', 'type', 'description', 'status', 'systemNumber'] as const;
type SystemKey = (typeof SYSTEM_KEYS)[number];

function decode(body: unknown): Decoded {
  // Go decodes a null into the zero value, which then fails validation.
  const report = structOf(body);
  return {
    type: stringField(report, 'type') ?? '',
    value: arrayField(report, 'value')?.map((item) => {
      const scc = structOf(item);
      return {
        subaccount: stringField(scc, 'subaccount') ?? '',
        locationId: stringField(scc, 'locationID') ?? '',
        exposedSystems: arrayField(scc, 'exposedSystems')?.map((s) => {
          const system = structOf(s);
          return Object.fromEntries(SYSTEM_KEYS.map((key) => [key, stringField(system, key)])) as Record<SystemKey, string | null>;
        }),
      };
    }),
  };
}

const required = (key: string): { ok: false; message: string } => ({ ok: false, message: `${key} key is required` });

/** The adapter's validation rules, in the order it declares them. */
function validate(d: Decoded): SapReportParse {
  if (!d.type) return required('type');
  if (d.value === undefined) return required('value');
  const value: SapScc[] = [];
  for (const scc of d.value) {
    if (!scc.subaccount) return required('subaccount');
    if (scc.exposedSystems === undefined) return required('exposedSystems');
    const exposedSystems: SapExposedSystem[] = [];
    for (const s of scc.exposedSystems) {
      for (const key of ['protocol', 'host', 'type', 'status'] as const) if (!s[key]) return required(key);
      exposedSystems.push({ protocol: s.protocol!, host: s.host!, type: s.type!, status: s.status!, description: s.description, systemNumber: s.systemNumber });
    }
    value.push({ subaccount: scc.subaccount, locationId: scc.locationId, exposedSystems });
  }
  return { ok: true, report: { type: d.type, value } };
}

/** An object decoded into a struct; null is the zero struct; any other type is a decode failure. */
function structOf(value: unknown): Record<string, unknown> {
  if (value === null) return {};
  if (!isObject(value)) throw new ParseProblem();
  return value;
}

/**
 * The value Go's decoder leaves in the field named `key`: every object key that matches it, exact or
 * case-folded (`Subaccount`, `SUBACCOUNT`, `locationId` for `locationID`), is decoded into the field in
 * document order, so the last one wins. A null leaves a string field as it was; it makes a slice nil.
 */
function fieldValues(obj: Record<string, unknown>, key: string): unknown[] {
  const folded = foldKey(key);
  return Object.keys(obj).filter((k) => k === key || foldKey(k) === folded).map((k) => obj[k]);
}

/** Go's case folding (bytes.EqualFold) as it applies to ASCII keys: letters fold to lower case, and so do K (Kelvin sign) and ſ (long s). */
function foldKey(key: string): string {
  return key.replace(/[A-Z\u212A\u017F]/g, (c) => (c === '\u212A' ? 'k' : c === '\u017F' ? 's' : c.toLowerCase()));
}

/** A string property: null when absent or only null; another type is a decode failure. */
function stringField(obj: Record<string, unknown>, key: string): string | null {
  let result: string | null = null;
  for (const value of fieldValues(obj, key)) {
    if (value === null || value === undefined) continue;
    if (typeof value !== 'string') throw new ParseProblem();
    result = value;
  }
  return result;
}

/** An array property: undefined when absent or (last) null, a nil slice; another type is a decode failure. */
function arrayField(obj: Record<string, unknown>, key: string): unknown[] | undefined {
  let result: unknown[] | undefined;
  for (const value of fieldValues(obj, key)) {
    if (value === undefined) continue; // not a JSON value: a key of an object built in code, read as absent
    if (value !== null && !Array.isArray(value)) throw new ParseProblem();
    result = value ?? undefined;
  }
  return result;
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
  if (!isObject(tenant)) return undefined;
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
