// Pure parts of ingress: array element slicing, 1NCE shape classification and quarantine, NSPS event validation,
// SAP report validation and tenant claims, splitting, produce chunking, credentials and config.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../services/shared/config.js';
import { loadIngressConfig } from '../../services/ingress/config.js';
import { createHash } from 'node:crypto';
import { basicCredentialsMatch, bearerToken, matchesAny, parseBasicUsers, secretMatcher } from '../../services/shared/credentials.js';
import { parseJsonBytes } from '../../services/shared/contracts/json.js';
import { NotAJsonArrayError, arrayElementRanges } from '../../services/ingress/domain/json-array.js';
import { checkNspsEvent, nspsRecordKey, parseNspsEvent } from '../../services/shared/contracts/nsps-event.js';
import { classifyOnceRecord, parseOnceRecord } from '../../services/shared/contracts/once-record.js';
import { QUARANTINE_KIND, quarantineEnvelope, quarantineEventId, reclassify } from '../../services/ingress/domain/quarantine.js';
import { planRedrive, type QuarantinedRecord } from '../../services/ingress/quarantine.js';
import { parseQuarantineArgs, preview, UsageError } from '../../scripts/quarantine.js';
import { checkSapReport, parseReportType, parseSapReport, splitIntoParts, tenantFromClaims } from '../../services/shared/contracts/sap-report.js';
import { requestIdFrom } from '../../services/ingress/app.js';

const slices = (text: string): string[] => {
  const buf = Buffer.from(text);
  return arrayElementRanges(buf).map((r) => buf.subarray(r.start, r.end).toString());
};

describe('arrayElementRanges', () => {
  it('returns each element exactly as written, whitespace inside kept, around dropped', () => {
    expect(slices('[ {"a": 1,  "b":[1,2]} ,\n\t"x,]" , 12.50e3,null,true, [ ] ]')).toEqual(['{"a": 1,  "b":[1,2]}', '"x,]"', '12.50e3', 'null', 'true', '[ ]']);
  });
  it('handles escaped quotes and backslashes inside strings, and multi-byte UTF-8', () => {
    expect(slices('[{"s":"a\\"]\\\\"},{"€":"ü}"}]')).toEqual(['{"s":"a\\"]\\\\"}', '{"€":"ü}"}']);
  });
  it('returns nothing for an empty array and refuses a non-array', () => {
    expect(slices(' [ ] ')).toEqual([]);
    expect(() => arrayElementRanges(Buffer.from('{"a":1}'))).toThrow(NotAJsonArrayError);
  });
  it('for any JSON array, the slices re-parse to the elements and are substrings of the body', () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 20 }), fc.integer({ min: 0, max: 4 }), (values, indent) => {
        const body = JSON.stringify(values, null, indent || undefined);
        const parts = slices(body);
        expect(parts.map((p) => JSON.parse(p))).toEqual(JSON.parse(body));
      }),
      { numRuns: 300 },
    );
  });
});

describe('parseJsonBytes', () => {
  it('refuses invalid UTF-8 and a byte-order mark instead of guessing', () => {
    expect(parseJsonBytes(Buffer.from([0x22, 0xc3, 0x28, 0x22]))).toEqual({ ok: false, error: 'body is not valid UTF-8' });
    expect(parseJsonBytes(Buffer.from('\ufeff{}')).ok).toBe(false);
    expect(parseJsonBytes(Buffer.from('{"a":"ü"}'))).toEqual({ ok: true, value: { a: 'ü' } });
  });
});

describe('classifyOnceRecord', () => {
  const event = { id: 1234567890, event_type: { id: 1, description: 'Update location' }, sim: { iccid: '8988' }, organisation: { id: 1234 }, user: null };
  const usage = { id: 99, traffic_type: { id: 5 }, volume: { total: 1 }, start_timestamp: 't', imsi: '26201', organisation: { id: 7 } };
  it('tells events from usage records by shape, with namespaced stable event ids', () => {
    expect(classifyOnceRecord(event, 0)).toEqual({ ok: true, record: { kind: '1nce.event', id: 1234567890, eventId: '1nce-event:1234567890', key: '8988', tenant: '1234', fields: event } });
    expect(classifyOnceRecord(usage, 0)).toEqual({ ok: true, record: { kind: '1nce.usage', id: 99, eventId: '1nce-usage:99', key: '26201', tenant: '7', fields: usage } });
  });
  it('keys by ICCID, else IMSI (nested for events), else id', () => {
    const r = classifyOnceRecord({ id: 5, event_type: {}, imsi: { imsi: '00101' } }, 0);
    expect(r.ok && r.record.key).toBe('00101');
    const bare = classifyOnceRecord({ id: 'abc', volume: {} }, 0);
    expect(bare.ok && bare.record).toEqual({ kind: '1nce.usage', id: 'abc', eventId: '1nce-usage:abc', key: 'abc', tenant: null, fields: { id: 'abc', volume: {} } });
  });
  it('does not classify records without id, of neither shape, of both shapes, or not objects (ingress quarantines them)', () => {
    expect(classifyOnceRecord({ event_type: {} }, 3)).toMatchObject({ ok: false, reason: 'no_id', error: 'record 3: has no id' });
    expect(classifyOnceRecord({ id: null, event_type: {} }, 0)).toMatchObject({ ok: false, reason: 'no_id' });
    expect(classifyOnceRecord({ id: 1, foo: 1 }, 0)).toMatchObject({ ok: false, reason: 'unknown_shape' });
    expect(classifyOnceRecord({ id: 1, event_type: {}, volume: {} }, 0)).toMatchObject({ ok: false, reason: 'ambiguous_shape' });
    expect(classifyOnceRecord([1], 0)).toMatchObject({ ok: false, reason: 'not_an_object' });
    expect(classifyOnceRecord({ id: '  ', event_type: {} }, 0)).toMatchObject({ ok: false, reason: 'no_id' });
  });
  it('parses stored bytes with the same rules, strict JSON first', () => {
    expect(parseOnceRecord(Buffer.from('{"id":5,"volume":{}}'))).toMatchObject({ ok: true, record: { kind: '1nce.usage', id: 5, eventId: '1nce-usage:5' } });
    expect(parseOnceRecord(Buffer.from('{"id":5,'))).toEqual({ ok: false, reason: 'invalid_json', error: 'body is not valid JSON' });
    expect(parseOnceRecord(Buffer.from('{"id":5}'), 7)).toMatchObject({ ok: false, reason: 'unknown_shape', error: expect.stringMatching(/^record 7: /) });
  });
});

describe('1NCE quarantine', () => {
  const facts = { received_at: 1_700_000_000_000, request_id: 'req-q', content_type: 'application/json' };
  const stored = (text: string, index: number, reason: 'no_id' | 'unknown_shape' | 'ambiguous_shape' | 'not_an_object'): QuarantinedRecord => {
    const envelope = quarantineEnvelope(Buffer.from(text), index, { reason, error: 'x' }, facts);
    return { partition: 0, offset: String(index), envelope, now: reclassify(envelope) };
  };

  it('stores the exact bytes with reason, position and delivery facts under an id derived from the bytes only', () => {
    const bytes = Buffer.from('{ "id" : 7,"foo":1 }');
    const e = quarantineEnvelope(bytes, 4, { reason: 'unknown_shape', error: 'record 4: is neither…' }, facts);
    expect(e).toMatchObject({ source: '1nce', kind: QUARANTINE_KIND, tenant: null, ...facts, attributes: { index: '4', reason: 'unknown_shape', detail: 'record 4: is neither…' } });
    expect(e.payload).toBe(bytes);
    expect(e.event_id).toMatch(/^1nce-quarantine:[0-9a-f]{64}$/);
    // A resent batch (another request, another position) yields the same id; other bytes another.
    expect(quarantineEnvelope(Buffer.from(bytes), 9, { reason: 'unknown_shape', error: '' }, { ...facts, request_id: 'req-2' }).event_id).toBe(e.event_id);
    expect(quarantineEventId(Buffer.from('{"id":7,"foo":1}'))).not.toBe(e.event_id);
  });

  it('re-classifies stored bytes with the current rules: a record that classifies now gets the envelope ingress would have written', () => {
    const now = reclassify(quarantineEnvelope(Buffer.from('{"id":77, "event_type":{"id":1},"sim":{"iccid":"8988"}}'), 2, { reason: 'unknown_shape', error: '' }, facts));
    expect(now.ok).toBe(true);
    if (!now.ok) return;
    expect(now.record).toMatchObject({ kind: '1nce.event', id: 77, eventId: '1nce-event:77', key: '8988', tenant: null });
    expect(now.envelope).toMatchObject({ event_id: '1nce-event:77', source: '1nce', kind: '1nce.event', ...facts, attributes: { index: '2' } });
    expect(now.envelope.payload.toString()).toBe('{"id":77, "event_type":{"id":1},"sim":{"iccid":"8988"}}');
    expect(reclassify(quarantineEnvelope(Buffer.from('{"foo":1}'), 0, { reason: 'no_id', error: '' }, facts))).toMatchObject({ ok: false, reason: 'no_id' });
    expect(reclassify(quarantineEnvelope(Buffer.from('17'), 0, { reason: 'not_an_object', error: '' }, facts))).toMatchObject({ ok: false, reason: 'not_an_object' });
  });

  it('plans a redrive: what classifies goes to its raw topic once per event id, the rest stays, unknown ids are reported', () => {
    const topics = { onceEvents: 'raw.e', onceUsage: 'raw.u' };
    const records = [
      stored('{"id":1,"event_type":{}}', 0, 'unknown_shape'),
      stored('{"id":1,"event_type":{}}', 0, 'unknown_shape'),
      stored('{"id":2,"volume":{}}', 1, 'unknown_shape'),
      stored('{"foo":1}', 2, 'no_id'),
    ];
    const all = planRedrive(records, topics);
    expect(all.redrive.map((i) => [i.topic, i.envelope.event_id, i.key])).toEqual([['raw.e', '1nce-event:1', '1'], ['raw.u', '1nce-usage:2', '2']]);
    expect(all.remaining.map((r) => r.envelope.payload.toString())).toEqual(['{"foo":1}']);
    expect(all.missing).toEqual([]);
    const some = planRedrive(records, topics, new Set([records[2]!.envelope.event_id, 'nope']));
    expect(some.redrive.map((i) => i.envelope.event_id)).toEqual(['1nce-usage:2']);
    expect(some.missing).toEqual(['nope']);
  });

  it('parses the operator command and previews payloads on one line', () => {
    expect(parseQuarantineArgs(['list', '--json', '--reason', 'no_id'])).toEqual({ action: 'list', eventIds: [], reason: 'no_id', json: true, dryRun: false });
    expect(parseQuarantineArgs(['redrive', '--event-id', 'a', '--event-id=b', '--dry-run'])).toMatchObject({ eventIds: ['a', 'b'], dryRun: true });
    expect(() => parseQuarantineArgs(['purge'])).toThrow(UsageError);
    expect(() => parseQuarantineArgs(['redrive', '--event-id'])).toThrow(/needs a value/);
    expect(() => parseQuarantineArgs(['list', '--event-id', 'x'])).toThrow(/for redrive/);
    expect(() => parseQuarantineArgs(['redrive', '--json'])).toThrow(/for list/);
    expect(preview(Buffer.from('{\n  "a": 1,\n  "b": "x"\n}'))).toBe('{ "a": 1, "b": "x" }');
    expect(preview(Buffer.from(`"${'y'.repeat(100)}"`), 10)).toBe('"yyyyyyyy…');
  });
});

describe('NSPS event contract', () => {
  const ok = { event_id: 'e-1', data: { event_type: 'SIM/Updated' }, pb_data: { sim_info: { imsi: '001010000020349' }, account_info: { i_account: 1 } } };
  it('accepts a minimal event as it is (an absent data.variables stays absent; the default {} is implied)', () => {
    const r = checkNspsEvent(ok);
    expect(r).toEqual({ ok: true, event: ok });
  });
  it('parses bytes strictly: invalid UTF-8, a byte-order mark and invalid JSON are invalid_json, the rest invalid_event', () => {
    expect(parseNspsEvent(Buffer.from(JSON.stringify(ok)))).toEqual({ ok: true, event: ok });
    expect(parseNspsEvent(Buffer.from([0x7b, 0xc3, 0x28, 0x7d]))).toEqual({ ok: false, reason: 'invalid_json', error: 'body is not valid UTF-8' });
    expect(parseNspsEvent(Buffer.from('\ufeff{}'))).toEqual({ ok: false, reason: 'invalid_json', error: 'body is not valid JSON' });
    expect(parseNspsEvent(Buffer.from('[]'))).toEqual({ ok: false, reason: 'invalid_event', error: 'body must be a JSON object' });
  });
  it('accepts unknown event types and extra fields, and nulls for optional parts', () => {
    expect(checkNspsEvent({ event_id: 'x', data: { event_type: 'Never/Seen', variables: { a: 1 } }, pb_data: null, status: null, extra: 1 }).ok).toBe(true);
  });
  it.each([
    [[], 'body must be a JSON object'],
    [{ data: { event_type: 'a' } }, 'event_id: field required'],
    [{ event_id: 5, data: { event_type: 'a' } }, 'event_id: must be a non-empty string'],
    [{ event_id: 'x' }, 'data: field required'],
    [{ event_id: 'x', data: 'a' }, 'data: must be an object'],
    [{ event_id: 'x', data: {} }, 'data.event_type: field required'],
    [{ event_id: 'x', data: { event_type: 1 } }, 'data.event_type: must be a string'],
    [{ event_id: 'x', data: { event_type: 'a', variables: [] } }, 'data.variables: must be an object'],
    [{ event_id: 'x', data: { event_type: 'a' }, pb_data: 'p' }, 'pb_data: must be an object'],
    [{ event_id: 'x', data: { event_type: 'a' }, pb_data: { sim_info: 3 } }, 'pb_data.sim_info: must be an object'],
    [{ event_id: 'x', data: { event_type: 'a' }, handler_id: 3 }, 'handler_id: must be a string'],
  ])('refuses %j with "%s"', (body, error) => {
    expect(checkNspsEvent(body)).toEqual({ ok: false, reason: 'invalid_event', error });
  });
  it('keys by IMSI, else account, else event id', () => {
    const v = (b: unknown) => (checkNspsEvent(b) as { ok: true; event: Parameters<typeof nspsRecordKey>[0] }).event;
    expect(nspsRecordKey(v(ok))).toBe('001010000020349');
    expect(nspsRecordKey(v({ ...ok, pb_data: { account_info: { i_account: 7 } } }))).toBe('7');
    expect(nspsRecordKey(v({ event_id: 'e-9', data: { event_type: 'a' } }))).toBe('e-9');
  });
});

describe('SAP report checks', () => {
  const system = { protocol: 'HTTP', host: '127.0.0.1:8080', type: 'on-premise-system', status: 'disabled', description: 'd', systemNumber: 'n' };
  const report = (over: Record<string, unknown> = {}) => ({ type: 'notification-service', value: [{ subaccount: 'a', locationId: 'l', exposedSystems: [system] }], ...over });
  it('accepts a valid report, an empty value list and systems without description', () => {
    expect(checkSapReport(report())).toEqual({ ok: true });
    expect(checkSapReport(report({ value: [] }))).toEqual({ ok: true });
    expect(checkSapReport(report({ value: [{ subaccount: 'a', exposedSystems: [] }] }))).toEqual({ ok: true });
  });
  it.each([
    [report({ type: '' }), 'type key is required'],
    [report({ value: null }), 'value key is required'],
    [{ type: 'x' }, 'value key is required'],
    [null, 'type key is required'],
    [report({ value: [{ locationId: 'l', exposedSystems: [] }] }), 'subaccount key is required'],
    [report({ value: [{ subaccount: 'a' }] }), 'exposedSystems key is required'],
    [report({ value: [{ subaccount: 'a', exposedSystems: [{ ...system, protocol: undefined }] }] }), 'protocol key is required'],
    [report({ value: [{ subaccount: 'a', exposedSystems: [{ ...system, host: '' }] }] }), 'host key is required'],
    [report({ value: [{ subaccount: 'a', exposedSystems: [{ ...system, type: null }] }] }), 'type key is required'],
    [report({ value: [{ subaccount: 'a', exposedSystems: [{ ...system, status: undefined }] }] }), 'status key is required'],
  ])('reports a missing property like the adapter: %j → %s', (body, message) => {
    expect(checkSapReport(body)).toEqual({ ok: false, message });
  });
  it('treats values of the wrong JSON type as a parse failure, as Go decoding does', () => {
    for (const body of [[], 'x', report({ value: {} }), report({ value: [{ subaccount: 5, exposedSystems: [] }] }), report({ value: [{ subaccount: 'a', exposedSystems: [{ ...system, host: 1 }] }] })]) {
      expect(checkSapReport(body)).toEqual({ ok: false, message: 'failed to parse request body' });
    }
  });
  // Expectations written out by hand from the adapter's Go structs (encoding/json matches keys to the
  // tags subaccount, locationID, exposedSystems, protocol, host, type, status, description, systemNumber
  // case-insensitively, the last matching key winning; ozzo-validation then requires the non-empty ones).
  it('parses bytes into a typed report', () => {
    const bytes = Buffer.from('{"type":"notification-service","value":[{"subaccount":"sa","locationId":"loc","exposedSystems":[' +
      '{"protocol":"HTTP","host":"127.0.0.1:8080","type":"on-premise-system","status":"disabled","description":"system description","systemNumber":"n-1"},' +
      '{"protocol":"RFC","host":"h2","type":"on-premise-system","status":"enabled"}]}]}');
    expect(parseSapReport(bytes)).toEqual({
      ok: true,
      report: {
        type: 'notification-service',
        value: [{
          subaccount: 'sa', locationId: 'loc', exposedSystems: [
            { protocol: 'HTTP', host: '127.0.0.1:8080', type: 'on-premise-system', status: 'disabled', description: 'system description', systemNumber: 'n-1' },
            { protocol: 'RFC', host: 'h2', type: 'on-premise-system', status: 'enabled', description: null, systemNumber: null },
          ],
        }],
      },
    });
  });
  it('matches keys case-insensitively: Subaccount, LocationID, Host, ExposedSystems…', () => {
    const text = '{"TYPE":"ns","Value":[{"Subaccount":"SA","LocationID":"L","ExposedSystems":[{"Protocol":"P","Host":"H","Type":"T","Status":"S","Description":"D","SystemNumber":"N"}]},' +
      '{"SUBACCOUNT":"sb","locationid":"l2","exposedsystems":[{"PROTOCOL":"p","HOST":"h","TYPE":"t","STATUS":"s"}]}]}';
    expect(parseSapReport(text)).toEqual({
      ok: true,
      report: {
        type: 'ns',
        value: [
          { subaccount: 'SA', locationId: 'L', exposedSystems: [{ protocol: 'P', host: 'H', type: 'T', status: 'S', description: 'D', systemNumber: 'N' }] },
          { subaccount: 'sb', locationId: 'l2', exposedSystems: [{ protocol: 'p', host: 'h', type: 't', status: 's', description: null, systemNumber: null }] },
        ],
      },
    });
    expect(checkSapReport(JSON.parse(text))).toEqual({ ok: true });
  });
  it('lets the last of several matching keys win, a null leaving a string as it was (Go decodes into one field in document order)', () => {
    const scc = (fields: string) => `{"type":"ns","value":[{${fields},"exposedSystems":[]}]}`;
    expect(parseSapReport(scc('"subaccount":"first","Subaccount":"second"'))).toMatchObject({ ok: true, report: { value: [{ subaccount: 'second' }] } });
    expect(parseSapReport(scc('"Subaccount":"first","subaccount":"second"'))).toMatchObject({ ok: true, report: { value: [{ subaccount: 'second' }] } });
    expect(parseSapReport(scc('"subaccount":"kept","SUBACCOUNT":null'))).toMatchObject({ ok: true, report: { value: [{ subaccount: 'kept' }] } });
    expect(parseSapReport(scc('"subaccount":null'))).toEqual({ ok: false, message: 'subaccount key is required' });
    expect(parseSapReport('{"type":"ns","value":[{"subaccount":"a","exposedSystems":[],"ExposedSystems":null}]}')).toEqual({ ok: false, message: 'exposedSystems key is required' });
  });
  it('folds ſ (long s) to s as Go does, no other look-alike (dotless ı), and ignores keys named like Object.prototype members', () => {
    expect(parseSapReport('{"type":"ns","value":[{"\u017Fubaccount":"a","exposedSy\u017Ftems":[]}]}')).toMatchObject({ ok: true, report: { value: [{ subaccount: 'a' }] } });
    expect(parseSapReport('{"type":"ns","value":[{"subaccount":"a","locat\u0131onID":"x","exposedSystems":[]}]}')).toMatchObject({ ok: true, report: { value: [{ locationId: '' }] } });
    expect(parseSapReport('{"type":"ns","constructor":1,"__proto__":[],"value":[{"subaccount":"a","toString":{},"exposedSystems":[]}]}')).toMatchObject({ ok: true, report: { value: [{ subaccount: 'a' }] } });
  });
  it('answers the adapter\'s messages for bytes that are not a report', () => {
    expect(parseSapReport('')).toEqual({ ok: false, message: 'failed to parse request body' });
    expect(parseSapReport('{"type":"ns","value":[}')).toEqual({ ok: false, message: 'failed to parse request body' });
    expect(parseSapReport('[]')).toEqual({ ok: false, message: 'failed to parse request body' });
    expect(parseSapReport('{"Type":"ns","Value":{}}')).toEqual({ ok: false, message: 'failed to parse request body' });
    expect(parseSapReport('{"type":"ns","value":[{"Subaccount":5,"exposedSystems":[]}]}')).toEqual({ ok: false, message: 'failed to parse request body' });
    expect(parseSapReport('null')).toEqual({ ok: false, message: 'type key is required' });
    expect(parseSapReport('{"type":"ns"}')).toEqual({ ok: false, message: 'value key is required' });
    expect(parseSapReport('{"type":"ns","value":[{"LocationID":"l","ExposedSystems":[]}]}')).toEqual({ ok: false, message: 'subaccount key is required' });
    expect(parseSapReport('{"type":"ns","value":[{"Subaccount":"a","ExposedSystems":[{"Protocol":"HTTP","Type":"t","Status":"s"}]}]}')).toEqual({ ok: false, message: 'host key is required' });
    // A type error anywhere is a decode failure, even after a missing property.
    expect(parseSapReport('{"value":[{"exposedSystems":[{"host":1}]}]}')).toEqual({ ok: false, message: 'failed to parse request body' });
  });
  it('parses reportType strictly', () => {
    expect(parseReportType('full')).toBe('full');
    expect(parseReportType('delta')).toBe('delta');
    expect(parseReportType('FULL')).toBeUndefined();
    expect(parseReportType(['full', 'delta'])).toBeUndefined();
  });
  it('reads the tenant claim as an object or a JSON string, both ids required', () => {
    const t = { consumerTenant: 'c', externalTenant: 'e' };
    expect(tenantFromClaims({ tenant: t })).toEqual(t);
    expect(tenantFromClaims({ tenant: JSON.stringify(t) })).toEqual(t);
    expect(tenantFromClaims({ tenant: { consumerTenant: 'c' } })).toBeUndefined();
    expect(tenantFromClaims({ tenant: '{"consumerTenant":' })).toBeUndefined();
    expect(tenantFromClaims({})).toBeUndefined();
  });
  it('splits a body into parts of at most the limit that concatenate back to it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 2000 }), fc.integer({ min: 1, max: 300 }), (bytes, max) => {
        const parts = splitIntoParts(Buffer.from(bytes), max);
        expect(parts.every((p) => p.length <= max && p.length > 0)).toBe(true);
        expect(Buffer.concat(parts).equals(Buffer.from(bytes))).toBe(true);
        expect(parts.length).toBe(Math.ceil(bytes.length / max));
      }),
    );
  });
});

describe('credentials', () => {
  it('matches any configured token, and nothing else', () => {
    expect(matchesAny('t2', ['t1', 't2'])).toBe(true);
    expect(matchesAny('t', ['t1', 't2'])).toBe(false);
    expect(matchesAny('', [])).toBe(false);
  });
  it('never lets padding, a prefix or a hashed long value stand for another value', () => {
    const long = 'x'.repeat(300); // past the padded width: compared by digest
    const matcher = secretMatcher(['abc', '', long, 'é'.repeat(128)]); // the last one is exactly 256 UTF-8 bytes
    expect(matcher('abc')).toBe(true);
    expect(matcher('abc\u0000')).toBe(false); // the padding byte itself, sent by the client
    expect(matcher('ab')).toBe(false);
    expect(matcher('abcd')).toBe(false);
    expect(matcher('')).toBe(true); // an empty secret configured matches only the empty candidate
    expect(secretMatcher(['abc'])('')).toBe(false);
    expect(matcher(long)).toBe(true);
    expect(matcher(`${long}y`)).toBe(false);
    expect(matcher('x'.repeat(299))).toBe(false);
    expect(matcher('é'.repeat(128))).toBe(true);
    expect(matcher('é'.repeat(127))).toBe(false);
    // The digest of a long value, sent as the candidate's bytes, does not match the long value.
    const digestText = createHash('sha256').update(long).digest().toString('latin1');
    expect(matcher(digestText)).toBe(false);
    // One call's bytes never leak into the next (the scratch buffer is cleared).
    const m2 = secretMatcher(['abc']);
    expect(m2('abcdefgh')).toBe(false);
    expect(m2('abc')).toBe(true);
  });
  it('reads Bearer tokens strictly', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('Basic abc')).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
  it('parses user:password lists (colons allowed in passwords) and checks pairs', () => {
    const { users, problems } = parseBasicUsers(['a:p:q', 'bad', 'b:']);
    expect(users).toEqual([{ username: 'a', password: 'p:q' }]);
    expect(problems).toHaveLength(2);
    expect(basicCredentialsMatch('a', 'p:q', users)).toBe(true);
    expect(basicCredentialsMatch('a', 'p', users)).toBe(false);
  });
});

describe('request ids', () => {
  it('keeps a printable incoming id and replaces a hostile or missing one', () => {
    expect(requestIdFrom('abc-123')).toBe('abc-123');
    expect(requestIdFrom('x'.repeat(200))).not.toBe('x'.repeat(200));
    expect(requestIdFrom('a b')).toMatch(/^[0-9a-f-]{36}$/);
    expect(requestIdFrom(undefined)).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('ingress configuration', () => {
  const base = { KAFKA_BROKERS: '127.0.0.1:9092', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081' };
  it('has the documented defaults', () => {
    const cfg = loadIngressConfig({ ...base, NSPS_API_TOKENS: 'a, b' });
    expect(cfg).toMatchObject({ PORT: 8080, HOST: '127.0.0.1', NSPS_API_TOKENS: ['a', 'b'], ONCE_PATH: '/1nce/data-streamer', ONCE_MAX_RECORDS: 3000, ONCE_MAX_BODY_BYTES: 32 * 1024 * 1024, SAP_MAX_BODY_BYTES: 5 * 1024 * 1024 });
  });
  it('refuses to start with no credentials at all, naming the variables, never echoing secrets', () => {
    expect(() => loadIngressConfig(base)).toThrow(/NSPS_API_TOKENS, ONCE_BASIC_AUTH_USERS/);
    try {
      loadIngressConfig({ ...base, ONCE_BASIC_AUTH_USERS: 'nopassword-secret' });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      expect(String(err)).not.toContain('nopassword-secret');
    }
  });
  it('refuses alg none and algorithm lists without their keys', () => {
    expect(() => loadIngressConfig({ ...base, SAP_JWT_HS256_SECRET: 's', SAP_JWT_ALGORITHMS: 'none' })).toThrow(/SAP_JWT_ALGORITHMS/);
    expect(() => loadIngressConfig({ ...base, SAP_JWT_HS256_SECRET: 's', SAP_JWT_ALGORITHMS: 'RS256' })).toThrow(/needs SAP_JWKS_URL/);
  });
});
