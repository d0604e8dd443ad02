// Writing a dead letter: the original key, bytes and headers plus why. A broker outage meanwhile is waited
// out like any other; the write gives up only when the partition is no longer ours.
import type { Producer } from 'kafkajs';
import { DLQ_HEADERS } from '../dead-letter.js';
import { classifyError, errorMessage, type FailureClass } from '../errors.js';
import { attempt, type RetryPolicy } from '../retry.js';
import type { RunnerObserver } from './observer.js';
import type { ConsumedRecord, KeepGoing, RawRecord } from './records.js';

/** Dead-letters one record; false when ownership was lost before the write was acknowledged. */
export type DeadLetterSink = (record: ConsumedRecord | RawRecord, err: unknown, attempts: number, keepGoing: KeepGoing) => Promise<boolean>;

export interface DeadLetterSinkOptions {
  producer: Pick<Producer, 'send'>;
  topic: string;
  /** The consumer's name, recorded in the dead letter. */
  consumer: string;
  observer: RunnerObserver;
  retry: RetryPolicy;
}

export function deadLetterSink(opts: DeadLetterSinkOptions): DeadLetterSink {
  const write = async (record: ConsumedRecord | RawRecord, err: unknown, attempts: number, failure: FailureClass): Promise<void> => {
    const eventId = 'envelope' in record ? record.envelope.event_id : '';
    await opts.producer.send({
      topic: opts.topic,
      acks: -1,
      messages: [{
        key: record.key,
        value: record.value,
        headers: {
          ...record.headers,
          [DLQ_HEADERS.reason]: errorMessage(err).slice(0, 2000),
          [DLQ_HEADERS.errorClass]: err instanceof Error ? err.name : 'Error',
          [DLQ_HEADERS.failure]: failure,
          [DLQ_HEADERS.attempts]: String(attempts),
          [DLQ_HEADERS.originalTopic]: record.topic,
          [DLQ_HEADERS.originalPartition]: String(record.partition),
          [DLQ_HEADERS.originalOffset]: record.offset,
          [DLQ_HEADERS.eventId]: eventId,
          [DLQ_HEADERS.consumer]: opts.consumer,
          [DLQ_HEADERS.deadLetteredAt]: new Date().toISOString(),
        },
      }],
    });
    opts.observer.count(record.topic, 'dead_lettered');
    opts.observer.report(record, 'dead_lettered', attempts, errorMessage(err).slice(0, 2000));
    opts.observer.logger.warn({ event_id: eventId, topic: record.topic, partition: record.partition, offset: record.offset, attempts, failure, reason: errorMessage(err) }, 'record dead-lettered');
  };
  return async (record, err, attempts, keepGoing) => {
    // Only invalid and unexpected failures end here; an outage never does.
    const failure: FailureClass = classifyError(err) === 'invalid' ? 'invalid' : 'unexpected';
    const describe = () => ({ offset: record.offset, writing: 'dead letter' });
    const written = await attempt(() => write(record, err, attempts, failure), opts.retry, opts.observer.retryHooks(keepGoing, record.topic, describe));
    return written.status === 'done';
  };
}
