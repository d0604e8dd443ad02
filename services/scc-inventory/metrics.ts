// The inventory's own metric families, registered on the process's one registry.
import { Counter, Gauge, Histogram } from 'prom-client';
import type { Db } from '../shared/db.js';
import { METRIC_PREFIX, type Metrics } from '../shared/metrics.js';
import { countByReachability } from './queries.js';

export interface SccMetrics {
  foldDuration: Histogram<'report_type'>;
  reportsApplied: Counter<'report_type'>;
  changes: Counter<'change'>;
  incompleteDropped: Counter;
}

export function createSccMetrics(metrics: Metrics): SccMetrics {
  const registers = [metrics.registry];
  return {
    foldDuration: new Histogram({
      name: `${METRIC_PREFIX}scc_fold_duration_seconds`,
      help: 'Time to fold one complete report into the projection (load, decide, write)',
      labelNames: ['report_type'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    reportsApplied: new Counter({
      name: `${METRIC_PREFIX}scc_reports_applied_total`,
      help: 'Complete reports folded into the projection',
      labelNames: ['report_type'],
      registers,
    }),
    changes: new Counter({
      name: `${METRIC_PREFIX}scc_system_changes_total`,
      help: 'System changes written, by kind (create, update, unreachable, reachable)',
      labelNames: ['change'],
      registers,
    }),
    incompleteDropped: new Counter({
      name: `${METRIC_PREFIX}scc_incomplete_reports_dropped_total`,
      help: 'Split reports dropped because not all parts arrived within SCC_PART_TTL_MS',
      registers,
    }),
  };
}

/** switchboard_scc_systems{status}: counted in the database at scrape time, so every instance reports the truth. */
export function registerSystemsGauge(metrics: Metrics, db: Db): void {
  new Gauge({
    name: `${METRIC_PREFIX}scc_systems`,
    help: 'Systems in the live inventory by reachability',
    labelNames: ['status'],
    registers: [metrics.registry],
    async collect() {
      try {
        const n = await countByReachability(db);
        this.set({ status: 'reachable' }, n.reachable);
        this.set({ status: 'unreachable' }, n.unreachable);
      } catch {
        // The database is unreachable: keep the last values; /readyz reports the outage.
      }
    },
  });
}
