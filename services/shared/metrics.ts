// One prom-client registry per process with the metric families every service shares.
// All names carry the switchboard_ prefix; labels are source, topic, partition, outcome.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
}

export function createMetrics(service: string): Metrics {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  const registers = [registry];
  return {
    registry,
    consumerMessages: new Counter({
      name: `${METRIC_PREFIX}consumer_messages_total`,
      help: 'Records handled by a consumer, by outcome',
      labelNames: ['consumer', 'topic', 'outcome'],
      registers,
    }),
    outcomesDropped: new Counter({
      name: `${METRIC_PREFIX}outcomes_dropped_total`,
      help: 'Outcomes a consumer could not publish to the outcomes topic (the trail is behind by them)',
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
