// The trail's SQL on the embedded database (the same migrations and statements as on PostgreSQL):
// idempotent writes, latest outcomes, the timeline, siblings, list filters, pagination, pruning.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../services/shared/db.js';
import type { Envelope } from '../../services/shared/envelope.js';
import type { OutcomeRecord } from '../../services/shared/outcome.js';
import { migrateTrail } from '../../services/trail/main.js';
import { eventRow, outcomeRow, outcomeRows, type EventRow, type OutcomeRow } from '../../services/trail/project.js';
import { getTimeline, listEvents } from '../../services/trail/queries.js';
import { prune, writeRows } from '../../services/trail/store.js';

const T0 = Date.UTC(2026, 0, 31, 8);
let offset = 0;
const ev = (e: Partial<Envelope>, key: string | null, topic = 'raw'): EventRow =>
  eventRow({
    event_id: 'x', source: 'nsps', kind: 'nsps.event', tenant: null, received_at: T0, request_id: 'r', content_type: 'application/json',
    payload: Buffer.from('{}'), attributes: {}, ...e,
  }, key, { topic, partition: 0, offset: String(offset++) });
let oOffset = 0;
const oc = (o: Partial<OutcomeRecord>): OutcomeRow =>
  outcomeRow({ event_id: 'x', consumer: 'provisioning', outcome: 'applied', attempt: 1, reason: null, effect: {}, at: T0 + 1000, topic: 'raw', partition: 0, offset: 0, ...o },
    { topic: 'outcomes', partition: 0, offset: String(oOffset++) });

describe('trail store and queries (PGlite)', () => {
  let db: Db;
  beforeAll(async () => {
    db = await openDb({ dataDir: 'memory://', schema: 'trail' });
    await migrateTrail(db);
  });
  afterAll(async () => db?.close());

  it('writes idempotently and answers timelines, siblings, filters and pages', async () => {
    const nsps = ev({ event_id: 'nsps:1', received_at: T0 + 10, request_id: 'rq-n', attributes: { event_type: 'SIM/Updated' } }, 'imsi-1');
    const batch = [0, 1, 2].map((i) => ev({ event_id: `1nce-event:${i}`, source: '1nce', kind: '1nce.event', received_at: T0 + 20, request_id: 'rq-b', attributes: { index: String(i) } }, `iccid-${i}`));
    const sap = [2, 1].map((part) => ev({ event_id: `sap:rep:${part}`, source: 'sap', kind: 'sap.report', tenant: 'ten', received_at: T0 + 30, request_id: 'rq-s', attributes: { report_id: 'rep', part: String(part), parts: '2', report_type: 'full' } }, 'ten'));
    const outcomes = [
      oc({ event_id: 'nsps:1', outcome: 'retrying', at: T0 + 100 }),
      oc({ event_id: 'nsps:1', outcome: 'dead_lettered', reason: 'WTL said 400', at: T0 + 200 }),
      oc({ event_id: 'nsps:1', consumer: 'sheet-export', at: T0 + 150 }),
      oc({ event_id: '1nce-event:1', consumer: 'sheet-export', outcome: 'dead_lettered', at: T0 + 300 }),
      oc({ event_id: 'ghost', consumer: 'sheet-export', at: T0 + 50 }),
    ];
    const first = await db.transaction((tx) => writeRows(tx, [nsps, ...batch, ...sap], outcomes));
    expect(first).toEqual({ events: 6, outcomes: 5 });
    // The same records again (a redelivery) and a re-produce of the same facts at new positions: nothing new.
    const again = await db.transaction((tx) => writeRows(tx, [nsps, { ...nsps, offset: '999' }], [outcomes[1]!, { ...outcomes[1]!, outcome_offset: '999' }]));
    expect(again).toEqual({ events: 0, outcomes: 0 });

    const t = await getTimeline(db, 'nsps:1');
    expect(t!.event).toMatchObject({ event_id: 'nsps:1', event_type: 'SIM/Updated', key: 'imsi-1' });
    expect(t!.outcomes.map((o) => `${o.consumer}:${o.outcome}`)).toEqual(['provisioning:retrying', 'sheet-export:applied', 'provisioning:dead_lettered']);
    expect(t!.siblings).toEqual([]);
    expect((await getTimeline(db, '1nce-event:1'))!.siblings).toEqual(['1nce-event:0', '1nce-event:2']);
    expect((await getTimeline(db, 'sap:rep:2'))!.siblings).toEqual(['sap:rep:1']);
    const ghost = await getTimeline(db, 'ghost');
    expect(ghost!.event).toBeNull();
    expect(ghost!.outcomes).toHaveLength(1);
    expect(await getTimeline(db, 'nobody')).toBeUndefined();

    const dead = await listEvents(db, { outcome: 'dead_lettered', limit: 50 });
    expect(dead.items.map((e) => e.event_id)).toEqual(['1nce-event:1', 'nsps:1']);
    expect(dead.items[1]!.latest.map((o) => `${o.consumer}:${o.outcome}`)).toEqual(['sheet-export:applied', 'provisioning:dead_lettered']);
    expect((await listEvents(db, { outcome: 'dead_lettered', consumer: 'sheet-export', limit: 50 })).items.map((e) => e.event_id)).toEqual(['1nce-event:1']);
    expect((await listEvents(db, { outcome: 'dead_lettered', from: new Date(T0 + 15), limit: 50 })).items.map((e) => e.event_id)).toEqual(['1nce-event:1']);
    expect((await listEvents(db, { key: 'imsi-1', limit: 50 })).items.map((e) => e.event_id)).toEqual(['nsps:1']);
    expect((await listEvents(db, { source: 'sap', limit: 50 })).items).toHaveLength(2);

    const seen: string[] = [];
    let cursor: string | null | undefined;
    let pages = 0;
    do {
      const { decodeCursor } = await import('../../services/trail/queries.js');
      const page = await listEvents(db, { limit: 4, ...(cursor ? { after: decodeCursor(cursor)! } : {}) });
      seen.push(...page.items.map((e) => e.event_id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).toBe(2);
    expect(seen).toHaveLength(6);
    expect(new Set(seen).size).toBe(6);
    expect(seen[0]).toMatch(/^sap:rep:/);

    const pruned = await prune(db, new Date(T0 + 25));
    expect(pruned).toEqual({ events: 4, outcomes: 0 });
    expect((await getTimeline(db, 'nsps:1'))!.event).toBeNull(); // its outcomes are younger
    expect((await getTimeline(db, 'sap:rep:1'))!.siblings).toEqual(['sap:rep:2']);
    expect(await prune(db, new Date(T0 + 1000))).toEqual({ events: 2, outcomes: 5 });
    expect(await getTimeline(db, 'nsps:1')).toBeUndefined();
    expect((await db.query('SELECT * FROM latest_outcomes')).rows).toHaveLength(0);
  });

  it('files a run of duplicates as one row per event, once however often its record is read', async () => {
    const at = T0 + 5000;
    const record: OutcomeRecord = {
      event_id: 'run:0', consumer: 'provisioning', outcome: 'duplicate', attempt: 1, reason: null, effect: {}, at, topic: 'raw', partition: 3, offset: 100,
      // The same event twice in one run (a sender's re-send, both already done): two rows, one latest.
      also: [{ event_id: 'run:1', offset: 101 }, { event_id: 'run:2', offset: 103 }, { event_id: 'run:1', offset: 104 }],
    };
    const rows = outcomeRows(record, { topic: 'outcomes', partition: 1, offset: '77' });
    expect(await db.transaction((tx) => writeRows(tx, [], rows))).toEqual({ events: 0, outcomes: 4 });
    expect(await db.transaction((tx) => writeRows(tx, [], outcomeRows(record, { topic: 'outcomes', partition: 1, offset: '77' })))).toEqual({ events: 0, outcomes: 0 });
    const one = await getTimeline(db, 'run:1');
    expect(one!.outcomes.map((o) => [o.outcome, o.offset, o.partition])).toEqual([['duplicate', 101, 3], ['duplicate', 104, 3]]);
    expect((await getTimeline(db, 'run:2'))!.outcomes.map((o) => o.offset)).toEqual([103]);
    expect((await db.query("SELECT event_id FROM latest_outcomes WHERE outcome = 'duplicate' ORDER BY event_id")).rows.map((r: any) => r.event_id)).toEqual(['run:0', 'run:1', 'run:2']);
  });
});
