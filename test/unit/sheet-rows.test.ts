// The row mapping, with the senders' own example payloads from the reference documents.
import { describe, expect, it } from 'vitest';
import { HEADERS, MAX_CELL_CHARS, toRow } from '../../services/sheet-export/rows.js';
import type { Envelope } from '../../services/shared/envelope.js';
import { PermanentError } from '../../services/shared/errors.js';
import { nspsExampleEvent } from '../support/examples.js';

// nsps-connector-get-started.md, "Example message from NSPS"
const NSPS_EVENT = nspsExampleEvent();

// 1nce-data-streamer-webhook.md, "Update Location Event cURL" (placeholders filled in)
const ONCE_EVENT = {
  imsi: { imsi: '901405100000001', id: 123456, import_date: '2019-01-21T09:36:17Z' },
  event_source: { description: 'Network', id: 0 },
  organisation: { name: '8100xxxx', id: 1234 },
  event_severity: { id: 0, description: 'INFO' },
  sim: { msisdn: '882285100000001', iccid: '8988280666000000001', id: 1234567, production_date: '2019-01-21T09:36:17Z' },
  description: "New location received from VLR for IMSI='901405100000001', now attached to VLR='491770000000'.",
  alert: false,
  id: 1234567890,
  user: null,
  detail: {
    mnc: [{ mnc: '20', id: 327 }, { mnc: '16', id: 328 }],
    tapcode: [{ tapcode: 'NLDDT', id: 470 }, { tapcode: 'NLDPN', id: 471 }],
    name: 'T-Mobile',
    country: { iso_code: 'nl', country_code: '31', name: 'Netherlands', id: 141, mcc: '204' },
    id: 730,
  },
  endpoint: { tags: null, ip_address: '10.0.0.1', name: 'tracker-1', imei: '356938035643809', id: 1234567 },
  event_type: { id: 1, description: 'Update location' },
  timestamp: '2019-01-21T09:36:17Z',
};

// 1nce-data-streamer-webhook.md, "Usage Record cURL"
const ONCE_USAGE = {
  imsi: '901405100000001',
  organisation: { name: '8100xxxx', id: 1234 },
  start_timestamp: '2021-08-09T12:59:05Z',
  sim: { msisdn: '882285100000001', iccid: '8988280666000000001', id: 123456, production_date: '2018-04-17T15:01:50Z' },
  currency: { id: 1, symbol: '€', code: 'EUR' },
  operator: { id: 2, name: 'T-Mobile', mnc: '01', country: { id: 74, mcc: '262', name: 'Germany' } },
  tariff: { ratezone: { name: 'Rate Zone 2 (EU - DE)', id: 2067 }, name: '1NCE Production 01', id: 398 },
  imsi_id: 1234567,
  traffic_type: { description: 'Data', id: 5 },
  id: 1234567890,
  end_timestamp: '2021-08-09T12:51:20Z',
  endpoint: { tags: null, ip_address: '10.0.0.1', name: 'tracker-1', imei: '356938035643809', id: 12345678, balance: null },
  cost: 0.001176,
  volume: { total: 0.001176, tx: 0.001176, rx: 0.0 },
};

const RECEIVED_AT = Date.parse('2026-01-02T03:04:05.678Z');

function envelope(kind: Envelope['kind'], eventId: string, payload: unknown): Envelope {
  return {
    event_id: eventId,
    source: kind === 'nsps.event' ? 'nsps' : '1nce',
    kind,
    tenant: null,
    received_at: RECEIVED_AT,
    request_id: 'req-42',
    content_type: 'application/json',
    payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
    attributes: {},
  };
}

function byHeader(kind: keyof typeof HEADERS, row: unknown[]): Record<string, unknown> {
  expect(row).toHaveLength(HEADERS[kind].length);
  return Object.fromEntries(HEADERS[kind].map((h, i) => [h, row[i]]));
}

describe('sheet rows', () => {
  it('maps the reference NSPS event to the NSPS row', () => {
    const mapped = toRow(envelope('nsps.event', NSPS_EVENT.event_id, NSPS_EVENT));
    expect(mapped.kind).toBe('nsps');
    expect(mapped.eventId).toBe(NSPS_EVENT.event_id);
    expect(byHeader('nsps', mapped.row)).toEqual({
      'Event ID': '3e84c79f-ab6f-4546-8e27-0b6ab866f1fb',
      'Received at': '2026-01-02T03:04:05.678Z',
      'Event type': 'SIM/Updated',
      IMSI: '001010000020349',
      MSISDN: '79123456789',
      'Bill status': 'open',
      Blocked: false,
      Product: 'wtl Pay as you go',
      'Account ID': '79123456789@msisdn',
      i_account: 1,
      i_customer: 6392,
      'SIM status': 'active',
      'Access policy': 'WTL integration test',
      'Handler ID': 'p1-nsps',
      'Created at': '2025-03-12T16:47:30.443939+00:00',
      'Updated at': '2025-03-12T16:47:36.585885+00:00',
      Status: 'received',
      Variables: '{"i_env":1,"i_event":999999,"i_account":1,"curr_status":"used","prev_status":"active"}',
      'Request ID': 'req-42',
    });
  });

  it('takes the MSISDN from the account id when the SIM info has none, and leaves absent pb_data empty', () => {
    const withoutSimMsisdn = { ...NSPS_EVENT, pb_data: { account_info: { id: '420111222333@msisdn' } } };
    const row = byHeader('nsps', toRow(envelope('nsps.event', 'e-2', withoutSimMsisdn)).row);
    expect(row.MSISDN).toBe('420111222333');
    expect(row.IMSI).toBe('');
    const bare = byHeader('nsps', toRow(envelope('nsps.event', 'e-3', { event_id: 'e-3', data: { event_type: 'Custom/Thing' } })).row);
    expect(bare['Event type']).toBe('Custom/Thing');
    expect(bare.Variables).toBe('');
    expect(bare.Blocked).toBe('');
  });

  it('maps the reference 1NCE event record to the 1NCE events row', () => {
    const mapped = toRow(envelope('1nce.event', '1nce-event:1234567890', ONCE_EVENT));
    expect(mapped.kind).toBe('onceEvents');
    expect(byHeader('onceEvents', mapped.row)).toEqual({
      'Event ID': '1nce-event:1234567890',
      'Received at': '2026-01-02T03:04:05.678Z',
      'Record ID': 1234567890,
      Timestamp: '2019-01-21T09:36:17Z',
      ICCID: '8988280666000000001',
      IMSI: '901405100000001',
      MSISDN: '882285100000001',
      'Event type': 'Update location',
      Description: ONCE_EVENT.description,
      Severity: 'INFO',
      Source: 'Network',
      Alert: false,
      Country: 'Netherlands',
      Network: 'T-Mobile',
      MCC: '204',
      'Organisation ID': 1234,
      'Endpoint name': 'tracker-1',
      IMEI: '356938035643809',
      'Request ID': 'req-42',
    });
  });

  it('maps the reference 1NCE usage record to the 1NCE usage row', () => {
    const mapped = toRow(envelope('1nce.usage', '1nce-usage:1234567890', ONCE_USAGE));
    expect(mapped.kind).toBe('onceUsage');
    expect(byHeader('onceUsage', mapped.row)).toEqual({
      'Event ID': '1nce-usage:1234567890',
      'Received at': '2026-01-02T03:04:05.678Z',
      'Record ID': 1234567890,
      Start: '2021-08-09T12:59:05Z',
      End: '2021-08-09T12:51:20Z',
      ICCID: '8988280666000000001',
      IMSI: '901405100000001',
      MSISDN: '882285100000001',
      'Traffic type': 'Data',
      'Volume total': 0.001176,
      'Volume rx': 0,
      'Volume tx': 0.001176,
      Cost: 0.001176,
      Currency: 'EUR',
      Operator: 'T-Mobile',
      Country: 'Germany',
      MCC: '262',
      MNC: '01',
      Ratezone: 'Rate Zone 2 (EU - DE)',
      Tariff: '1NCE Production 01',
      'Organisation ID': 1234,
      'Endpoint name': 'tracker-1',
      'Request ID': 'req-42',
    });
  });

  it('every header starts with the event id column used for reconciliation', () => {
    for (const header of Object.values(HEADERS)) expect(header[0]).toBe('Event ID');
  });

  it('rejects unreadable payloads as permanent errors', () => {
    expect(() => toRow(envelope('1nce.usage', 'x-1', '{not json'))).toThrow(PermanentError);
    expect(() => toRow(envelope('1nce.usage', 'x-1', '{not json'))).toThrow('payload of x-1 is not a 1NCE record (invalid_json): body is not valid JSON');
    expect(() => toRow(envelope('1nce.usage', 'x-2', '[1,2]'))).toThrow('payload of x-2 is not a 1NCE record (not_an_object): record 0: must be a JSON object');
    expect(() => toRow(envelope('1nce.event', 'x-3', { description: 'no id', event_type: {} }))).toThrow('payload of x-3 is not a 1NCE record (no_id): record 0: has no id');
    expect(() => toRow(envelope('1nce.event', 'x-6', { id: 6, volume: {} }))).toThrow('payload of x-6 is a 1nce.usage record, not 1nce.event');
    expect(() => toRow(envelope('nsps.event', 'x-4', { event_id: 'x-4', data: {} }))).toThrow('payload of x-4 is not an NSPS event: data.event_type: field required');
    expect(() => toRow(envelope('nsps.event', 'x-7', { event_id: 'x-7', data: { event_type: '' } }))).toThrow('NSPS event x-7 has no data.event_type');
    expect(() => toRow(envelope('sap.report', 'x-5', {}))).toThrow(/no tab/);
  });

  it('clips cells over the Sheets cell limit instead of failing the batch', () => {
    const long = { ...ONCE_EVENT, description: 'x'.repeat(MAX_CELL_CHARS + 10) };
    const row = byHeader('onceEvents', toRow(envelope('1nce.event', '1nce-event:1', long)).row);
    expect((row.Description as string).length).toBe(MAX_CELL_CHARS);
  });

  it('writes a U+0000 in a field as U+FFFD, as the database stores it', () => {
    const odd = { ...ONCE_EVENT, description: 'a\u0000b' };
    const row = byHeader('onceEvents', toRow(envelope('1nce.event', '1nce-event:1', odd)).row);
    expect(row.Description).toBe('a\uFFFDb');
  });
});
