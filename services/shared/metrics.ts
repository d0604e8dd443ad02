// One prom-client registry per process with the metric families every service shares.
// All names carry the switchboard_ prefix; labels are source, topic, partition, outcome.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';

export const METRIC_PREFIX = 'switchboard_';

export interface Metrics {
  registry: Registry;
  /** Consumer outcomes: processed | duplicate | skipped | retried | dead_lettered | superseded */
  consumerMessages: Counter<'consumer' | 'topic' | 'outcome'>;
  consumerLag: Gauge<'group' | 'topic' | 'partition'>;
  /** 1 when this process's last Kafka admin round trip succeeded, else 0. */
  kafkaUp: Gauge;
  handleDuration: Histogram<'consumer' | 'topic'>;
  externalCallDuration: Histogram<'consumer' | 'target' | 'outcome'>;
  externalCallErrors: Counter<'consumer' | 'target' | 'class'>;
  produceDuration: Histogram<'topic'>;
  produceErrors: Counter<'topic'>;
  /** Outcomes a consumer could not publish to the trail (the trail is behind by them; effects are not affected). */
  outcomesDropped: Counter<'consumer'>;
  /**
   * Runs `flush` whenever consumerMessages or handleDuration is read (a scrape, a test's get()), so a consumer
   * may tally its per-record counts locally and still never show a stale value. Returns the unregistration.
   */
  beforeConsumerRead(flush: () => void): () => void;
}

export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const registers = [registry];
  const flushes = new Set<() => void>();
  const collect = (): void => {
    for (const flush of flushes) flush();
  };
  return {
    registry,
    beforeConsumerRead(flush) {
      flushes.add(flush);
      return () => void flushes.delete(flush);
    },
    consumerMessages: new Counter({
      name: `${METRIC_PREFIX}consumer_messages_total`,
      help: 'Records handled by a consumer, by outcome',
      labelNames: ['consumer', 'topic', 'outcome'],
      registers,
      collect,
    }),
    outcomesDropped: new Counter({
      name: `${METRIC_PREFIX}outcomes_dropped_total`,
      help: 'Outcomes a consumer could not publish to the outcomes topic, one per event (the trail is behind by them)',
      labelNames: ['consumer'],
      registers,
    }),
    consumerLag: new Gauge({
      name: `${METRIC_PREFIX}consumer_lag`,
      help: 'Topic end offset minus the group committed offset, per partition',
      labelNames: ['group', 'topic', 'partition'],
      registers,
    }),
    kafkaUp: new Gauge({
      name: `${METRIC_PREFIX}kafka_up`,
      help: '1 when the last Kafka admin request of this process succeeded, 0 when it failed',
      registers,
    }),
    handleDuration: new Histogram({
      name: `${METRIC_PREFIX}consumer_handle_duration_seconds`,
      help: 'Time to handle one record including retries',
      labelNames: ['consumer', 'topic'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
      collect,
    }),
    externalCallDuration: new Histogram({
      name: `${METRIC_PREFIX}external_call_duration_seconds`,
      help: 'Latency of calls to external APIs (WTL, Google Sheets)',
      labelNames: ['consumer', 'target', 'outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    externalCallErrors: new Counter({
      name: `${METRIC_PREFIX}external_call_errors_total`,
      help: 'Failed external calls by error class (transient | permanent)',
      labelNames: ['consumer', 'target', 'class'],
      registers,
    }),
    produceDuration: new Histogram({
      name: `${METRIC_PREFIX}produce_duration_seconds`,
      help: 'Time from produce call to acknowledgement by all in-sync replicas',
      labelNames: ['topic'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    produceErrors: new Counter({
      name: `${METRIC_PREFIX}produce_errors_total`,
      help: 'Produce calls that failed or timed out',
      labelNames: ['topic'],
      registers,
    }),
  };
}

/** prom-client's per-label-set histogram state (not part of its typed API; checked before every use). */
interface HistogramEntry {
  labels: Record<string, string | number>;
  bucketValues: Record<string, number>;
  sum: number;
  count: number;
}

/**
 * observe() for one label set of a histogram, at the cost of an addition: prom-client hashes the labels and
 * turns the bucket bound into a property name on every observe(), a few per cent of a consumer's CPU at
 * 100,000 records/s. This finds the label set's entry once (after one ordinary observe) and updates it in
 * place — the same sum, count and bucket as observe() — and goes back to observe() whenever the entry is not
 * the one in the histogram any more (reset, remove) or the value is not finite (observe() rejects it).
 */
export function boundObserve<L extends string>(histogram: Histogram<L>, labels: LabelValues<L>): (value: number) => void {
  const internals = histogram as unknown as { hashMap?: Record<string, HistogramEntry>; upperBounds?: number[] };
  const bounds = Array.isArray(internals.upperBounds) ? internals.upperBounds : undefined;
  const names = bounds?.map(String);
  const wanted = Object.entries(labels as Record<string, string | number>);
  let key: string | undefined;
  let entry: HistogramEntry | undefined;
  let fast = bounds !== undefined;
  const find = (): void => {
    entry = undefined;
    for (const [k, e] of Object.entries(internals.hashMap ?? {})) {
      if (typeof e !== 'object' || e === null || typeof e.labels !== 'object' || e.labels === null) continue;
      const same = Object.keys(e.labels).length === wanted.length && wanted.every(([n, v]) => e.labels[n] === v);
      if (same && typeof e.sum === 'number' && typeof e.count === 'number' && e.bucketValues && names!.every((b) => typeof e.bucketValues[b] === 'number')) {
        key = k;
        entry = e;
        return;
      }
    }
    fast = false; // not the layout this was written for (another prom-client version): observe() from now on
  };
  return (value) => {
    if (!fast || !Number.isFinite(value) || entry === undefined || internals.hashMap?.[key!] !== entry) {
      histogram.observe(labels, value);
      if (fast) find();
      return;
    }
    entry.sum += value;
    entry.count += 1;
    for (let i = 0; i < bounds!.length; i++) {
      if (value <= bounds![i]!) {
        entry.bucketValues[names![i]!]! += 1;
        return;
      }
    }
  };
}
