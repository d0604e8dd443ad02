// The benchmark harness's pure pieces: order statistics, the alternation order, chunking the
// bare producer's sends like ingress, and attributing profile frames to owners. No timing here.
import { describe, expect, it } from 'vitest';
import { alternate, alternationOrder } from '../../bench/lib/alternate.js';
import { ownerOf } from '../../bench/lib/cpuprofile.js';
import { chunkMessages } from '../../bench/lib/load.js';
import { renderReport } from '../../bench/lib/report.js';
import { median, percentile, ratio, summarizeLatencies } from '../../bench/lib/stats.js';

describe('bench stats', () => {
  it('median of odd and even counts', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('nearest-rank percentiles', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i); // 100..1, unsorted on purpose
    expect(percentile(values, 50)).toBe(50);
    expect(percentile(values, 99)).toBe(99);
    expect(percentile(values, 100)).toBe(100);
    expect(summarizeLatencies([3, 1, 2])).toEqual({ count: 3, p50: 2, p99: 3, max: 3 });
  });

  it('ratio is NaN when the baseline is missing or zero', () => {
    expect(ratio(50, 100)).toBe(0.5);
    expect(ratio(50, 0)).toBeNaN();
    expect(ratio(Number.NaN, 10)).toBeNaN();
  });
});

describe('alternation', () => {
  it('rotates the order each round so no contender always goes first', () => {
    expect(alternationOrder(['a', 'b', 'c'], 3)).toEqual([['a', 'b', 'c'], ['b', 'c', 'a'], ['c', 'a', 'b']]);
  });

  it('runs every contender once per round and keeps results per contender in round order', async () => {
    const calls: string[] = [];
    const results = await alternate([
      { name: 'ours', run: async (r) => { calls.push(`ours${r}`); return r * 10; } },
      { name: 'base', run: async (r) => { calls.push(`base${r}`); return r * 100; } },
    ], 3);
    expect(calls).toEqual(['ours0', 'base0', 'base1', 'ours1', 'ours2', 'base2']);
    expect(results.get('ours')).toEqual([0, 10, 20]);
    expect(results.get('base')).toEqual([0, 100, 200]);
  });
});

describe('chunkMessages', () => {
  it('groups consecutive messages under the byte bound and keeps their order', () => {
    const msgs = [400, 400, 400, 10].map((n, i) => ({ key: String(i), value: Buffer.alloc(n) }));
    const chunks = chunkMessages(msgs, 1000);
    expect(chunks.map((c) => c.map((m) => m.key))).toEqual([['0', '1'], ['2', '3']]);
  });

  it('lets a message larger than the bound travel alone', () => {
    const chunks = chunkMessages([{ key: 'a', value: Buffer.alloc(10) }, { key: 'b', value: Buffer.alloc(5000) }], 1000);
    expect(chunks.map((c) => c.length)).toEqual([1, 1]);
  });
});

describe('profile owners', () => {
  it('tells our code from libraries and Node', () => {
    expect(ownerOf('file:///work/main/services/ingress/sources/nsps.ts', 'h')).toBe('ours: services/ingress');
    expect(ownerOf('file:///work/main/node_modules/kafkajs/src/producer/index.js', 'send')).toBe('lib: kafkajs');
    expect(ownerOf('file:///work/main/node_modules/@kafkajs/confluent-schema-registry/dist/x.js', 'encode')).toBe('lib: @kafkajs/confluent-schema-registry');
    expect(ownerOf('node:internal/streams/readable', 'push')).toBe('node (core)');
    expect(ownerOf('', '(garbage collector)')).toBe('(GC)');
  });
});

describe('report', () => {
  it('states each target and a not-run scenario with its reason', () => {
    const md = renderReport({
      mode: 'smoke', startedAt: new Date(0), durationMs: 1000, machine: { Node: 'v20' }, settings: {}, preface: [], appendix: [],
      scenarios: [
        { id: '1', title: 'A', status: 'ran', notes: [], tables: [{ headers: ['x', 'y'], rows: [[1, 'a|b']] }], targets: [{ name: 't1', status: 'missed', detail: '40 %' }] },
        { id: '2', title: 'B', status: 'not run', notes: ['Not run: services/x/main.ts does not exist yet'], tables: [], targets: [] },
      ],
    });
    expect(md).toContain('| t1 | ❌ missed | 40 % |');
    expect(md).toContain('Not run: services/x/main.ts does not exist yet');
    expect(md).toContain('| 1 | a\\|b |');
  });
});
