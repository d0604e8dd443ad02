// Quarantine: a 1NCE record ingress cannot classify (not an object, no id, unknown or ambiguous
// shape: the 1NCE contract, shared/contracts/once-record.ts) is stored, exact bytes and reason,
// instead of failing its whole batch. The streamer cannot fix a record, only resend the batch, so
// refusing the batch would hold every good record hostage. Pure rules here: the quarantine envelope,
// its stable event id, and the redrive decision, which re-runs the contract on the stored bytes.
import { createHash } from 'node:crypto';
import type { Envelope, Kind } from '../../shared/envelope.js';
import { parseOnceRecord, type OnceRecord, type QuarantineReason } from '../../shared/contracts/once-record.js';

/** The envelope's `kind` for a quarantined record (the Avro field is a plain string: no schema change). */
export const QUARANTINE_KIND: Kind = '1nce.quarantined';

/**
 * Stable id of a quarantined record: the SHA-256 of its exact bytes. A resent batch quarantines
 * its odd records under the same ids, so list and redrive see one record, not one per delivery.
 */
export function quarantineEventId(bytes: Uint8Array): string {
  return `1nce-quarantine:${createHash('sha256').update(bytes).digest('hex')}`;
}

interface QuarantineFacts {
  received_at: number;
  request_id: string;
  content_type: string;
}

/** The envelope written to the quarantine topic for the record at `index` of its request. */
export function quarantineEnvelope(bytes: Buffer, index: number, failure: { reason: QuarantineReason; error: string }, facts: QuarantineFacts): Envelope {
  return {
    event_id: quarantineEventId(bytes),
    source: '1nce',
    kind: QUARANTINE_KIND,
    tenant: null,
    ...facts,
    payload: bytes,
    attributes: { index: String(index), reason: failure.reason, detail: failure.error },
  };
}

/** What the current classification makes of a stored quarantined record. */
export type Reclassification =
  | { ok: true; record: OnceRecord; envelope: Envelope }
  | { ok: false; reason: QuarantineReason | 'invalid_json'; error: string };

/**
 * Classifies a quarantined record's stored bytes with the classification ingress runs now. When it
 * classifies, the envelope is the one ingress would have written on receipt: same event_id, key,
 * payload bytes, received-at and request id, so consumers (idempotent on event_id) apply it once
 * however often it is redriven.
 */
export function reclassify(quarantined: Envelope): Reclassification {
  const index = Number(quarantined.attributes.index ?? 0);
  const c = parseOnceRecord(quarantined.payload, index);
  if (!c.ok) return c;
  return {
    ok: true,
    record: c.record,
    envelope: {
      event_id: c.record.eventId,
      source: '1nce',
      kind: c.record.kind,
      tenant: c.record.tenant,
      received_at: quarantined.received_at,
      request_id: quarantined.request_id,
      content_type: quarantined.content_type,
      payload: quarantined.payload,
      attributes: { index: String(index), redriven_from: quarantined.event_id },
    },
  };
}
