// The trail's pure parts: records → rows, latest outcome per consumer, list query parsing, SQL building, cursors.
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../services/shared/envelope.js';
import type { OutcomeRecord } from '../../services/shared/outcome.js';
import { eventRow, eventTypeOf, outcomeRow, outcomeRows, retentionCutoff, siblingGroupOf } from '../../services/trail/project.js';
import { buildListSql, decodeCursor, encodeCursor, parseListQuery, MAX_LIMIT } from '../../services/trail/queries.js';
import { isLater, latestByConsumer, valuesList } from '../../services/trail/store.js';

const pos = { topic: 't.raw.nsps.events', partition: 2, offset: '41' };

function envelope(over: Partial<Envelope>): Envelope {
  return {
    event_id: 'e1', source: 'nsps', kind: 'nsps.event', tenant: null, received_at: Date.UTC(2026, 0, 31, 9), request_id: 'req-1',
    content_type: 'application/json', payload: Buffer.from('{}'), attributes: {}, ...over,
  };
}

const nspsPayload = Buffer.from(JSON.stringify({ event_id: 'n-1', data: { event_type: 'SIM/Updated', variables: {} }, pb_data: { sim_info: { imsi: '001010000000001' } } }));

describe('eventRow', () => {
  it('keeps the envelope facts, the record key, the position and the payload size', () => {
    const row = eventRow(envelope({ event_id: 'n-1', payload: nspsPayload, attributes: { event_type: 'SIM/Updated' } }), '001010000000001', pos);
    expect(row).toMatchObject({
      event_id: 'n-1', source: 'nsps', kind: 'nsps.event', event_type: 'SIM/Updated', key: '001010000000001', request_id: 'req-1',
      topic: pos.topic, partition: 2, offset: '41', size: nspsPayload.length, sibling_group: null,
    });
    expect(row.received_at.toISOString()).toBe('2026-01-31T09:00:00.000Z');
  });

  it('reads the NSPS event type from the payload when the attribute is missing', () => {
    expect(eventTypeOf(envelope({ payload: nspsPayload }))).toBe('SIM/Updated');
    expect(eventTypeOf(envelope({ payload: Buffer.from('not json') }))).toBeNull();
  });

  it('names 1NCE event and usage records, SAP reports and quarantined records', () => {
    const onceEvent = Buffer.from(JSON.stringify({ id: 7, iccid: '8988', event_type: { id: 1, description: 'Update location' } }));
    expect(eventTypeOf(envelope({ source: '1nce', kind: '1nce.event', payload: onceEvent }))).toBe('Update location');
    const usage = Buffer.from(JSON.stringify({ id: 8, iccid: '8988', traffic_type: { id: 5, description: 'Data' }, volume: { total: 1 } }));
    expect(eventTypeOf(envelope({ source: '1nce', kind: '1nce.usage', payload: usage }))).toBe('Data');
    expect(eventTypeOf(envelope({ source: 'sap', kind: 'sap.report', attributes: { report_type: 'full' } }))).toBe('full');
    expect(eventTypeOf(envelope({ source: '1nce', kind: '1nce.quarantined', attributes: { reason: 'no_id' } }))).toBe('no_id');
  });

  it('groups a 1NCE batch by request id and a split SAP report by report id', () => {
    expect(siblingGroupOf(envelope({ source: '1nce', kind: '1nce.event', request_id: 'r9' }))).toBe('1nce:r9');
    expect(siblingGroupOf(envelope({ source: '1nce', kind: '1nce.quarantined', request_id: 'r9' }))).toBe('1nce:r9');
    expect(siblingGroupOf(envelope({ source: 'sap', kind: 'sap.report', attributes: { report_id: 'rep', part: '1', parts: '2' } }))).toBe('sap:rep');
    expect(siblingGroupOf(envelope({}))).toBeNull();
  });
});

function outcome(over: Partial<OutcomeRecord>): OutcomeRecord {
  return {
    event_id: 'e1', consumer: 'provisioning', outcome: 'applied', attempt: 1, reason: null, effect: { http_status: '200' },
    at: Date.UTC(2026, 0, 31, 9, 0, 1), topic: pos.topic, partition: 2, offset: 41, ...over,
  };
}

describe('outcomeRow and the latest outcome', () => {
  const opos = (offset: string) => ({ topic: 't.outcomes', partition: 0, offset });

  it('keeps where the outcome sits and which record it is about', () => {
    expect(outcomeRow(outcome({}), opos('5'))).toMatchObject({
      outcome_topic: 't.outcomes', outcome_partition: 0, outcome_offset: '5', event_id: 'e1', consumer: 'provisioning',
      outcome: 'applied', effect: { http_status: '200' }, topic: pos.topic, partition: 2, offset: '41',
    });
  });

  it('files an outcome record with a run of duplicates as one row per event, each with its own record', () => {
    const rows = outcomeRows(outcome({ outcome: 'duplicate', offset: 41, also: [{ event_id: 'e2', offset: 42 }, { event_id: 'e9', offset: 50 }] }), opos('5'));
    expect(rows.map((r) => [r.event_id, r.offset, r.outcome_offset, r.outcome_index, r.outcome])).toEqual([
      ['e1', '41', '5', 0, 'duplicate'], ['e2', '42', '5', 1, 'duplicate'], ['e9', '50', '5', 2, 'duplicate'],
    ]);
    expect(new Set(rows.map((r) => r.at.getTime())).size).toBe(1);
    expect(outcomeRows(outcome({}), opos('6'))).toEqual([outcomeRow(outcome({}), opos('6'))]);
  });

  it('picks each consumer’s latest by time, then by position in the outcomes topic', () => {
    const rows = [
      outcomeRow(outcome({ outcome: 'retrying', at: 1000 }), opos('1')),
      outcomeRow(outcome({ outcome: 'dead_lettered', at: 2000 }), opos('2')),
      outcomeRow(outcome({ consumer: 'sheet-export', outcome: 'applied', at: 1500 }), opos('3')),
      outcomeRow(outcome({ outcome: 'redriven', at: 2000 }), opos('4')),
      outcomeRow(outcome({ outcome: 'retrying', at: 1999 }), opos('9')),
    ];
    const latest = latestByConsumer(rows);
    expect(latest.map((r) => [r.consumer, r.outcome])).toEqual([['provisioning', 'redriven'], ['sheet-export', 'applied']]);
    expect(isLater(rows[3]!, rows[1]!)).toBe(true);
    expect(isLater(rows[1]!, rows[3]!)).toBe(false);
  });

  it('builds parameter lists and the retention cutoff', () => {
    expect(valuesList(2, 3)).toBe('($1, $2, $3), ($4, $5, $6)');
    expect(retentionCutoff(new Date('2026-01-31T00:00:00Z'), 30).toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });
});

describe('parseListQuery', () => {
  it('defaults and accepts every filter', () => {
    expect(parseListQuery({})).toEqual({ ok: true, value: { limit: 50 } });
    const parsed = parseListQuery({ source: 'nsps', key: '00101', outcome: 'dead_lettered', consumer: 'provisioning', from: '2026-01-31T09:00:00Z', to: '1769860800000', limit: '500' });
    expect(parsed).toEqual({
      ok: true,
      value: {
        source: 'nsps', key: '00101', outcome: 'dead_lettered', consumer: 'provisioning', from: new Date('2026-01-31T09:00:00Z'),
        to: new Date(1769860800000), limit: 500,
      },
    });
  });

  it.each([
    [{ limit: '0' }, 'limit'],
    [{ limit: String(MAX_LIMIT + 1) }, 'limit'],
    [{ limit: '2.5' }, 'limit'],
    [{ outcome: 'exploded' }, 'outcome'],
    [{ source: 'smtp' }, 'source'],
    [{ from: 'yesterday' }, 'from'],
    [{ from: '2026-02-01T00:00:00Z', to: '2026-01-01T00:00:00Z' }, 'from'],
    [{ cursor: 'garbage' }, 'cursor'],
    [{ key: '' }, 'key'],
    [{ colour: 'red' }, 'colour'],
    [{ key: ['a', 'b'] }, 'key'],
  ])('refuses %j naming %s', (raw, name) => {
    const parsed = parseListQuery(raw as Record<string, unknown>);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toContain(name);
  });
});

describe('cursors and the list SQL', () => {
  const cursor = { receivedAt: new Date('2026-01-31T09:00:00.123Z'), topic: 'x.raw.sap.reports', partition: 1, offset: '9007199254740993' };

  it('round-trips a cursor and refuses tampered ones', () => {
    expect(decodeCursor(encodeCursor(cursor))).toEqual(cursor);
    expect(decodeCursor(Buffer.from('[1,"t",0,"-1"]').toString('base64url'))).toBeUndefined();
    expect(decodeCursor(Buffer.from('{"a":1}').toString('base64url'))).toBeUndefined();
  });

  it('filters with parameters only, newest first, one row more than the page', () => {
    const sql = buildListSql({ source: 'nsps', key: "x'; DROP TABLE events; --", outcome: 'dead_lettered', consumer: 'provisioning', from: new Date(0), limit: 10, after: cursor });
    expect(sql.text).not.toContain('DROP');
    expect(sql.params).toEqual(['nsps', "x'; DROP TABLE events; --", new Date(0), 'dead_lettered', 'provisioning', cursor.receivedAt, cursor.topic, 1, cursor.offset, 11]);
    expect(sql.text).toContain('l.outcome = $4 AND l.consumer = $5');
    expect(sql.text).toMatch(/ORDER BY e.received_at DESC/);
    expect(sql.text).toContain('LIMIT $10');
  });

  it('without filters lists first deliveries only', () => {
    const sql = buildListSql({ limit: 50 });
    expect(sql.params).toEqual([51]);
    expect(sql.text).toContain('NOT EXISTS (SELECT 1 FROM events d');
    expect(sql.text).not.toContain('latest_outcomes');
  });
});
