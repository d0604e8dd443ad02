// The consumer runtime's parts on plain data (no broker): ordering per key, the failure classes in the
// record runner and the batch runner, decoding, and what a lost partition leaves uncommitted. The same
// parts run against the real broker in test/integration/consumer-failures.test.ts.
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../services/shared/envelope.js';
import { PermanentError, TransientError } from '../../services/shared/errors.js';
import { createLogger } from '../../services/shared/logger.js';
import { createMetrics } from '../../services/shared/metrics.js';
import { MAX_EVENTS_PER_OUTCOME, type OutcomePublisher, type OutcomeRecord } from '../../services/shared/outcome.js';
import type { RetryPolicy } from '../../services/shared/retry.js';
import { createBatchRunner } from '../../services/shared/runtime/batch-runner.js';
import type { DeadLetterSink } from '../../services/shared/runtime/dead-letters.js';
import { decodeRecords } from '../../services/shared/runtime/decode.js';
import { createObserver } from '../../services/shared/runtime/observer.js';
import { createPrefilter } from '../../services/shared/runtime/prefilter.js';
import { createRecordRunner } from '../../services/shared/runtime/record-runner.js';
import type { ConsumedRecord, Outcome, RawRecord } from '../../services/shared/runtime/records.js';

const policy: RetryPolicy = { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2, maxOutageDelayMs: 2 };
const always = () => true;
const noBeat = async () => undefined;

function observer() {
  return createObserver('test', createMetrics('runtime-test'), createLogger({ service: 'runtime-test', level: 'silent' }));
}

function deadLetters(): { sink: DeadLetterSink; letters: { offset: string; reason: string; attempts: number }[] } {
  const letters: { offset: string; reason: string; attempts: number }[] = [];
  return {
    letters,
    sink: async (record, err, attempts) => {
      letters.push({ offset: record.offset, reason: err instanceof Error ? err.message : String(err), attempts });
      return true;
    },
  };
}

function record(offset: number, key: string | null, eventId = `e${offset}`): ConsumedRecord {
  const envelope: Envelope = {
    event_id: eventId, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: 0, request_id: 'r', content_type: 'application/json', payload: Buffer.from('{}'), attributes: {},
  };
  return { topic: 't', partition: 0, offset: String(offset), key, headers: {}, value: Buffer.from([offset]), envelope };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('record runner', () => {
  it('handles one key in offset order and different keys side by side', async () => {
    const events: string[] = [];
    // No clock: the slow key's first record is held until the fast key's last one has ended, which can only
    // happen when the keys run side by side (one key at a time would never release it: the test times out).
    let releaseSlow!: () => void;
    const slowHeld = new Promise<void>((res) => (releaseSlow = res));
    const run = createRecordRunner({
      retry: policy, observer: observer(), deadLetter: deadLetters().sink, keyConcurrency: 4,
      handle: async (r) => {
        events.push(`start ${r.envelope.event_id}`);
        if (r.envelope.event_id === 'e0') await slowHeld;
        else await new Promise((res) => setImmediate(res));
        events.push(`end ${r.envelope.event_id}`);
        if (r.envelope.event_id === 'e3') releaseSlow();
        return 'processed';
      },
    });
    const done = await run([record(0, 'slow'), record(1, 'fast'), record(2, 'slow'), record(3, 'fast')], always, noBeat);
    expect(done).toBe(true);
    // The slow key's second record starts only after its first ended; the fast key finished meanwhile.
    expect(events.indexOf('start e2')).toBeGreaterThan(events.indexOf('end e0'));
    expect(events.indexOf('end e3')).toBeLessThan(events.indexOf('end e0'));
  });

  it('dead-letters an invalid record at once and a bug after maxAttempts, each alone', async () => {
    const { sink, letters } = deadLetters();
    const calls = new Map<string, number>();
    const run = createRecordRunner({
      retry: policy, observer: observer(), deadLetter: sink,
      handle: async (r) => {
        calls.set(r.envelope.event_id, (calls.get(r.envelope.event_id) ?? 0) + 1);
        if (r.offset === '1') throw new PermanentError('WTL rejected the request with 400');
        if (r.offset === '2') throw new TypeError('bug');
        return 'processed';
      },
    });
    expect(await run([record(0, 'k'), record(1, 'k'), record(2, 'k'), record(3, 'k')], always, noBeat)).toBe(true);
    expect(letters).toEqual([
      { offset: '1', reason: 'WTL rejected the request with 400', attempts: 1 },
      { offset: '2', reason: 'bug', attempts: 3 },
    ]);
    expect(Object.fromEntries(calls)).toEqual({ e0: 1, e1: 1, e2: 3, e3: 1 });
  });

  it('waits out an outage without dead-lettering, and reports the wait while it lasts', async () => {
    const obs = observer();
    const { sink, letters } = deadLetters();
    let failures = 0;
    let waitingSeen = false;
    const run = createRecordRunner({
      retry: policy, observer: obs, deadLetter: sink,
      handle: async () => {
        if (failures > 0) waitingSeen ||= obs.waitingOnInfrastructure();
        if (++failures <= 25) throw new TransientError('WTL answered 503');
        return 'processed';
      },
    });
    expect(await run([record(0, 'k')], always, noBeat)).toBe(true);
    expect(letters).toEqual([]);
    expect(waitingSeen).toBe(true);
    expect(obs.waitingOnInfrastructure()).toBe(false);
  });

  it('abandons the batch when the partition is lost during an outage: nothing dead-lettered, nothing to commit', async () => {
    const { sink, letters } = deadLetters();
    let owner = true;
    const handled: string[] = [];
    const run = createRecordRunner({
      retry: policy, observer: observer(), deadLetter: sink,
      handle: async (r) => {
        if (r.offset === '1') {
          owner = false;
          throw refused();
        }
        handled.push(r.envelope.event_id);
        return 'processed';
      },
    });
    expect(await run([record(0, 'k'), record(1, 'k'), record(2, 'k')], () => owner, noBeat)).toBe(false);
    expect(handled).toEqual(['e0']);
    expect(letters).toEqual([]);
  });

});

/**
 * A stand-in for the envelope codec's two calls the pre-filter makes: the value is Confluent-framed (magic
 * byte, schema id) followed by the event id's text; an id is peekable once its schema was "fetched" by decode.
 */
function peekingCodec(knownSchemas: number[] = [1], registryUp = true) {
  const known = new Set(knownSchemas);
  const fetched: number[] = [];
  return {
    fetched,
    codec: {
      peekEventId: (v: Buffer) => (v.length > 5 && v[0] === 0 && known.has(v.readInt32BE(1)) ? v.toString('utf8', 5) : undefined),
      decode: async (v: Buffer): Promise<Envelope> => {
        fetched.push(v.readInt32BE(1));
        if (!registryUp) throw new TransientError('schema registry unavailable while fetching schema id');
        known.add(v.readInt32BE(1));
        throw new PermanentError('only the schema fetch matters here');
      },
    },
  };
}

function framed(offset: number, eventId: string, schemaId = 1): RawRecord {
  const header = Buffer.alloc(5);
  header.writeInt32BE(schemaId, 1);
  return { topic: 't', partition: 0, offset: String(offset), key: null, headers: {}, value: Buffer.concat([header, Buffer.from(eventId)]) };
}

describe('replay pre-filter', () => {
  it('drops what is known done, and hands every record on when the query fails', async () => {
    const { codec } = peekingCodec();
    const known = createPrefilter({ codec, observer: observer(), alreadyProcessed: async (ids) => new Set(ids.filter((id) => id === 'e0')) });
    expect((await known([framed(0, 'e0'), framed(1, 'e1')])).map((r) => r.offset)).toEqual(['1']);
    const broken = createPrefilter({ codec, observer: observer(), alreadyProcessed: async () => { throw refused(); } });
    expect((await broken([framed(0, 'e0'), framed(1, 'e1')])).map((r) => r.offset)).toEqual(['0', '1']);
  });

  it('fetches a schema it has not met once, through one of its records, and passes on what it still cannot read', async () => {
    const { codec, fetched } = peekingCodec([]);
    const asked: string[][] = [];
    const filter = createPrefilter({ codec, observer: observer(), alreadyProcessed: async (ids) => (asked.push(ids), new Set(ids)) });
    const garbage: RawRecord = { ...framed(3, 'x'), value: Buffer.from('not framed') };
    const rest = await filter([framed(0, 'e0', 7), framed(1, 'e1', 7), framed(2, 'e2', 8), garbage]);
    expect(fetched.sort()).toEqual([7, 8]);
    expect(asked).toEqual([['e0', 'e1', 'e2']]);
    expect(rest.map((r) => r.offset)).toEqual(['3']);
  });

  it('passes every record on, unfiltered and without a query, when the schema cannot be fetched (registry down)', async () => {
    const { codec, fetched } = peekingCodec([], false);
    let queries = 0;
    const filter = createPrefilter({ codec, observer: observer(), alreadyProcessed: async (ids) => (queries++, new Set(ids)) });
    const rest = await filter([framed(0, 'e0', 7), framed(1, 'e1', 7)]);
    expect(fetched).toEqual([7]); // one attempt per unknown schema id; decoding then waits the outage out
    expect(queries).toBe(0);
    expect(rest.map((r) => r.offset)).toEqual(['0', '1']);
  });
});

describe('trail outcomes of duplicates', () => {
  const publishing = () => {
    const published: OutcomeRecord[] = [];
    const publisher: OutcomePublisher = { publish: (o) => void published.push(o), flush: async () => undefined, close: async () => undefined };
    const obs = createObserver('test', createMetrics('runtime-test'), createLogger({ service: 'runtime-test', level: 'silent' }), publisher);
    return { published, obs };
  };
  /** Each event's outcomes as the trail files them: the record's own event, then its `also` run. */
  const filed = (published: OutcomeRecord[]) =>
    published.flatMap((o) => [{ event_id: o.event_id, offset: o.offset, outcome: o.outcome }, ...(o.also ?? []).map((a) => ({ event_id: a.event_id, offset: a.offset, outcome: o.outcome }))]);

  it('tells the trail a batch\'s known duplicates in runs of at most MAX_EVENTS_PER_OUTCOME, every event once, in offset order', async () => {
    const { published, obs } = publishing();
    const n = 2 * MAX_EVENTS_PER_OUTCOME + 7;
    const records = Array.from({ length: n }, (_, i) => record(i, `k${i % 50}`));
    const fresh = new Set(['e3', `e${n - 1}`]);
    const filter = createPrefilter({ codec: peekingCodec().codec, observer: obs, alreadyProcessed: async (ids) => new Set(ids.filter((id) => !fresh.has(id))) });
    const rest = await filter(records.map((r) => framed(Number(r.offset), r.envelope.event_id)));
    expect(rest.map((r) => r.offset)).toEqual(['3', String(n - 1)]);
    const ranges = published.filter((o) => o.outcome === 'duplicate');
    expect(ranges.map((o) => 1 + (o.also?.length ?? 0))).toEqual([MAX_EVENTS_PER_OUTCOME, MAX_EVENTS_PER_OUTCOME, n - 2 - 2 * MAX_EVENTS_PER_OUTCOME]);
    const dupes = filed(ranges);
    expect(dupes.map((d) => d.event_id)).toEqual(records.map((r) => r.envelope.event_id).filter((id) => !fresh.has(id)));
    expect(dupes.map((d) => d.offset)).toEqual(records.map((r) => Number(r.offset)).filter((o) => !fresh.has(`e${o}`)));
    expect(published.every((o) => o.topic === 't' && o.partition === 0 && o.consumer === 'test')).toBe(true);
  });

  it('tells a redriven duplicate alone, after its redrive, and a duplicate with a reason or an effect alone', async () => {
    const { published, obs } = publishing();
    const redriven = { ...record(1, 'k'), headers: { 'sb-redriven-from': 't:0:9' } };
    const run = createBatchRunner({
      retry: policy, observer: obs, deadLetter: deadLetters().sink,
      handleBatch: async (rs) => rs.map((r) => (r.offset === '2' ? { outcome: 'duplicate' as const, reason: 'already in the sheet' } : 'duplicate')),
    });
    expect(await run([record(0, 'k'), redriven, record(2, 'k'), record(3, 'k')], always, noBeat)).toBe(true);
    expect(published.map((o) => [o.outcome, o.event_id, (o.also ?? []).map((a) => a.event_id)])).toEqual([
      ['duplicate', 'e2', []],
      ['redriven', 'e1', []],
      ['duplicate', 'e1', []],
      ['duplicate', 'e0', ['e3']],
    ]);
    expect(published.find((o) => o.event_id === 'e2')?.reason).toBe('already in the sheet');
  });
});

describe('batch runner', () => {
  it('finds the bad record of a failed batch by handling the records alone, and dead-letters only it', async () => {
    const { sink, letters } = deadLetters();
    const batches: string[][] = [];
    const run = createBatchRunner({
      retry: policy, observer: observer(), deadLetter: sink,
      handleBatch: async (records) => {
        batches.push(records.map((r) => r.offset));
        if (records.some((r) => r.offset === '2')) throw new PermanentError('a row the API refuses');
        return records.map((): Outcome => 'processed');
      },
    });
    expect(await run([record(0, 'k'), record(1, 'k'), record(2, 'k'), record(3, 'k')], always, noBeat)).toBe(true);
    expect(batches).toEqual([['0', '1', '2', '3'], ['0'], ['1'], ['2'], ['3']]);
    expect(letters).toEqual([{ offset: '2', reason: 'a row the API refuses', attempts: 1 }]);
  });

  it('retries a whole batch through an outage and never splits it for that', async () => {
    const { sink, letters } = deadLetters();
    let calls = 0;
    const run = createBatchRunner({
      retry: policy, observer: observer(), deadLetter: sink,
      handleBatch: async (records) => {
        if (++calls < 10) throw new TransientError('Sheets answered 503');
        return records.map((): Outcome => 'processed');
      },
    });
    expect(await run([record(0, 'k'), record(1, 'k')], always, noBeat)).toBe(true);
    expect(calls).toBe(10);
    expect(letters).toEqual([]);
  });
});

describe('decodeRecords', () => {
  const raw = (offset: number, value: string): RawRecord => ({ topic: 't', partition: 0, offset: String(offset), key: null, headers: {}, value: Buffer.from(value) });

  it('waits for the registry, dead-letters bytes that are not an envelope, and keeps the order', async () => {
    const { sink, letters } = deadLetters();
    let registryUp = false;
    let lookups = 0;
    const codec = {
      decodeCached: () => undefined,
      decode: async (value: Buffer): Promise<Envelope> => {
        if (value.toString() === 'junk') throw new PermanentError('not a Confluent-framed record');
        if (!registryUp && ++lookups >= 5) registryUp = true;
        if (!registryUp) throw new TransientError('schema registry unavailable');
        return { ...record(0, null).envelope, event_id: value.toString() };
      },
    };
    const decoded = await decodeRecords([raw(0, 'a'), raw(1, 'junk'), raw(2, 'b')], { codec, retry: policy, observer: observer(), deadLetter: sink }, always);
    expect(decoded?.map((r) => r.envelope.event_id)).toEqual(['a', 'b']);
    expect(letters).toEqual([{ offset: '1', reason: 'undecodable record: not a Confluent-framed record', attempts: 1 }]);
  });

  it('gives up the batch, not the records, when ownership ends during a registry outage', async () => {
    const { sink, letters } = deadLetters();
    let owner = true;
    const codec = {
      decodeCached: () => undefined,
      decode: async (): Promise<Envelope> => {
        owner = false;
        throw new TransientError('schema registry unavailable');
      },
    };
    expect(await decodeRecords([raw(0, 'a')], { codec, retry: policy, observer: observer(), deadLetter: sink }, () => owner)).toBeUndefined();
    expect(letters).toEqual([]);
  });
});

describe('runner metrics', () => {
  it('shows every handled record and its duration at the next read, the same as one observe() and inc() per record', async () => {
    const metrics = createMetrics('runtime-metrics');
    const obs = createObserver('test', metrics, createLogger({ service: 'runtime-test', level: 'silent' }));
    const run = createRecordRunner({ retry: policy, observer: obs, deadLetter: deadLetters().sink, handle: async (r) => (r.key === 'dup' ? 'duplicate' : 'processed') });
    expect(await run([record(0, 'a'), record(1, 'dup'), record(2, 'b')], always, noBeat)).toBe(true);
    const counts = (await metrics.consumerMessages.get()).values.map((v) => [v.labels.outcome, v.value]);
    expect(counts.sort()).toEqual([['duplicate', 1], ['processed', 2]]);
    const count = (await metrics.handleDuration.get()).values.find((v) => v.metricName?.endsWith('_count'));
    expect(count?.value).toBe(3);
  });

  it('updates a histogram in place exactly as observe() would, also after a reset', async () => {
    const { Histogram, Registry } = await import('prom-client');
    const { boundObserve } = await import('../../services/shared/metrics.js');
    const make = () => new Histogram({ name: 'h', help: 'h', labelNames: ['a'], buckets: [0.1, 1, 10], registers: [new Registry()] });
    const plain = make();
    const bound = make();
    const observe = boundObserve(bound, { a: 'x' });
    const values = [0.05, 0.1, 0.5, 3, 10, 99, 0];
    for (const v of values) {
      plain.observe({ a: 'x' }, v);
      observe(v);
    }
    expect((await bound.get()).values).toEqual((await plain.get()).values);
    plain.reset();
    bound.reset();
    for (const v of values.slice(2)) {
      plain.observe({ a: 'x' }, v);
      observe(v);
    }
    expect((await bound.get()).values).toEqual((await plain.get()).values);
    expect(() => observe(Number.NaN)).toThrow(); // rejected like observe() rejects it
  });
});
