// Cross-request produce batching. Concurrent requests put their encoded records into one FIFO
// queue; a single sender takes consecutive records (≤ maxBatchBytes, the same bound as a chunk)
// and writes them with one acks=-1 sendBatch, then the next. Each request's promise resolves only
// when every one of its records was in a flush that Kafka acknowledged, and rejects as soon as one
// of its flushes fails or its own deadline passes: a 2xx still means "all my records are stored".
//
// Why one flush at a time: an idempotent producer sends one request per partition leader at a time
// anyway (kafkajs behind a lock, @platformatic/kafka by its sequence numbering), so concurrent sends
// only queued there one small request each. Sending the queue's contents as one request instead
// costs one round trip for many records, and keeps per-key order (flush n+1 is sent only after
// flush n was acknowledged or failed).
import { ProduceTimeoutError } from '../shared/kafka.js';
import type { Metrics } from '../shared/metrics.js';
import type { RecordWriter } from '../shared/record-writer.js';
import { recordSize, type OutgoingRecord } from './produce.js';

export interface BatcherOptions {
  /** Wait this long (from the oldest queued record) for more records before a flush; 0 = send at once. */
  lingerMs: number;
  /** A flush holds consecutive records up to this many bytes (a bigger record travels alone). */
  maxBatchBytes: number;
  /** Each request's deadline: all its records acknowledged within this time, or it fails. */
  timeoutMs: number;
  metrics?: Metrics;
  /** Told about every flush before it is sent (the flush-size metric; tests check the bound with it). */
  onFlush?: (flush: { records: number; bytes: number; requests: number }) => void;
}

/** One request's records on their way to Kafka. */
interface Submission {
  records: readonly OutgoingRecord[];
  /** Index of the first record not yet taken into a flush. */
  next: number;
  /** Records taken into flushes whose acknowledgement is still outstanding. */
  unacked: number;
  deadline: number;
  settled: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

interface Flush {
  records: OutgoingRecord[];
  bytes: number;
  takers: { submission: Submission; count: number }[];
}

export class ProduceBatcher {
  private readonly queue: Submission[] = [];
  private queuedBytes = 0;
  private oldestQueuedAt = 0;
  private sending = false;
  private wake: (() => void) | undefined;

  constructor(
    private readonly writer: RecordWriter,
    private readonly opts: BatcherOptions,
  ) {}

  /** Resolves when every record is acknowledged by all in-sync replicas; rejects otherwise (nothing partial is reported as success). */
  send(records: readonly OutgoingRecord[]): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const submission: Submission = {
        records, next: 0, unacked: 0, deadline: Date.now() + this.opts.timeoutMs, settled: false, resolve, reject,
        timer: setTimeout(() => this.fail(submission, new ProduceTimeoutError(this.opts.timeoutMs)), this.opts.timeoutMs),
      };
      if (this.queue.length === 0) this.oldestQueuedAt = Date.now();
      this.queue.push(submission);
      for (const r of records) this.queuedBytes += recordSize(r);
      if (this.queuedBytes >= this.opts.maxBatchBytes) this.wake?.();
      if (!this.sending) void this.run();
    });
  }

  private fail(submission: Submission, err: unknown): void {
    if (submission.settled) return;
    submission.settled = true;
    clearTimeout(submission.timer);
    submission.reject(err);
  }

  private succeed(submission: Submission): void {
    if (submission.settled) return;
    submission.settled = true;
    clearTimeout(submission.timer);
    submission.resolve();
  }

  /** The sender: one flush at a time until the queue is empty. */
  private async run(): Promise<void> {
    this.sending = true;
    try {
      while (this.queue.length > 0) {
        await this.linger();
        const flush = this.take();
        if (flush.records.length === 0) continue;
        this.opts.onFlush?.({ records: flush.records.length, bytes: flush.bytes, requests: flush.takers.length });
        // The flush may take as long as its most patient request allows; each request's own timer
        // still fails it at its own deadline.
        const timeoutMs = Math.max(1, ...flush.takers.map((t) => t.submission.deadline - Date.now()));
        try {
          await this.writer.write(flush.records, { timeoutMs, ...(this.opts.metrics ? { metrics: this.opts.metrics } : {}) });
          for (const { submission, count } of flush.takers) {
            submission.unacked -= count;
            if (submission.unacked === 0 && submission.next === submission.records.length) this.succeed(submission);
          }
        } catch (err) {
          for (const { submission } of flush.takers) this.fail(submission, err);
        }
      }
    } finally {
      this.sending = false;
    }
  }

  /** Waits until the oldest queued record is lingerMs old or a full flush is queued. */
  private async linger(): Promise<void> {
    const wait = this.oldestQueuedAt + this.opts.lingerMs - Date.now();
    if (this.opts.lingerMs <= 0 || wait <= 0 || this.queuedBytes >= this.opts.maxBatchBytes) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => resolve(), wait);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }

  /** Consecutive queued records up to maxBatchBytes; requests that already failed are dropped unsent. */
  private take(): Flush {
    const flush: Flush = { records: [], bytes: 0, takers: [] };
    while (this.queue.length > 0) {
      const submission = this.queue[0]!;
      if (submission.settled) {
        for (let i = submission.next; i < submission.records.length; i++) this.queuedBytes -= recordSize(submission.records[i]!);
        this.queue.shift();
        continue;
      }
      let count = 0;
      while (submission.next < submission.records.length) {
        const record = submission.records[submission.next]!;
        const size = recordSize(record);
        if (flush.records.length > 0 && flush.bytes + size > this.opts.maxBatchBytes) break;
        flush.records.push(record);
        flush.bytes += size;
        this.queuedBytes -= size;
        submission.next++;
        count++;
      }
      if (count > 0) {
        submission.unacked += count;
        flush.takers.push({ submission, count });
      }
      if (submission.next < submission.records.length) break; // the flush is full
      this.queue.shift();
    }
    this.oldestQueuedAt = Date.now();
    return flush;
  }
}
