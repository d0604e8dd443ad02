// Where a Kafka record becomes a call to a service's handler: decoding, per-key ordering with
// parallelism across keys, bounded in-partition retries, dead letters, offset commits, lag.
//
// Retry choice: a bounded in-partition delay (exponential backoff with full jitter, a few attempts,
// heartbeating meanwhile) rather than retry topics. Retry topics would let a later event of the same
// subscriber overtake an earlier one that is waiting; the bounded delay keeps one key's events in order,
// other keys of the same batch proceed in parallel, and after the last attempt the record goes to the
// dead-letter topic so one poison record never stops a partition.
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { EnvelopeCodec, Envelope } from './envelope.js';
import { PermanentError, TransientError, errorMessage, isRetriable } from './errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { startLagMonitor } from './lag.js';
import { DLQ_HEADERS } from './dead-letter.js';

export type Outcome = 'processed' | 'duplicate' | 'skipped' | 'superseded';

/** A record as it came from Kafka, before decoding. */
interface RawRecord {
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

export interface RetryPolicy {
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
}

/** Default partition fetch size (bytes): larger fetches mean fewer round trips and fewer commits on replay. */
export const DEFAULT_MAX_BYTES_PER_PARTITION = 1024 * 1024;

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, initialDelayMs: 200, maxDelayMs: 5000 };

export interface BatchContext {
  /** Sends one record of the batch to the dead-letter topic (awaits the acknowledgement). */
  deadLetter(record: ConsumedRecord, err: unknown, attempts: number): Promise<void>;
  heartbeat(): Promise<void>;
  isStale(): boolean;
}

export interface RunConsumerOptions {
  /** Service name: metrics label and the dead-letter topic's owner. */
  name: string;
  groupId: string;
  topics: string[];
  kafka: Kafka;
  codec: EnvelopeCodec;
  /** Producer used for dead letters (idempotent, acks=-1). */
  producer: Producer;
  deadLetterTopic: string;
  logger: Logger;
  metrics: Metrics;
  /** Per-record handler: records with the same key are handled one at a time, in offset order. */
  handle?: (record: ConsumedRecord) => Promise<Outcome>;
  /**
   * Whole-batch handler (sheet export): gets every decodable record of a partition batch at once.
   * Transient errors are retried with backoff until they succeed (the sink is down: pause, don't drop);
   * it dead-letters individual bad records itself through ctx.deadLetter.
   */
  handleBatch?: (records: ConsumedRecord[], ctx: BatchContext) => Promise<Outcome[]>;
  retry?: RetryPolicy;
  /** How many keys of one partition batch are handled in parallel. */
  keyConcurrency?: number;
  partitionsConsumedConcurrently?: number;
  fromBeginning?: boolean;
  lagIntervalMs?: number;
  sessionTimeoutMs?: number;
  /** Upper bound for one partition fetch, so a batch handler never holds too much in memory. */
  maxBytesPerPartition?: number;
  /**
   * Optional batch pre-filter for `handle`: given the event_ids of one fetched partition batch, answers
   * which of them already produced their effect (one query instead of one per record). Those records are
   * counted as 'duplicate' and not handed to `handle`. Only an optimisation: the handler must keep its own
   * per-record check, which is what keeps concurrent instances safe; if the hook fails, every record goes
   * to the handler as before.
   */
  alreadyProcessed?: (eventIds: string[]) => Promise<Set<string>>;
}

export interface RunningConsumer {
  consumer: Consumer;
  stop(): Promise<void>;
}

export async function runConsumer(opts: RunConsumerOptions): Promise<RunningConsumer> {
  if (!opts.handle === !opts.handleBatch) throw new Error('runConsumer needs exactly one of handle or handleBatch');
  const retry = opts.retry ?? DEFAULT_RETRY;
  const consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: 3000,
    allowAutoTopicCreation: false,
    maxBytesPerPartition: opts.maxBytesPerPartition ?? DEFAULT_MAX_BYTES_PER_PARTITION,
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
  });
  await consumer.connect();
  await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning ?? true });

  // Bound metric children, so the per-record cost is an increment rather than hashing a label object.
  const counters = new Map<string, ReturnType<Metrics['consumerMessages']['labels']>>();
  const count = (topic: string, outcome: string, n = 1): void => {
    const k = `${topic}\u0000${outcome}`;
    let c = counters.get(k);
    if (!c) counters.set(k, (c = opts.metrics.consumerMessages.labels(opts.name, topic, outcome)));
    c.inc(n);
  };
  const durations = new Map<string, ReturnType<Metrics['handleDuration']['labels']>>();
  const observeDuration = (topic: string, seconds: number): void => {
    let h = durations.get(topic);
    if (!h) durations.set(topic, (h = opts.metrics.handleDuration.labels(opts.name, topic)));
    h.observe(seconds);
  };
  const debugEnabled = opts.logger.isLevelEnabled('debug');

  const deadLetter = async (record: ConsumedRecord | RawRecord, err: unknown, attempts: number): Promise<void> => {
    const eventId = 'envelope' in record ? record.envelope.event_id : '';
    await opts.producer.send({
      topic: opts.deadLetterTopic,
      acks: -1,
      messages: [{
        key: record.key,
        value: record.value,
        headers: {
          ...record.headers,
          [DLQ_HEADERS.reason]: errorMessage(err).slice(0, 2000),
          [DLQ_HEADERS.errorClass]: err instanceof Error ? err.name : 'Error',
          [DLQ_HEADERS.attempts]: String(attempts),
          [DLQ_HEADERS.originalTopic]: record.topic,
          [DLQ_HEADERS.originalPartition]: String(record.partition),
          [DLQ_HEADERS.originalOffset]: record.offset,
          [DLQ_HEADERS.eventId]: eventId,
          [DLQ_HEADERS.consumer]: opts.name,
          [DLQ_HEADERS.deadLetteredAt]: new Date().toISOString(),
        },
      }],
    });
    count(record.topic, 'dead_lettered');
    opts.logger.warn({ event_id: eventId, topic: record.topic, partition: record.partition, offset: record.offset, attempts, reason: errorMessage(err) }, 'record dead-lettered');
  };

  const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch, heartbeat, isStale, isRunning } = payload;
    if (batch.messages.length === 0) return;
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 2000);
    try {
      const decoded: ConsumedRecord[] = [];
      for (const message of batch.messages) {
        const value = message.value ?? EMPTY;
        try {
          if (value.length === 0) throw new PermanentError('empty record value');
          const envelope = opts.codec.decodeCached(value) ?? (await opts.codec.decode(value));
          decoded.push(toRecord(batch.topic, batch.partition, message, value, envelope));
        } catch (err) {
          await deadLetter(toRecord(batch.topic, batch.partition, message, value), new PermanentError(`undecodable record: ${errorMessage(err)}`), 1);
        }
      }
      if (opts.handleBatch) {
        await handleWholeBatch(decoded, { deadLetter, heartbeat, isStale }, () => isRunning() && !isStale());
      } else {
        await handleByKey(await withoutKnownDuplicates(batch.topic, decoded), () => isRunning() && !isStale(), deadLetter);
      }
      if (!isRunning() || isStale()) return; // a rebalance took the partition: its new owner re-reads, idempotency makes it harmless
      const last = batch.messages[batch.messages.length - 1]!;
      payload.resolveOffset(last.offset);
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
    } finally {
      clearInterval(beat);
    }
  };

  const withoutKnownDuplicates = async (topic: string, records: ConsumedRecord[]): Promise<ConsumedRecord[]> => {
    if (!opts.alreadyProcessed || records.length === 0) return records;
    let known: Set<string>;
    try {
      known = await opts.alreadyProcessed(records.map((r) => r.envelope.event_id));
    } catch (err) {
      opts.logger.warn({ topic, records: records.length, reason: errorMessage(err) }, 'duplicate pre-filter failed: handing every record to the handler');
      return records;
    }
    if (known.size === 0) return records;
    const rest = records.filter((r) => !known.has(r.envelope.event_id));
    count(topic, 'duplicate', records.length - rest.length);
    return rest;
  };

  const handleByKey = async (records: ConsumedRecord[], stillOwner: () => boolean, dl: typeof deadLetter): Promise<void> => {
    const groups = new Map<string, ConsumedRecord[]>();
    for (const r of records) {
      const k = r.key ?? `\u0000offset:${r.offset}`;
      const list = groups.get(k);
      if (list) list.push(r);
      else groups.set(k, [r]);
    }
    const queue = [...groups.values()];
    let nextGroup = 0; // an index, not queue.shift(): shifting a batch of thousands of keys is quadratic
    const workers = Array.from({ length: Math.min(opts.keyConcurrency ?? 16, queue.length) }, async () => {
      for (let group = queue[nextGroup++]; group; group = queue[nextGroup++]) {
        for (const record of group) {
          if (!stillOwner()) return;
          await handleOne(record, dl);
        }
      }
    });
    await Promise.all(workers);
  };

  const handleOne = async (record: ConsumedRecord, dl: typeof deadLetter): Promise<void> => {
    const started = performance.now();
    // The child logger only when something is logged: creating one per record is measurable on replay.
    const log = () => opts.logger.child({ event_id: record.envelope.event_id, request_id: record.envelope.request_id });
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await opts.handle!(record);
        count(record.topic, outcome);
        if (debugEnabled) log().debug({ outcome, attempt }, 'record handled');
        break;
      } catch (err) {
        if (!isRetriable(err) || attempt >= retry.maxAttempts) {
          await dl(record, err, attempt);
          break;
        }
        count(record.topic, 'retried');
        const delay = backoffDelay(retry, attempt, err instanceof TransientError ? err.retryAfterMs : undefined);
        log().info({ attempt, delay_ms: delay, reason: errorMessage(err) }, 'transient failure, retrying');
        await sleep(delay);
      }
    }
    observeDuration(record.topic, (performance.now() - started) / 1000);
  };

  const handleWholeBatch = async (records: ConsumedRecord[], ctx: BatchContext, stillOwner: () => boolean): Promise<void> => {
    if (records.length === 0) return;
    const started = process.hrtime.bigint();
    for (let attempt = 1; stillOwner(); attempt++) {
      try {
        const outcomes = await opts.handleBatch!(records, ctx);
        outcomes.forEach((outcome, i) => count(records[i]!.topic, outcome));
        break;
      } catch (err) {
        if (!isRetriable(err)) {
          for (const r of records) await ctx.deadLetter(r, err, attempt);
          break;
        }
        count(records[0]!.topic, 'retried', records.length);
        const delay = backoffDelay({ ...retry, maxDelayMs: Math.max(retry.maxDelayMs, 30_000) }, attempt, err instanceof TransientError ? err.retryAfterMs : undefined);
        opts.logger.warn({ attempt, delay_ms: delay, records: records.length, reason: errorMessage(err) }, 'batch failed transiently, retrying');
        await sleep(delay);
      }
    }
    observeDuration(records[0]!.topic, Number(process.hrtime.bigint() - started) / 1e9);
  };

  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 3,
    eachBatch,
  });

  const stopLag = startLagMonitor({
    kafka: opts.kafka,
    groupId: opts.groupId,
    topics: opts.topics,
    gauge: opts.metrics.consumerLag,
    kafkaUp: opts.metrics.kafkaUp,
    intervalMs: opts.lagIntervalMs ?? 5000,
    logger: opts.logger,
  });

  return {
    consumer,
    async stop() {
      await stopLag();
      // disconnect() waits for the running batch to finish, which commits its offsets.
      await consumer.disconnect();
    },
  };
}

const EMPTY = Buffer.alloc(0);

function toRecord(topic: string, partition: number, m: KafkaMessage, value: Buffer): RawRecord;
function toRecord(topic: string, partition: number, m: KafkaMessage, value: Buffer, envelope: Envelope): ConsumedRecord;
function toRecord(topic: string, partition: number, m: KafkaMessage, value: Buffer, envelope?: Envelope): RawRecord | ConsumedRecord {
  const key = m.key ? m.key.toString('utf8') : null;
  const headers = m.headers ?? {};
  return envelope ? { topic, partition, offset: m.offset, key, headers, value, envelope } : { topic, partition, offset: m.offset, key, headers, value };
}

/** Exponential backoff with full jitter; a server's Retry-After wins when it is longer. */
export function backoffDelay(policy: RetryPolicy, attempt: number, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** (attempt - 1));
  const jittered = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  return retryAfterMs !== undefined ? Math.min(Math.max(jittered, retryAfterMs), Math.max(policy.maxDelayMs, 60_000)) : jittered;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
