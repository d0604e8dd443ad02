// Sheet-export's own metric families, on the service's one registry (created in main.ts).
import { Counter, Histogram } from 'prom-client';
import { METRIC_PREFIX, type Metrics } from '../shared/metrics.js';
import { isRetriable } from '../shared/errors.js';
import { CONSUMER } from './ledger.js';

export interface SheetMetrics {
  rowsAppended: Counter<'tab'>;
  batchRows: Histogram<'tab'>;
  throttled: Counter<'target'>;
  reconciled: Counter<'tab' | 'result'>;
  /** Starts timing one call to the sink; the returned function records its outcome. */
  externalCall(): (outcome: 'ok' | 'error', err?: unknown) => void;
}

export function createSheetMetrics(metrics: Metrics, target: string): SheetMetrics {
  const registers = [metrics.registry];
  const throttled = new Counter({
    name: `${METRIC_PREFIX}sheet_throttled_total`,
    help: 'Calls the destination refused with 429 (quota exceeded)',
    labelNames: ['target'],
    registers,
  });
  return {
    rowsAppended: new Counter({
      name: `${METRIC_PREFIX}sheet_rows_appended_total`,
      help: 'Rows appended to the sheet, by tab',
      labelNames: ['tab'],
      registers,
    }),
    batchRows: new Histogram({
      name: `${METRIC_PREFIX}sheet_batch_rows`,
      help: 'Rows per append call',
      labelNames: ['tab'],
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2000, 5000],
      registers,
    }),
    throttled,
    reconciled: new Counter({
      name: `${METRIC_PREFIX}sheet_reconciled_rows_total`,
      help: 'Rows of interrupted batches found in the sheet (found) or to be appended again (missing)',
      labelNames: ['tab', 'result'],
      registers,
    }),
    externalCall() {
      const started = process.hrtime.bigint();
      return (outcome, err) => {
        metrics.externalCallDuration.observe({ consumer: CONSUMER, target, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
        if (outcome === 'error') {
          metrics.externalCallErrors.inc({ consumer: CONSUMER, target, class: isRetriable(err) ? 'transient' : 'permanent' });
        }
      };
    },
  };
}
