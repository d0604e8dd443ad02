// Where a Kafka record becomes a call to a service's handler: runConsumer wires the runtime's parts
// (runtime/): reader -> decode -> record runner or batch runner -> dead letters, plus the lag monitor.
//
// Retry choice: in-partition delays (exponential backoff with full jitter, heartbeating meanwhile) rather
// than retry topics, which would let a later event of the same subscriber overtake an earlier one that is
// waiting. What happens to a failure depends on its class (errors.ts, retry.ts): infrastructure that is
// unavailable (registry, broker, database, the external API) is waited out however long it lasts, the
// partition does not advance and /readyz says so; a record that is itself bad is dead-lettered at once,
// alone; an unexpected error (a bug) is retried a few times, then that record alone is dead-lettered, so
// one poison record never stops a partition. Other keys of the same batch proceed in parallel meanwhile.
import type { Consumer, Kafka, Producer } from 'kafkajs';
import type { EnvelopeCodec } from './envelope.js';
import { DEFAULT_RETRY, type RetryPolicy } from './retry.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { startLagMonitor } from './lag.js';
import { createObserver } from './runtime/observer.js';
import { deadLetterSink } from './runtime/dead-letters.js';
import { decodeRecords } from './runtime/decode.js';
import { createPrefilter } from './runtime/prefilter.js';
import { createRecordRunner } from './runtime/record-runner.js';
import { createBatchRunner } from './runtime/batch-runner.js';
import { startReader } from './runtime/reader.js';
import { createOutcomePublisher, type OutcomeCodec } from './outcome.js';
import type { BatchContext, ConsumedRecord, Handled, KeepGoing, Outcome, RawRecord } from './runtime/records.js';

export type { BatchContext, ConsumedRecord, Handled, Outcome, RawRecord } from './runtime/records.js';

/** Default partition fetch size (bytes): larger fetches mean fewer round trips and fewer commits on replay. */
export const DEFAULT_MAX_BYTES_PER_PARTITION = 1024 * 1024;

export { DEFAULT_RETRY, backoffDelay, sleep, type RetryPolicy } from './retry.js';

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
  handle?: (record: ConsumedRecord) => Promise<Outcome | Handled>;
  /**
   * Whole-batch handler (sheet export): gets every decodable record of a partition batch at once, and
   * dead-letters individual bad records itself through ctx.deadLetter. Unavailability is waited out;
   * when the batch as a whole fails otherwise, its records are handled one at a time, so that only the
   * one that fails is dead-lettered (the handler's idempotency makes the re-run of the others harmless).
   */
  handleBatch?: (records: ConsumedRecord[], ctx: BatchContext) => Promise<Array<Outcome | Handled>>;
  /**
   * Where to publish what was done with each record, for the trail (absent: nothing is published); through
   * `producer` when given (a consumer whose outcomes are a large share of its work may use a cheaper client),
   * else through the consumer's producer.
   */
  outcomes?: { topic: string; codec: OutcomeCodec; producer?: Pick<Producer, 'send'> } | undefined;
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
   * Optional batch pre-filter (runtime/prefilter.ts): given the event_ids of one fetched partition batch, read
   * before anything is decoded, answers which of them already produced their effect (one query instead of one
   * per record). Those records are counted as 'duplicate', neither decoded nor handed to the handler. Only an optimisation: the handler must keep its own
   * per-record check, which is what keeps concurrent instances safe; if the hook fails, every record goes
   * to the handler as before.
   */
  alreadyProcessed?: (eventIds: string[]) => Promise<Set<string>>;
  /** After each offset commit the broker accepted (commits are sent behind the work: runtime/committer.ts). */
  onOffsetsCommitted?: () => void;
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
  const dropped = opts.metrics.outcomesDropped.labels(opts.name);
  const publisher = opts.outcomes
    ? createOutcomePublisher({ producer: opts.outcomes.producer ?? opts.producer, codec: opts.outcomes.codec, topic: opts.outcomes.topic, logger: opts.logger, onDropped: (n) => dropped.inc(n) })
    : undefined;
  const observer = createObserver(opts.name, opts.metrics, opts.logger, publisher);
  const deadLetter = deadLetterSink({ producer: opts.producer, topic: opts.deadLetterTopic, consumer: opts.name, observer, retry });
  const run = opts.handle
    ? createRecordRunner({ handle: opts.handle, retry, observer, deadLetter, keyConcurrency: opts.keyConcurrency })
    : createBatchRunner({ handleBatch: opts.handleBatch!, retry, observer, deadLetter });

  const prefilter = opts.alreadyProcessed ? createPrefilter({ codec: opts.codec, alreadyProcessed: opts.alreadyProcessed, observer }) : undefined;

  // A named function: the benchmark's profiles count from its first sample to its last.
  async function handleFetchedBatch(records: RawRecord[], keepGoing: KeepGoing, heartbeat: () => Promise<void>): Promise<boolean> {
    const unknown = prefilter ? await prefilter(records) : records;
    const decoded = await decodeRecords(unknown, { codec: opts.codec, retry, observer, deadLetter }, keepGoing);
    return decoded !== undefined && (await run(decoded, keepGoing, heartbeat));
  }

  const reader = await startReader(
    {
      kafka: opts.kafka,
      groupId: opts.groupId,
      topics: opts.topics,
      commit: true,
      fromBeginning: opts.fromBeginning,
      sessionTimeoutMs: opts.sessionTimeoutMs,
      maxBytesPerPartition: opts.maxBytesPerPartition ?? DEFAULT_MAX_BYTES_PER_PARTITION,
      partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently,
      logger: opts.logger,
      onCommitted: opts.onOffsetsCommitted,
    },
    handleFetchedBatch,
  );

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
    consumer: reader.consumer,
    waitingOnInfrastructure: observer.waitingOnInfrastructure,
    async stop() {
      await stopLag();
      // Every wait for infrastructure ends at once; the batches completed by then are committed before the
      // consumer leaves its group.
      await reader.stop();
      await publisher?.close();
      observer.close();
    },
  };
}
