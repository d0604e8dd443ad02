// The SAP Notification Service report contract, read once for everyone: ingress checks a body with it
// before answering the sender, and the SCC inventory parses the stored bytes with it before folding them,
// so the two never disagree about what a report says. Bodies are read as the reference NS-Adapter reads
// them (Go encoding/json into its structs, then ozzo-validation), keys matched case-insensitively.
// Also here: the reportType query value, the tenant claim, and the split of a body into record parts.
import { isObject } from '../json.js';
import { identifierProblem, isUsableIdentifier } from './identifiers.js';

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

/** What Go's decoder leaves in the adapter's structs: strings (null for the zero value ""), slices (nil: undefined). */
interface Decoded {
  type: string | null;
  value: Array<{ subaccount: string | null; locationId: string | null; exposedSystems: SystemFields[] | undefined }> | undefined;
}

type SystemFields = { protocol: string | null; host: string | null; type: string | null; description: string | null; status: string | null; systemNumber: string | null };

// The adapter's struct fields by their case-folded JSON name, and what each holds.
type Fields = ReadonlyMap<string, readonly [name: string, kind: 'string' | 'array']>;
const REPORT_FIELDS: Fields = new Map([['type', ['type', 'string']], ['value', ['value', 'array']]]);
const SCC_FIELDS: Fields = new Map([['subaccount', ['subaccount', 'string']], ['locationid', ['locationId', 'string']], ['exposedsystems', ['exposedSystems', 'array']]]);
const SYSTEM_FIELDS: Fields = new Map([
  ['protocol', ['protocol', 'string']], ['host', ['host', 'string']], ['type', ['type', 'string']],
  ['description', ['description', 'string']], ['status', ['status', 'string']], ['systemnumber', ['systemNumber', 'string']],
]);

function decode(body: unknown): Decoded {
  const report = struct(body, REPORT_FIELDS) as { type: string | null; value: unknown[] | undefined };
  return {
    type: report.type,
    value: report.value?.map((item) => {
      const scc = struct(item, SCC_FIELDS) as { subaccount: string | null; locationId: string | null; exposedSystems: unknown[] | undefined };
      return { subaccount: scc.subaccount, locationId: scc.locationId, exposedSystems: scc.exposedSystems?.map((s) => struct(s, SYSTEM_FIELDS) as SystemFields) };
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
      if (!s.protocol) return required('protocol');
      if (!s.host) return required('host');
      if (!s.type) return required('type');
      if (!s.status) return required('status');
      exposedSystems.push({ protocol: s.protocol, host: s.host, type: s.type, status: s.status, description: s.description, systemNumber: s.systemNumber });
    }
    value.push({ subaccount: scc.subaccount, locationId: scc.locationId ?? '', exposedSystems });
  }
  return boundedIdentifiers(value) ?? { ok: true, report: { type: d.type, value } };
}

/** After all of the adapter's own checks passed: the parts of a system's key must be usable identifiers (identifiers.ts). */
function boundedIdentifiers(value: SapScc[]): { ok: false; message: string } | undefined {
  const unusable = (key: string, text: string): { ok: false; message: string } | undefined => {
    const problem = identifierProblem(text);
    return problem ? { ok: false, message: `${key}: ${problem}` } : undefined;
  };
  for (const scc of value) {
    const bad = unusable('subaccount', scc.subaccount) ?? unusable('locationId', scc.locationId);
    if (bad) return bad;
    for (const s of scc.exposedSystems) {
      const badHost = unusable('host', s.host);
      if (badHost) return badHost;
    }
  }
  return undefined;
}

/**
 * A JSON value decoded into a struct as Go's encoding/json does it: null is the zero struct, another
 * non-object a decode failure. Every key whose case-folded form names a field (`Subaccount`,
 * `SUBACCOUNT`, `locationId` for `locationID`) is decoded into that field in document order, so the
 * last one wins; a null leaves a string field as it was and makes a slice nil; a value of the wrong
 * JSON type is a decode failure. Other keys are ignored. String fields never set are null.
 */
function struct(value: unknown, fields: Fields): Record<string, unknown> {
  if (value !== null && !isObject(value)) throw new ParseProblem();
  const out: Record<string, unknown> = {};
  for (const [name, kind] of fields.values()) out[name] = kind === 'string' ? null : undefined;
  if (value === null) return out;
  for (const key of Object.keys(value)) {
    const field = fields.get(foldKey(key));
    if (!field) continue;
    const v = value[key];
    if (v === undefined) continue; // not JSON: a key of an object built in code, read as absent
    if (field[1] === 'string') {
      if (v === null) continue;
      if (typeof v !== 'string') throw new ParseProblem();
    } else if (v !== null && !Array.isArray(v)) {
      throw new ParseProblem();
    }
    out[field[0]] = v ?? undefined;
  }
  return out;
}

/**
 * Go's case folding (bytes.EqualFold) for matching keys against ASCII field names: lower case, where
 * toLowerCase already turns K (Kelvin sign) into k, and ſ (long s) folds to s. No other character
 * folds to an ASCII letter, and a key holding one cannot match anyway.
 */
function foldKey(key: string): string {
  const lower = key.toLowerCase();
  return lower.includes('\u017F') ? lower.replaceAll('\u017F', 's') : lower;
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
  // The tenant keys the inventory and the records: one unusable as an identifier (identifiers.ts) is no tenant.
  if (typeof consumerTenant !== 'string' || consumerTenant === '' || !isUsableIdentifier(consumerTenant)) return undefined;
  if (typeof externalTenant !== 'string' || externalTenant === '' || !isUsableIdentifier(externalTenant)) return undefined;
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
