// Pure mapping from a raw-event envelope to one spreadsheet row. No I/O: unit-tested with the
// senders' reference payloads. The first cell of every row is the envelope's event_id, which the
// exporter reads back (column A) to find out which rows a crashed run already appended.
import type { Envelope } from '../shared/envelope.js';
import { PermanentError } from '../shared/errors.js';
import { isObject } from '../shared/json.js';

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
  const body = parseObject(envelope.payload, envelope.event_id);
  const row = kind === 'nsps' ? nspsRow(envelope, body) : kind === 'onceEvents' ? onceEventRow(envelope, body) : onceUsageRow(envelope, body);
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

function parseObject(payload: Buffer, eventId: string): Json {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    throw new PermanentError(`payload of ${eventId} is not JSON: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new PermanentError(`payload of ${eventId} is not a JSON object`);
  return parsed;
}

function nspsRow(env: Envelope, body: Json): Row {
  const data = obj(body.data);
  const eventType = data.event_type;
  if (typeof eventType !== 'string' || eventType === '') throw new PermanentError(`NSPS event ${env.event_id} has no data.event_type`);
  const pb = obj(body.pb_data);
  const account = obj(pb.account_info);
  const sim = obj(pb.sim_info);
  const policy = obj(pb.access_policy_info);
  const accountId = text(account.id);
  // The SIM's own MSISDN when NSPS sent it, else the account id of the form <msisdn>@msisdn.
  const msisdn = text(sim.msisdn) || (accountId.endsWith('@msisdn') ? accountId.slice(0, -'@msisdn'.length) : '');
  return [
    env.event_id,
    iso(env.received_at),
    eventType,
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
    text(body.handler_id),
    text(body.created_at),
    text(body.updated_at),
    text(body.status),
    data.variables === undefined ? '' : JSON.stringify(data.variables),
    env.request_id,
  ];
}

function onceEventRow(env: Envelope, body: Json): Row {
  const id = requireId(env, body);
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

function onceUsageRow(env: Envelope, body: Json): Row {
  const id = requireId(env, body);
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

function requireId(env: Envelope, body: Json): Cell {
  const id = body.id;
  if (typeof id === 'number' || (typeof id === 'string' && id !== '')) return id;
  throw new PermanentError(`1NCE record ${env.event_id} has no id`);
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

function clip(c: Cell): Cell {
  return typeof c === 'string' && c.length > MAX_CELL_CHARS ? `${c.slice(0, MAX_CELL_CHARS - 1)}…` : c;
}
