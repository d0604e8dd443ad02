// The 1NCE batch is parsed in latin1 view for speed (services/ingress/domain/once-batch.ts); these
// check that it accepts exactly the bodies the contract's strict UTF-8 parse accepts and classifies
// every element exactly as the contract does from the element's own bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonBytes } from '../../services/shared/contracts/json.js';
import { QUARANTINE_REASONS, parseOnceRecord } from '../../services/shared/contracts/once-record.js';
import { arrayElementRanges } from '../../services/ingress/domain/json-array.js';
import { RECORD_KINDS, parseBatchStructure, readOnceBatch, type BatchElements } from '../../services/ingress/domain/once-batch.js';

/** What ingress makes of each element (readOnceBatch, latin1 view) next to what the contract makes of its bytes. */
function bothWays(body: Buffer): { fast: unknown[]; exact: unknown[] } {
  const reading = readOnceBatch(body, 10_000);
  if (!reading.ok) throw new Error(`not read: ${reading.code}`);
  return { fast: elementSummaries(reading.elements), exact: exactSummaries(body) };
}

/** readOnceBatch's flat arrays, element by element. */
function elementSummaries({ ranges, classes, texts }: BatchElements): unknown[] {
  return [...classes].map((c, i) => {
    const kind = RECORD_KINDS[c];
    const range = { start: ranges[2 * i], end: ranges[2 * i + 1] };
    return kind !== undefined
      ? { range, kind, eventId: texts[3 * i], key: texts[3 * i + 1], tenant: texts[3 * i + 2] }
      : { range, reason: QUARANTINE_REASONS[c - RECORD_KINDS.length], error: texts[3 * i] };
  });
}

/** The contract's classification of each element from its own bytes, in the same shape. */
function exactSummaries(body: Buffer): unknown[] {
  return arrayElementRanges(body).map((range, i) => {
    const c = parseOnceRecord(body.subarray(range.start, range.end), i);
    return c.ok ? { range, kind: c.record.kind, eventId: c.record.eventId, key: c.record.key, tenant: c.record.tenant } : { range, reason: c.reason, error: c.error };
  });
}

const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.constantFrom('', ' ', '\u00a0', '\u3000', '€', 'ß', 'x\u0085', '1nce'));
const scalar = fc.oneof(text, fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null), fc.boolean());
const record = fc.record(
  {
    id: scalar,
    traffic_type: scalar,
    event_type: scalar,
    imsi: fc.oneof(scalar, fc.record({ imsi: scalar }, { requiredKeys: [] })),
    sim: fc.record({ iccid: scalar }, { requiredKeys: [] }),
    organisation: fc.record({ id: scalar }, { requiredKeys: [] }),
    currency: fc.record({ symbol: fc.constant('€') }),
  },
  { requiredKeys: [] },
);

describe('1NCE batch parsing in latin1 view', () => {
  it('classifies every element exactly as the contract does from its own bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(record, scalar), { maxLength: 8 }), fc.boolean(), (elements, escapeUnicode) => {
        let json = JSON.stringify(elements);
        // Escaped and raw non-ASCII must give the same answers.
        if (escapeUnicode) json = json.replace(/[\u0080-\uffff]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
        const { fast, exact } = bothWays(Buffer.from(json, 'utf8'));
        expect(fast).toEqual(exact);
      }),
      { numRuns: 400 },
    );
  });

  it('decides ids, keys and tenants with non-ASCII content from the exact bytes', () => {
    const body = Buffer.from(JSON.stringify([
      { id: 'ü-1', traffic_type: 'DATA', sim: { iccid: '€89' }, organisation: { id: 'Zürich' } },
      { id: '\u00a0', traffic_type: 'DATA' },
      { id: 7, event_type: 'x', imsi: { imsi: 'ß' } },
    ]));
    const { fast, exact } = bothWays(body);
    expect(fast).toEqual(exact);
    expect(fast[0]).toMatchObject({ kind: '1nce.usage', eventId: '1nce-usage:ü-1', key: '€89', tenant: 'Zürich' });
    expect(fast[1]).toMatchObject({ reason: 'no_id' });
    expect(fast[2]).toMatchObject({ kind: '1nce.event', eventId: '1nce-event:7', key: 'ß', tenant: null });
  });

  it('accepts exactly the bodies the strict UTF-8 parse accepts', () => {
    const samples = [
      Buffer.from('[{"a":"€"}]'),
      Buffer.from([0xef, 0xbb, 0xbf, ...Buffer.from('[1]')]), // byte-order mark
      Buffer.from([0x5b, 0x22, 0xc3, 0x28, 0x22, 0x5d]), // invalid UTF-8 in a string
      Buffer.from([0x5b, 0xc2, 0xa0, 0x31, 0x5d]), // a no-break space outside strings
      Buffer.from('["\u0001"]'), // a raw control character in a string
      Buffer.from('["\u0085\u2028"]'),
      Buffer.from('[1,]'),
    ];
    for (const body of samples) {
      const strict = parseJsonBytes(body);
      const fast = parseBatchStructure(body);
      expect({ body: body.toString('hex'), ok: fast.ok, error: fast.ok ? undefined : fast.error }).toEqual({ body: body.toString('hex'), ok: strict.ok, error: strict.ok ? undefined : strict.error });
    }
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const body = Buffer.from(bytes);
        const strict = parseJsonBytes(body);
        const fast = parseBatchStructure(body);
        expect(fast.ok).toBe(strict.ok);
        if (!fast.ok && !strict.ok) expect(fast.error).toBe(strict.error);
      }),
      { numRuns: 2000 },
    );
  });
});
