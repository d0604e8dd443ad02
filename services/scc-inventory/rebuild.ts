// Rebuild of the projection from the topic, and point-in-time snapshots.
//
// A throwaway consumer group reads the reports topic from the beginning (shared/runtime/reader.ts) and
// folds it in memory into shadow tables (rebuild-fold.ts: the live consumer's fold and part handling,
// the same rows, written a chunk at a time and the systems once at the end). Then:
//   - live rebuild: under the exclusive advisory lock (live applies wait), read the tail up to the end
//     offsets as of the lock, copy the shadow tables over the live ones together with the idempotency
//     rows, commit (the lock is released with the transaction). Readers see the old inventory until the
//     commit and the new one after it, never a half-built one; ingress and the live consumer keep running.
//   - --as-of T: fold only records received at or before T, store the result as a named snapshot.
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Db } from '../shared/db.js';
import type { EnvelopeCodec } from '../shared/envelope.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { attempt, type RetryPolicy } from '../shared/retry.js';
import { startReader } from '../shared/runtime/reader.js';
import { RebuildFold } from './rebuild-fold.js';
import {
  claimShadowTables, createShadowTables, dropAbandonedShadowTables, dropShadowTables, newShadowToken, saveSnapshot, swapShadowIntoLive, type HistorySwap,
} from './rebuild-tables.js';
import { shadowTables } from './tables.js';
import { lockAllApplies } from './writes.js';

export interface RebuildProgress {
  phase: 'catch-up' | 'tail';
  done: number;
  total: number;
  ratePerSecond: number;
}

export interface RebuildOptions {
  db: Db;
  kafka: Kafka;
  codec: EnvelopeCodec;
  topic: string;
  consumer: string;
  partTtlMs: number;
  logger: Logger;
  /** Build the inventory as it was at this time into a snapshot instead of replacing the live one. */
  asOf?: Date | undefined;
  snapshotName?: string | undefined;
  onProgress?: (p: RebuildProgress) => void;
  progressIntervalMs?: number;
  /** Records whose idempotency and history rows are written together (default DEFAULT_RECORDS_PER_TRANSACTION). */
  recordsPerTransaction?: number | undefined;
  /**
   * How long one outage (registry, database) is waited out before the rebuild gives up and aborts
   * (default DEFAULT_OUTAGE_WAIT_MS). The live state is never touched by an aborted rebuild.
   */
  outageWaitMs?: number | undefined;
  /**
   * Leave records whose bytes cannot be decoded (not Avro, a schema id the registry does not know) out
   * of the result instead of aborting — they are the records the live consumer dead-lettered.
   */
  skipUndecodable?: boolean | undefined;
}

export const DEFAULT_OUTAGE_WAIT_MS = 5 * 60_000;

/** The rebuild could not read every record: nothing was swapped in. */
export class RebuildAbortedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(`rebuild aborted, the live inventory is unchanged: ${message}`, options);
    this.name = 'RebuildAbortedError';
  }
}

const REBUILD_RETRY: RetryPolicy = { maxAttempts: 5, initialDelayMs: 200, maxDelayMs: 3000, maxOutageDelayMs: 10_000 };

/**
 * Records whose rows are written together: large enough that round trips stop mattering (on a busy machine
 * each one waits for the database process to be scheduled; 500 left the fold waiting for the writes a third
 * of the time), small enough that the rows held in memory stay small (5,000 event_ids and their history rows).
 */
export const DEFAULT_RECORDS_PER_TRANSACTION = 5000;

/**
 * The rebuild reader's fetch size per partition. Measured on 100,000 reports over 6 partitions (paired runs
 * on the 2-core machine, 2026-12-01): 256 KiB used about 0.45 s less CPU than 2 MiB (mostly system time: with
 * 2 MiB a fetch response was one ~10 MiB buffer, page-faulted fresh each time, and its ~15,000 records
 * survived young-generation collections while they were folded) and was faster in 5 of 7 rounds; 128 KiB
 * and 512 KiB were no better than 256 KiB.
 */
export const REBUILD_FETCH_BYTES_PER_PARTITION = 256 * 1024;

export interface RebuildResult {
  records: number;
  applied: number;
  duplicates: number;
  /** Records the fold rejected (the live consumer dead-letters them too), including undecodable ones. */
  rejected: number;
  /** Of those, records whose bytes could not be decoded (only with skipUndecodable). */
  undecodable: number;
  /** Records received after --as-of, read but not folded. */
  skippedAfterAsOf: number;
  snapshot?: string;
  /** How a live rebuild's history took the live table's place (rebuild-tables.ts swapShadowIntoLive). */
  historySwap?: 'renamed' | 'copied';
  /** Why its rows were copied instead of the rebuilt table renamed. */
  historyCopiedBecause?: string;
  seconds: number;
  /** Where the time went, in milliseconds (rounded): see RebuildPhases. */
  phases: RebuildPhases;
}

/**
 * The rebuild's wall-clock time by phase (they follow each other; their sum is `seconds`):
 *   setUp      the topic's end offsets, the shadow tables, the reader started (its group not yet joined)
 *   read       the catch-up: joining the group, fetching, decoding and folding up to the first end offsets;
 *              of it, `folding` was spent in our per-batch code (Avro decode of the envelope, report parse,
 *              fold) and `waitingForWrites` in that code waiting for a chunk's rows to be written
 *   tail       (live rebuild) the lock, the end offsets again and the records up to them
 *   finish     the last chunk and the systems written to the shadow tables
 *   swap       the shadow tables copied over the live ones and committed (or the snapshot saved)
 *   cleanUp    the reader stopped and its group deleted, the shadow tables dropped
 */
export interface RebuildPhases {
  setUp: number;
  read: number;
  folding: number;
  waitingForWrites: number;
  tail: number;
  finish: number;
  swap: number;
  cleanUp: number;
}

export async function rebuild(opts: RebuildOptions): Promise<RebuildResult> {
  const started = performance.now();
  const clock = phaseClock(started);
  const token = newShadowToken();
  const shadow = shadowTables(token);
  const result: RebuildResult = {
    records: 0, applied: 0, duplicates: 0, rejected: 0, undecodable: 0, skippedAfterAsOf: 0, seconds: 0,
    phases: { setUp: 0, read: 0, folding: 0, waitingForWrites: 0, tail: 0, finish: 0, swap: 0, cleanUp: 0 },
  };
  const asOfMs = opts.asOf?.getTime();
  // The end offsets to catch up to are taken now, with the check that the topic exists (one admin connection).
  const firstTargets = await topicEndOffsets(opts.kafka, opts.topic);
  const chunkSize = opts.recordsPerTransaction ?? DEFAULT_RECORDS_PER_TRANSACTION;
  const outageWaitMs = opts.outageWaitMs ?? DEFAULT_OUTAGE_WAIT_MS;
  // Infrastructure errors are waited out up to outageWaitMs per piece of work; invalid data is thrown at once.
  const withRetries = async <T>(what: string, work: () => Promise<T>): Promise<T> => {
    const giveUpAt = Date.now() + outageWaitMs;
    const result = await attempt(work, REBUILD_RETRY, {
      keepGoing: () => Date.now() < giveUpAt,
      onRetry: ({ failure, attempt: n, delayMs, error }) =>
        opts.logger.warn({ what, failure, attempt: n, delay_ms: delayMs, reason: errorMessage(error) }, 'rebuild: waiting for infrastructure'),
    });
    if (result.status === 'done') return result.value;
    if (result.status === 'abandoned') throw new RebuildAbortedError(`${what}: still failing after ${Math.round(outageWaitMs / 1000)} s: ${errorMessage(result.error)}`, { cause: result.error });
    throw result.error;
  };
  await dropAbandonedShadowTables(opts.db, opts.logger);
  // Held while the shadow tables exist: a rebuild started meanwhile (or a service start) leaves them alone,
  // and once this process is gone, however it ended, the next one drops them.
  const claim = await withRetries('locking the shadow tables', () => claimShadowTables(opts.db, token));
  try {
    await createShadowTables(opts.db, shadow);
    return await foldAndSwap();
  } finally {
    await claim.release();
  }

  async function foldAndSwap(): Promise<RebuildResult> {
    // Folded in memory, the rows written a chunk at a time (rebuild-fold.ts): the same rows as the live
    // consumer's one record per transaction, without reading back what the rebuild itself wrote.
    const fold = new RebuildFold({ db: opts.db, tables: shadow, consumer: opts.consumer, partTtlMs: opts.partTtlMs, chunkSize, logger: opts.logger, withRetries });
    const reader = await startTopicReader(opts.kafka, opts.topic, opts.logger, async (records, heartbeat) => {
      const batchStarted = performance.now();
      let waited = 0;
      let sinceHeartbeat = 0;
      for (const { value, partition, offset } of records) {
        result.records++;
        let envelope;
        try {
          envelope = opts.codec.decodeCached(value) ?? (await withRetries('decoding (schema registry)', () => opts.codec.decode(value)));
        } catch (err) {
          if (err instanceof RebuildAbortedError) throw err;
          if (!opts.skipUndecodable) {
            throw new RebuildAbortedError(`record ${opts.topic}[${partition}]@${offset} cannot be decoded (${errorMessage(err)}); ` +
              'the live consumer dead-lettered it: rebuild with --skip-undecodable to leave such records out', { cause: err });
          }
          result.rejected++;
          result.undecodable++;
          opts.logger.warn({ partition, offset, reason: errorMessage(err) }, 'rebuild: undecodable record left out (--skip-undecodable; the live consumer dead-lettered it)');
          continue;
        }
        if (asOfMs !== undefined && envelope.received_at > asOfMs) {
          result.skippedAfterAsOf++;
          continue;
        }
        const waiting = fold.apply(envelope, { partition, offset });
        if (waiting) {
          const waitStarted = performance.now();
          await waiting;
          waited += performance.now() - waitStarted;
        }
        if (++sinceHeartbeat >= chunkSize) {
          sinceHeartbeat = 0;
          await heartbeat();
        }
      }
      result.phases.folding += performance.now() - batchStarted - waited;
      result.phases.waitingForWrites += waited;
    });
    result.phases.setUp = clock.lap();
    const finishFold = async () => {
      await fold.finish();
      result.applied = fold.applied;
      result.duplicates = fold.duplicates;
      result.rejected += fold.rejected;
    };
    // Once the last records to fold are read, the reader hands over nothing more (a record arriving after
    // the end offsets must not reach the fold while its rows are being written) and leaves its group
    // while the database work goes on.
    let stopping: Promise<void> | undefined;
    const readDone = async () => {
      await reader.seal();
      stopping = reader.stop();
    };

    const progressTimer = startProgress(reader, opts);
    try {
      progressTimer.set('catch-up', firstTargets);
      await reader.readUntil(firstTargets);
      result.phases.read = clock.lap();

      if (opts.asOf) {
        await readDone();
        await finishFold();
        result.phases.finish = clock.lap();
        const name = opts.snapshotName ?? `as-of-${opts.asOf.toISOString()}`;
        await opts.db.transaction((tx) => saveSnapshot(tx, shadow, name, opts.asOf!, result.records - result.skippedAfterAsOf));
        result.phases.swap = clock.lap();
        result.snapshot = name;
      } else if (opts.db.kind === 'postgres') {
        await opts.db.transaction(async (tx) => {
          await lockAllApplies(tx);
          const tailTargets = await topicEndOffsets(opts.kafka, opts.topic);
          progressTimer.set('tail', tailTargets);
          await reader.readUntil(tailTargets);
          await readDone();
          result.phases.tail = clock.lap();
          await finishFold();
          result.phases.finish = clock.lap();
          noteSwap(result, await swapShadowIntoLive(tx, shadow, opts.consumer, opts.logger));
        });
        result.phases.swap = clock.lap();
      } else {
        // PGlite lives inside one process: no live consumer can be running beside this one (see docs/replay.md).
        await readDone();
        await finishFold();
        result.phases.finish = clock.lap();
        noteSwap(result, await opts.db.transaction((tx) => swapShadowIntoLive(tx, shadow, opts.consumer, opts.logger)));
        result.phases.swap = clock.lap();
      }
    } finally {
      progressTimer.stop();
      clock.lap(); // a failed phase's time is not reported as clean-up
      await Promise.all([
        stopping ?? reader.stop(),
        dropShadowTables(opts.db, shadow).catch((err: unknown) => opts.logger.warn({ reason: errorMessage(err) }, 'could not drop shadow tables')),
      ]);
    }
    result.phases.cleanUp = clock.lap();
    for (const k of Object.keys(result.phases) as Array<keyof RebuildPhases>) result.phases[k] = Math.round(result.phases[k]);
    result.seconds = (performance.now() - started) / 1000;
    opts.onProgress?.({ phase: 'tail', done: reader.consumed(), total: reader.consumed(), ratePerSecond: result.records / Math.max(result.seconds, 0.001) });
    return result;
  }
}

function noteSwap(result: RebuildResult, swap: HistorySwap): void {
  result.historySwap = swap.how;
  if (swap.how === 'copied') result.historyCopiedBecause = swap.because;
}

/** Milliseconds since the previous lap (the first one: since `from`). */
function phaseClock(from: number) {
  let last = from;
  return {
    lap(): number {
      const now = performance.now();
      const ms = now - last;
      last = now;
      return ms;
    },
  };
}

type Offsets = Map<number, bigint>;

/** The topic's end offsets; an error naming the topic when it does not exist. */
async function topicEndOffsets(kafka: Kafka, topic: string): Promise<{ high: Offsets; low: Offsets }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) throw new Error(`topic ${topic} does not exist (check KAFKA_TOPIC_PREFIX and KAFKA_BROKERS)`);
    const offsets = await admin.fetchTopicOffsets(topic);
    return {
      high: new Map(offsets.map((o) => [o.partition, BigInt(o.high)])),
      low: new Map(offsets.map((o) => [o.partition, BigInt(o.low)])),
    };
  } finally {
    await admin.disconnect();
  }
}

interface TopicReader {
  /** Resolves once every partition was read up to (excluding) its target offset. */
  readUntil(targets: { high: Offsets; low: Offsets }): Promise<void>;
  consumed(): number;
  /** Next offset to read per partition, as far as known. */
  positions(): Offsets;
  /**
   * From now on no batch is handed over: the records read so far are all the rebuild folds. Resolves
   * once the batch being handled, if any, is done (its records are folded, none after it).
   */
  seal(): Promise<void>;
  stop(): Promise<void>;
}

/** A reader in a throwaway group that hands every batch of the topic, in partition order, to `onBatch`. */
async function startTopicReader(
  kafka: Kafka,
  topic: string,
  logger: Logger,
  onBatch: (records: Array<{ value: Buffer; partition: number; offset: string }>, heartbeat: () => Promise<void>) => Promise<void>,
): Promise<TopicReader> {
  const groupId = `switchboard-scc-inventory-rebuild-${randomUUID()}`;
  const next: Offsets = new Map();
  let consumedCount = 0;
  let failure: unknown;
  let sealed = false;
  let inFlight: Promise<void> | undefined;
  const waiters = new Set<() => void>();
  const wake = () => waiters.forEach((w) => w());

  // A short fetch wait: at the end of the topic the broker holds a fetch this long, and stop() (disconnect)
  // waits for it — with the default 5 s that wait was most of a small rebuild's time.
  // Small fetches (REBUILD_FETCH_BYTES_PER_PARTITION): kafkajs joins each fetch response into one buffer
  // and keeps every record of it alive until the last batch of the response is handled, so a large
  // response costs page faults (system time) and garbage-collector copies; see the constant.
  const reader = await startReader(
    // One batch at a time: the fold is one in-memory state, and a batch waiting for the database (a part,
    // a possible duplicate) must not let another partition's records in between its check and its fold.
    {
      kafka, groupId, topics: [topic], commit: false, sessionTimeoutMs: 60_000, maxBytesPerPartition: REBUILD_FETCH_BYTES_PER_PARTITION, maxWaitTimeInMs: 100,
      partitionsConsumedConcurrently: 1,
    },
    async (records, _keepGoing, heartbeat) => {
      if (failure || sealed) return false;
      const partition = records[0]!.partition;
      const handling = onBatch(records, heartbeat);
      inFlight = handling.then(() => undefined, () => undefined);
      try {
        await handling;
        next.set(partition, BigInt(records[records.length - 1]!.offset) + 1n);
        consumedCount += records.length;
      } catch (err) {
        failure = err;
        logger.error({ partition, offset: records[0]!.offset, reason: errorMessage(err) }, 'rebuild failed');
      } finally {
        inFlight = undefined;
      }
      wake();
      return true;
    },
  );

  const reached = (targets: { high: Offsets; low: Offsets }): boolean =>
    [...targets.high].every(([p, high]) => high <= (next.get(p) ?? targets.low.get(p) ?? 0n));

  return {
    async readUntil(targets) {
      while (!reached(targets)) {
        if (failure) throw failure;
        // Woken by each record; the timer also covers partitions whose remaining records were deleted.
        await new Promise<void>((resolve) => {
          const done = () => {
            waiters.delete(done);
            clearTimeout(timer);
            resolve();
          };
          const timer = setTimeout(done, 500);
          waiters.add(done);
        });
      }
      if (failure) throw failure;
    },
    consumed: () => consumedCount,
    positions: () => new Map(next),
    async seal() {
      sealed = true;
      await inFlight;
    },
    async stop() {
      await reader.stop().catch(() => undefined);
      const admin = kafka.admin();
      await admin.connect().catch(() => undefined);
      await admin.deleteGroups([groupId]).catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
    },
  };
}

function startProgress(reader: TopicReader, opts: RebuildOptions) {
  let phase: RebuildProgress['phase'] = 'catch-up';
  let total = 0;
  const begun = Date.now();
  const report = () => {
    const seconds = Math.max((Date.now() - begun) / 1000, 0.001);
    opts.onProgress?.({ phase, done: reader.consumed(), total, ratePerSecond: reader.consumed() / seconds });
  };
  const timer = setInterval(report, opts.progressIntervalMs ?? 1000);
  timer.unref();
  return {
    set(p: RebuildProgress['phase'], targets: { high: Offsets; low: Offsets }) {
      phase = p;
      total = [...targets.high].reduce((sum, [partition, high]) => sum + Number(high - (targets.low.get(partition) ?? 0n)), 0);
      report();
    },
    stop() {
      clearInterval(timer);
    },
  };
}
