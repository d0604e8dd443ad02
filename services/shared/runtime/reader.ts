// The one Kafka reader under every consumer path (the services' consumers and the rebuild): a kafkajs
// consumer in a group, batches handed over as raw records, heartbeats while a batch is worked on, and
// — for the services — a commit after a batch is fully handled, never past an unhandled record (sent behind
// the next fetch: committer.ts).
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../logger.js';
import { createCommitter } from './committer.js';
import { rawRecord, type KeepGoing, type RawRecord } from './records.js';

export interface ReaderOptions {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  /** Commit each batch's offsets once processBatch says it is complete (false: a throwaway group). */
  commit: boolean;
  fromBeginning?: boolean | undefined;
  sessionTimeoutMs?: number | undefined;
  maxBytesPerPartition?: number | undefined;
  /** How long the broker holds a fetch at the end of a partition (kafkajs default 5 s). */
  maxWaitTimeInMs?: number | undefined;
  partitionsConsumedConcurrently?: number | undefined;
  /** Where a failed commit is reported (commit: true). */
  logger?: Logger | undefined;
  /** After each commit request the broker accepted. */
  onCommitted?: (() => void) | undefined;
}

/** Handles one partition batch; true when every record was handled (or dead-lettered) and may be committed. */
export type ProcessBatch = (records: RawRecord[], keepGoing: KeepGoing, heartbeat: () => Promise<void>) => Promise<boolean>;

export interface Reader {
  consumer: Consumer;
  /** Ends the running batches' waits, commits what was completed, then leaves the group. */
  stop(): Promise<void>;
}

export async function startReader(opts: ReaderOptions, processBatch: ProcessBatch): Promise<Reader> {
  const consumer = opts.kafka.consumer({
    groupId: opts.groupId,
    sessionTimeout: opts.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: 3000,
    allowAutoTopicCreation: false,
    ...(opts.maxBytesPerPartition !== undefined ? { maxBytesPerPartition: opts.maxBytesPerPartition } : {}),
    ...(opts.maxWaitTimeInMs !== undefined ? { maxWaitTimeInMs: opts.maxWaitTimeInMs } : {}),
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 10_000 },
  });
  await consumer.connect();
  await subscribeOnceKnown(consumer, opts.topics, opts.fromBeginning ?? true);
  const committer = opts.commit
    ? createCommitter({ commit: (offsets) => consumer.commitOffsets(offsets), logger: opts.logger, onCommitted: opts.onCommitted })
    : undefined;
  // Set by stop(): every wait ends, batches not yet begun are left to the next owner, and the batches that
  // were completed are committed before this process leaves the group.
  let stopping = false;
  let running = 0;
  let drained: (() => void) | undefined;
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: opts.partitionsConsumedConcurrently ?? 3,
    eachBatch: async (payload) => {
      const { batch, heartbeat, isStale, isRunning } = payload;
      if (batch.messages.length === 0 || stopping) return;
      // A rebalance that takes the partition, or a stop, ends every wait: the next owner re-reads from the
      // last commit, and idempotency makes that harmless.
      const keepGoing = () => !stopping && isRunning() && !isStale();
      const beat = setInterval(() => void heartbeat().catch(() => undefined), 2000);
      running++;
      try {
        const records = batch.messages.map((m) => rawRecord(batch.topic, batch.partition, m));
        const complete = await processBatch(records, keepGoing, heartbeat);
        // Complete means every record was handled (or dead-lettered), so it may be committed even while
        // stopping; a partition that moved to another member in the meantime is that member's to commit.
        if (!complete || !isRunning() || isStale()) return;
        const last = batch.messages[batch.messages.length - 1]!;
        payload.resolveOffset(last.offset); // the next fetch starts after it, committed or not
        committer?.handled({ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() });
      } finally {
        clearInterval(beat);
        if (--running === 0) drained?.();
      }
    },
  });
  return {
    consumer,
    async stop() {
      stopping = true;
      if (running > 0) await new Promise<void>((resolve) => (drained = resolve));
      // Committed while this process is still a member of the group (kafkajs drops commits once it stops).
      await committer?.close();
      await consumer.disconnect();
    },
  };
}

/**
 * Subscribes, waiting while the cluster does not know a topic yet. On a cluster, a topic another
 * service has just created is known to some brokers before others, and a broker that does not know it
 * answers UNKNOWN_TOPIC_OR_PARTITION, which kafkajs's subscribe does not retry: the service then died at
 * start (seen once in CI on the 3-node cluster). Kafka marks such errors retriable; they are retried
 * here for up to `waitMs`, anything else (or the same error after that) fails the start as before.
 */
export async function subscribeOnceKnown(consumer: Consumer, topics: string[], fromBeginning: boolean, waitMs = 60_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
    try {
      await consumer.subscribe({ topics, fromBeginning });
      return;
    } catch (err) {
      if (!markedRetriable(err) || Date.now() + delay > deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

/** Kafka's own retriable flag, on the error or on what it wraps (kafkajs wraps errors it gave up on). */
function markedRetriable(err: unknown, depth = 0): boolean {
  if (!(err instanceof Error) || depth > 5) return false;
  return (err as { retriable?: unknown }).retriable === true || markedRetriable(err.cause, depth + 1);
}
