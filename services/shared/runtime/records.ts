// What the consumer runtime hands around: a record as Kafka delivered it, and the same record decoded.
import type { IHeaders, KafkaMessage } from 'kafkajs';
import type { Envelope } from '../envelope.js';

export type Outcome = 'processed' | 'duplicate' | 'skipped' | 'superseded';

/** A handler's answer with what the trail shows about it: a reference to the effect, or why it was skipped. */
export interface Handled {
  outcome: Outcome;
  effect?: Record<string, string>;
  reason?: string;
}

export function outcomeOf(h: Outcome | Handled): Handled {
  return typeof h === 'string' ? { outcome: h } : h;
}

/** A record as it came from Kafka, before decoding. */
export interface RawRecord {
  topic: string;
  partition: number;
  offset: string;
  key: string | null;
  headers: IHeaders;
  /** The record value exactly as it was in Kafka (kept for dead letters). */
  value: Buffer;
}

export interface ConsumedRecord extends RawRecord {
  envelope: Envelope;
}

/** What the trail files a record's outcome under: where it was read, its headers and its event_id. */
export interface RecordRef {
  topic: string;
  partition: number;
  offset: string;
  headers: IHeaders;
  envelope: Pick<Envelope, 'event_id'>;
}

export interface BatchContext {
  /** Sends one record of the batch to the dead-letter topic (awaits the acknowledgement). */
  deadLetter(record: ConsumedRecord, err: unknown, attempts: number): Promise<void>;
  heartbeat(): Promise<void>;
  isStale(): boolean;
}

/** False once the partition was revoked or the consumer is stopping: every wait ends, and a batch that gives up is not committed. */
export type KeepGoing = () => boolean;

const EMPTY = Buffer.alloc(0);

export function rawRecord(topic: string, partition: number, m: KafkaMessage): RawRecord {
  return { topic, partition, offset: m.offset, key: m.key ? m.key.toString('utf8') : null, headers: m.headers ?? {}, value: m.value ?? EMPTY };
}
