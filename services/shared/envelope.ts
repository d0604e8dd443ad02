// The raw-event envelope and its Avro codec through the schema registry (Confluent wire format:
// magic byte 0, 4-byte schema id, Avro body). The schema lives in schemas/envelope.avsc and is
// registered under each topic's "<topic>-value" subject.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { PermanentError, TransientError, errorMessage } from './errors.js';

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

export interface RegistryAuth {
  username?: string | undefined;
  password?: string | undefined;
}

export class EnvelopeCodec {
  private readonly ids = new Map<string, number>();
  /** Writer schemas by registry id: after the first record of an id, decoding is one synchronous avsc call. */
  private readonly writers = new Map<number, { fromBuffer(buffer: Buffer): unknown }>();
  private readonly registering = new Map<string, Promise<number>>();

  private constructor(private readonly registry: SchemaRegistry) {}

  static create(registryUrl: string, auth: RegistryAuth = {}): EnvelopeCodec {
    const registry = new SchemaRegistry({
      host: registryUrl,
      ...(auth.username ? { auth: { username: auth.username, password: auth.password ?? '' } } : {}),
    });
    return new EnvelopeCodec(registry);
  }

  /** Registers the envelope schema under each topic's value subject; call at start. Idempotent. */
  async registerFor(topics: string[]): Promise<void> {
    for (const topic of topics) await this.schemaIdFor(topic);
  }

  async schemaIdFor(topic: string): Promise<number> {
    const known = this.ids.get(topic);
    if (known !== undefined) return known;
    // One registration per topic even when many encodes start at once: concurrent first registrations
    // of a new subject race in the registry (Apicurio answers "A rule named 'COMPATIBILITY' already exists").
    let pending = this.registering.get(topic);
    if (!pending) {
      pending = this.registry
        .register({ type: SchemaType.AVRO, schema: ENVELOPE_SCHEMA }, { subject: `${topic}-value` })
        .then(({ id }) => {
          this.ids.set(topic, id);
          return id;
        })
        .finally(() => this.registering.delete(topic));
      this.registering.set(topic, pending);
    }
    return pending;
  }

  async encode(topic: string, envelope: Envelope): Promise<Buffer> {
    const id = await this.schemaIdFor(topic);
    return this.registry.encode(id, envelope);
  }

  /** Decodes a record value with whatever schema id it carries (old and new schema versions alike). */
  async decode(value: Buffer): Promise<Envelope> {
    const cached = this.decodeCached(value);
    if (cached) return cached;
    const id = EnvelopeCodec.schemaIdOf(value);
    let writer: unknown;
    try {
      writer = await this.registry.getSchema(id);
    } catch (err) {
      throw registryFailure(err, id);
    }
    this.writers.set(id, writer as { fromBuffer(buffer: Buffer): unknown });
    return this.decodeCached(value)!;
  }

  /**
   * decode() without a promise when the writer schema is already known (every record but the first
   * of each schema id): replaying a topic then costs no extra turn of the event loop per record.
   * Undefined when the schema must first be fetched from the registry.
   */
  decodeCached(value: Buffer): Envelope | undefined {
    const writer = this.writers.get(EnvelopeCodec.schemaIdOf(value));
    if (!writer) return undefined;
    // avsc builds a fresh object per call, so normalising it in place is safe and spares a copy.
    let decoded: Envelope;
    try {
      decoded = writer.fromBuffer(value.subarray(5)) as Envelope;
    } catch (err) {
      throw new PermanentError(`record is not a valid envelope for schema id ${EnvelopeCodec.schemaIdOf(value)}: ${errorMessage(err)}`);
    }
    decoded.received_at = Number(decoded.received_at);
    decoded.tenant ??= null;
    decoded.attributes ??= {};
    return decoded;
  }

  /** The schema id carried in a Confluent-framed value, without decoding it. */
  static schemaIdOf(value: Buffer): number {
    if (value.length < 5 || value[0] !== 0) throw new PermanentError('not a Confluent-framed record (no magic byte 0 and schema id)');
    return value.readInt32BE(1);
  }
}

/**
 * Only the registry saying "no such schema" (404) makes a record bad. Anything else (refused, reset, timed
 * out, 5xx, 401 from a misconfigured credential) is the registry being unavailable; the client reports
 * even a refused connection as a ResponseError with status 400, so the status alone cannot tell them apart.
 */
function registryFailure(err: unknown, id: number): Error {
  const status = (err as { status?: unknown }).status;
  if (status === 404) return new PermanentError(`the schema registry has no schema with id ${id}`, { cause: err });
  return new TransientError(`schema registry unavailable while fetching schema id ${id}: ${errorMessage(err)}`, undefined, { cause: err });
}
