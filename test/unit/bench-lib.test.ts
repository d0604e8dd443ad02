// The benchmark harness's pure pieces: order statistics, the alternation order, chunking the
// bare producer's sends like ingress, attributing profile frames to owners, the paired client
// comparison and parsing ProducerPerformance's summary. No timing here.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { alternate, alternationOrder, alternationPlan } from '../../bench/lib/alternate.js';
import { clientChoiceRow } from '../../bench/lib/client-choice.js';
import { parseProducerPerfSummary, recordsForSeconds } from '../../bench/lib/producer-perf.js';
import { ownerOf, summarizeProfile } from '../../bench/lib/cpuprofile.js';
import { oursBound } from '../../bench/lib/profile.js';
import { chunkMessages } from '../../bench/lib/load.js';
import { renderReport } from '../../bench/lib/report.js';
import { comparePaired, median, percentile, range, ratio, seededRandom, summarizeLatencies } from '../../bench/lib/stats.js';

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

  it('median and range leave out failed runs (NaN)', () => {
    expect(median([Number.NaN, 3, 1])).toBe(2);
    expect(median([Number.NaN])).toBeNaN();
    expect(range([5, Number.NaN, 2, 9])).toEqual({ min: 2, max: 9 });
    expect(range([])).toEqual({ min: Number.NaN, max: Number.NaN });
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

describe('alternation plan with per-contender repeats', () => {
  it('spreads a contender with fewer repeats evenly over the rounds and rotates each round', () => {
    const plan = alternationPlan([{ name: 'p', repeats: 6 }, { name: 'k', repeats: 6 }, { name: 'base', repeats: 3 }]);
    expect(plan).toHaveLength(6);
    // base in rounds 0, 2, 4; the pair in every round.
    expect(plan.map((r) => r.includes('base'))).toEqual([true, false, true, false, true, false]);
    expect(plan.every((r) => r.includes('p') && r.includes('k'))).toBe(true);
    expect(plan[0]).toEqual(['p', 'k', 'base']);
    expect(plan[1]).toEqual(['k', 'p']);
    expect(plan[2]).toEqual(['base', 'p', 'k']);
  });

  it('runs each contender exactly its repeats', async () => {
    const counts = new Map<string, number>();
    const run = (name: string) => async () => { counts.set(name, (counts.get(name) ?? 0) + 1); return 0; };
    const results = await alternate([
      { name: 'a', run: run('a'), repeats: 5 },
      { name: 'b', run: run('b') },
      { name: 'c', run: run('c'), repeats: 1 },
    ], 2);
    expect(Object.fromEntries(counts)).toEqual({ a: 5, b: 2, c: 1 });
    expect(results.get('a')).toHaveLength(5);
  });
});

describe('paired comparison of two contenders', () => {
  it('separates A when every round favours it clearly', () => {
    const a = [110, 112, 108, 115, 111, 109];
    const b = [100, 101, 99, 102, 100, 98];
    const c = comparePaired(a, b);
    expect(c.pairs).toBe(6);
    expect(c.faster).toBe('A');
    expect(c.low).toBeGreaterThan(1);
    expect(c.medianRatio).toBeGreaterThan(c.low);
    expect(c.medianRatio).toBeLessThan(c.high + 1e-12);
  });

  it('says B when B wins every round, and does not separate mixed rounds', () => {
    expect(comparePaired([90, 91, 89, 92], [100, 100, 100, 100]).faster).toBe('B');
    const mixed = comparePaired([105, 95, 104, 96, 103, 97], [100, 100, 100, 100, 100, 100]);
    expect(mixed.faster).toBe('not separated');
    expect(mixed.low).toBeLessThan(1);
    expect(mixed.high).toBeGreaterThan(1);
  });

  it('pairs by round, so a drift of the machine that hits both alike does not hide a steady difference', () => {
    // The machine slows down threefold over the rounds; A stays 5 % ahead of B in each round.
    const b = [300, 250, 200, 150, 120, 100];
    const a = b.map((x) => x * 1.05);
    expect(comparePaired(a, b).faster).toBe('A');
    // The same values unpaired overlap completely: min–max cannot tell them apart.
    expect(range(a).min).toBeLessThan(range(b).max);
  });

  it('never separates fewer than three rounds', () => {
    const c = comparePaired([200, 210], [100, 100]);
    expect(c.faster).toBe('not separated');
    expect(c.low).toBeNaN();
  });

  it('is reproducible: the seeded generator repeats itself', () => {
    const r1 = seededRandom(5);
    const r2 = seededRandom(5);
    const xs = Array.from({ length: 5 }, () => r1());
    expect(xs).toEqual(Array.from({ length: 5 }, () => r2()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(comparePaired([3, 1, 2, 5], [1, 1, 1, 1])).toEqual(comparePaired([3, 1, 2, 5], [1, 1, 1, 1]));
  });

  it('the client table row says the verdict and the spread', () => {
    const { row, verdict } = clientChoiceRow('50 connections, req/s', [1200, 1250, 1190], [1000, 1010, 990]);
    expect(verdict).toBe('faster: platformatic');
    expect(row).toContain('1,190–1,250');
    expect(row).toContain('990–1,010');
  });
});

describe('ProducerPerformance', () => {
  const output = [
    '5838 records sent, 1167.6 records/sec (1.34 MB/sec), 1239.9 ms avg latency, 2103.0 ms max latency.',
    '42588 records sent, 8507.4 records/sec (9.74 MB/sec), 2326.0 ms avg latency, 2814.0 ms max latency.',
    '50000 records sent, 4760.997905 records/sec (5.45 MB/sec), 2206.38 ms avg latency, 2814.00 ms max latency, 2298 ms 50th, 2618 ms 95th, 2700 ms 99th, 2766 ms 99.9th.',
  ].join('\n');

  it('parses the closing summary, not the interim lines', () => {
    expect(parseProducerPerfSummary(output)).toEqual({ records: 50000, recordsPerSec: 4760.997905, mbPerSec: 5.45, avgLatencyMs: 2206.38, p50Ms: 2298, p99Ms: 2700 });
  });

  it('gives nothing when the tool printed no summary (it failed)', () => {
    expect(parseProducerPerfSummary('log4j:WARN No appenders\nException in thread "main" org.apache.kafka.common.errors.TimeoutException')).toBeUndefined();
    expect(parseProducerPerfSummary(output.split('\n').slice(0, 2).join('\n'))).toBeUndefined();
  });

  it('sizes a run from the warm-up rate within bounds', () => {
    expect(recordsForSeconds(20_000, 15, 20_000, 3_000_000)).toBe(300_000);
    expect(recordsForSeconds(100, 15, 20_000, 3_000_000)).toBe(20_000);
    expect(recordsForSeconds(1e9, 15, 20_000, 3_000_000)).toBe(3_000_000);
    expect(recordsForSeconds(Number.NaN, 15, 20_000, 3_000_000)).toBe(20_000);
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

describe('profile summary', () => {
  // root → ours (handler) → node Buffer copy;  root → lib (kafkajs) → native write;  root → GC;  root → idle.
  const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({ id, callFrame: { functionName, url, lineNumber: 0 }, children });
  const profile = {
    nodes: [
      frame(1, '(root)', '', [2, 4, 6, 7]),
      frame(2, 'handler', 'file:///work/main/services/ingress/sources/nsps.ts', [3]),
      frame(3, 'copy', 'node:buffer'),
      frame(4, 'send', 'file:///work/main/node_modules/kafkajs/src/producer/index.js', [5]),
      frame(5, 'writev', ''),
      frame(6, '(garbage collector)', ''),
      frame(7, '(idle)', ''),
    ],
    // Self time (µs): handler 100, its copy 300, kafkajs 200, its writev 200, GC 200, idle 1,000.
    samples: [2, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7],
    timeDeltas: [100, 100, 100, 100, 100, 100, 100, 100, 100, 100, 1000],
  };
  const file = join(mkdtempSync(join(tmpdir(), 'prof-')), 'CPU.test.cpuprofile');
  writeFileSync(file, JSON.stringify(profile));

  it('counts Node work our code calls as ours, and not the work a library calls', () => {
    const s = summarizeProfile(file);
    expect(s.oursSelf).toBeCloseTo(100 / 1000);
    expect(s.oursWithCalls).toBeCloseTo(400 / 1000);
    expect(s.owners.find((o) => o.owner === 'lib: kafkajs')?.share).toBeCloseTo(0.2);
    expect(s.owners.some((o) => o.owner === '(idle)')).toBe(false);
  });

  it('counts only the window: to the last sample inside its function, or inside the code it ends on', () => {
    const toHandler = summarizeProfile(file, 12, { functionName: 'handler', urlEndsWith: 'services/ingress/sources/nsps.ts' });
    // handler and its copy only: 400 µs, of which the handler's own 100.
    expect(toHandler.oursSelf).toBeCloseTo(100 / 400);
    expect(toHandler.owners.some((o) => o.owner === 'lib: kafkajs')).toBe(false);
    const toKafka = summarizeProfile(file, 12, { functionName: 'handler', urlEndsWith: 'services/ingress/sources/nsps.ts', endsInside: 'node_modules/kafkajs/' });
    // The window runs on through kafkajs's send and its write (800 µs), not into the GC after it.
    expect(toKafka.oursSelf).toBeCloseTo(100 / 800);
    expect(toKafka.owners.find((o) => o.owner === 'lib: kafkajs')?.share).toBeCloseTo(200 / 800);
    expect(toKafka.owners.some((o) => o.owner === '(GC)')).toBe(false);
  });

  it('bounds the rate our code could reach by its share', () => {
    expect(oursBound(600, 0.4)).toBeCloseTo(1000);
    expect(oursBound(600, 0)).toBe(600);
    expect(oursBound(600, 1)).toBe(Number.POSITIVE_INFINITY);
  });
});
