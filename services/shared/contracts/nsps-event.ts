// The NSPS Event contract (PortaBilling event notifications), read once for everyone: ingress parses
// a webhook body with it before answering 202/422, and the consumers (provisioning's WTL mapping, the
// sheet export) parse the stored payload bytes with it, so no two readers of an event disagree.
// Checked the way the reference connector's pydantic model checks it; `error` names the first problem.
import { isObject } from '../json.js';
import { identifierProblem, isUsableIdentifier } from './identifiers.js';
import { parseJsonBytes } from './json.js';

export interface NspsEvent {
  event_id: string;
  /** `variables` is the sender's object, absent when the sender sent none (the model's default is {}). */
  data: { event_type: string; variables?: Record<string, unknown> };
  pb_data?: {
    account_info?: Record<string, unknown> | null;
    sim_info?: Record<string, unknown> | null;
    access_policy_info?: Record<string, unknown> | null;
  } | null;
  handler_id?: string | null;
  created_at?: string | null;
  updated_at?: string | null;
  status?: string | null;
  /** Other fields are kept as sent. */
  [field: string]: unknown;
}

/** `invalid_json`: the bytes are not UTF-8 JSON; `invalid_event`: JSON, but not an Event. */
export type NspsEventParse = { ok: true; event: NspsEvent } | { ok: false; reason: 'invalid_json' | 'invalid_event'; error: string };

/** Bytes (a webhook body or a stored payload) → an Event, or the first problem, as the 422 names it. */
export function parseNspsEvent(bytes: Uint8Array): NspsEventParse {
  const json = parseJsonBytes(bytes);
  if (!json.ok) return { ok: false, reason: 'invalid_json', error: json.error };
  return checkNspsEvent(json.value);
}

/** A parsed JSON value → an Event (the value itself, typed), or the first problem found. */
export function checkNspsEvent(body: unknown): NspsEventParse {
  if (!isObject(body)) return invalid('body must be a JSON object');
  if (body.event_id === undefined || body.event_id === null) return invalid('event_id: field required');
  if (typeof body.event_id !== 'string' || body.event_id.length === 0) return invalid('event_id: must be a non-empty string');
  const idProblem = identifierProblem(body.event_id);
  if (idProblem) return invalid(`event_id: ${idProblem}`);
  if (body.data === undefined || body.data === null) return invalid('data: field required');
  if (!isObject(body.data)) return invalid('data: must be an object');
  const { event_type, variables } = body.data;
  if (event_type === undefined || event_type === null) return invalid('data.event_type: field required');
  if (typeof event_type !== 'string') return invalid('data.event_type: must be a string');
  if (variables !== undefined && !isObject(variables)) return invalid('data.variables: must be an object');
  if (body.pb_data !== undefined && body.pb_data !== null) {
    if (!isObject(body.pb_data)) return invalid('pb_data: must be an object');
    for (const part of ['account_info', 'sim_info', 'access_policy_info'] as const) {
      const value = body.pb_data[part];
      if (value !== undefined && value !== null && !isObject(value)) return invalid(`pb_data.${part}: must be an object`);
    }
  }
  for (const field of ['handler_id', 'created_at', 'updated_at', 'status'] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && typeof value !== 'string') return invalid(`${field}: must be a string`);
  }
  return { ok: true, event: body as NspsEvent };
}

function invalid(error: string): NspsEventParse {
  return { ok: false, reason: 'invalid_event', error };
}

/**
 * One subscriber's events share a key (IMSI, else the account), so they stay in one partition, in order.
 * A value unusable as an identifier (identifiers.ts: too long, or a NUL in it) keys nothing: the next one is used.
 */
export function nspsRecordKey(event: NspsEvent): string {
  return keyText(event.pb_data?.sim_info?.imsi) ?? keyText(event.pb_data?.account_info?.i_account) ?? event.event_id;
}

function keyText(value: unknown): string | undefined {
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value.length > 0 && isUsableIdentifier(value) ? value : undefined;
}
