// The runtime's eyes: outcome counters and durations (bound metric children, so the per-record cost is an
// increment), retry logging, and whether any work is waiting for infrastructure (for /readyz).
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RetryHooks } from '../retry.js';
import type { OutcomePublisher, TrailOutcome } from '../outcome.js';
import type { ConsumedRecord, Handled, KeepGoing, RawRecord } from './records.js';

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
  handled(record: ConsumedRecord, handled: Handled, attempt: number): void;
  /** Publishes an outcome to the trail (dead letters, retries). */
  report(record: RawRecord | ConsumedRecord, outcome: TrailOutcome, attempt: number, reason?: string, effect?: Record<string, string>): void;
}

const TRAIL_NAMES: Record<Handled['outcome'], TrailOutcome> = { processed: 'applied', duplicate: 'duplicate', skipped: 'skipped', superseded: 'superseded' };

export function createObserver(
  name: string,
  metrics: Pick<Metrics, 'consumerMessages' | 'handleDuration'>,
  logger: Logger,
  outcomes?: OutcomePublisher,
): RunnerObserver {
  const counters = new Map<string, ReturnType<Metrics['consumerMessages']['labels']>>();
  const durations = new Map<string, ReturnType<Metrics['handleDuration']['labels']>>();
  let waiting = 0;
  const count = (topic: string, outcome: string, n = 1): void => {
    const k = `${topic}\u0000${outcome}`;
    let c = counters.get(k);
    if (!c) counters.set(k, (c = metrics.consumerMessages.labels(name, topic, outcome)));
    c.inc(n);
  };
  const report: RunnerObserver['report'] = (record, outcome, attempt, reason, effect) => {
    if (!outcomes || !('envelope' in record)) return; // an undecodable record has no event id to file it under
    outcomes.publish({
      event_id: record.envelope.event_id, consumer: name, outcome, attempt, reason: reason ?? null, effect: effect ?? {},
      at: Date.now(), topic: record.topic, partition: record.partition, offset: Number(record.offset),
    });
  };
  return {
    logger,
    count,
    report,
    handled(record, h, attempt) {
      count(record.topic, h.outcome);
      // A record read back from the consumer's redrive topic: the trail shows the redrive, then what it did.
      const redrivenFrom = record.headers['sb-redriven-from'];
      if (redrivenFrom !== undefined) report(record, 'redriven', attempt, undefined, { redriven_from: String(redrivenFrom) });
      report(record, TRAIL_NAMES[h.outcome], attempt, h.reason, h.effect);
    },
    observeDuration(topic, seconds) {
      let h = durations.get(topic);
      if (!h) durations.set(topic, (h = metrics.handleDuration.labels(name, topic)));
      h.observe(seconds);
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
