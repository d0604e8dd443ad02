// Group commit for the store: the handler works one event at a time (claim, call, record), but up to
// PROVISIONING_KEY_CONCURRENCY × partitions events are at the same step at once. Their statements are
// gathered and sent as one multi-row statement (or one transaction) per flush, instead of one round trip
// (or four) per event. Each caller still gets its own answer only after its own rows are committed, so
// the order of steps per event — and every guarantee built on it — is what it was with one statement each.
import { classifyError } from '../shared/errors.js';

export interface CoalesceOptions<I> {
  /**
   * Keys that must not appear twice in one flush (an event id, an IMSI): a second item with the same key
   * waits for the next flush, as if it had been sent after the first one's statement.
   */
  keysOf?: (item: I) => string[];
  /** Largest flush (bounds the statement's size). */
  maxItems?: number;
}

type Pending<I, O> = { item: I; resolve: (o: O) => void; reject: (err: unknown) => void };

/**
 * Returns a per-item function whose calls made while a flush runs (or in the same turn of the event loop)
 * share the next call of `run`, which answers every item of its batch in order. When a shared flush fails
 * for any reason other than an outage, its items are run alone, so that only the item that is itself bad
 * fails (an outage fails them all: each is retried by its caller's retry policy).
 */
export function coalesce<I, O>(run: (items: I[]) => Promise<O[]>, opts: CoalesceOptions<I> = {}): (item: I) => Promise<O> {
  const maxItems = opts.maxItems ?? 500;
  let queue: Pending<I, O>[] = [];
  let flushing = false;
  let scheduled = false;

  const settle = async (batch: Pending<I, O>[]): Promise<void> => {
    try {
      const out = await run(batch.map((p) => p.item));
      batch.forEach((p, i) => p.resolve(out[i]!));
    } catch (err) {
      if (batch.length === 1 || classifyError(err) === 'unavailable') {
        for (const p of batch) p.reject(err);
        return;
      }
      for (const p of batch) await settle([p]);
    }
  };

  const take = (): Pending<I, O>[] => {
    if (!opts.keysOf) {
      const batch = queue.slice(0, maxItems);
      queue = queue.slice(batch.length);
      return batch;
    }
    const seen = new Set<string>();
    const batch: Pending<I, O>[] = [];
    const later: Pending<I, O>[] = [];
    for (const p of queue) {
      const keys = opts.keysOf(p.item);
      if (batch.length >= maxItems || keys.some((k) => seen.has(k))) {
        later.push(p);
        // A later item with the same key must not overtake this one: its keys are taken too.
        for (const k of keys) seen.add(k);
        continue;
      }
      for (const k of keys) seen.add(k);
      batch.push(p);
    }
    queue = later;
    return batch;
  };

  const flush = async (): Promise<void> => {
    scheduled = false;
    if (flushing) return;
    flushing = true;
    try {
      while (queue.length > 0) await settle(take());
    } finally {
      flushing = false;
    }
  };

  return (item) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!flushing && !scheduled) {
        scheduled = true;
        // The rest of this turn's callers (other keys resuming after the same answer) join the flush.
        setImmediate(() => void flush());
      }
    });
}
