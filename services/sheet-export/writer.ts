// The no-duplicate write of one batch of rows to one tab:
//   1. under the tab's lock, reconcile any pending batch of the tab first (read column A back);
//   2. drop rows whose event id is already exported (redelivery, replay, duplicates within the batch);
//   3. commit the batch as pending with its event ids, 4. append, 5. mark them exported atomically.
// A crash between 4 and 5 leaves a pending batch; step 1 of the next write (or start-up) finds the
// rows that did land in column A and marks them exported, so they are never appended twice.
import type { Ledger } from './ledger.js';
import type { Row } from './rows.js';
import { wasNotApplied, type Sink } from './sink.js';
import type { SheetMetrics } from './metrics.js';

export interface WriteResult {
  appended: Set<string>;
  duplicates: Set<string>;
  /** The range each appended row was written in (the whole append's range), when the sink tells. */
  ranges?: Map<string, string>;
}

export interface TabWriter {
  write(tab: string, header: string[], entries: { eventId: string; row: Row }[]): Promise<WriteResult>;
  /** Reconciles every tab with pending batches (call at start). */
  reconcileAll(): Promise<void>;
}

export interface WriterOptions {
  sink: Sink;
  ledger: Ledger;
  metrics: SheetMetrics;
}

export function createTabWriter(opts: WriterOptions): TabWriter {
  const { sink, ledger, metrics } = opts;
  const headerDone = new Set<string>();

  const timed = async <T>(fn: () => Promise<T>): Promise<T> => {
    const end = metrics.externalCall();
    try {
      const result = await fn();
      end('ok');
      return result;
    } catch (err) {
      end('error', err);
      throw err;
    }
  };

  const reconcile = async (tab: string): Promise<void> => {
    const pending = await ledger.pending(tab);
    if (pending.length === 0) return;
    const inSheet = await timed(() => sink.readEventIds(tab));
    const ids = pending.flatMap((b) => b.eventIds);
    const present = ids.filter((id) => inSheet.has(id));
    await ledger.resolve(tab, pending.map((b) => b.batchId), present);
    metrics.reconciled.inc({ tab, result: 'found' }, present.length);
    metrics.reconciled.inc({ tab, result: 'missing' }, ids.length - present.length);
  };

  return {
    async write(tab, header, entries) {
      return ledger.withTabLock(tab, async () => {
        await reconcile(tab);
        if (!headerDone.has(tab)) {
          await timed(() => sink.ensureHeader(tab, header));
          headerDone.add(tab);
        }
        const unique = new Map<string, Row>();
        for (const e of entries) if (!unique.has(e.eventId)) unique.set(e.eventId, e.row);
        const already = await ledger.exported([...unique.keys()]);
        const duplicates = new Set(entries.map((e) => e.eventId).filter((id) => already.has(id)));
        for (const id of already) unique.delete(id);
        // An event id that appeared twice in this batch is appended once; its later copies are reported as
        // duplicates by the caller (exporter.ts counts the first record of an id as the one that wrote it).
        if (unique.size === 0) return { appended: new Set(), duplicates };

        const batchId = await ledger.beginBatch(tab, [...unique.keys()]);
        let range: string | undefined;
        const rows = [...unique.values()];
        try {
          range = await timed(() => sink.append(tab, rows));
        } catch (err) {
          // The tab may have been deleted or renamed meanwhile: check it (and its header) again next time.
          headerDone.delete(tab);
          // A refusal (429, 4xx) means the sheet did not change: no need to read column A to find out.
          if (wasNotApplied(err)) await ledger.resolve(tab, [batchId], []);
          throw err;
        }
        await ledger.completeBatch(tab, batchId);
        metrics.rowsAppended.inc({ tab }, rows.length);
        metrics.batchRows.observe({ tab }, rows.length);
        const appended = new Set(unique.keys());
        return { appended, duplicates, ranges: range === undefined ? undefined : new Map([...appended].map((id) => [id, range!])) };
      });
    },
    async reconcileAll() {
      for (const tab of await ledger.tabsWithPending()) await ledger.withTabLock(tab, () => reconcile(tab));
    },
  };
}
