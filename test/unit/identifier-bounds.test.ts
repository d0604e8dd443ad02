// Identifiers a sender chooses become database keys downstream; each source bounds them at
// MAX_IDENTIFIER_BYTES of UTF-8 (services/shared/contracts/identifiers.ts), counted in bytes, not characters.
import { describe, expect, it } from 'vitest';
import { MAX_IDENTIFIER_BYTES, identifierTooLong } from '../../services/shared/contracts/identifiers.js';
import { checkNspsEvent, nspsRecordKey, type NspsEvent } from '../../services/shared/contracts/nsps-event.js';
import { classifyOnceRecord } from '../../services/shared/contracts/once-record.js';
import { checkSapReport, tenantFromClaims } from '../../services/shared/contracts/sap-report.js';
import { mapEvent, type MappingSettings } from '../../services/provisioning/mapping.js';

const ascii = (n: number): string => 'a'.repeat(n);
// "é" is 2 bytes of UTF-8, "😀" 4 (two UTF-16 code units).
const bytesOf = (s: string): number => Buffer.byteLength(s, 'utf8');

describe('identifierTooLong', () => {
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
  });
  it('keys by the next candidate when the IMSI or account is too long to be one', () => {
    const e = event({ pb_data: { sim_info: { imsi: ascii(300) }, account_info: { i_account: 'acc-7' } } }) as NspsEvent;
    expect(nspsRecordKey(e)).toBe('acc-7');
    expect(nspsRecordKey(event({ pb_data: { sim_info: { imsi: ascii(300) }, account_info: { i_account: ascii(300) } } }) as NspsEvent)).toBe('e-1');
  });
  it('provisioning calls an IMSI over 255 bytes invalid (dead-lettered with the reason), not a database error', () => {
    const settings: MappingSettings = { eventActions: { 'SIM/Updated': 'update' }, defaultCsProfile: 'cs', defaultEpsProfile: 'eps' } as unknown as MappingSettings;
    const e = event({ pb_data: { sim_info: { imsi: ascii(256) } } }) as NspsEvent;
    expect(mapEvent(e, settings)).toEqual({ kind: 'invalid', reason: 'pb_data.sim_info.imsi: must be at most 255 bytes' });
  });
});

describe('1NCE', () => {
  it('quarantines a record whose id is over 255 bytes as no_id, and keys past an over-long ICCID', () => {
    expect(classifyOnceRecord({ id: ascii(256), event_type: {} }, 4)).toEqual({ ok: false, reason: 'no_id', error: 'record 4: id: must be at most 255 bytes' });
    expect(classifyOnceRecord({ id: ascii(255), event_type: {} }, 0).ok).toBe(true);
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
