// Gathers rows per tab across partition batches, so that a burst of thousands of records costs a few
// API calls: a tab is flushed when it holds maxRows rows or its oldest row waited maxWaitMs. Flushes run
// one at a time and at least minIntervalMs apart (the write quota, see docs/sheet-export.md). Callers
// wait for the flush that carries their rows: their offsets are committed only after it succeeded.
import type { Row } from './rows.js';
import type { WriteResult } from './writer.js';

export interface Entry {
  eventId: string;
  row: Row;
}

export interface BatcherOptions {
  maxRows: number;
  maxWaitMs: number;
  minIntervalMs: number;
  flush: (tab: string, entries: Entry[]) => Promise<WriteResult>;
}

interface Waiter {
  entries: Entry[];
  since: number;
  resolve: (r: WriteResult) => void;
  reject: (err: unknown) => void;
}

export interface Batcher {
  add(tab: string, entries: Entry[]): Promise<WriteResult>;
  /** Flushes whatever waits, then refuses new rows. */
  close(): Promise<void>;
}

export function createBatcher(opts: BatcherOptions): Batcher {
  const queues = new Map<string, Waiter[]>();
  let running = false;
  let closing = false;
  let timer: NodeJS.Timeout | undefined;
  let lastCallAt = 0;
  let idle: Promise<void> = Promise.resolve();

  const rowsOf = (q: Waiter[]): number => q.reduce((n, w) => n + w.entries.length, 0);

  /** When the tab should be flushed: now if full (or closing), else when its oldest row has waited long enough. */
  const dueAt = (q: Waiter[]): number => (closing || rowsOf(q) >= opts.maxRows ? 0 : q[0]!.since + opts.maxWaitMs);

  const nextDue = (): { tab: string; at: number } | undefined => {
    let best: { tab: string; at: number } | undefined;
    for (const [tab, q] of queues) {
      if (q.length === 0) continue;
      const at = Math.max(dueAt(q), lastCallAt + opts.minIntervalMs);
      if (!best || at < best.at) best = { tab, at };
    }
    return best;
  };

  const schedule = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (running) return;
    const due = nextDue();
    if (!due) return;
    timer = setTimeout(() => void pump(), Math.max(0, due.at - Date.now()));
  };

  const pump = async (): Promise<void> => {
    if (running) return;
    running = true;
    let done!: () => void;
    idle = new Promise((r) => (done = r));
    try {
      for (let due = nextDue(); due && due.at <= Date.now(); due = nextDue()) {
        const q = queues.get(due.tab)!;
        // Whole waiters until the batch is full; a waiter bigger than maxRows is written in chunks.
        const taken: Waiter[] = [];
        let rows = 0;
        while (q.length > 0 && (taken.length === 0 || rows + q[0]!.entries.length <= opts.maxRows)) {
          const w = q.shift()!;
          taken.push(w);
          rows += w.entries.length;
        }
        await flushWaiters(due.tab, taken);
      }
    } finally {
      running = false;
      done();
      schedule();
    }
  };

  const flushWaiters = async (tab: string, waiters: Waiter[]): Promise<void> => {
    const entries = waiters.flatMap((w) => w.entries);
    const appended = new Set<string>();
    const duplicates = new Set<string>();
    const ranges = new Map<string, string>();
    try {
      for (let i = 0; i < entries.length; i += opts.maxRows) {
        const wait = lastCallAt + opts.minIntervalMs - Date.now();
        if (i > 0 && wait > 0) await new Promise((r) => setTimeout(r, wait));
        const result = await opts.flush(tab, entries.slice(i, i + opts.maxRows));
        if (result.appended.size > 0) lastCallAt = Date.now();
        for (const id of result.appended) appended.add(id);
        for (const id of result.duplicates) duplicates.add(id);
        for (const [id, range] of result.ranges ?? []) ranges.set(id, range);
      }
    } catch (err) {
      lastCallAt = Date.now();
      for (const w of waiters) w.reject(err);
      return;
    }
    // Each caller is told about its own rows: an id appended in this flush counts as appended for the first
    // caller that brought it and as a duplicate for any later one (one row, one "processed").
    const claimed = new Set<string>();
    for (const w of waiters) {
      const mine = new Set<string>();
      const theirs = new Set<string>();
      for (const { eventId } of w.entries) {
        if (mine.has(eventId)) continue;
        if (appended.has(eventId) && !claimed.has(eventId)) {
          claimed.add(eventId);
          mine.add(eventId);
        } else theirs.add(eventId);
      }
      w.resolve({ appended: mine, duplicates: theirs, ranges });
    }
  };

  return {
    add(tab, entries) {
      if (closing) return Promise.reject(new Error('the sheet batcher is closed'));
      if (entries.length === 0) return Promise.resolve({ appended: new Set(), duplicates: new Set() });
      return new Promise<WriteResult>((resolve, reject) => {
        const q = queues.get(tab) ?? [];
        queues.set(tab, q);
        q.push({ entries, since: Date.now(), resolve, reject });
        schedule();
      });
    },
    async close() {
      closing = true;
      schedule();
      while (running || [...queues.values()].some((q) => q.length > 0)) {
        await idle;
        await new Promise((r) => setTimeout(r, 10));
      }
      if (timer) clearTimeout(timer);
    },
  };
}
