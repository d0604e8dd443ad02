// 1NCE Data Streamer records: the same endpoint receives event records and usage records,
// told apart by their shape. Pure functions, so the rules are tested with plain data.
import { isPlainObject } from './nsps-event.js';

export type OnceKind = '1nce.event' | '1nce.usage';

export interface ClassifiedRecord {
  kind: OnceKind;
  /** Stable idempotency key: a resend of the same record yields the same event_id. */
  eventId: string;
  key: string;
  tenant: string | null;
}

export type Classification = { ok: true; record: ClassifiedRecord } | { ok: false; reason: 'not_an_object' | 'no_id' | 'unknown_shape' | 'ambiguous_shape'; error: string };

const USAGE_FIELDS = ['traffic_type', 'volume', 'start_timestamp'] as const;

/**
 * Usage records carry traffic_type / volume / start_timestamp; event records carry event_type.
 * A record with both kinds of markers is refused rather than guessed at, so a misrouted record is
 * visible to the operator instead of silently landing in the wrong topic.
 */
export function classifyOnceRecord(record: unknown, index: number): Classification {
  if (!isPlainObject(record)) return { ok: false, reason: 'not_an_object', error: `record ${index}: must be a JSON object` };
  const id = record.id;
  const idText = typeof id === 'number' && Number.isFinite(id) ? String(id) : typeof id === 'string' && id.trim() !== '' ? id : undefined;
  if (idText === undefined) return { ok: false, reason: 'no_id', error: `record ${index}: has no id` };
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
  return { ok: true, record: { kind, eventId: `${prefix}:${idText}`, key: onceRecordKey(record, idText), tenant: onceTenant(record) } };
}

/** One SIM's records share a partition: ICCID, else IMSI, else the record id. */
function onceRecordKey(record: Record<string, unknown>, idText: string): string {
  const sim = isPlainObject(record.sim) ? record.sim : undefined;
  const iccid = scalarText(sim?.iccid);
  if (iccid) return iccid;
  // Event records nest the IMSI ({"imsi": {"imsi": "..."}}), usage records carry it flat.
  const imsi = isPlainObject(record.imsi) ? scalarText(record.imsi.imsi) : scalarText(record.imsi);
  if (imsi) return imsi;
  return idText;
}

function onceTenant(record: Record<string, unknown>): string | null {
  const organisation = isPlainObject(record.organisation) ? record.organisation : undefined;
  return scalarText(organisation?.id) ?? null;
}

function scalarText(value: unknown): string | undefined {
  if (typeof value === 'string' && value !== '') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}
