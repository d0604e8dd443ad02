// Where a Kafka record becomes a call to a service's handler: decoding, per-key ordering with
// parallelism across keys, bounded in-partition retries, dead letters, offset commits, lag.
//
// Retry choice: in-partition delays (exponential backoff with full jitter, heartbeating meanwhile) rather
// than retry topics, which would let a later event of the same subscriber overtake an earlier one that is
// waiting. What happens to a failure depends on its class (errors.ts, retry.ts): infrastructure that is
// unavailable (registry, broker, database, the external API) is waited out however long it lasts, the
// partition does not advance and /readyz says so; a record that is itself bad is dead-lettered at once,
// alone; an unexpected error (a bug) is retried a few times, then that record alone is dead-lettered, so
// one poison record never stops a partition. Other keys of the same batch proceed in parallel meanwhile.
import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { EnvelopeCodec, Envelope } from './envelope.js';
import { PermanentError, classifyError, errorMessage, type FailureClass } from './errors.js';
import { DEFAULT_RETRY, attempt, type RetryHooks, type RetryPolicy } from './retry.js';
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

/** Default partition fetch size (bytes): larger fetches mean fewer round trips and fewer commits on replay. */
export const DEFAULT_MAX_BYTES_PER_PARTITION = 1024 * 1024;

export { DEFAULT_RETRY, backoffDelay, sleep, type RetryPolicy } from './retry.js';

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
   * Whole-batch handler (sheet export): gets every decodable record of a partition batch at once, and
   * dead-letters individual bad records itself through ctx.deadLetter. Unavailability is waited out;
   * when the batch as a whole fails otherwise, its records are handled one at a time, so that only the
   * one that fails is dead-lettered (the handler's idempotency makes the re-run of the others harmless).
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
  /** True while some record waits for unavailable infrastructure (for /readyz). */
  waitingOnInfrastructure(): boolean;
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

  const count = boundCounter(opts);
  const observeDuration = boundDuration(opts);
  const debugEnabled = opts.logger.isLevelEnabled('debug');

  // How many pieces of work are currently waiting for infrastructure to come back.
  let waiting = 0;
  const hooksFor = (keepGoing: () => boolean, topic: string, describe: () => Record<string, unknown>): RetryHooks => {
    let counted = false;
    return {
      keepGoing,
      onRetry: ({ error, failure, attempt: n, delayMs }) => {
        count(topic, 'retried');
        if (failure === 'unavailable' && !counted) {
          counted = true;
          waiting++;
        }
        const level = failure === 'unavailable' && n > 1 ? 'info' : 'warn';
        opts.logger[level]({ ...describe(), attempt: n, failure, delay_ms: delayMs, reason: errorMessage(error) }, failure === 'unavailable' ? 'infrastructure unavailable, waiting' : 'unexpected error, retrying');
      },
      onRecovered: () => {
        if (counted) waiting--;
        counted = false;
      },
    };
  };

  const writeDeadLetter = async (record: ConsumedRecord | RawRecord, err: unknown, attempts: number, failure: FailureClass): Promise<void> => {
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
          [DLQ_HEADERS.failure]: failure,
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
    opts.logger.warn({ event_id: eventId, topic: record.topic, partition: record.partition, offset: record.offset, attempts, failure, reason: errorMessage(err) }, 'record dead-lettered');
  };

  /** Dead-letters one record; a broker outage meanwhile is waited out. False: ownership was lost first. */
  const deadLetter = async (record: ConsumedRecord | RawRecord, err: unknown, attempts: number, keepGoing: () => boolean): Promise<boolean> => {
    const failure = classifyError(err) === 'unavailable' ? 'unexpected' : classifyError(err);
    const written = await attempt(() => writeDeadLetter(record, err, attempts, failure), retry, hooksFor(keepGoing, record.topic, () => ({ offset: record.offset, writing: 'dead letter' })));
    return written.status === 'done';
  };

  /** Decodes a batch; undefined when ownership was lost while waiting for the registry. */
  const decodeBatch = async (batch: EachBatchPayload['batch'], keepGoing: () => boolean): Promise<ConsumedRecord[] | undefined> => {
    const decoded: ConsumedRecord[] = [];
    for (const message of batch.messages) {
      const value = message.value ?? EMPTY;
      const raw = toRecord(batch.topic, batch.partition, message, value);
      const result = await attempt(async () => {
        if (value.length === 0) throw new PermanentError('empty record value');
        return opts.codec.decodeCached(value) ?? (await opts.codec.decode(value));
      }, retry, hooksFor(keepGoing, batch.topic, () => ({ partition: batch.partition, offset: message.offset, decoding: true })));
      if (result.status === 'abandoned') return undefined;
      if (result.status === 'done') decoded.push({ ...raw, envelope: result.value });
      else if (!(await deadLetter(raw, new PermanentError(`undecodable record: ${errorMessage(result.error)}`, { cause: result.error }), result.attempts, keepGoing))) return undefined;
    }
    return decoded;
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

  /** One record through the per-record handler. False: abandoned (ownership lost), nothing may be committed. */
  const handleOne = async (record: ConsumedRecord, keepGoing: () => boolean): Promise<boolean> => {
    const started = performance.now();
    const describe = () => ({ event_id: record.envelope.event_id, request_id: record.envelope.request_id, topic: record.topic, offset: record.offset });
    const result = await attempt(() => opts.handle!(record), retry, hooksFor(keepGoing, record.topic, describe));
    if (result.status === 'abandoned') return false;
    if (result.status === 'failed') {
      if (!(await deadLetter(record, result.error, result.attempts, keepGoing))) return false;
    } else {
      count(record.topic, result.value);
      // The child logger only when something is logged: creating one per record is measurable on replay.
      if (debugEnabled) opts.logger.debug({ ...describe(), outcome: result.value, attempt: result.attempts }, 'record handled');
    }
    observeDuration(record.topic, (performance.now() - started) / 1000);
    return true;
  };

  /** Records with the same key one at a time in offset order, different keys in parallel. */
  const handleByKey = async (records: ConsumedRecord[], keepGoing: () => boolean): Promise<boolean> => {
    const groups = new Map<string, ConsumedRecord[]>();
    for (const r of records) {
      const k = r.key ?? `\u0000offset:${r.offset}`;
      const list = groups.get(k);
      if (list) list.push(r);
      else groups.set(k, [r]);
    }
    const queue = [...groups.values()];
    let nextGroup = 0; // an index, not queue.shift(): shifting a batch of thousands of keys is quadratic
    let complete = true;
    const workers = Array.from({ length: Math.min(opts.keyConcurrency ?? 16, queue.length) }, async () => {
      for (let group = queue[nextGroup++]; group && complete; group = queue[nextGroup++]) {
        for (const record of group) {
          if (!keepGoing() || !(await handleOne(record, keepGoing))) {
            complete = false;
            return;
          }
        }
      }
    });
    await Promise.all(workers);
    return complete;
  };

  const handleWholeBatch = async (records: ConsumedRecord[], keepGoing: () => boolean, heartbeat: () => Promise<void>): Promise<boolean> => {
    if (records.length === 0) return true;
    const started = process.hrtime.bigint();
    const topic = records[0]!.topic;
    const ctx: BatchContext = {
      deadLetter: async (record, err, attempts) => {
        if (!(await deadLetter(record, err, attempts, keepGoing))) throw new AbandonedError();
      },
      heartbeat,
      isStale: () => !keepGoing(),
    };
    const run = async (part: ConsumedRecord[]): Promise<'done' | 'abandoned' | { error: unknown; attempts: number }> => {
      const describe = () => ({ topic, records: part.length, first_offset: part[0]!.offset });
      const result = await attempt(() => opts.handleBatch!(part, ctx), retry, hooksFor(keepGoing, topic, describe));
      if (result.status === 'abandoned' || (result.status === 'failed' && result.error instanceof AbandonedError)) return 'abandoned';
      if (result.status === 'failed') return { error: result.error, attempts: result.attempts };
      result.value.forEach((outcome, i) => count(part[i]!.topic, outcome));
      return 'done';
    };
    const whole = await run(records);
    if (whole === 'abandoned') return false;
    if (whole !== 'done') {
      if (records.length === 1) {
        if (!(await deadLetter(records[0]!, whole.error, whole.attempts, keepGoing))) return false;
      } else {
        opts.logger.warn({ topic, records: records.length, reason: errorMessage(whole.error) }, 'batch failed: handling its records one at a time to find the bad one');
        for (const record of records) {
          const alone = await run([record]);
          if (alone === 'abandoned') return false;
          if (alone !== 'done' && !(await deadLetter(record, alone.error, alone.attempts, keepGoing))) return false;
        }
      }
    }
    observeDuration(topic, Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };

  const eachBatch = async (payload: EachBatchPayload): Promise<void> => {
    const { batch, heartbeat, isStale, isRunning } = payload;
    if (batch.messages.length === 0) return;
    // A rebalance that takes the partition, or a stop, ends every wait: the new owner re-reads from the
    // last commit, and idempotency makes that harmless.
    const keepGoing = () => isRunning() && !isStale();
    const beat = setInterval(() => void heartbeat().catch(() => undefined), 2000);
    try {
      const decoded = await decodeBatch(batch, keepGoing);
      if (!decoded) return;
      const complete = opts.handleBatch
        ? await handleWholeBatch(decoded, keepGoing, heartbeat)
        : await handleByKey(await withoutKnownDuplicates(batch.topic, decoded), keepGoing);
      if (!complete || !keepGoing()) return;
      const last = batch.messages[batch.messages.length - 1]!;
      payload.resolveOffset(last.offset);
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
    } finally {
      clearInterval(beat);
    }
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
    waitingOnInfrastructure: () => waiting > 0,
    async stop() {
      await stopLag();
      // disconnect() waits for the running batch to finish, which commits its offsets; every wait for
      // infrastructure ends as soon as the consumer stops running.
      await consumer.disconnect();
    },
  };
}

/** Thrown inside a batch handler's ctx.deadLetter when the partition was lost while the write waited. */
class AbandonedError extends Error {
  constructor() {
    super('partition no longer owned');
    this.name = 'AbandonedError';
  }
}

// Bound metric children, so the per-record cost is an increment rather than hashing a label object.
function boundCounter(opts: RunConsumerOptions): (topic: string, outcome: string, n?: number) => void {
  const counters = new Map<string, ReturnType<Metrics['consumerMessages']['labels']>>();
  return (topic, outcome, n = 1) => {
    const k = `${topic}\u0000${outcome}`;
    let c = counters.get(k);
    if (!c) counters.set(k, (c = opts.metrics.consumerMessages.labels(opts.name, topic, outcome)));
    c.inc(n);
  };
}

function boundDuration(opts: RunConsumerOptions): (topic: string, seconds: number) => void {
  const durations = new Map<string, ReturnType<Metrics['handleDuration']['labels']>>();
  return (topic, seconds) => {
    let h = durations.get(topic);
    if (!h) durations.set(topic, (h = opts.metrics.handleDuration.labels(opts.name, topic)));
    h.observe(seconds);
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

