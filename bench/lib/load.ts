// Load generators: autocannon for single-event HTTP requests, a closed-loop client pool for large
// batch requests, and the bare producer loops the baselines use (kafkajs or @platformatic/kafka). Every generator reports
// the same shape, so a scenario compares like with like.
import autocannon from 'autocannon';
import type { Message, Producer } from 'kafkajs';
import { request } from 'undici';
import { summarizeLatencies } from './stats.js';

export interface LoadResult {
  /** Successful operations (2xx requests, acknowledged sends) per second. */
  opsPerSec: number;
  /** Records per second (batches × records per batch; equals opsPerSec for single events). */
  recordsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  ok: number;
  failed: number;
  seconds: number;
}

/** autocannon with `connections` connections for `seconds`; `body(i)` gives request i's body. */
export async function autocannonLoad(opts: { url: string; connections: number; seconds: number; headers: Record<string, string>; body: () => string }): Promise<LoadResult> {
  const result = await autocannon({
    url: opts.url,
    connections: opts.connections,
    duration: opts.seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...opts.headers },
    requests: [{ setupRequest: (req) => ({ ...req, body: opts.body() }) }],
    timeout: 30,
  });
  const ok = result['2xx'];
  const failed = result.non2xx + result.errors + result.timeouts;
  return {
    opsPerSec: ok / result.duration,
    recordsPerSec: ok / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    ok,
    failed,
    seconds: result.duration,
  };
}

/**
 * `workers` concurrent loops for `seconds`, each doing one operation after the other; an operation
 * resolves with its record count when it succeeded and false when it failed (a throw is a failure).
 */
async function closedLoop(workers: number, seconds: number, operation: () => Promise<number | false>): Promise<LoadResult> {
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  let records = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  const worker = async (): Promise<void> => {
    while (performance.now() < until) {
      const t0 = performance.now();
      const done = await operation().catch(() => false as const);
      if (done === false) {
        failed++;
        continue;
      }
      ok++;
      records += done;
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const lat = summarizeLatencies(latencies);
  return { opsPerSec: ok / elapsed, recordsPerSec: records / elapsed, p50Ms: lat.p50, p99Ms: lat.p99, ok, failed, seconds: elapsed };
}

/** `clients` clients each post one batch after the other for `seconds`; `body()` gives the next body. */
export function batchHttpLoad(opts: { url: string; clients: number; seconds: number; headers: Record<string, string>; body: () => { body: string; records: number } }): Promise<LoadResult> {
  return closedLoop(opts.clients, opts.seconds, async () => {
    const next = opts.body();
    const res = await request(opts.url, { method: 'POST', headers: { 'content-type': 'application/json', ...opts.headers }, body: next.body, headersTimeout: 60_000, bodyTimeout: 60_000 });
    await res.body.dump();
    return res.statusCode >= 200 && res.statusCode < 300 ? next.records : false;
  });
}

/** Groups messages so each group stays within `maxBytes` (the same bound ingress uses per send). */
export function chunkMessages(messages: readonly Message[], maxBytes: number): Message[][] {
  const chunks: Message[][] = [];
  let current: Message[] = [];
  let size = 0;
  for (const m of messages) {
    const bytes = (m.value as Buffer).length + Buffer.byteLength(String(m.key ?? '')) + 64;
    if (current.length > 0 && size + bytes > maxBytes) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(m);
    size += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** Sends one chunk of messages to a topic and resolves on its acks=-1 acknowledgement. */
export type ChunkSender = (topic: string, messages: Message[]) => Promise<unknown>;

export function kafkajsSender(producer: Producer): ChunkSender {
  return (topic, messages) => producer.sendBatch({ acks: -1, timeout: 30_000, topicMessages: [{ topic, messages }] });
}

/**
 * The Kafka ceiling: `workers` concurrent loops, each sending one unit (a single record, or a
 * batch as consecutive chunks) and waiting for acks=-1 before the next, like one HTTP connection.
 */
export function producerLoad(opts: { send: ChunkSender; topic: string; workers: number; seconds: number; unit: () => { chunks: Message[][]; records: number } }): Promise<LoadResult> {
  return closedLoop(opts.workers, opts.seconds, async () => {
    const unit = opts.unit();
    for (const messages of unit.chunks) await opts.send(opts.topic, messages);
    return unit.records;
  });
}

export function medianResult(results: readonly LoadResult[], median: (xs: number[]) => number): LoadResult {
  const m = (f: (r: LoadResult) => number): number => median(results.map(f));
  return {
    opsPerSec: m((r) => r.opsPerSec),
    recordsPerSec: m((r) => r.recordsPerSec),
    p50Ms: m((r) => r.p50Ms),
    p99Ms: m((r) => r.p99Ms),
    ok: results.reduce((a, r) => a + r.ok, 0),
    failed: results.reduce((a, r) => a + r.failed, 0),
    seconds: results.reduce((a, r) => a + r.seconds, 0),
  };
}
