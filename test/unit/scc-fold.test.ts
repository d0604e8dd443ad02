// The SCC inventory fold as plain data: every rule of the NS-Adapter semantics, no Kafka, no database.
import { describe, expect, it } from 'vitest';
import {
  decide, foldReports, parseReport, ReportRejected, systemId, systemKeyString,
  type Report, type ReportType, type SystemState,
} from '../../services/scc-inventory/fold.js';

type Sys = { host: string; status?: string; description?: string };

function scc(subaccount: string, locationId: string, systems: Sys[]): Report['sccs'][number] {
  return {
    subaccount,
    locationId,
    systems: systems.map((s) => ({
      host: s.host, protocol: 'HTTP', type: 'on-premise-system', systemStatus: s.status ?? 'enabled', description: s.description ?? 'd', systemNumber: null,
    })),
  };
}

function report(tenant: string, reportType: ReportType, sccs: Report['sccs']): Report {
  return { tenant, reportType, sccs };
}

function view(state: Map<string, SystemState>): Record<string, boolean> {
  return Object.fromEntries([...state.values()].map((s) => [`${s.tenant}/${s.subaccount}/${s.locationId}/${s.host}`, s.reachable]));
}

describe('decide: one report against current systems', () => {
  it('creates systems new to the inventory', () => {
    const changes = decide(report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1' }, { host: 'h2' }])]), []);
    expect(changes.map((c) => [c.kind, c.key.host, c.before])).toEqual([['create', 'h1', null], ['create', 'h2', null]]);
    expect(changes.every((c) => c.after.reachable)).toBe(true);
  });

  it('marks systems of a listed SCC that are no longer listed unreachable, and leaves unchanged ones alone', () => {
    const state = foldReports([report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1' }, { host: 'h2' }])])]);
    const changes = decide(report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1' }])]), [...state.values()]);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kind: 'unreachable', key: { host: 'h2' }, before: { reachable: true }, after: { reachable: false } });
  });

  it('updates changed attributes with before and after', () => {
    const state = foldReports([report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1', status: 'enabled' }])])]);
    const changes = decide(report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1', status: 'disabled', description: 'new' }])]), [...state.values()]);
    expect(changes).toHaveLength(1);
    expect(changes[0]!.kind).toBe('update');
    expect(changes[0]!.before).toMatchObject({ systemStatus: 'enabled', description: 'd' });
    expect(changes[0]!.after).toMatchObject({ systemStatus: 'disabled', description: 'new', reachable: true });
  });

  it('changes nothing when a report repeats the current state', () => {
    const r = report('t1', 'full', [scc('sa', 'loc', [{ host: 'h1' }])]);
    const state = foldReports([r]);
    expect(decide(r, [...state.values()])).toEqual([]);
  });

  it('does not mark an already unreachable system unreachable again', () => {
    const state = foldReports([
      report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1' }, { host: 'h2' }])]),
      report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1' }])]),
    ]);
    expect(decide(report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1' }])]), [...state.values()])).toEqual([]);
  });
});

describe('full and delta reports', () => {
  it('a full report marks every system of the tenant\'s SCCs absent from the report unreachable', () => {
    const state = foldReports([
      report('t1', 'delta', [scc('sa', 'loc-1', [{ host: 'h1' }])]),
      report('t1', 'delta', [scc('sa', 'loc-2', [{ host: 'h2' }, { host: 'h3' }])]),
    ]);
    const changes = decide(report('t1', 'full', [scc('sa', 'loc-1', [{ host: 'h1' }])]), [...state.values()]);
    expect(changes.map((c) => [c.kind, c.key.locationId, c.key.host]).sort()).toEqual([['unreachable', 'loc-2', 'h2'], ['unreachable', 'loc-2', 'h3']]);
  });

  it('a delta report touches only the SCCs it lists', () => {
    const state = foldReports([report('t1', 'full', [scc('sa', 'loc-1', [{ host: 'h1' }]), scc('sb', 'loc-9', [{ host: 'h9' }])])]);
    const changes = decide(report('t1', 'delta', [scc('sa', 'loc-1', [{ host: 'h1b' }])]), [...state.values()]);
    expect(changes.map((c) => [c.kind, c.key.host]).sort()).toEqual([['create', 'h1b'], ['unreachable', 'h1']]);
    expect(changes.some((c) => c.key.subaccount === 'sb')).toBe(false);
  });

  it('a full report after deltas leaves exactly what it lists reachable', () => {
    const state = foldReports([
      report('t1', 'delta', [scc('sa', 'loc-1', [{ host: 'a' }, { host: 'b' }])]),
      report('t1', 'delta', [scc('sb', 'loc-2', [{ host: 'c' }])]),
      report('t1', 'delta', [scc('sa', 'loc-1', [{ host: 'a' }, { host: 'b' }, { host: 'd' }])]),
      report('t1', 'full', [scc('sa', 'loc-1', [{ host: 'b' }, { host: 'e' }])]),
    ]);
    expect(view(state)).toEqual({
      't1/sa/loc-1/a': false, 't1/sa/loc-1/b': true, 't1/sb/loc-2/c': false, 't1/sa/loc-1/d': false, 't1/sa/loc-1/e': true,
    });
  });

  it('an empty full report marks all of the tenant\'s systems unreachable', () => {
    const state = foldReports([report('t1', 'delta', [scc('sa', 'l', [{ host: 'a' }]), scc('sb', 'l', [{ host: 'b' }])]), report('t1', 'full', [])]);
    expect(Object.values(view(state))).toEqual([false, false]);
  });
});

describe('reappearing systems', () => {
  it('a system that disappears and reappears becomes reachable again, with its new attributes', () => {
    const r1 = report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1', description: 'v1' }])]);
    const gone = report('t1', 'delta', [scc('sa', 'loc', [])]);
    const back = report('t1', 'delta', [scc('sa', 'loc', [{ host: 'h1', description: 'v2' }])]);
    const afterGone = foldReports([r1, gone]);
    expect(view(afterGone)).toEqual({ 't1/sa/loc/h1': false });
    const changes = decide(back, [...afterGone.values()]);
    expect(changes).toHaveLength(1);
    expect(changes[0]).toMatchObject({ kind: 'reachable', before: { reachable: false, description: 'v1' }, after: { reachable: true, description: 'v2' } });
  });

  it('a system of an SCC absent from a full report comes back with a later delta', () => {
    const state = foldReports([
      report('t1', 'delta', [scc('sa', 'l1', [{ host: 'a' }]), scc('sb', 'l2', [{ host: 'b' }])]),
      report('t1', 'full', [scc('sa', 'l1', [{ host: 'a' }])]),
      report('t1', 'delta', [scc('sb', 'l2', [{ host: 'b' }])]),
    ]);
    expect(view(state)).toEqual({ 't1/sa/l1/a': true, 't1/sb/l2/b': true });
  });
});

describe('tenants', () => {
  it('two tenants with the same subaccount, location and host are separate systems', () => {
    const same = [scc('shared-sa', 'loc', [{ host: 'h1' }])];
    const state = foldReports([report('t1', 'delta', same), report('t2', 'delta', same)]);
    expect(state.size).toBe(2);
    const ids = [...state.values()].map((s) => systemId(s));
    expect(new Set(ids).size).toBe(2);
  });

  it('a full report of one tenant never touches another tenant\'s systems', () => {
    const state = foldReports([
      report('t1', 'delta', [scc('shared-sa', 'loc', [{ host: 'h1' }])]),
      report('t2', 'delta', [scc('shared-sa', 'loc', [{ host: 'h1' }])]),
      report('t1', 'full', []),
    ]);
    expect(view(state)).toEqual({ 't1/shared-sa/loc/h1': false, 't2/shared-sa/loc/h1': true });
  });

  it('decide ignores systems of other tenants passed in', () => {
    const other = foldReports([report('t2', 'delta', [scc('sa', 'loc', [{ host: 'x' }])])]);
    expect(decide(report('t1', 'full', []), [...other.values()])).toEqual([]);
  });
});

describe('parseReport', () => {
  const body = (value: unknown) => JSON.stringify({ type: 'notification-service', value });

  it('reads the documented body, mapping status to systemStatus', () => {
    const parsed = parseReport(body([{ subaccount: 'sa', locationId: 'loc', exposedSystems: [{ protocol: 'HTTP', host: '127.0.0.1:8080', type: 'on-premise-system', status: 'disabled', description: 'x', systemNumber: 'n' }] }]));
    expect(parsed).toEqual({
      sccs: [{ subaccount: 'sa', locationId: 'loc', systems: [{ host: '127.0.0.1:8080', protocol: 'HTTP', type: 'on-premise-system', systemStatus: 'disabled', description: 'x', systemNumber: 'n' }] }],
      skippedSystems: 0,
    });
  });

  it('treats a missing locationId as "" and missing exposedSystems as none', () => {
    const parsed = parseReport(body([{ subaccount: 'sa' }]));
    expect(parsed.sccs).toEqual([{ subaccount: 'sa', locationId: '', systems: [] }]);
  });

  it('merges an SCC listed twice, the last description of a host winning; skips systems without host', () => {
    const parsed = parseReport(body([
      { subaccount: 'sa', locationId: 'l', exposedSystems: [{ host: 'a', status: 's1' }, { status: 'no host' }] },
      { subaccount: 'sa', locationId: 'l', exposedSystems: [{ host: 'a', status: 's2' }, { host: 'b' }] },
    ]));
    expect(parsed.sccs).toHaveLength(1);
    expect(parsed.sccs[0]!.systems.map((s) => [s.host, s.systemStatus])).toEqual([['a', 's2'], ['b', null]]);
    expect(parsed.skippedSystems).toBe(1);
  });

  it('rejects an unparseable body, a body without value, and an SCC without subaccount', () => {
    expect(() => parseReport('{"type":')).toThrow(ReportRejected);
    expect(() => parseReport('{"type":"notification-service"}')).toThrow(/value/);
    expect(() => parseReport(body([{ locationId: 'l' }]))).toThrow('subaccount key is required');
  });

  it('accepts bytes split anywhere once concatenated (parts of a split report)', () => {
    const original = Buffer.from(body([{ subaccount: 'sä', locationId: 'l', exposedSystems: [{ host: 'hé' }] }]));
    const parts = [original.subarray(0, 7), original.subarray(7, 31), original.subarray(31)];
    expect(parseReport(Buffer.concat(parts)).sccs[0]!.systems[0]!.host).toBe('hé');
  });
});

describe('systemId', () => {
  it('is stable and differs by every identity field', () => {
    const k = { tenant: 't', subaccount: 's', locationId: 'l', host: 'h' };
    expect(systemId(k)).toBe(systemId({ ...k }));
    expect(systemId(k)).toMatch(/^[0-9a-f]{32}$/);
    const variants = [{ ...k, tenant: 'x' }, { ...k, subaccount: 'x' }, { ...k, locationId: 'x' }, { ...k, host: 'x' }];
    expect(new Set([k, ...variants].map(systemId)).size).toBe(5);
    expect(systemKeyString({ tenant: 'a', subaccount: 'b|c', locationId: '', host: 'h' })).not.toBe(systemKeyString({ tenant: 'a', subaccount: 'b', locationId: 'c|', host: 'h' }));
  });
});

describe('decide: identities that only differ where one field ends and the next begins', () => {
  it('keeps systems apart whose fields concatenate to the same text', () => {
    // Each pair would collide under a naive concatenation of the identity fields.
    const sccs = [
      scc('ab', 'c', [{ host: 'h' }]),
      scc('a', 'bc', [{ host: 'h' }]),
      scc('1:x', '', [{ host: '2:y' }]),
      scc('1', ':x', [{ host: '2:y' }]),
      scc('s', 'l1', [{ host: ':h' }]),
      scc('s', 'l', [{ host: '1:h' }]),
    ];
    const created = decide(report('t', 'delta', sccs), []);
    expect(created.map((c) => c.kind)).toEqual(Array(6).fill('create'));
    const state = foldReports([report('t', 'delta', sccs)]);
    expect(state.size).toBe(6);
    // Reported again, nothing changes: every system is found again under its own identity.
    expect(decide(report('t', 'delta', sccs), [...state.values()])).toEqual([]);
    // One SCC reported empty makes exactly its own system unreachable, not its look-alike.
    const changes = decide(report('t', 'delta', [scc('ab', 'c', [])]), [...state.values()]);
    expect(changes.map((c) => [c.kind, c.key.subaccount, c.key.locationId])).toEqual([['unreachable', 'ab', 'c']]);
  });
});
