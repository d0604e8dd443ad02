// The 1NCE Data Streamer record contract, read once for everyone: ingress classifies each element of
// a webhook batch with it (event record, usage record, or quarantine with a reason), the quarantine
// redrive re-classifies stored bytes with it, and the sheet export parses stored payloads with it.
// The same endpoint receives event records and usage records, told apart by their shape.
import { isObject } from '../json.js';
import { identifierProblem, isUsableIdentifier } from './identifiers.js';
import { bytesView, decodeText, parseJsonBytes } from './json.js';
import { memberNumberText } from './json-member-text.js';

export type OnceKind = '1nce.event' | '1nce.usage';

/** A classified record: its kind, the ids derived from it, and the record itself. */
export interface OnceRecord {
  kind: OnceKind;
  /** The record's `id` as sent (a finite number or a non-blank string). */
  id: number | string;
  /** Stable idempotency key: a resend of the same record yields the same event_id. */
  eventId: string;
  /** Record key: one SIM's records share a partition. */
  key: string;
  tenant: string | null;
  /** The record's fields as sent. */
  fields: Record<string, unknown>;
}

/** Why a record cannot be classified; ingress stores such a record in the quarantine topic with this reason. */
export type QuarantineReason = 'not_an_object' | 'no_id' | 'unknown_shape' | 'ambiguous_shape';
export const QUARANTINE_REASONS: readonly QuarantineReason[] = ['not_an_object', 'no_id', 'unknown_shape', 'ambiguous_shape'];

export type Classification = { ok: true; record: OnceRecord } | { ok: false; reason: QuarantineReason; error: string };

const USAGE_FIELDS = ['traffic_type', 'volume', 'start_timestamp'] as const;

/**
 * Usage records carry traffic_type / volume / start_timestamp; event records carry event_type.
 * A record with both kinds of markers is not guessed at, so a misrouted record is visible to the
 * operator instead of silently landing in the wrong topic. `error` names the record by its position
 * in its batch (`index`).
 */
export function classifyOnceRecord(record: unknown, index: number, idSource?: string): Classification {
  if (!isObject(record)) return { ok: false, reason: 'not_an_object', error: `record ${index}: must be a JSON object` };
  const id = record.id;
  if (typeof id === 'number' && !Number.isSafeInteger(id) && idSource === undefined) {
    // Read as a double it may be rounded (json-member-text.ts): only the record's text gives its id.
    return { ok: false, reason: 'no_id', error: `record ${index}: id ${String(id)} is not an exact number; read it from the record's text` };
  }
  const idText = typeof id === 'number' ? (Number.isSafeInteger(id) ? String(id) : idSource) : typeof id === 'string' && id.trim() !== '' ? id : undefined;
  if (idText === undefined) return { ok: false, reason: 'no_id', error: `record ${index}: has no id` };
  const idProblem = identifierProblem(idText);
  if (idProblem) return { ok: false, reason: 'no_id', error: `record ${index}: id: ${idProblem}` };
  const looksLikeUsage = USAGE_FIELDS.some((f) => record[f] !== undefined);
  const looksLikeEvent = record.event_type !== undefined;
  if (looksLikeUsage && looksLikeEvent) {
    return { ok: false, reason: 'ambiguous_shape', error: `record ${index}: has both event_type and usage fields (${USAGE_FIELDS.join(', ')})` };
  }
  if (!looksLikeUsage && !looksLikeEvent) {
    return { ok: false, reason: 'unknown_shape', error: `record ${index}: is neither an event record (event_type) nor a usage record (${USAGE_FIELDS.join(', ')})` };
  }
  const kind: OnceKind = looksLikeEvent ? '1nce.event' : '1nce.usage';
  const prefix = kind === '1nce.event' ? '1nce-event' : '1nce-usage';
  return {
    ok: true,
    // An id beyond 2^53 is kept as its digits, so every reader shows the id that was sent.
    record: { kind, id: typeof id === 'number' && !Number.isSafeInteger(id) ? idText : (id as number | string), eventId: `${prefix}:${idText}`, key: onceRecordKey(record, idText), tenant: onceTenant(record), fields: record },
  };
}

export type OnceRecordParse = Classification | { ok: false; reason: 'invalid_json'; error: string };

/** One record's bytes (a stored payload) → the classified record, or why it is not one. */
export function parseOnceRecord(bytes: Uint8Array, index = 0): OnceRecordParse {
  const json = parseJsonBytes(bytes);
  if (!json.ok) return { ok: false, reason: 'invalid_json', error: json.error };
  const id = isObject(json.value) ? json.value.id : undefined;
  const idSource = typeof id === 'number' && !Number.isSafeInteger(id) ? memberNumberText(decodeText(bytesView(bytes)), 'id') : undefined;
  return classifyOnceRecord(json.value, index, idSource);
}

/** One SIM's records share a partition: ICCID, else IMSI, else the record id. */
function onceRecordKey(record: Record<string, unknown>, idText: string): string {
  const sim = isObject(record.sim) ? record.sim : undefined;
  const iccid = scalarText(sim?.iccid);
  if (iccid) return iccid;
  // Event records nest the IMSI ({"imsi": {"imsi": "..."}}), usage records carry it flat.
  const imsi = isObject(record.imsi) ? scalarText(record.imsi.imsi) : scalarText(record.imsi);
  if (imsi) return imsi;
  return idText;
}

function onceTenant(record: Record<string, unknown>): string | null {
  const organisation = isObject(record.organisation) ? record.organisation : undefined;
  return scalarText(organisation?.id) ?? null;
}

/** A string or number as text; a string unusable as an identifier (identifiers.ts) counts as absent. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '' && isUsableIdentifier(value)) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}
