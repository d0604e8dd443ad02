// Inside a 1NCE batch reader thread: reads each batch it is sent (domain/once-batch.ts readOnceBatch)
// and answers with the result, the body and the result's flat arrays moved back rather than copied.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../shared/errors.js';
import { readOnceBatch } from './domain/once-batch.js';
import type { ReaderReply, ReaderRequest } from './once-reader.js';

const port = parentPort;
if (!port) throw new Error('once-reader-worker.ts runs only as a worker thread (once-reader.ts)');
const { maxRecords } = workerData as { maxRecords: number };

// Memory: reading a 2.2 MB batch leaves some 25 MB of garbage here (the parsed tree, and the body's
// latin1 text, held outside the heap). This thread allocates in bursts and then idles, so V8's own
// schedule let its garbage reach 100 MB and more before collecting it: that pushed ingress past its
// memory target (512 MB with 20 senders of 2.2 MB batches, docs/benchmarks.md). Collecting once it
// holds more than GC_AT_BYTES keeps it near that bound at the cost of a collection every batch or two.
// V8 offers its collector to code only with --expose-gc, a V8 flag Worker's execArgv does not take: set
// here at run time, it holds for contexts created after it, so a fresh one hands over its gc function.
const GC_AT_BYTES = 32 * 1024 * 1024;
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;

port.on('message', ({ id, bytes }: ReaderRequest) => {
  let reply: ReaderReply;
  try {
    reply = { id, bytes, reading: readOnceBatch(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), maxRecords) };
  } catch (err) {
    reply = { id, bytes, error: errorMessage(err) };
  }
  // The body goes back to the thread it came from; the flat arrays go with it.
  const transfer = [bytes.buffer as ArrayBuffer];
  if ('reading' in reply && reply.reading.ok) transfer.push(reply.reading.elements.ranges.buffer as ArrayBuffer, reply.reading.elements.classes.buffer as ArrayBuffer);
  port.postMessage(reply, transfer);
  const heap = getHeapStatistics();
  if (heap.used_heap_size + heap.external_memory > GC_AT_BYTES) collect();
});
