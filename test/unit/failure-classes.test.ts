// Classification by cause (errors.ts) and the one retry policy built on it (retry.ts).
import { describe, expect, it } from 'vitest';
import { PermanentError, TransientError, classifyError } from '../../services/shared/errors.js';
import { attempt, type RetryPolicy } from '../../services/shared/retry.js';

const fast: RetryPolicy = { maxAttempts: 3, initialDelayMs: 1, maxDelayMs: 2, maxOutageDelayMs: 2 };

function withCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

describe('classifyError', () => {
  it('reads the retriable flag of errors classified at the edge', () => {
    expect(classifyError(new TransientError('WTL answered 503'))).toBe('unavailable');
    expect(classifyError(new PermanentError('WTL rejected the request with 400'))).toBe('invalid');
  });

  it('recognises network failures, also behind a cause chain or in an AggregateError', () => {
    expect(classifyError(withCode('connect ECONNREFUSED 127.0.0.1:8081', 'ECONNREFUSED'))).toBe('unavailable');
    expect(classifyError(new TypeError('fetch failed', { cause: withCode('other side closed', 'UND_ERR_SOCKET') }))).toBe('unavailable');
    expect(classifyError(new AggregateError([withCode('a', 'ECONNREFUSED'), withCode('b', 'ECONNREFUSED')]))).toBe('unavailable');
    expect(classifyError(Object.assign(new Error('The operation was aborted'), { name: 'AbortError' }))).toBe('unavailable');
  });

  it('tells PostgreSQL being unavailable from a statement that is wrong', () => {
    expect(classifyError(withCode('terminating connection due to administrator command', '57P01'))).toBe('unavailable');
    expect(classifyError(withCode('could not connect', '08006'))).toBe('unavailable');
    expect(classifyError(withCode('deadlock detected', '40P01'))).toBe('unavailable');
    expect(classifyError(new Error('Connection terminated unexpectedly'))).toBe('unavailable');
    // A raised exception or a constraint violation is not an outage: retrying it for ever would stall the partition.
    expect(classifyError(withCode('poison', 'P0001'))).toBe('unexpected');
    expect(classifyError(withCode('duplicate key value violates unique constraint', '23505'))).toBe('unexpected');
  });

  it('treats every kafkajs error as the cluster being unavailable, whatever its own flag says', () => {
    const exhausted = Object.assign(new Error('retries exhausted'), { name: 'KafkaJSNumberOfRetriesExceeded', retriable: false });
    expect(classifyError(exhausted)).toBe('unavailable');
  });

  it('calls anything else unexpected (a bug)', () => {
    expect(classifyError(new TypeError("Cannot read properties of undefined (reading 'imsi')"))).toBe('unexpected');
    expect(classifyError('a string was thrown')).toBe('unexpected');
  });
});

describe('attempt', () => {
  it('waits out an outage however many attempts it takes, and says when it is over', async () => {
    let calls = 0;
    let recovered = 0;
    const result = await attempt(async () => {
      if (++calls < 20) throw withCode('refused', 'ECONNREFUSED');
      return 'ok';
    }, fast, { onRecovered: () => recovered++ });
    expect(result).toEqual({ status: 'done', value: 'ok', attempts: 20 });
    expect(recovered).toBe(1);
  });

  it('gives up on invalid data at once', async () => {
    let calls = 0;
    const result = await attempt(async () => {
      calls++;
      throw new PermanentError('not Avro');
    }, fast);
    expect(result.status).toBe('failed');
    expect(calls).toBe(1);
  });

  it('retries a bug a bounded number of times, not counting outages in between', async () => {
    let calls = 0;
    const result = await attempt(async () => {
      calls++;
      throw calls % 2 === 0 ? withCode('refused', 'ECONNREFUSED') : new TypeError('bug');
    }, fast);
    expect(result).toMatchObject({ status: 'failed', failure: 'unexpected' });
    expect(calls).toBe(5); // bug, outage, bug, outage, bug: the third bug ends it
  });

  it('abandons the wait as soon as the caller stops owning the work', async () => {
    let owner = true;
    let calls = 0;
    const result = await attempt(async () => {
      if (++calls === 3) owner = false;
      throw withCode('refused', 'ECONNREFUSED');
    }, fast, { keepGoing: () => owner });
    expect(result.status).toBe('abandoned');
    expect(calls).toBe(3);
  });
});
