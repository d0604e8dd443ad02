// The SCC inventory fold as plain data: every rule of the NS-Adapter semantics, no Kafka, no database.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSapReport } from '../../services/shared/contracts/sap-report.js';
import {
  decide, evolve, foldReport, foldReports, parseReport, ReportRejected, systemId, systemKeyString,
  type Change, type Inventory, type Report, type ReportType, type SystemState,
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

// What the projector runs (projector.ts projectRecords): the systems of a chunk's tenants loaded as one
// Inventory per tenant, keyed by systemKeyString; foldReport(state, report) for every report the chunk
// completes, in order; the changes it returns persisted. Live chunks hold one report, rebuild chunks many.
describe('evolve: given a state, when a change, then the state', () => {
  const sys = (host: string, over: Partial<SystemState> = {}): SystemState => ({
    tenant: 't1', subaccount: 'sa', locationId: 'loc', host, protocol: 'HTTP', type: 'on-premise-system', systemStatus: 'enabled', description: 'd', systemNumber: null, reachable: true, ...over,
  });
  const key = (s: SystemState) => ({ tenant: s.tenant, subaccount: s.subaccount, locationId: s.locationId, host: s.host });

  it('a create adds the system under its identity', () => {
    const state: Inventory = new Map();
    const after = sys('h1');
    const next = evolve(state, { kind: 'create', key: key(after), before: null, after });
    expect([...next]).toEqual([['["t1","sa","loc","h1"]', after]]);
  });

  it('any other change replaces the system by its after-state, leaving the others alone, in place', () => {
    const h1 = sys('h1');
    const h2 = sys('h2');
    const state: Inventory = new Map([['["t1","sa","loc","h1"]', h1], ['["t1","sa","loc","h2"]', h2]]);
    const gone = { ...h2, reachable: false };
    const next = evolve(state, { kind: 'unreachable', key: key(h2), before: h2, after: gone });
    expect(next).toBe(state);
    expect([...next]).toEqual([['["t1","sa","loc","h1"]', h1], ['["t1","sa","loc","h2"]', gone]]);
  });
});

describe('foldReport: given the stored systems, when a report, then its changes and the state after them', () => {
  const stored = (host: string, over: Partial<SystemState> = {}): [string, SystemState] => {
    const s: SystemState = { tenant: 't1', subaccount: 'sa', locationId: 'loc', host, protocol: 'HTTP', type: 'on-premise-system', systemStatus: 'enabled', description: 'd', systemNumber: null, reachable: true, ...over };
    return [systemKeyString(s), s];
  };

  it('a delta report: one system created, one updated, one gone unreachable, one unchanged', () => {
    const state: Inventory = new Map([stored('same'), stored('changed'), stored('gone')]);
    const changes = foldReport(state, report('t1', 'delta', [scc('sa', 'loc', [{ host: 'same' }, { host: 'changed', status: 'disabled' }, { host: 'new' }])]));
    expect(changes.map((c) => [c.kind, c.key.host])).toEqual([['update', 'changed'], ['create', 'new'], ['unreachable', 'gone']]);
    expect([...state.values()].map((s) => [s.host, s.systemStatus, s.reachable])).toEqual([
      ['same', 'enabled', true], ['changed', 'disabled', true], ['gone', 'enabled', false], ['new', 'enabled', true],
    ]);
  });

  it('the state after a report is what decide sees for the next one: a chunk of reports folds like reports one by one', () => {
    const reports = [
      report('t1', 'delta', [scc('sa', 'loc', [{ host: 'a' }, { host: 'b' }])]),
      report('t1', 'delta', [scc('sa', 'loc', [{ host: 'a', status: 'disabled' }])]),
      report('t1', 'full', [scc('sb', 'l2', [{ host: 'c' }])]),
      report('t1', 'delta', [scc('sa', 'loc', [{ host: 'b' }])]),
    ];
    // A rebuild: one state, every report of the chunk folded into it.
    const chunk: Inventory = new Map();
    const chunkChanges: Change[] = reports.flatMap((r) => foldReport(chunk, r));
    // The live consumer: each report against a fresh copy of what the previous one left.
    let stored: Inventory = new Map();
    const liveChanges: Change[] = [];
    for (const r of reports) {
      const state = new Map(stored);
      liveChanges.push(...foldReport(state, r));
      stored = state;
    }
    expect(chunkChanges).toEqual(liveChanges);
    expect(chunk).toEqual(stored);
    expect(chunkChanges.map((c) => `${c.kind} ${c.key.host}`)).toEqual([
      'create a', 'create b', 'update a', 'unreachable b', 'create c', 'unreachable a', 'reachable b',
    ]);
    expect([...chunk.values()].map((s) => [s.host, s.reachable])).toEqual([['a', false], ['b', true], ['c', true]]);
  });

  it('a report of one tenant folded into its own state never sees another\'s systems', () => {
    const t1: Inventory = new Map([stored('x')]);
    const t2: Inventory = new Map();
    expect(foldReport(t2, report('t2', 'full', [scc('sa', 'loc', [{ host: 'x' }])])).map((c) => [c.kind, c.key.tenant])).toEqual([['create', 't2']]);
    expect([...t1.values()].map((s) => s.reachable)).toEqual([true]);
  });

  it('a report that changes nothing returns no changes and leaves the state as it was', () => {
    const state: Inventory = new Map([stored('a', { description: 'd' })]);
    const before = new Map(state);
    expect(foldReport(state, report('t1', 'full', [scc('sa', 'loc', [{ host: 'a' }])]))).toEqual([]);
    expect(state).toEqual(before);
  });
});

describe('parseReport (the shared SAP report contract, then the fold\'s merge)', () => {
  const body = (value: unknown) => JSON.stringify({ type: 'notification-service', value });
  const system = (host: string, status = 'enabled') => ({ protocol: 'HTTP', host, type: 'on-premise-system', status });

  it('reads the documented body, mapping status to systemStatus', () => {
    const parsed = parseReport(body([{ subaccount: 'sa', locationId: 'loc', exposedSystems: [{ protocol: 'HTTP', host: '127.0.0.1:8080', type: 'on-premise-system', status: 'disabled', description: 'x', systemNumber: 'n' }] }]));
    expect(parsed).toEqual({
      sccs: [{ subaccount: 'sa', locationId: 'loc', systems: [{ host: '127.0.0.1:8080', protocol: 'HTTP', type: 'on-premise-system', systemStatus: 'disabled', description: 'x', systemNumber: 'n' }] }],
    });
  });

  it('reads capitalised keys as the adapter does: Subaccount, LocationID, ExposedSystems, Host…', () => {
    const parsed = parseReport(JSON.stringify({
      Type: 'notification-service',
      Value: [{ Subaccount: 'sa', LocationID: 'loc', ExposedSystems: [{ Protocol: 'HTTP', Host: 'h:1', Type: 'on-premise-system', Status: 'enabled', Description: 'd', SystemNumber: 'n' }] }],
    }));
    expect(parsed.sccs).toEqual([{ subaccount: 'sa', locationId: 'loc', systems: [{ host: 'h:1', protocol: 'HTTP', type: 'on-premise-system', systemStatus: 'enabled', description: 'd', systemNumber: 'n' }] }]);
  });

  it('treats a missing locationId as "" and absent description and systemNumber as null', () => {
    const parsed = parseReport(body([{ subaccount: 'sa', exposedSystems: [system('h')] }]));
    expect(parsed.sccs).toEqual([{ subaccount: 'sa', locationId: '', systems: [{ host: 'h', protocol: 'HTTP', type: 'on-premise-system', systemStatus: 'enabled', description: null, systemNumber: null }] }]);
  });

  it('merges an SCC listed twice, the last description of a host winning', () => {
    const parsed = parseReport(body([
      { subaccount: 'sa', locationId: 'l', exposedSystems: [system('a', 's1')] },
      { subaccount: 'sa', locationId: 'l', exposedSystems: [system('a', 's2'), system('b')] },
    ]));
    expect(parsed.sccs).toHaveLength(1);
    expect(parsed.sccs[0]!.systems.map((s) => [s.host, s.systemStatus])).toEqual([['a', 's2'], ['b', 'enabled']]);
  });

  it('rejects what ingress refuses, with the adapter\'s message', () => {
    expect(() => parseReport('{"type":')).toThrow(new ReportRejected('failed to parse request body'));
    expect(() => parseReport('{"type":"notification-service"}')).toThrow(new ReportRejected('value key is required'));
    expect(() => parseReport(body([{ locationId: 'l', exposedSystems: [] }]))).toThrow(new ReportRejected('subaccount key is required'));
    expect(() => parseReport(body([{ subaccount: 'sa' }]))).toThrow(new ReportRejected('exposedSystems key is required'));
    expect(() => parseReport(body([{ subaccount: 'sa', exposedSystems: [{ status: 'no host', protocol: 'HTTP', type: 't' }] }]))).toThrow(new ReportRejected('host key is required'));
    expect(() => parseReport(body([{ subaccount: 'sa', exposedSystems: [{ ...system('h'), description: 7 }] }]))).toThrow(new ReportRejected('failed to parse request body'));
  });

  it('accepts bytes split anywhere once concatenated (parts of a split report)', () => {
    const original = Buffer.from(body([{ subaccount: 'sä', locationId: 'l', exposedSystems: [system('hé')] }]));
    const parts = [original.subarray(0, 7), original.subarray(7, 31), original.subarray(31)];
    expect(parseReport(Buffer.concat(parts)).sccs[0]!.systems[0]!.host).toBe('hé');
  });
});

describe('parseReport: a body spelled exactly as the contract names its keys is read directly, with the contract\'s result', () => {
  // The reference: the contract's own reading (parseSapReport), then the fold's merge, as parseReport did
  // before it read canonical bodies directly.
  const byContract = (text: string): unknown => {
    const parsed = parseSapReport(text);
    if (!parsed.ok) return { rejected: parsed.message };
    const merged = new Map<string, { subaccount: string; locationId: string; byHost: Map<string, unknown> }>();
    for (const scc of parsed.report.value) {
      const id = JSON.stringify([scc.subaccount, scc.locationId]);
      if (!merged.has(id)) merged.set(id, { subaccount: scc.subaccount, locationId: scc.locationId, byHost: new Map() });
      for (const x of scc.exposedSystems) {
        merged.get(id)!.byHost.set(x.host, { host: x.host, protocol: x.protocol, type: x.type, systemStatus: x.status, description: x.description, systemNumber: x.systemNumber });
      }
    }
    return { sccs: [...merged.values()].map((m) => ({ subaccount: m.subaccount, locationId: m.locationId, systems: [...m.byHost.values()] })) };
  };
  const ours = (text: string): unknown => {
    try {
      return parseReport(text);
    } catch (err) {
      if (err instanceof ReportRejected) return { rejected: err.message };
      throw err;
    }
  };
  // Mostly well-formed values, with the contract's edge cases mixed in: empty strings, nulls, wrong types,
  // other spellings of a key, keys the contract ignores.
  const value = (good: fc.Arbitrary<unknown>) => fc.oneof({ weight: 8, arbitrary: good }, fc.constant(''), fc.constant(null), fc.integer(), fc.constant([]), fc.constant({}));
  const str = fc.constantFrom('a', 'b', 'HTTP', 'h:1', 'sä', 'x\ty');
  const fields = (spec: Record<string, fc.Arbitrary<unknown>>) =>
    fc.tuple(
      fc.record(Object.fromEntries(Object.entries(spec).map(([k, a]) => [k, value(a)])), { requiredKeys: [] }),
      fc.array(fc.tuple(fc.constantFrom(...Object.keys(spec).map((k) => k.toUpperCase()), 'extra', 'Host', 'LocationID'), value(str)), { maxLength: 1 }),
      fc.nat(4),
    ).map(([known, others, pick]) => (pick > 0 ? known : { ...known, ...Object.fromEntries(others) }));
  // Key parts unusable as identifiers (over 255 bytes, a U+0000) are the contract's rejection on both paths.
  const system = fields({ protocol: str, host: fc.constantFrom('h1', 'h2', 'h3', 'h'.repeat(256), 'h\u0000'), type: str, status: str, description: str, systemNumber: str });
  const scc = fields({ subaccount: fc.constantFrom('s1', 's2', 's\u0000'), locationId: fc.constantFrom('l1', 'l2', '', 'l'.repeat(256)), exposedSystems: fc.array(system, { maxLength: 4 }) });
  const report = fields({ type: str, value: fc.array(scc, { maxLength: 3 }) });

  it('gives what the contract and the merge give, for well-formed and malformed bodies alike', () => {
    fc.assert(fc.property(report, (body) => {
      const text = JSON.stringify(body);
      expect(ours(text)).toEqual(byContract(text));
    }), { numRuns: 3000 });
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
