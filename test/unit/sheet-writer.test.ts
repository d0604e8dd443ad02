// The no-duplicate write scheme on its own: an in-memory sink and the ledger on in-memory PGlite.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../services/shared/db.js';
import { createMetrics } from '../../services/shared/metrics.js';
import { PermanentError, TransientError } from '../../services/shared/errors.js';
import { openLedger, type Ledger } from '../../services/sheet-export/ledger.js';
import { createSheetMetrics } from '../../services/sheet-export/metrics.js';
import { createTabWriter, type TabWriter } from '../../services/sheet-export/writer.js';
import { markNotApplied, type Sink } from '../../services/sheet-export/sink.js';
import { completeLength, parseCsv, toCsv } from '../../services/sheet-export/csv-sink.js';
import { createBatcher } from '../../services/sheet-export/batcher.js';
import type { Row } from '../../services/sheet-export/rows.js';
import { createBatchHandler } from '../../services/sheet-export/exporter.js';
import type { BatchContext, ConsumedRecord } from '../../services/shared/consumer.js';
import { captureLogger } from '../support/env.js';

function memorySink() {
  const tabs = new Map<string, Row[]>();
  let failNext: Error | undefined;
  let applyThenFail = false;
  const sink: Sink & { tabs: typeof tabs; failNextAppend(err: Error, applied: boolean): void; appends: number } = {
    target: 'csv',
    tabs,
    appends: 0,
    failNextAppend(err, applied) {
      failNext = err;
      applyThenFail = applied;
    },
    async ensureHeader(tab, header) {
      if (!tabs.has(tab)) tabs.set(tab, [header]);
    },
    async append(tab, rows) {
      sink.appends++;
      const err = failNext;
      failNext = undefined;
      if (err && !applyThenFail) throw err;
      const rowsBefore = tabs.get(tab)!.length;
      tabs.get(tab)!.push(...rows);
      if (err) throw err;
      return `${tab}!A${rowsBefore + 1}:A${rowsBefore + rows.length}`;
    },
    async readEventIds(tab) {
      return new Set((tabs.get(tab) ?? []).map((r) => String(r[0])));
    },
  };
  return sink;
}

const entries = (ids: string[]) => ids.map((id) => ({ eventId: id, row: [id, `value of ${id}`] }));

describe('sheet writer', () => {
  let db: Db;
  let ledger: Ledger;
  let sink: ReturnType<typeof memorySink>;
  let writer: TabWriter;

  beforeEach(async () => {
    db = await openDb({ dataDir: 'memory://' });
    ledger = await openLedger(db);
    sink = memorySink();
    writer = createTabWriter({ sink, ledger, metrics: createSheetMetrics(createMetrics('test'), 'csv') });
  });
  afterEach(async () => {
    await db.close();
  });

  const idsIn = (tab: string) => (sink.tabs.get(tab) ?? []).slice(1).map((r) => r[0]);

  it('appends once, reports redelivered ids as duplicates, and collapses repeats within a batch', async () => {
    const first = await writer.write('T', ['Event ID', 'v'], entries(['a', 'b', 'a']));
    expect([...first.appended].sort()).toEqual(['a', 'b']);
    const second = await writer.write('T', ['Event ID', 'v'], entries(['b', 'c']));
    expect([...second.appended]).toEqual(['c']);
    expect([...second.duplicates]).toEqual(['b']);
    expect(idsIn('T')).toEqual(['a', 'b', 'c']);
    // The range each row went to, as the sink reported it (row 1 is the header).
    expect(Object.fromEntries(first.ranges ?? [])).toEqual({ a: 'T!A2:A3', b: 'T!A2:A3' });
    expect(Object.fromEntries(second.ranges ?? [])).toEqual({ c: 'T!A4:A4' });
    expect(sink.tabs.get('T')![0]).toEqual(['Event ID', 'v']);
  });

  it('counts one "processed" per row: later copies of an event id, in the same batch or another caller\'s, are duplicates', async () => {
    const batcher = createBatcher({ maxRows: 100, maxWaitMs: 20, minIntervalMs: 0, flush: (tab, e) => writer.write(tab, ['Event ID', 'v'], e) });
    const handle = createBatchHandler({ batcher, tabs: { nsps: 'N', onceEvents: 'E', onceUsage: 'U' }, logger: captureLogger().logger });
    const record = (id: string, partition: number, offset: number): ConsumedRecord => ({
      topic: 'raw.nsps.events', partition, offset: String(offset), key: id, headers: {}, value: Buffer.alloc(0),
      envelope: {
        event_id: id, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: 1_767_225_600_000, request_id: `req-${id}`,
        content_type: 'application/json', payload: Buffer.from(JSON.stringify({ event_id: id, data: { event_type: 'SIM/Updated' } })), attributes: {},
      },
    });
    const ctx: BatchContext = { deadLetter: async () => undefined, heartbeat: async () => undefined, isStale: () => false };
    // Two partitions' batches in one flush: x twice in the first (a re-delivery read in the same batch), y in both.
    const [first, second] = await Promise.all([
      handle([record('x', 0, 1), record('y', 0, 2), record('x', 0, 3)], ctx),
      handle([record('y', 1, 10), record('z', 1, 11)], ctx),
    ]);
    expect(first.map((o) => o.outcome)).toEqual(['processed', 'processed', 'duplicate']);
    expect(second.map((o) => o.outcome)).toEqual(['duplicate', 'processed']);
    expect(idsIn('N')).toEqual(['x', 'y', 'z']);
    // A later batch with all three: nothing new, three duplicates.
    const again = await handle([record('z', 1, 12), record('x', 0, 4), record('y', 0, 5)], ctx);
    expect(again.map((o) => o.outcome)).toEqual(['duplicate', 'duplicate', 'duplicate']);
    expect(idsIn('N')).toEqual(['x', 'y', 'z']);
    await batcher.close();
  });

  it('after a crash between append and record, reconciles from column A instead of appending again', async () => {
    // The rows land and the answer never comes back (the ledger is left as a crash after the append leaves it).
    sink.failNextAppend(new Error('process died'), true);
    await expect(writer.write('T', ['Event ID'], entries(['a', 'b']))).rejects.toThrow('process died');
    expect((await ledger.pending('T')).map((b) => b.eventIds.sort())).toEqual([['a', 'b']]);
    // A new process (same ledger) starts and reconciles before anything else.
    const restarted = createTabWriter({ sink, ledger, metrics: createSheetMetrics(createMetrics('test2'), 'csv') });
    await restarted.reconcileAll();
    expect(await ledger.pending('T')).toEqual([]);
    const again = await restarted.write('T', ['Event ID'], entries(['a', 'b', 'c']));
    expect([...again.appended]).toEqual(['c']);
    expect(idsIn('T')).toEqual(['a', 'b', 'c']);
  });

  it('appends again the rows of a failed call that did not reach the sheet', async () => {
    sink.failNextAppend(new TransientError('HTTP 500'), false);
    await expect(writer.write('T', ['Event ID'], entries(['a']))).rejects.toThrow('HTTP 500');
    expect(await ledger.pending('T')).toHaveLength(1); // outcome unknown: kept for reconciliation
    await writer.write('T', ['Event ID'], entries(['a']));
    expect(idsIn('T')).toEqual(['a']);
    expect(await ledger.pending('T')).toEqual([]);
  });

  it('does not even read the sheet back after a refusal (429)', async () => {
    sink.failNextAppend(markNotApplied(new TransientError('HTTP 429', 1000)), false);
    await expect(writer.write('T', ['Event ID'], entries(['a']))).rejects.toThrow('HTTP 429');
    expect(await ledger.pending('T')).toEqual([]);
    sink.failNextAppend(markNotApplied(new PermanentError('HTTP 400')), false);
    await expect(writer.write('T', ['Event ID'], entries(['b']))).rejects.toBeInstanceOf(PermanentError);
    expect(await ledger.pending('T')).toEqual([]);
  });
});

describe('sheet batcher', () => {
  it('joins rows of several callers into one flush and splits what exceeds maxRows', async () => {
    const flushes: number[] = [];
    const batcher = createBatcher({
      maxRows: 5, maxWaitMs: 50, minIntervalMs: 0,
      flush: async (_tab, e) => {
        flushes.push(e.length);
        return { appended: new Set(e.map((x) => x.eventId)), duplicates: new Set() };
      },
    });
    const results = await Promise.all([batcher.add('T', entries(['a', 'b'])), batcher.add('T', entries(['c'])), batcher.add('T', entries(['d', 'e', 'f', 'g', 'h', 'i']))]);
    expect(flushes.reduce((a, b) => a + b, 0)).toBe(9);
    expect(Math.max(...flushes)).toBeLessThanOrEqual(5);
    expect(results[0]!.appended.has('a')).toBe(true);
    expect(results[2]!.appended.has('i')).toBe(true);
    await batcher.close();
  });

  it('fails every caller of a failed flush, so each retries its own rows', async () => {
    const batcher = createBatcher({ maxRows: 10, maxWaitMs: 10, minIntervalMs: 0, flush: async () => Promise.reject(new TransientError('down')) });
    const outcomes = await Promise.allSettled([batcher.add('T', entries(['a'])), batcher.add('T', entries(['b']))]);
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    await batcher.close();
  });
});

describe('CSV encoding', () => {
  it('quotes per RFC 4180 and parses back to the same fields', () => {
    const rows: Row[] = [['id-1', 'plain', 'with, comma', 'with "quotes"', 'two\nlines', 0.5, false, '']];
    const text = toCsv(rows);
    expect(text).toBe('id-1,plain,"with, comma","with ""quotes""","two\nlines",0.5,false,\r\n');
    expect(parseCsv(text)).toEqual([rows[0]!.map(String)]);
  });

  it('finds the end of the last complete record, so a torn write can be cut off', () => {
    const whole = toCsv([['a', 'x'], ['b', 'multi\nline']]);
    expect(completeLength(whole)).toBe(whole.length);
    const torn = whole + 'c,"unfinished\nstill';
    expect(completeLength(torn)).toBe(whole.length);
    expect(parseCsv(whole.slice(0, completeLength(torn)))).toEqual([['a', 'x'], ['b', 'multi\nline']]);
  });
});
