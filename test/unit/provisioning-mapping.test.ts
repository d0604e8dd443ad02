// The NSPS → WTL mapping rules on plain data, starting from the reference example event
// (nsps-connector-get-started.md, kept as samples/nsps-event.json) and varying one thing at a time.
import { describe, expect, it } from 'vitest';
import { isOlder, mapEvent, mapPayload, msisdnFromAccountId, orderingPosition, parseEventActions, type MappingSettings } from '../../services/provisioning/mapping.js';
import { loadProvisioningConfig, mappingSettings } from '../../services/provisioning/config.js';
import { nspsExampleEvent } from '../support/examples.js';
import { checkNspsEvent, type NspsEvent } from '../../services/shared/contracts/nsps-event.js';

/** The test's plain object, read with the NSPS contract as the payload would be. */
function asEvent(value: unknown): NspsEvent {
  const parsed = checkNspsEvent(value);
  if (!parsed.ok) throw new Error(`not an NSPS event: ${parsed.error}`);
  return parsed.event;
}

const settings: MappingSettings = {
  eventActions: { 'SIM/Updated': 'update' },
  defaultCsProfile: 'cs-default',
  defaultEpsProfile: 'eps-default',
};

function syncOf(event: unknown, s: MappingSettings = settings) {
  const r = mapEvent(asEvent(event), s);
  if (r.kind !== 'sync') throw new Error(`expected sync, got ${JSON.stringify(r)}`);
  return r.request;
}

describe('NSPS event → WTL unified sync request', () => {
  it('maps the reference example to an update granting service with its MSISDN and policy profiles', () => {
    expect(syncOf(nspsExampleEvent())).toEqual({
      imsi: '001010000020349',
      subscriber_status: 'SERVICE_GRANTED',
      msisdn: ['79123456789'],
      cs_profile: 'cs-pp-20250319',
      eps_profile: 'eps-pp-20250319',
      action: 'update',
    });
  });

  it('maps the raw payload bytes the same way and carries created_at for ordering', () => {
    const r = mapPayload(Buffer.from(JSON.stringify(nspsExampleEvent())), settings);
    expect(r.kind).toBe('sync');
    expect(r.kind === 'sync' && r.createdAt).toBe('2025-03-12T16:47:30.443939+00:00');
  });

  it('bars a blocked account but keeps its MSISDN while the bill is open', () => {
    const e = nspsExampleEvent();
    e.pb_data.account_info.blocked = true;
    const req = syncOf(e);
    expect(req.subscriber_status).toBe('OPERATOR_DETERMINED_BARRING');
    expect(req.msisdn).toEqual(['79123456789']);
  });

  it.each(['closed', 'suspended', undefined])('bars and sends no MSISDN when bill_status is %s', (bill) => {
    const e = nspsExampleEvent();
    if (bill === undefined) delete e.pb_data.account_info.bill_status;
    else e.pb_data.account_info.bill_status = bill;
    const req = syncOf(e);
    expect(req.subscriber_status).toBe('OPERATOR_DETERMINED_BARRING');
    expect(req.msisdn).toEqual([]);
  });

  it('treats a missing blocked flag as not blocked', () => {
    const e = nspsExampleEvent();
    delete e.pb_data.account_info.blocked;
    expect(syncOf(e).subscriber_status).toBe('SERVICE_GRANTED');
  });

  it('sends no MSISDN when account_info.id is not of the form <msisdn>@msisdn', () => {
    for (const id of ['79123456789', 'john@example.com', '@msisdn', '79123456789@msisdn.example']) {
      const e = nspsExampleEvent();
      e.pb_data.account_info.id = id;
      const req = syncOf(e);
      expect(req.msisdn, id).toEqual([]);
      expect(req.subscriber_status).toBe('SERVICE_GRANTED');
    }
  });

  it('sends no MSISDN without account_info at all, and bars the subscriber', () => {
    const e = nspsExampleEvent();
    delete e.pb_data.account_info;
    expect(syncOf(e)).toMatchObject({ msisdn: [], subscriber_status: 'OPERATOR_DETERMINED_BARRING' });
  });

  it('rejects an event without an IMSI as invalid', () => {
    const e = nspsExampleEvent();
    delete e.pb_data.sim_info.imsi;
    expect(mapEvent(asEvent(e), settings)).toEqual({ kind: 'invalid', reason: 'pb_data.sim_info.imsi is missing' });
    const noPb = nspsExampleEvent();
    delete noPb.pb_data;
    expect(mapEvent(asEvent(noPb), settings).kind).toBe('invalid');
  });

  it('checks the IMSI against WTL_IMSI_REGEXP when configured', () => {
    const strict = { ...settings, imsiPattern: /^00101\d{10}$/ };
    expect(syncOf(nspsExampleEvent(), strict).imsi).toBe('001010000020349');
    const e = nspsExampleEvent();
    e.pb_data.sim_info.imsi = '999990000020349';
    const r = mapEvent(asEvent(e), strict);
    expect(r.kind).toBe('invalid');
    expect(r.kind === 'invalid' && r.reason).toMatch(/does not match WTL_IMSI_REGEXP/);
  });

  it('falls back to the configured default profiles without an access policy', () => {
    const e = nspsExampleEvent();
    delete e.pb_data.access_policy_info;
    expect(syncOf(e)).toMatchObject({ cs_profile: 'cs-default', eps_profile: 'eps-default' });
  });

  it('falls back per profile when the policy lacks one of them', () => {
    const e = nspsExampleEvent();
    e.pb_data.access_policy_info.attributes = [{ group_name: 'lte.wtl', name: 'eps_profile', value: 'eps-only' }];
    expect(syncOf(e)).toMatchObject({ cs_profile: 'cs-default', eps_profile: 'eps-only' });
  });

  it('leaves profiles out when neither the policy nor the defaults give one', () => {
    const e = nspsExampleEvent();
    delete e.pb_data.access_policy_info;
    const req = syncOf(e, { eventActions: { 'SIM/Updated': 'update' } });
    expect(req).not.toHaveProperty('cs_profile');
    expect(req).not.toHaveProperty('eps_profile');
  });

  it('skips an event type without a configured action', () => {
    const e = nspsExampleEvent();
    e.data.event_type = 'Account/BalanceChanged';
    expect(mapEvent(asEvent(e), settings)).toMatchObject({ kind: 'skip', eventType: 'Account/BalanceChanged' });
    e.data.event_type = 'constructor';
    expect(mapEvent(asEvent(e), settings).kind).toBe('skip');
  });

  it('uses whatever action the map configures', () => {
    const e = nspsExampleEvent();
    e.data.event_type = 'SIM/Deleted';
    expect(syncOf(e, { ...settings, eventActions: { 'SIM/Deleted': 'delete' } }).action).toBe('delete');
  });

  it('reads the payload with the NSPS contract: what ingress would refuse, and an empty event_type, are invalid', () => {
    expect(mapPayload('{"event_id": ', settings)).toEqual({ kind: 'invalid', reason: 'payload is not an NSPS event: body is not valid JSON' });
    expect(mapPayload('[]', settings)).toEqual({ kind: 'invalid', reason: 'payload is not an NSPS event: body must be a JSON object' });
    expect(mapPayload(Buffer.from([0x7b, 0xff, 0x7d]), settings)).toEqual({ kind: 'invalid', reason: 'payload is not an NSPS event: body is not valid UTF-8' });
    expect(mapPayload('{"event_id":"x","data":{}}', settings)).toEqual({ kind: 'invalid', reason: 'payload is not an NSPS event: data.event_type: field required' });
    expect(mapPayload('{"data":{"event_type":"SIM/Updated"},"pb_data":{"sim_info":{"imsi":"001010000020349"}}}', settings)).toEqual({ kind: 'invalid', reason: 'payload is not an NSPS event: event_id: field required' });
    expect(mapPayload('{"event_id":"x","data":{"event_type":"SIM/Updated"},"pb_data":{"sim_info":"001010000020349"}}', settings)).toEqual({ kind: 'invalid', reason: 'payload is not an NSPS event: pb_data.sim_info: must be an object' });
    expect(mapPayload('{"event_id":"x","data":{"event_type":""}}', settings)).toEqual({ kind: 'invalid', reason: 'data.event_type is missing' });
  });
});

describe('helpers and configuration', () => {
  it('extracts an MSISDN only from <msisdn>@msisdn', () => {
    expect(msisdnFromAccountId('79123456789@msisdn')).toBe('79123456789');
    expect(msisdnFromAccountId('79123456789')).toBeUndefined();
    expect(msisdnFromAccountId(42)).toBeUndefined();
  });

  it('parses WTL_EVENT_ACTIONS and names a bad entry', () => {
    expect(parseEventActions('SIM/Updated=update, SIM/Deleted=delete')).toEqual({ 'SIM/Updated': 'update', 'SIM/Deleted': 'delete' });
    expect(() => parseEventActions('SIM/Updated=upsert')).toThrow(/SIM\/Updated=upsert/);
    expect(() => parseEventActions('update')).toThrow();
  });

  it('loads the defaults and rejects a bad action map and a bad regular expression together', () => {
    const base = { KAFKA_BROKERS: '127.0.0.1:9092', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081' };
    const cfg = loadProvisioningConfig(base);
    expect(mappingSettings(cfg).eventActions).toEqual({ 'SIM/Updated': 'update' });
    expect(cfg.WTL_BASE_URL).toBeUndefined();
    expect(cfg.WTL_SYNC_PATH).toBe('/api/v1/subscribers/sync');
    expect(cfg.PORT).toBe(9101);
    expect(() => loadProvisioningConfig({ ...base, WTL_EVENT_ACTIONS: 'SIM/Updated=bogus', WTL_IMSI_REGEXP: '([' })).toThrow(
      /WTL_EVENT_ACTIONS[\s\S]*WTL_IMSI_REGEXP|WTL_IMSI_REGEXP[\s\S]*WTL_EVENT_ACTIONS/,
    );
  });

  it('orders by received_at, then created_at; equal positions are not older', () => {
    const a = orderingPosition(1000, '2025-03-12T16:47:30Z');
    const b = orderingPosition(1000, '2025-03-12T16:47:31Z');
    const c = orderingPosition(2000, undefined);
    expect(isOlder(a, b)).toBe(true);
    expect(isOlder(b, a)).toBe(false);
    expect(isOlder(b, c)).toBe(true);
    expect(isOlder(a, a)).toBe(false);
    expect(orderingPosition(5, 'not a date').createdAt).toBe(0);
  });
});
