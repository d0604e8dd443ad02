// Where a Kafka record becomes a spreadsheet row: decode → row (rows.ts) → the tab's batch (batcher.ts)
// → the no-duplicate write (writer.ts). The consumer commits a partition batch's offsets only after
// this handler returned, i.e. after every row of it is appended and recorded, or was already there.
import type { BatchContext, ConsumedRecord, Handled } from '../shared/consumer.js';
import { isRetriable } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import type { Batcher, Entry } from './batcher.js';
import { toRow, type RowKind } from './rows.js';

export type TabNames = Record<RowKind, string>;

export function createBatchHandler(deps: { batcher: Batcher; tabs: TabNames; logger: Logger }) {
  return async (records: ConsumedRecord[], ctx: BatchContext): Promise<Handled[]> => {
    const outcomes: Handled[] = records.map(() => ({ outcome: 'skipped' }));
    const unreadable: { index: number; err: unknown }[] = [];
    const byTab = new Map<string, { indexes: number[]; entries: Entry[] }>();

    records.forEach((record, index) => {
      try {
        const mapped = toRow(record.envelope);
        const tab = deps.tabs[mapped.kind];
        const group = byTab.get(tab) ?? { indexes: [], entries: [] };
        byTab.set(tab, group);
        group.indexes.push(index);
        group.entries.push({ eventId: mapped.eventId, row: mapped.row });
      } catch (err) {
        if (isRetriable(err)) throw err;
        unreadable.push({ index, err });
      }
    });

    // All tabs of this batch at once; any failure fails the batch, which the runner retries with backoff
    // (rows that did land are then recognised as exported and not written again).
    await Promise.all(
      [...byTab].map(async ([tab, group]) => {
        const result = await deps.batcher.add(tab, group.entries);
        // One row per event id: its first record in the batch is the one that wrote it, any later copy (a
        // re-delivery read in the same batch) is a duplicate, as it would have been in the next batch.
        const counted = new Set<string>();
        group.entries.forEach((entry, i) => {
          const wroteIt = result.appended.has(entry.eventId) && !counted.has(entry.eventId);
          counted.add(entry.eventId);
          const range = result.ranges?.get(entry.eventId);
          outcomes[group.indexes[i]!] = wroteIt
            ? { outcome: 'processed', effect: range ? { tab, range } : { tab } }
            : { outcome: 'duplicate', effect: { tab } };
        });
      }),
    );

    // Dead-letter only after the good rows are safe, so a retried batch does not dead-letter twice.
    for (const { index, err } of unreadable) {
      deps.logger.warn({ event_id: records[index]!.envelope.event_id }, 'unreadable payload: dead-lettering');
      await ctx.deadLetter(records[index]!, err, 1);
    }
    return outcomes;
  };
}
