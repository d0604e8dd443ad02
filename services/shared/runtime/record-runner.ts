// The per-record runner: records with the same key one at a time in offset order (one subscriber's events
// stay ordered), different keys in parallel. Each record runs under the retry policy; a record that
// fails for good is dead-lettered alone.
import { attempt, type RetryPolicy } from '../retry.js';
import type { DeadLetterSink } from './dead-letters.js';
import type { RunnerObserver } from './observer.js';
import { outcomeOf, type ConsumedRecord, type Handled, type KeepGoing, type Outcome } from './records.js';

export interface RecordRunnerOptions {
  handle: (record: ConsumedRecord) => Promise<Outcome | Handled>;
  retry: RetryPolicy;
  observer: RunnerObserver;
  deadLetter: DeadLetterSink;
  /** How many keys of one batch are handled in parallel (default 16). */
  keyConcurrency?: number | undefined;
}

/** Handles a batch; false when it was abandoned (ownership lost) and nothing may be committed. */
export type BatchRunner = (records: ConsumedRecord[], keepGoing: KeepGoing, heartbeat: () => Promise<void>) => Promise<boolean>;

export function createRecordRunner(opts: RecordRunnerOptions): BatchRunner {
  const { observer } = opts;
  const debugEnabled = observer.logger.isLevelEnabled('debug');

  const done = (record: ConsumedRecord, value: Outcome | Handled, attempts: number, started: number): void => {
    const handled = outcomeOf(value);
    observer.handled(record, handled, attempts);
    if (debugEnabled) observer.logger.debug({ event_id: record.envelope.event_id, request_id: record.envelope.request_id, topic: record.topic, offset: record.offset, outcome: handled.outcome, attempt: attempts }, 'record handled');
    observer.observeDuration(record.topic, (performance.now() - started) / 1000);
  };

  /** The record's first failure, and every later attempt, under the retry policy. */
  const retried = async (record: ConsumedRecord, first: unknown, keepGoing: KeepGoing, started: number): Promise<boolean> => {
    const describe = () => ({ event_id: record.envelope.event_id, request_id: record.envelope.request_id, topic: record.topic, offset: record.offset });
    let replayed = false;
    // attempt() sees the failure that already happened as its first attempt, then calls the handler again.
    const work = () => (replayed ? opts.handle(record) : ((replayed = true), Promise.reject(first)));
    const result = await attempt(work, opts.retry, observer.retryHooks(keepGoing, record.topic, describe, record));
    if (result.status === 'abandoned') return false;
    if (result.status === 'failed') {
      if (!(await opts.deadLetter(record, result.error, result.attempts, keepGoing))) return false;
      observer.observeDuration(record.topic, (performance.now() - started) / 1000);
      return true;
    }
    done(record, result.value, result.attempts, started);
    return true;
  };

  return async (records, keepGoing) => {
    const groups = new Map<string, ConsumedRecord[]>();
    for (const r of records) {
      const k = r.key ?? `\u0000offset:${r.offset}`;
      const list = groups.get(k);
      if (list) list.push(r);
      else groups.set(k, [r]);
    }
    const queue = [...groups.values()];
    let nextGroup = 0; // an index, not queue.shift(): shifting a batch of thousands of keys is quadratic
    let complete = true;
    const workers = Array.from({ length: Math.min(opts.keyConcurrency ?? 16, queue.length) }, async () => {
      for (let group = queue[nextGroup++]; group && complete; group = queue[nextGroup++]) {
        for (const record of group) {
          if (!keepGoing()) {
            complete = false;
            return;
          }
          // The common case — the handler succeeds at once — costs the handler's own promise and no closure
          // per record; only a failure goes through the retry policy's machinery.
          const started = performance.now();
          let value: Outcome | Handled;
          try {
            value = await opts.handle(record);
          } catch (err) {
            if (await retried(record, err, keepGoing, started)) continue;
            complete = false;
            return;
          }
          done(record, value, 1, started);
        }
      }
    });
    await Promise.all(workers);
    return complete;
  };
}
