// Where a Kafka record becomes a trail row: the trail reads the raw topics, the quarantine topic and the
// outcomes topic in its own group, decodes each record with its topic's codec, and writes a partition batch
// in one transaction (project.ts → store.ts). Unavailable infrastructure (registry, database) is waited out;
// a record that cannot be decoded is left out of the index with a warning (the consumers dead-letter it;
// the trail is an index, the topic keeps the bytes), never blocking the partition.
import type { Kafka } from 'kafkajs';
import type { Db } from '../shared/db.js';
import type { EnvelopeCodec } from '../shared/envelope.js';
import { PermanentError, errorMessage } from '../shared/errors.js';
import { startLagMonitor } from '../shared/lag.js';
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import type { OutcomeCodec } from '../shared/outcome.js';
import { DEFAULT_RETRY, attempt, type RetryPolicy } from '../shared/retry.js';
import { createObserver } from '../shared/runtime/observer.js';
import { startReader } from '../shared/runtime/reader.js';
import type { KeepGoing, RawRecord } from '../shared/runtime/records.js';
import { eventRow, outcomeRows, retentionCutoff, type EventRow, type OutcomeRow } from './project.js';
import { writeRows } from './store.js';

export interface TrailConsumerOptions {
  name: string;
  kafka: Kafka;
  groupId: string;
  /** Raw topics (envelopes): the four raw topics and the quarantine topic. */
  envelopeTopics: string[];
  outcomesTopic: string;
  envelopeCodec: Pick<EnvelopeCodec, 'decode' | 'decodeCached'>;
  outcomeCodec: Pick<OutcomeCodec, 'decode' | 'decodeCached'>;
  db: Db;
  logger: Logger;
  metrics: Metrics;
  retentionDays: number;
  retry?: RetryPolicy;
  now?: () => Date;
}

export interface RunningTrailConsumer {
  waitingOnInfrastructure(): boolean;
  stop(): Promise<void>;
}

type Row = { event: EventRow } | { outcomes: OutcomeRow[] };

export async function runTrailConsumer(opts: TrailConsumerOptions): Promise<RunningTrailConsumer> {
  const retry = opts.retry ?? DEFAULT_RETRY;
  const now = opts.now ?? (() => new Date());
  const observer = createObserver(opts.name, opts.metrics, opts.logger);
  const topics = [...opts.envelopeTopics, opts.outcomesTopic];

  /** A record's row; null when it is left out; undefined when the partition was lost while waiting. */
  const toRow = async (raw: RawRecord, keepGoing: KeepGoing): Promise<Row | null | undefined> => {
    const isOutcome = raw.topic === opts.outcomesTopic;
    const codec = isOutcome ? opts.outcomeCodec : opts.envelopeCodec;
    const pos = { topic: raw.topic, partition: raw.partition, offset: raw.offset };
    const decoded = await attempt(
      async () => {
        if (raw.value.length === 0) throw new PermanentError('empty record value');
        return codec.decodeCached(raw.value) ?? (await codec.decode(raw.value));
      },
      retry,
      observer.retryHooks(keepGoing, raw.topic, () => ({ ...pos, decoding: true })),
    );
    if (decoded.status === 'abandoned') return undefined;
    if (decoded.status === 'failed') {
      observer.count(raw.topic, 'undecodable');
      opts.logger.warn({ ...pos, reason: errorMessage(decoded.error) }, 'record cannot be decoded; not in the trail');
      return null;
    }
    if (isOutcome) return { outcomes: outcomeRows(decoded.value as Parameters<typeof outcomeRows>[0], pos) };
    return { event: eventRow(decoded.value as Parameters<typeof eventRow>[0], raw.key, pos) };
  };

  const write = async (events: EventRow[], outcomes: OutcomeRow[], keepGoing: KeepGoing, topic: string) =>
    attempt(() => opts.db.transaction((tx) => writeRows(tx, events, outcomes)), retry,
      observer.retryHooks(keepGoing, topic, () => ({ topic, rows: events.length + outcomes.length })));

  const reader = await startReader(
    { kafka: opts.kafka, groupId: opts.groupId, topics, commit: true, fromBeginning: true, maxBytesPerPartition: 1024 * 1024, logger: opts.logger },
    async (records, keepGoing) => {
      const started = process.hrtime.bigint();
      const topic = records[0]!.topic; // a batch is one partition of one topic
      const cutoff = retentionCutoff(now(), opts.retentionDays);
      const events: EventRow[] = [];
      const outcomes: OutcomeRow[] = [];
      let expired = 0;
      for (const raw of records) {
        const row = await toRow(raw, keepGoing);
        if (row === undefined) return false;
        if (row === null) continue;
        // Older than the retention: pruning would remove it again, so a replay does not bring it back.
        if ('event' in row) {
          if (row.event.received_at < cutoff) expired++;
          else events.push(row.event);
        } else {
          // The rows of one outcome record share its time.
          if (row.outcomes[0]!.at < cutoff) expired += row.outcomes.length;
          else outcomes.push(...row.outcomes);
        }
      }
      const rows = events.length + outcomes.length;
      let fresh = 0;
      const batch = await write(events, outcomes, keepGoing, topic);
      if (batch.status === 'abandoned') return false;
      if (batch.status === 'done') fresh = batch.value.events + batch.value.outcomes;
      else {
        // Not the database being away (that is waited out): find the row it refuses, one at a time, and leave only it out.
        opts.logger.warn({ topic, rows, reason: errorMessage(batch.error) }, 'batch refused by the database; writing its rows one at a time');
        for (const [list, isEvent] of [[events, true], [outcomes, false]] as const) {
          for (const row of list) {
            const one = await write(isEvent ? [row as EventRow] : [], isEvent ? [] : [row as OutcomeRow], keepGoing, topic);
            if (one.status === 'abandoned') return false;
            if (one.status === 'done') fresh += one.value.events + one.value.outcomes;
            else {
              observer.count(topic, 'failed');
              opts.logger.error({ topic: row.topic, partition: row.partition, offset: row.offset, event_id: row.event_id, reason: errorMessage(one.error) }, 'row refused by the database; not in the trail');
            }
          }
        }
      }
      if (fresh > 0) observer.count(topic, 'processed', fresh);
      if (rows - fresh > 0) observer.count(topic, 'duplicate', rows - fresh);
      if (expired > 0) observer.count(topic, 'expired', expired);
      observer.observeDuration(topic, Number(process.hrtime.bigint() - started) / 1e9 / records.length);
      return true;
    },
  );

  const stopLag = startLagMonitor({
    kafka: opts.kafka, groupId: opts.groupId, topics, gauge: opts.metrics.consumerLag, kafkaUp: opts.metrics.kafkaUp, intervalMs: 5000, logger: opts.logger,
  });

  return {
    waitingOnInfrastructure: observer.waitingOnInfrastructure,
    async stop() {
      await stopLag();
      await reader.stop();
    },
  };
}
