// The whole-batch runner (sheet export): every decodable record of a partition batch goes to the handler
// at once, which dead-letters individual bad records itself through ctx.deadLetter. Unavailability is
// waited out; when the batch fails as a whole otherwise, its records are handled one at a time, so that
// only the record that fails alone is dead-lettered (the handler's idempotency makes the re-run harmless).
import { errorMessage } from '../errors.js';
import { attempt, type RetryPolicy } from '../retry.js';
import type { DeadLetterSink } from './dead-letters.js';
import type { RunnerObserver } from './observer.js';
import type { BatchRunner } from './record-runner.js';
import { outcomeOf, type BatchContext, type ConsumedRecord, type Handled, type Outcome } from './records.js';

export interface WholeBatchRunnerOptions {
  handleBatch: (records: ConsumedRecord[], ctx: BatchContext) => Promise<Array<Outcome | Handled>>;
  retry: RetryPolicy;
  observer: RunnerObserver;
  deadLetter: DeadLetterSink;
}

/** Thrown inside ctx.deadLetter when the partition was lost while the write waited. */
class AbandonedError extends Error {
  constructor() {
    super('partition no longer owned');
    this.name = 'AbandonedError';
  }
}

export function createBatchRunner(opts: WholeBatchRunnerOptions): BatchRunner {
  const { observer } = opts;
  return async (records, keepGoing, heartbeat) => {
    if (records.length === 0) return true;
    const started = process.hrtime.bigint();
    const topic = records[0]!.topic;
    const ctx: BatchContext = {
      deadLetter: async (record, err, attempts) => {
        if (!(await opts.deadLetter(record, err, attempts, keepGoing))) throw new AbandonedError();
      },
      heartbeat,
      isStale: () => !keepGoing(),
    };
    const run = async (part: ConsumedRecord[]): Promise<'done' | 'abandoned' | { error: unknown; attempts: number }> => {
      const describe = () => ({ topic, records: part.length, first_offset: part[0]!.offset });
      const result = await attempt(() => opts.handleBatch(part, ctx), opts.retry, observer.retryHooks(keepGoing, topic, describe, part.length === 1 ? part[0] : undefined));
      if (result.status === 'abandoned' || (result.status === 'failed' && result.error instanceof AbandonedError)) return 'abandoned';
      if (result.status === 'failed') return { error: result.error, attempts: result.attempts };
      // A replay's records are mostly plain duplicates: the trail gets those as ranges (observer.duplicates).
      const duplicates: ConsumedRecord[] = [];
      result.value.forEach((outcome, i) => {
        const handled = outcomeOf(outcome);
        if (handled.outcome === 'duplicate' && handled.reason === undefined && handled.effect === undefined) duplicates.push(part[i]!);
        else observer.handled(part[i]!, handled, result.attempts);
      });
      observer.duplicates(duplicates, result.attempts);
      return 'done';
    };
    const deadLetterAlone = (record: ConsumedRecord, failed: { error: unknown; attempts: number }) => opts.deadLetter(record, failed.error, failed.attempts, keepGoing);

    const whole = await run(records);
    if (whole === 'abandoned') return false;
    if (whole !== 'done') {
      if (records.length === 1) {
        if (!(await deadLetterAlone(records[0]!, whole))) return false;
      } else {
        observer.logger.warn({ topic, records: records.length, reason: errorMessage(whole.error) }, 'batch failed: handling its records one at a time to find the bad one');
        for (const record of records) {
          const alone = await run([record]);
          if (alone === 'abandoned') return false;
          if (alone !== 'done' && !(await deadLetterAlone(record, alone))) return false;
        }
      }
    }
    observer.observeDuration(topic, Number(process.hrtime.bigint() - started) / 1e9);
    return true;
  };
}
