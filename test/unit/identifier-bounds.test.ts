// Identifiers a sender chooses become database keys downstream; each source bounds them at
// MAX_IDENTIFIER_BYTES of UTF-8 (services/shared/contracts/identifiers.ts), counted in bytes, not characters,
// and refuses U+0000 in them (PostgreSQL text cannot hold it). Free text is stored with U+FFFD instead (pg-text.ts).
import { describe, expect, it } from 'vitest';
import { MAX_IDENTIFIER_BYTES, identifierProblem } from '../../services/shared/contracts/identifiers.js';
import { storableOrNull, storableText, storableValues } from '../../services/shared/pg-text.js';
import { parseReport } from '../../services/scc-inventory/fold.js';
import { eventRow, outcomeRow } from '../../services/trail/project.js';
import type { Envelope } from '../../services/shared/envelope.js';
import type { OutcomeRecord } from '../../services/shared/outcome.js';
import { checkNspsEvent, nspsRecordKey, type NspsEvent } from '../../services/shared/contracts/nsps-event.js';
import { classifyOnceRecord } from '../../services/shared/contracts/once-record.js';
import { checkSapReport, tenantFromClaims } from '../../services/shared/contracts/sap-report.js';
import { mapEvent, type MappingSettings } from '../../services/provisioning/mapping.js';

const ascii = (n: number): string => 'a'.repeat(n);
// "é" is 2 bytes of UTF-8, "😀" 4 (two UTF-16 code units).
const bytesOf = (s: string): number => Buffer.byteLength(s, 'utf8');

const identifierTooLong = (text: string): boolean => identifierProblem(text) !== undefined;
const NUL = '\u0000';

describe('identifierProblem', () => {
  it('refuses U+0000 anywhere in an identifier', () => {
    expect(identifierProblem(`a${NUL}b`)).toBe('must not contain the NUL character (U+0000)');
    expect(identifierProblem('a\u0001b')).toBeUndefined();
  });
  it('counts UTF-8 bytes: 255 bytes pass, 256 do not, whatever the characters', () => {
    expect(MAX_IDENTIFIER_BYTES).toBe(255);
    expect(identifierTooLong(ascii(255))).toBe(false);
    expect(identifierTooLong(ascii(256))).toBe(true);
    const twoByte = 'é'.repeat(127) + 'a'; // 255 bytes in 128 characters
    expect(bytesOf(twoByte)).toBe(255);
    expect(identifierTooLong(twoByte)).toBe(false);
    expect(identifierTooLong(twoByte + 'a')).toBe(true);
    const emoji = '😀'.repeat(64); // 256 bytes in 128 code units
    expect(identifierTooLong(emoji)).toBe(true);
    expect(identifierTooLong('😀'.repeat(63) + 'abc')).toBe(false);
  });
});

describe('NSPS', () => {
  const event = (over: Record<string, unknown>) => ({ event_id: 'e-1', data: { event_type: 'SIM/Updated' }, ...over });
  it('refuses an event_id over 255 bytes with a 422 message naming the field, accepts 255', () => {
    expect(checkNspsEvent(event({ event_id: ascii(255) })).ok).toBe(true);
    expect(checkNspsEvent(event({ event_id: ascii(256) }))).toEqual({ ok: false, reason: 'invalid_event', error: 'event_id: must be at most 255 bytes' });
    expect(checkNspsEvent(event({ event_id: 'é'.repeat(128) }))).toEqual({ ok: false, reason: 'invalid_event', error: 'event_id: must be at most 255 bytes' });
    expect(checkNspsEvent(event({ event_id: `e${NUL}1` }))).toEqual({ ok: false, reason: 'invalid_event', error: 'event_id: must not contain the NUL character (U+0000)' });
  });
  it('keys by the next candidate when the IMSI or account is too long to be one', () => {
    const e = event({ pb_data: { sim_info: { imsi: ascii(300) }, account_info: { i_account: 'acc-7' } } }) as NspsEvent;
    expect(nspsRecordKey(e)).toBe('acc-7');
    expect(nspsRecordKey(event({ pb_data: { sim_info: { imsi: ascii(300) }, account_info: { i_account: `a${NUL}` } } }) as NspsEvent)).toBe('e-1');
  });
  it('provisioning calls an IMSI over 255 bytes invalid (dead-lettered with the reason), not a database error', () => {
    const settings: MappingSettings = { eventActions: { 'SIM/Updated': 'update' }, defaultCsProfile: 'cs', defaultEpsProfile: 'eps' } as unknown as MappingSettings;
    const e = event({ pb_data: { sim_info: { imsi: ascii(256) } } }) as NspsEvent;
    expect(mapEvent(e, settings)).toEqual({ kind: 'invalid', reason: 'pb_data.sim_info.imsi: must be at most 255 bytes' });
    const nul = event({ pb_data: { sim_info: { imsi: `00101${NUL}` } } }) as NspsEvent;
    expect(mapEvent(nul, settings)).toEqual({ kind: 'invalid', reason: 'pb_data.sim_info.imsi: must not contain the NUL character (U+0000)' });
    // 26201123456789012345 is read as 26201123456789010000: never provision a rounded IMSI.
    const rounded = event({ pb_data: { sim_info: { imsi: 26201123456789012345 } } }) as NspsEvent;
    expect(mapEvent(rounded, settings)).toMatchObject({ kind: 'invalid', reason: expect.stringContaining('cannot be read exactly; send the IMSI as a string') });
  });
});

describe('1NCE', () => {
  it('quarantines a record whose id is over 255 bytes as no_id, and keys past an over-long ICCID', () => {
    expect(classifyOnceRecord({ id: ascii(256), event_type: {} }, 4)).toEqual({ ok: false, reason: 'no_id', error: 'record 4: id: must be at most 255 bytes' });
    expect(classifyOnceRecord({ id: ascii(255), event_type: {} }, 0).ok).toBe(true);
    expect(classifyOnceRecord({ id: `7${NUL}`, event_type: {} }, 2)).toEqual({ ok: false, reason: 'no_id', error: 'record 2: id: must not contain the NUL character (U+0000)' });
    const r = classifyOnceRecord({ id: 9, event_type: {}, sim: { iccid: ascii(400) }, imsi: { imsi: '00101' }, organisation: { id: ascii(400) } }, 0);
    expect(r.ok && r.record.key).toBe('00101');
    expect(r.ok && r.record.tenant).toBe(null);
  });
});

describe('SAP', () => {
  const system = { protocol: 'HTTP', host: 'h:1', type: 'on-premise-system', status: 'reachable' };
  const report = (scc: Record<string, unknown>, sys: Record<string, unknown> = {}) =>
    ({ type: 'notification-service', value: [{ subaccount: 'sa', locationId: 'loc', exposedSystems: [{ ...system, ...sys }], ...scc }] });
  it('refuses a subaccount, location id or host over 255 bytes with a 400 message naming it; 255 passes', () => {
    expect(checkSapReport(report({}, { host: ascii(255) }))).toEqual({ ok: true });
    expect(checkSapReport(report({}, { host: ascii(256) }))).toEqual({ ok: false, message: 'host: must be at most 255 bytes' });
    expect(checkSapReport(report({ subaccount: ascii(256) }))).toEqual({ ok: false, message: 'subaccount: must be at most 255 bytes' });
    expect(checkSapReport(report({ locationId: '😀'.repeat(64) }))).toEqual({ ok: false, message: 'locationId: must be at most 255 bytes' });
    expect(checkSapReport(report({}, { host: `h${NUL}` }))).toEqual({ ok: false, message: 'host: must not contain the NUL character (U+0000)' });
  });
  it('the inventory refuses such a stored report by the contract on both of its reading paths, and stores free text with U+FFFD for U+0000', () => {
    const body = (sys: Record<string, unknown>, keySpelling = 'host') => JSON.stringify({ type: 'notification-service', value: [{ subaccount: 'sa', locationId: 'loc', exposedSystems: [{ protocol: 'HTTP', [keySpelling]: 'h:1', type: 'on-premise-system', status: 'reachable', ...sys }] }] });
    // "host" is read directly (canonical spelling), "Host" through the contract's case-folding decoder.
    for (const spelling of ['host', 'Host']) {
      expect(() => parseReport(body({ [spelling]: ascii(256) }, spelling))).toThrow('host: must be at most 255 bytes');
      expect(() => parseReport(body({ [spelling]: `h${NUL}` }, spelling))).toThrow('host: must not contain the NUL character (U+0000)');
      const system = parseReport(body({ description: `a${NUL}b`, systemNumber: NUL }, spelling)).sccs[0]!.systems[0]!;
      expect(system).toMatchObject({ host: 'h:1', description: 'a\uFFFDb', systemNumber: '\uFFFD' });
    }
  });
  it('the adapter\'s own "key is required" checks still come first', () => {
    expect(checkSapReport(report({ subaccount: ascii(300) }, { status: '' }))).toEqual({ ok: false, message: 'status key is required' });
  });
  it('a tenant claim over 255 bytes is no tenant (401)', () => {
    expect(tenantFromClaims({ tenant: { consumerTenant: ascii(256), externalTenant: 'x' } })).toBeUndefined();
    expect(tenantFromClaims({ tenant: { consumerTenant: 'c', externalTenant: ascii(256) } })).toBeUndefined();
    expect(tenantFromClaims({ tenant: { consumerTenant: ascii(255), externalTenant: 'x' } })).toEqual({ consumerTenant: ascii(255), externalTenant: 'x' });
  });
});

describe('storable text (pg-text.ts)', () => {
  it('replaces every U+0000 with U+FFFD and leaves everything else, the same object when clean', () => {
    expect(storableText(`${NUL}a${NUL}`)).toBe('\uFFFDa\uFFFD');
    expect(storableOrNull(null)).toBeNull();
    const clean = { a: 'b' };
    expect(storableValues(clean)).toBe(clean);
    expect(storableValues({ [`k${NUL}`]: `v${NUL}` })).toEqual({ 'k\uFFFD': 'v\uFFFD' });
  });
  it('the trail stores an old event and its outcomes with a NUL in their text instead of failing on them', () => {
    const envelope = { event_id: `old${NUL}id`, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: 0, request_id: 'r', content_type: 'application/json',
      payload: Buffer.from(JSON.stringify({ event_id: `old${NUL}id`, data: { event_type: `SIM/${NUL}` } })), attributes: { event_type: `SIM/${NUL}` } } as unknown as Envelope;
    const row = eventRow(envelope, `k${NUL}`, { topic: 't', partition: 0, offset: '1' });
    expect(row).toMatchObject({ event_id: 'old\uFFFDid', key: 'k\uFFFD', event_type: 'SIM/\uFFFD', attributes: { event_type: 'SIM/\uFFFD' } });
    const outcome = { event_id: `old${NUL}id`, consumer: 'provisioning', outcome: 'skipped', attempt: 1, reason: `no action for SIM/${NUL}`, effect: { note: NUL }, at: 0, topic: 't', partition: 0, offset: 1 } as unknown as OutcomeRecord;
    expect(outcomeRow(outcome, { topic: 'o', partition: 0, offset: '2' })).toMatchObject({ event_id: 'old\uFFFDid', reason: 'no action for SIM/\uFFFD', effect: { note: '\uFFFD' } });
  });
});
