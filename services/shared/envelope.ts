// The raw-event envelope and its Avro codec through the schema registry (Confluent wire format:
// magic byte 0, 4-byte schema id, Avro body). The schema lives in schemas/envelope.avsc and is
// registered under each topic's "<topic>-value" subject.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AvroCodec, type RegistryAuth } from './avro-codec.js';

export type { RegistryAuth } from './avro-codec.js';

export type Source = 'nsps' | '1nce' | 'sap';
/** '1nce.quarantined': a 1NCE array element ingress could not classify, kept in the quarantine topic. */
export type Kind = 'nsps.event' | '1nce.event' | '1nce.usage' | 'sap.report' | '1nce.quarantined';

export interface Envelope {
  event_id: string;
  source: Source;
  kind: Kind;
  tenant: string | null;
  /** Milliseconds since the epoch when ingress received the request. */
  received_at: number;
  request_id: string;
  content_type: string;
  /** The record's bytes exactly as the sender sent them. */
  payload: Buffer;
  attributes: Record<string, string>;
}

const schemasDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas');
export const ENVELOPE_SCHEMA = readFileSync(join(schemasDir, 'envelope.avsc'), 'utf8');

/** The raw-event envelope's codec (schemas/envelope.avsc). */
export class EnvelopeCodec extends AvroCodec<Envelope> {
  static create(registryUrl: string, auth: RegistryAuth = {}): EnvelopeCodec {
    return new EnvelopeCodec(AvroCodec.registry(registryUrl, auth), ENVELOPE_SCHEMA, normaliseEnvelope);
  }

  /** The record's event_id without decoding the rest (see leadingString); undefined when it cannot be read so. */
  peekEventId(value: Buffer): string | undefined {
    return this.leadingString(value, 'event_id');
  }
}

function normaliseEnvelope(decoded: Envelope): Envelope {
  decoded.received_at = Number(decoded.received_at);
  decoded.tenant ??= null;
  decoded.attributes ??= {};
  return decoded;
}
