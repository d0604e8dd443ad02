// Pure mapping from a raw-event envelope to one spreadsheet row. No I/O: unit-tested with the
// senders' reference payloads. The first cell of every row is the envelope's event_id, which the
// exporter reads back (column A) to find out which rows a crashed run already appended. Payloads are
// read with the contracts ingress accepted them with (shared/contracts/nsps-event.ts, once-record.ts).
import { parseNspsEvent, type NspsEvent } from '../shared/contracts/nsps-event.js';
import { parseOnceRecord, type OnceKind } from '../shared/contracts/once-record.js';
import type { Envelope } from '../shared/envelope.js';
import { PermanentError } from '../shared/errors.js';
import { isObject } from '../shared/json.js';
import { storableText } from '../shared/pg-text.js';

export type Cell = string | number | boolean;
export type Row = Cell[];

/** The three kinds of rows, one tab each. */
export type RowKind = 'nsps' | 'onceEvents' | 'onceUsage';
export const ROW_KINDS: RowKind[] = ['nsps', 'onceEvents', 'onceUsage'];

export const HEADERS: Record<RowKind, string[]> = {
  nsps: [
    'Event ID', 'Received at', 'Event type', 'IMSI', 'MSISDN', 'Bill status', 'Blocked', 'Product',
    'Account ID', 'i_account', 'i_customer', 'SIM status', 'Access policy', 'Handler ID', 'Created at',
    'Updated at', 'Status', 'Variables', 'Request ID',
  ],
  onceEvents: [
    'Event ID', 'Received at', 'Record ID', 'Timestamp', 'ICCID', 'IMSI', 'MSISDN', 'Event type',
    'Description', 'Severity', 'Source', 'Alert', 'Country', 'Network', 'MCC', 'Organisation ID',
    'Endpoint name', 'IMEI', 'Request ID',
  ],
  onceUsage: [
    'Event ID', 'Received at', 'Record ID', 'Start', 'End', 'ICCID', 'IMSI', 'MSISDN', 'Traffic type',
    'Volume total', 'Volume rx', 'Volume tx', 'Cost', 'Currency', 'Operator', 'Country', 'MCC', 'MNC',
    'Ratezone', 'Tariff', 'Organisation ID', 'Endpoint name', 'Request ID',
  ],
};

export interface MappedRow {
  kind: RowKind;
  eventId: string;
  row: Row;
}

/** Google Sheets rejects a cell longer than 50,000 characters; one long field must not fail a whole batch. */
export const MAX_CELL_CHARS = 50_000;

/** Maps one envelope to its row. Throws PermanentError when the payload cannot be read (it goes to the dead letters). */
export function toRow(envelope: Envelope): MappedRow {
  const kind = kindOf(envelope.kind);
  const row = kind === 'nsps' ? nspsRow(envelope, nspsEvent(envelope)) : kind === 'onceEvents' ? onceEventRow(envelope, onceRecord(envelope, '1nce.event')) : onceUsageRow(envelope, onceRecord(envelope, '1nce.usage'));
  return { kind, eventId: envelope.event_id, row: row.map(clip) };
}

function kindOf(kind: string): RowKind {
  switch (kind) {
    case 'nsps.event':
      return 'nsps';
    case '1nce.event':
      return 'onceEvents';
    case '1nce.usage':
      return 'onceUsage';
    default:
      throw new PermanentError(`sheet export has no tab for records of kind "${kind}"`);
  }
}

type Json = Record<string, unknown>;

function nspsEvent(env: Envelope): NspsEvent {
  const parsed = parseNspsEvent(env.payload);
  if (!parsed.ok) throw new PermanentError(`payload of ${env.event_id} is ${parsed.reason === 'invalid_json' ? 'not JSON' : 'not an NSPS event'}: ${parsed.error}`);
  if (parsed.event.data.event_type === '') throw new PermanentError(`NSPS event ${env.event_id} has no data.event_type`);
  return parsed.event;
}

/** The record's fields and its id, when the payload classifies as the envelope's kind. */
function onceRecord(env: Envelope, kind: OnceKind): { id: Cell; fields: Json } {
  const parsed = parseOnceRecord(env.payload, Number(env.attributes.index ?? 0));
  if (!parsed.ok) throw new PermanentError(`payload of ${env.event_id} is not a 1NCE record (${parsed.reason}): ${parsed.error}`);
  if (parsed.record.kind !== kind) throw new PermanentError(`payload of ${env.event_id} is a ${parsed.record.kind} record, not ${kind}`);
  return { id: parsed.record.id, fields: parsed.record.fields };
}

function nspsRow(env: Envelope, event: NspsEvent): Row {
  const data = event.data;
  const pb = event.pb_data ?? {};
  const account = pb.account_info ?? {};
  const sim = pb.sim_info ?? {};
  const policy = pb.access_policy_info ?? {};
  const accountId = text(account.id);
  // The SIM's own MSISDN when NSPS sent it, else the account id of the form <msisdn>@msisdn.
  const msisdn = text(sim.msisdn) || (accountId.endsWith('@msisdn') ? accountId.slice(0, -'@msisdn'.length) : '');
  return [
    env.event_id,
    iso(env.received_at),
    data.event_type,
    text(sim.imsi),
    msisdn,
    text(account.bill_status),
    cell(account.blocked),
    text(account.product_name),
    accountId,
    cell(account.i_account),
    cell(account.i_customer),
    text(sim.status),
    text(policy.name),
    text(event.handler_id),
    text(event.created_at),
    text(event.updated_at),
    text(event.status),
    data.variables === undefined ? '' : JSON.stringify(data.variables),
    env.request_id,
  ];
}

function onceEventRow(env: Envelope, { id, fields: body }: { id: Cell; fields: Json }): Row {
  const sim = obj(body.sim);
  const detail = obj(body.detail);
  const country = obj(detail.country);
  const endpoint = obj(body.endpoint);
  return [
    env.event_id,
    iso(env.received_at),
    id,
    text(body.timestamp),
    text(sim.iccid),
    // Event records carry the IMSI as an object ({imsi, id, …}); tolerate a plain string too.
    isObject(body.imsi) ? text(body.imsi.imsi) : text(body.imsi),
    text(sim.msisdn),
    text(obj(body.event_type).description),
    text(body.description),
    text(obj(body.event_severity).description),
    text(obj(body.event_source).description),
    cell(body.alert),
    text(country.name),
    text(detail.name),
    text(country.mcc),
    cell(obj(body.organisation).id),
    text(endpoint.name),
    text(endpoint.imei),
    env.request_id,
  ];
}

function onceUsageRow(env: Envelope, { id, fields: body }: { id: Cell; fields: Json }): Row {
  const sim = obj(body.sim);
  const volume = obj(body.volume);
  const operator = obj(body.operator);
  const country = obj(operator.country);
  const tariff = obj(body.tariff);
  return [
    env.event_id,
    iso(env.received_at),
    id,
    text(body.start_timestamp),
    text(body.end_timestamp),
    text(sim.iccid),
    isObject(body.imsi) ? text(body.imsi.imsi) : text(body.imsi),
    text(sim.msisdn),
    text(obj(body.traffic_type).description),
    cell(volume.total),
    cell(volume.rx),
    cell(volume.tx),
    cell(body.cost),
    text(obj(body.currency).code),
    text(operator.name),
    text(country.name),
    text(country.mcc),
    text(operator.mnc),
    text(obj(tariff.ratezone).name),
    text(tariff.name),
    cell(obj(body.organisation).id),
    text(obj(body.endpoint).name),
    env.request_id,
  ];
}

function obj(v: unknown): Json {
  return isObject(v) ? v : {};
}

/** Identifiers (IMSI, ICCID, MSISDN) stay strings so leading zeros survive; absent values are empty cells. */
function text(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** Numbers and booleans keep their type (a sum over a volume column works); anything else becomes text. */
function cell(v: unknown): Cell {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'boolean') return v;
  return text(v);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Clipped to what a cell holds; a U+0000 (useless in a cell, risky for the API) becomes U+FFFD as in the database (pg-text.ts). */
function clip(c: Cell): Cell {
  if (typeof c !== 'string') return c;
  const text = storableText(c);
  return text.length > MAX_CELL_CHARS ? `${text.slice(0, MAX_CELL_CHARS - 1)}…` : text;
}
