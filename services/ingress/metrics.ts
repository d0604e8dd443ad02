// Ingress metric families, added to the process's one registry.
import { Counter, Histogram, type Registry } from 'prom-client';
import { METRIC_PREFIX } from '../shared/metrics.js';
import { QUARANTINE_REASONS } from '../shared/contracts/once-record.js';

export interface IngressMetrics {
  httpRequests: Counter<'source' | 'route' | 'status'>;
  httpDuration: Histogram<'source'>;
  recordsAccepted: Counter<'source' | 'kind'>;
  recordsRejected: Counter<'source' | 'reason'>;
  recordsQuarantined: Counter<'source' | 'reason'>;
  bodyBytes: Histogram<'source'>;
  flushRecords: Histogram;
  onceBatchesRead: Counter<'thread'>;
}

export function createIngressMetrics(registry: Registry): IngressMetrics {
  const registers = [registry];
  const metrics: IngressMetrics = {
    httpRequests: new Counter({
      name: `${METRIC_PREFIX}http_requests_total`,
      help: 'HTTP requests answered, by source, route and status code',
      labelNames: ['source', 'route', 'status'],
      registers,
    }),
    httpDuration: new Histogram({
      name: `${METRIC_PREFIX}http_request_duration_seconds`,
      help: 'Time from request to response, including the wait for Kafka acknowledgements',
      labelNames: ['source'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    recordsAccepted: new Counter({
      name: `${METRIC_PREFIX}records_accepted_total`,
      help: 'Records acknowledged by Kafka and confirmed to the sender',
      labelNames: ['source', 'kind'],
      registers,
    }),
    recordsRejected: new Counter({
      name: `${METRIC_PREFIX}records_rejected_total`,
      help: 'Requests (or records) refused, by reason',
      labelNames: ['source', 'reason'],
      registers,
    }),
    recordsQuarantined: new Counter({
      name: `${METRIC_PREFIX}records_quarantined_total`,
      help: 'Records of accepted requests that could not be classified and were stored in the quarantine topic, by reason',
      labelNames: ['source', 'reason'],
      registers,
    }),
    bodyBytes: new Histogram({
      name: `${METRIC_PREFIX}request_body_bytes`,
      help: 'Size of received request bodies',
      labelNames: ['source'],
      buckets: [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 33_554_432],
      registers,
    }),
    onceBatchesRead: new Counter({
      name: `${METRIC_PREFIX}once_batches_read_total`,
      help: '1NCE batches read (parsed and classified), by where: a reader thread, or the main thread (ONCE_READER_THREADS=0, or every thread busy)',
      labelNames: ['thread'],
      registers,
    }),
    flushRecords: new Histogram({
      name: `${METRIC_PREFIX}produce_flush_records`,
      help: 'Records per produce request (one flush of the cross-request batcher, possibly several HTTP requests)',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
      registers,
    }),
  };
  // Series exist from the start (at 0), so dashboards and alerts see "none yet" rather than "no data".
  for (const source of ['nsps', '1nce', 'sap']) {
    for (const reason of ['unauthorized', 'invalid']) metrics.recordsRejected.inc({ source, reason }, 0);
  }
  for (const reason of QUARANTINE_REASONS) metrics.recordsQuarantined.inc({ source: '1nce', reason }, 0);
  return metrics;
}
