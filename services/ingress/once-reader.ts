// Reads 1NCE batches (parse, checks, each record's bytes and class: domain/once-batch.ts) on worker
// threads, so an ingress instance uses a second core for the one step that dominates a batch's CPU: its
// main thread is left the HTTP, the envelopes and the Kafka client. Measured in docs/benchmarks.md.
//
// A thread with two batches already queued is not given a third: the main thread reads that one itself,
// so a burst is shared between both threads instead of waiting, and at most two copies of a body per
// thread are in flight. ONCE_READER_THREADS=0 reads every batch on the main thread, as before. A thread
// that dies fails the batches it held (the streamer retries them; ingress answers 500) and is replaced;
// after three deaths in a row without a batch read in between, batches are read on the main thread.
import { Worker, type ResourceLimits } from 'node:worker_threads';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { readOnceBatch, type BatchReading } from './domain/once-batch.js';

/** To a reader thread: one batch's bytes, moved there and back (never copied). */
export interface ReaderRequest {
  id: number;
  bytes: Uint8Array;
}
export type ReaderReply = { id: number; bytes: Uint8Array } & ({ reading: BatchReading } | { error: string });

/** A batch's reading, and its bytes: the body handed to read() may have moved to a thread and back. */
export interface ReadBatch {
  reading: BatchReading;
  body: Buffer;
}

export interface OnceBatchReader {
  /** After this, use the returned body: the one passed in may be emptied (its memory moved to a thread). */
  read(body: Buffer): Promise<ReadBatch>;
  /** Stops the threads; a batch still being read on one fails. */
  close(): Promise<void>;
}

export interface OnceBatchReaderOptions {
  threads: number;
  maxRecords: number;
  logger: Logger;
  /** Each batch read, and where. */
  onRead?: (where: 'reader' | 'main') => void;
  /** The threads' heap limits (tests make one run out). */
  resourceLimits?: ResourceLimits;
}

const QUEUED_PER_THREAD = 2;
const DEATHS_BEFORE_GIVING_UP = 3;

interface Pending {
  resolve: (read: ReadBatch) => void;
  reject: (err: Error) => void;
}

class ReaderThread {
  readonly pending = new Map<number, Pending>();
  readonly worker: Worker;

  constructor(opts: OnceBatchReaderOptions, onDeath: (thread: ReaderThread, reason: string) => void, onRead: () => void) {
    this.worker = new Worker(new URL('./once-reader-thread.mjs', import.meta.url), { workerData: { maxRecords: opts.maxRecords }, ...(opts.resourceLimits ? { resourceLimits: opts.resourceLimits } : {}) });
    // A thread with nothing to do must not keep a stopping process alive.
    this.worker.unref();
    this.worker.on('message', (reply: ReaderReply) => {
      const waiting = this.pending.get(reply.id);
      if (!waiting) return;
      this.pending.delete(reply.id);
      if ('error' in reply) waiting.reject(new Error(reply.error));
      else {
        onRead();
        waiting.resolve({ reading: reply.reading, body: Buffer.from(reply.bytes.buffer, reply.bytes.byteOffset, reply.bytes.byteLength) });
      }
    });
    this.worker.on('error', (err) => onDeath(this, errorMessage(err)));
    this.worker.on('exit', (code) => onDeath(this, `exited with code ${code}`));
  }

  read(id: number, body: Buffer): Promise<ReadBatch> {
    // The body's memory moves to the thread and comes back with the answer: no copy, and nothing left
    // behind there for its garbage collector (which runs rarely: it allocates little). A body sharing
    // its memory (a small one from Node's pool) is copied to a buffer of its own first.
    const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    const bytes = owned ? new Uint8Array(body.buffer, 0, body.byteLength) : new Uint8Array(body);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, bytes } satisfies ReaderRequest, [bytes.buffer as ArrayBuffer]);
    });
  }

  failAll(reason: string): void {
    for (const waiting of this.pending.values()) waiting.reject(new Error(`1NCE batch reader thread stopped: ${reason}`));
    this.pending.clear();
  }
}

export function createOnceBatchReader(opts: OnceBatchReaderOptions): OnceBatchReader {
  const readHere = async (body: Buffer): Promise<ReadBatch> => {
    opts.onRead?.('main');
    return { reading: readOnceBatch(body, opts.maxRecords), body };
  };
  if (opts.threads <= 0) return { read: readHere, close: async () => undefined };

  const threads = new Set<ReaderThread>();
  let nextId = 0;
  let deathsInARow = 0;
  let closing = false;
  const start = (): void => {
    threads.add(new ReaderThread(opts, died, () => (deathsInARow = 0)));
  };
  function died(thread: ReaderThread, reason: string): void {
    if (!threads.delete(thread)) return; // 'error' is followed by 'exit': count one death
    thread.failAll(reason);
    if (closing) return;
    deathsInARow++;
    const replace = deathsInARow < DEATHS_BEFORE_GIVING_UP;
    opts.logger.error({ reason, replaced: replace }, replace ? '1NCE batch reader thread died; starting another' : '1NCE batch reader threads keep dying; reading batches on the main thread from now on');
    if (replace) start();
  }
  for (let i = 0; i < opts.threads; i++) start();

  return {
    read(body) {
      let idlest: ReaderThread | undefined;
      for (const t of threads) if (!idlest || t.pending.size < idlest.pending.size) idlest = t;
      if (!idlest || idlest.pending.size >= QUEUED_PER_THREAD) return readHere(body);
      opts.onRead?.('reader');
      return idlest.read(nextId++, body);
    },
    async close() {
      closing = true;
      const stopping = [...threads];
      threads.clear();
      await Promise.all(stopping.map(async (t) => {
        t.failAll('ingress is stopping');
        await t.worker.terminate();
      }));
    },
  };
}
