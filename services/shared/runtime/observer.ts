// The runtime's eyes: outcome counters and durations, retry logging, and whether any work is waiting for
// infrastructure (for /readyz). Per record, a count is an addition to a local tally (moved into the
// prom-client counter whenever the metrics are read, so a scrape never sees a stale value) and a duration
// an in-place histogram update (boundObserve): prom-client's own per-call label hashing was ~7 % of the CPU of
// a consumer with a no-op handler.
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import { boundObserve, type Metrics } from '../metrics.js';
import type { RetryHooks } from '../retry.js';
import { MAX_EVENTS_PER_OUTCOME, type AlsoRecord, type OutcomePublisher, type OutcomeRecord, type TrailOutcome } from '../outcome.js';
import type { ConsumedRecord, Handled, KeepGoing, RawRecord, RecordRef } from './records.js';

export interface RunnerObserver {
  logger: Logger;
  count(topic: string, outcome: string, n?: number): void;
  observeDuration(topic: string, seconds: number): void;
  /**
   * Retry hooks for one piece of work: logs each retry, counts it, tracks waiting on infrastructure, and
   * tells the trail once that the record is being retried.
   */
  retryHooks(keepGoing: KeepGoing, topic: string, describe: () => Record<string, unknown>, record?: ConsumedRecord): RetryHooks;
  waitingOnInfrastructure(): boolean;
  /** Counts a handled record and publishes its outcome to the trail. */
  handled(record: RecordRef, handled: Handled, attempt: number): void;
  /**
   * Counts records found already done (one partition's, in offset order) and tells the trail in as few
   * outcome records as MAX_EVENTS_PER_OUTCOME allows; a record read back from a redrive topic is told alone,
   * after its `redriven` line.
   */
  duplicates(records: readonly RecordRef[], attempt: number): void;
  /** Publishes an outcome to the trail (dead letters, retries). */
  report(record: RawRecord | RecordRef, outcome: TrailOutcome, attempt: number, reason?: string, effect?: Record<string, string>): void;
  /** Moves the tallied counts into the metrics and stops following reads (on stop). */
  close(): void;
}

const TRAIL_NAMES: Record<Handled['outcome'], TrailOutcome> = { processed: 'applied', duplicate: 'duplicate', skipped: 'skipped', superseded: 'superseded' };

export function createObserver(
  name: string,
  metrics: Pick<Metrics, 'consumerMessages' | 'handleDuration' | 'beforeConsumerRead'>,
  logger: Logger,
  outcomes?: OutcomePublisher,
): RunnerObserver {
  type Tally = { counter: ReturnType<Metrics['consumerMessages']['labels']>; n: number };
  const tallies = new Map<string, Map<string, Tally>>(); // topic → outcome → not yet in the counter
  const durations = new Map<string, (seconds: number) => void>();
  let waiting = 0;
  const count = (topic: string, outcome: string, n = 1): void => {
    let byOutcome = tallies.get(topic);
    if (!byOutcome) tallies.set(topic, (byOutcome = new Map()));
    let t = byOutcome.get(outcome);
    if (!t) byOutcome.set(outcome, (t = { counter: metrics.consumerMessages.labels(name, topic, outcome), n: 0 }));
    t.n += n;
  };
  const flush = (): void => {
    for (const byOutcome of tallies.values()) {
      for (const t of byOutcome.values()) {
        if (t.n === 0) continue;
        t.counter.inc(t.n);
        t.n = 0;
      }
    }
  };
  const unfollow = metrics.beforeConsumerRead(flush);
  const report: RunnerObserver['report'] = (record, outcome, attempt, reason, effect) => {
    if (!outcomes || !('envelope' in record)) return; // an undecodable record has no event id to file it under
    outcomes.publish({
      event_id: record.envelope.event_id, consumer: name, outcome, attempt, reason: reason ?? null, effect: effect ?? {},
      at: Date.now(), topic: record.topic, partition: record.partition, offset: Number(record.offset),
    });
  };
  const handled: RunnerObserver['handled'] = (record, h, attempt) => {
    count(record.topic, h.outcome);
    // A record read back from the consumer's redrive topic: the trail shows the redrive, then what it did.
    const redrivenFrom = record.headers['sb-redriven-from'];
    if (redrivenFrom !== undefined) report(record, 'redriven', attempt, undefined, { redriven_from: String(redrivenFrom) });
    report(record, TRAIL_NAMES[h.outcome], attempt, h.reason, h.effect);
  };
  return {
    logger,
    count,
    report,
    handled,
    duplicates(records, attempt) {
      type Range = OutcomeRecord & { also: AlsoRecord[] };
      let range: Range | undefined;
      const publish = (r: Range | undefined) => {
        if (r) outcomes?.publish(r);
      };
      for (const record of records) {
        if (record.headers['sb-redriven-from'] !== undefined) {
          handled(record, { outcome: 'duplicate' }, attempt);
          continue;
        }
        count(record.topic, 'duplicate');
        if (!outcomes) continue;
        if (range && range.also.length + 1 < MAX_EVENTS_PER_OUTCOME && range.topic === record.topic && range.partition === record.partition) {
          range.also.push({ event_id: record.envelope.event_id, offset: Number(record.offset) });
          continue;
        }
        publish(range);
        range = {
          event_id: record.envelope.event_id, consumer: name, outcome: 'duplicate', attempt, reason: null, effect: {},
          at: Date.now(), topic: record.topic, partition: record.partition, offset: Number(record.offset), also: [],
        };
      }
      publish(range);
    },
    observeDuration(topic, seconds) {
      let observe = durations.get(topic);
      if (!observe) durations.set(topic, (observe = boundObserve(metrics.handleDuration, { consumer: name, topic })));
      observe(seconds);
    },
    close() {
      flush();
      unfollow();
    },
    retryHooks(keepGoing, topic, describe, record) {
      let counted = false;
      return {
        keepGoing,
        onRetry: ({ error, failure, attempt, delayMs }) => {
          count(topic, 'retried');
          if (record && attempt === 1) report(record, 'retrying', attempt, `${failure}: ${errorMessage(error)}`);
          if (failure === 'unavailable' && !counted) {
            counted = true;
            waiting++;
          }
          // The first wait of an outage is a warning; the rest of the same outage is routine.
          const level = failure === 'unavailable' && attempt > 1 ? 'info' : 'warn';
          logger[level]({ ...describe(), attempt, failure, delay_ms: delayMs, reason: errorMessage(error) }, failure === 'unavailable' ? 'infrastructure unavailable, waiting' : 'unexpected error, retrying');
        },
        onRecovered: () => {
          if (counted) waiting--;
          counted = false;
        },
      };
    },
    waitingOnInfrastructure: () => waiting > 0,
  };
}
