// 1NCE ids beyond 2^53: read from the record's text, so two records never share an event_id by rounding.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memberNumberText } from '../../services/shared/contracts/json-member-text.js';
import { classifyOnceRecord, parseOnceRecord } from '../../services/shared/contracts/once-record.js';
import { classifyBatchElement, parseBatchStructure } from '../../services/ingress/domain/once-batch.js';
import { arrayElementRanges } from '../../services/ingress/domain/json-array.js';

describe('memberNumberText', () => {
  it('finds the top-level member among nested objects, arrays and strings that look like it', () => {
    const text = ' { "sim": {"id": 1, "x": "}{\\"id\\": 5"}, "list": [ {"id": 2}, "id", [3] ], "i\\u0064": 9007199254740993 , "z": null } ';
    expect(memberNumberText(text, 'id')).toBe('9007199254740993');
    expect(memberNumberText('{"id":1,"id":-12.5e+3}', 'id')).toBe('-12.5e+3');
    expect(memberNumberText('{"id":"7"}', 'id')).toBeUndefined();
    expect(memberNumberText('{"other":7}', 'id')).toBeUndefined();
    expect(memberNumberText('[{"id":7}]', 'id')).toBeUndefined();
  });
  it('for any object, gives the exact text of its id number (property)', () => {
    const digits = fc.stringMatching(/^-?(0|[1-9]\d{0,24})(\.\d{1,5})?([eE][+-]?\d{1,3})?$/);
    fc.assert(fc.property(fc.dictionary(fc.string().filter((k) => k !== 'id'), fc.jsonValue(), { maxKeys: 5 }), digits, fc.nat(5), (others, id, at) => {
      const entries = Object.entries(others).map(([k, v]) => `${JSON.stringify(k)} : ${JSON.stringify(v, null, at % 2 ? 1 : undefined)}`);
      entries.splice(Math.min(at, entries.length), 0, `"id":${id}`);
      const text = `{${entries.join(' ,\n')}}`;
      JSON.parse(text); // the walk is only ever given text JSON.parse accepted
      expect(memberNumberText(text, 'id')).toBe(id);
    }));
  });
});

describe('1NCE ids beyond 2^53', () => {
  const a = '{"id": 9007199254740993, "event_type": {"id": 1}}';
  const b = '{"id": 9007199254740992, "event_type": {"id": 1}}';
  it('JSON.parse alone would give both records one id', () => {
    expect((JSON.parse(a) as { id: number }).id).toBe((JSON.parse(b) as { id: number }).id);
  });
  it('the stored bytes give each its own event_id, and the id as sent', () => {
    const ra = parseOnceRecord(Buffer.from(a));
    const rb = parseOnceRecord(Buffer.from(b));
    expect(ra.ok && ra.record.eventId).toBe('1nce-event:9007199254740993');
    expect(rb.ok && rb.record.eventId).toBe('1nce-event:9007199254740992');
    expect(ra.ok && ra.record.id).toBe('9007199254740993');
    // Safe integers stay numbers, as before.
    const small = parseOnceRecord(Buffer.from('{"id": 1234567890, "volume": {}}'));
    expect(small.ok && small.record).toMatchObject({ id: 1234567890, eventId: '1nce-usage:1234567890' });
  });
  it('ingress classifies a batch element from its bytes when its id is not exact as a number', () => {
    const body = Buffer.from(`[${a},${b}]`);
    const parsed = parseBatchStructure(body);
    if (!parsed.ok) throw new Error(parsed.error);
    const ranges = arrayElementRanges(body);
    const ids = (parsed.elements as unknown[]).map((v, i) => {
      const c = classifyBatchElement(v, body.subarray(ranges[i]!.start, ranges[i]!.end), i);
      return c.ok ? c.record.eventId : c.error;
    });
    expect(ids).toEqual(['1nce-event:9007199254740993', '1nce-event:9007199254740992']);
    // Without the bytes, the value alone is not classified by a rounded id.
    expect(classifyOnceRecord(JSON.parse(a), 0)).toMatchObject({ ok: false, reason: 'no_id' });
  });
});
