// Avro records through a Confluent-compatible schema registry (Confluent wire format: magic byte 0,
// 4-byte schema id, Avro body). Errors are classified here, at the edge: a registry that does not answer
// is unavailable, bytes that do not parse or an id the registry does not know make the record invalid.
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { PermanentError, TransientError, errorMessage } from './errors.js';

/** Confluent framing: magic byte 0, then the 4-byte schema id. */
const HEADER_BYTES = 5;
/** Reads one Avro string (a zig-zag varint length, then UTF-8) from a given position. */
const STRING_TYPE = avro.Type.forSchema('string');

export interface RegistryAuth {
  username?: string | undefined;
  password?: string | undefined;
}

type RegistryMiddleware = NonNullable<ConstructorParameters<typeof SchemaRegistry>[0]['middlewares']>[number];

/** How long one registry request may take (the client's own retries come on top). */
export const REGISTRY_REQUEST_TIMEOUT_MS = 10_000;

/**
 * Every registry request gets a deadline. The client sets none, so a request the registry (or a proxy, or a
 * half-open connection) never answers would hold its partition for good, with nothing logged; timed out, it
 * is an unavailable registry like any other and is waited out with backoff.
 */
const requestDeadline: RegistryMiddleware = () => ({
  async prepareRequest(next) {
    const request = await next();
    return request.timeout() ? request : request.enhance({ timeout: REGISTRY_REQUEST_TIMEOUT_MS });
  },
});

/**
 * Avro through a Confluent-compatible schema registry, for one schema: encodes with the id registered under
 * each topic's `<topic>-value` subject, decodes with whatever writer schema id a record carries.
 */
export class AvroCodec<T> {
  private readonly ids = new Map<string, number>();
  /** Writer schemas by registry id: after the first record of an id, decoding is one synchronous avsc call. */
  private readonly writers = new Map<number, { fromBuffer(buffer: Buffer): unknown }>();
  private readonly registering = new Map<string, Promise<number>>();
  /**
   * The writer type of our own schema, parsed once the way the registry client parses it (no logical
   * types): the id registered for a topic names exactly this schema, so encoding with it gives the
   * bytes the registry client would, without its promise per record and its extra copies.
   */
  private readonly writerType: avro.Type;
  /** Encoding scratch space, reused by every encode and grown to the largest record seen. */
  private scratch = Buffer.allocUnsafe(64 * 1024);

  protected constructor(
    private readonly registry: SchemaRegistry,
    private readonly schema: string,
    /** Applied to every decoded value (a fresh object from avsc), in place. */
    private readonly normalise: (decoded: T) => T,
  ) {
    this.writerType = avro.Type.forSchema(JSON.parse(schema) as avro.Schema);
  }

  static registry(registryUrl: string, auth: RegistryAuth = {}): SchemaRegistry {
    return new SchemaRegistry({
      host: registryUrl,
      ...(auth.username ? { auth: { username: auth.username, password: auth.password ?? '' } } : {}),
      middlewares: [requestDeadline],
    });
  }

  /** Registers the schema under each topic's value subject; call at start. Idempotent. */
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
      pending = this.register(`${topic}-value`)
        .then((id) => {
          this.ids.set(topic, id);
          return id;
        })
        .finally(() => this.registering.delete(topic));
      this.registering.set(topic, pending);
    }
    return pending;
  }

  /**
   * Another process registering the same new subject at the same moment (two instances starting together)
   * can make the registry refuse one of them; registration is idempotent, so the loser asks again and gets
   * the id the winner registered. An unreachable registry fails after these few tries, as before.
   *
   * The client also insists that the subject's compatibility level be BACKWARD. A subject whose level is
   * something else — an operator's choice, or one left at the registry's default by a registrant that stopped
   * between registering and setting the level (seen in CI with Apicurio) — would refuse every start for good.
   * When our schema is already registered there, its id is all we need, so we take it and change nothing;
   * a schema not yet registered under a subject with another level is still refused, with the client's message.
   */
  private async register(subject: string): Promise<number> {
    for (let tries = 1; ; tries++) {
      try {
        return (await this.registry.register({ type: SchemaType.AVRO, schema: this.schema }, { subject })).id;
      } catch (err) {
        if (err instanceof Error && err.name === 'ConfluentSchemaRegistryCompatibilityError') {
          const id = await this.registeredId(subject);
          if (id !== undefined) return id;
        }
        if (tries >= 4) throw err;
        await new Promise((r) => setTimeout(r, 150 * tries + Math.random() * 100));
      }
    }
  }

  /** Our schema's id under the subject, or undefined when it is not registered there. */
  private async registeredId(subject: string): Promise<number | undefined> {
    try {
      return await this.registry.getRegistryIdBySchema(subject, { type: SchemaType.AVRO, schema: this.schema });
    } catch {
      return undefined;
    }
  }

  async encode(topic: string, value: T): Promise<Buffer> {
    return this.encodeKnown(topic, value) ?? this.encodeWithId(await this.schemaIdFor(topic), value);
  }

  /**
   * encode() without a promise once the topic's schema id is known (after registerFor): one Avro pass
   * straight behind the wire header, one copy out. Undefined when the id must first be registered.
   */
  encodeKnown(topic: string, value: T): Buffer | undefined {
    const id = this.ids.get(topic);
    return id === undefined ? undefined : this.encodeWithId(id, value);
  }

  private encodeWithId(id: number, value: T): Buffer {
    let end: number;
    try {
      end = this.writerType.encode(value, this.scratch, HEADER_BYTES);
      if (end < 0) {
        // Too small: avsc tells how many bytes were missing; grow once and write again.
        this.scratch = Buffer.allocUnsafe(Math.max(2 * this.scratch.length, this.scratch.length - end));
        end = this.writerType.encode(value, this.scratch, HEADER_BYTES);
      }
    } catch (err) {
      const paths: string[] = [];
      this.writerType.isValid(value, { errorHook: (path) => paths.push(path.join('.')) });
      throw new Error(`value does not match the Avro schema (${paths.join(', ') || 'unknown path'}): ${errorMessage(err)}`, { cause: err });
    }
    const out = Buffer.allocUnsafe(end);
    out[0] = 0;
    out.writeInt32BE(id, 1);
    this.scratch.copy(out, HEADER_BYTES, HEADER_BYTES, end);
    return out;
  }

  /** Decodes a record value with whatever schema id it carries (old and new schema versions alike). */
  async decode(value: Buffer): Promise<T> {
    const cached = this.decodeCached(value);
    if (cached) return cached;
    const id = AvroCodec.schemaIdOf(value);
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
  decodeCached(value: Buffer): T | undefined {
    const writer = this.writers.get(AvroCodec.schemaIdOf(value));
    if (!writer) return undefined;
    // avsc builds a fresh object per call, so normalising it in place is safe and spares a copy.
    let decoded: T;
    try {
      decoded = writer.fromBuffer(value.subarray(5)) as T;
    } catch (err) {
      throw new PermanentError(`record is not valid Avro for schema id ${AvroCodec.schemaIdOf(value)}: ${errorMessage(err)}`);
    }
    return this.normalise(decoded);
  }

  /**
   * The value of the record's first field when the writer schema of its id is known and that field is the
   * string `field`; undefined otherwise (schema not fetched yet, another layout, bytes that do not parse).
   * Reads only that field: a replay's pre-filter needs the idempotency key of every record, and decoding the
   * whole record (its payload above all) for the many it then skips was a third of a duplicate's cost.
   */
  leadingString(value: Buffer, field: string): string | undefined {
    const id = AvroCodec.framedSchemaId(value);
    const writer = id === undefined ? undefined : (this.writers.get(id) as { fields?: Array<{ name: string; type: { typeName?: string } }> } | undefined);
    const first = writer?.fields?.[0];
    if (first?.name !== field || first.type.typeName !== 'string') return undefined;
    const read = STRING_TYPE.decode(value, HEADER_BYTES); // offset -1: cut short, or a negative length
    return read.offset < 0 ? undefined : (read.value as string);
  }

  /** The schema id of a Confluent-framed value; undefined when the value is not framed. */
  static framedSchemaId(value: Buffer): number | undefined {
    return value.length < HEADER_BYTES || value[0] !== 0 ? undefined : value.readInt32BE(1);
  }

  /** The schema id carried in a Confluent-framed value, without decoding it. */
  static schemaIdOf(value: Buffer): number {
    const id = AvroCodec.framedSchemaId(value);
    if (id === undefined) throw new PermanentError('not a Confluent-framed record (no magic byte 0 and schema id)');
    return id;
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
