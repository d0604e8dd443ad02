// Where a Kafka record becomes a trail row: pure functions from a decoded raw envelope or outcome record
// (plus its position) to the rows the store writes. The live consumer and a replay run the same code.
import { parseNspsEvent } from '../shared/contracts/nsps-event.js';
import { parseOnceRecord } from '../shared/contracts/once-record.js';
import type { Envelope } from '../shared/envelope.js';
import type { OutcomeRecord } from '../shared/outcome.js';
import { storableOrNull, storableText, storableValues } from '../shared/pg-text.js';

export interface Position {
  topic: string;
  partition: number;
  offset: string;
}

export interface EventRow extends Position {
  event_id: string;
  source: string;
  kind: string;
  event_type: string | null;
  /** The Kafka record key: IMSI (NSPS), SIM (ICCID/IMSI, 1NCE), tenant (SAP), event id (quarantine). */
  key: string | null;
  tenant: string | null;
  request_id: string;
  received_at: Date;
  size: number;
  /** Events found together: `1nce:<request_id>` (one 1NCE batch), `sap:<report_id>` (one split report). */
  sibling_group: string | null;
  attributes: Record<string, string>;
}

export interface OutcomeRow {
  outcome_topic: string;
  outcome_partition: number;
  outcome_offset: string;
  /** Which event of the outcome record: 0 for its own, i + 1 for `also[i]`. */
  outcome_index: number;
  event_id: string;
  consumer: string;
  outcome: string;
  attempt: number;
  reason: string | null;
  effect: Record<string, string>;
  at: Date;
  topic: string;
  partition: number;
  offset: string;
}

/** The event row of one raw record; what a sender chose is made storable (pg-text.ts). */
export function eventRow(envelope: Envelope, key: string | null, pos: Position): EventRow {
  return {
    ...pos,
    event_id: storableText(envelope.event_id),
    source: envelope.source,
    kind: envelope.kind,
    event_type: storableOrNull(eventTypeOf(envelope)),
    key: storableOrNull(key),
    tenant: storableOrNull(envelope.tenant),
    request_id: envelope.request_id,
    received_at: new Date(envelope.received_at),
    size: envelope.payload.length,
    sibling_group: siblingGroupOf(envelope),
    attributes: storableValues(envelope.attributes),
  };
}

/**
 * The outcome rows of one outcome record at its position in the outcomes topic: one for its event, and one
 * for each record of its `also` run, as if each had been published alone.
 */
export function outcomeRows(o: OutcomeRecord, pos: Position): OutcomeRow[] {
  const first = outcomeRow(o, pos);
  if (!o.also || o.also.length === 0) return [first];
  return [first, ...o.also.map((a, i) => ({ ...first, outcome_index: i + 1, event_id: storableText(a.event_id), offset: String(a.offset) }))];
}

/** The outcome row of one outcome record's own event at its position in the outcomes topic. */
export function outcomeRow(o: OutcomeRecord, pos: Position): OutcomeRow {
  return {
    outcome_topic: pos.topic,
    outcome_partition: pos.partition,
    outcome_offset: pos.offset,
    outcome_index: 0,
    event_id: storableText(o.event_id),
    consumer: o.consumer,
    outcome: o.outcome,
    attempt: o.attempt,
    reason: storableOrNull(o.reason),
    effect: storableValues(o.effect),
    at: new Date(o.at),
    topic: o.topic,
    partition: o.partition,
    offset: String(o.offset),
  };
}

/** 1NCE batches (including their quarantined records) by request id; split SAP reports by report id. */
export function siblingGroupOf(envelope: Envelope): string | null {
  if (envelope.source === '1nce') return `1nce:${envelope.request_id}`;
  if (envelope.source === 'sap' && envelope.attributes.report_id) return `sap:${envelope.attributes.report_id}`;
  return null;
}

/**
 * What kind of event it is, for people: NSPS `data.event_type` (ingress copies it into the attributes; the
 * payload is read with the NSPS contract when it did not), 1NCE `event_type.description` or a usage
 * record's `traffic_type`, the SAP report type, the quarantine reason.
 */
export function eventTypeOf(envelope: Envelope): string | null {
  const a = envelope.attributes;
  switch (envelope.kind) {
    case 'nsps.event': {
      if (a.event_type) return a.event_type;
      const parsed = parseNspsEvent(envelope.payload);
      return parsed.ok ? parsed.event.data.event_type : null;
    }
    case '1nce.event':
    case '1nce.usage': {
      const parsed = parseOnceRecord(envelope.payload);
      if (!parsed.ok) return null;
      const fields = parsed.record.fields;
      const type = parsed.record.kind === '1nce.event' ? fields.event_type : fields.traffic_type;
      if (typeof type === 'string') return type;
      if (typeof type === 'object' && type !== null) {
        const { description, id } = type as Record<string, unknown>;
        if (typeof description === 'string') return description;
        if (typeof id === 'number' || typeof id === 'string') return String(id);
      }
      return null;
    }
    case 'sap.report':
      return a.report_type ?? null;
    case '1nce.quarantined':
      return a.reason ?? null;
    default:
      return null;
  }
}

/** Records older than this are not indexed (a replay must not bring back what pruning removed). */
export function retentionCutoff(now: Date, retentionDays: number): Date {
  return new Date(now.getTime() - retentionDays * 86_400_000);
}
