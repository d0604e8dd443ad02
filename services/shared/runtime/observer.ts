// The runtime's eyes: outcome counters and durations (bound metric children, so the per-record cost is an
// increment), retry logging, and whether any work is waiting for infrastructure (for /readyz).
import { errorMessage } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';
import type { RetryHooks } from '../retry.js';
import type { KeepGoing } from './records.js';

export interface RunnerObserver {
  logger: Logger;
  count(topic: string, outcome: string, n?: number): void;
  observeDuration(topic: string, seconds: number): void;
  /** Retry hooks for one piece of work: logs each retry, counts it, and tracks waiting on infrastructure. */
  retryHooks(keepGoing: KeepGoing, topic: string, describe: () => Record<string, unknown>): RetryHooks;
  waitingOnInfrastructure(): boolean;
}

export function createObserver(name: string, metrics: Pick<Metrics, 'consumerMessages' | 'handleDuration'>, logger: Logger): RunnerObserver {
  const counters = new Map<string, ReturnType<Metrics['consumerMessages']['labels']>>();
  const durations = new Map<string, ReturnType<Metrics['handleDuration']['labels']>>();
  let waiting = 0;
  const count = (topic: string, outcome: string, n = 1): void => {
    const k = `${topic}\u0000${outcome}`;
    let c = counters.get(k);
    if (!c) counters.set(k, (c = metrics.consumerMessages.labels(name, topic, outcome)));
    c.inc(n);
  };
  return {
    logger,
    count,
    observeDuration(topic, seconds) {
      let h = durations.get(topic);
      if (!h) durations.set(topic, (h = metrics.handleDuration.labels(name, topic)));
      h.observe(seconds);
    },
    retryHooks(keepGoing, topic, describe) {
      let counted = false;
      return {
        keepGoing,
        onRetry: ({ error, failure, attempt, delayMs }) => {
          count(topic, 'retried');
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
