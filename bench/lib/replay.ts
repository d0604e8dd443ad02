// Runs one replay contender as a child process and measures it: events/s and peak RSS.
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { spawnTs, waitHttp, freePort } from './child.js';
import type { BenchContext } from './context.js';
import { sampleRss } from './rss.js';

export interface ReplayMeasure {
  events: number;
  ms: number;
  eventsPerSec: number;
  peakRssMb: number;
  /** 'records' timing only: the service's first batch began and its last ended (Unix ms). */
  span?: { startMs: number; endMs: number };
  /** Counts of what the run wrote, where its worker reports them (the SCC rebuild: systems, historyRows). */
  facts?: Record<string, number>;
}

export const BENCH_DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export async function replayWorker(ctx: BenchContext, mode: 'bare' | 'framework' | 'scc', topic: string, expected: number, nodeArgs: string[] = [], timeoutMs = 20 * 60_000): Promise<ReplayMeasure> {
  const id = randomUUID().slice(0, 8);
  const resultFile = join(ctx.workDir, `replay-${mode}-${id}.json`);
  const args = {
    mode, brokers: ctx.brokers, registryUrl: ctx.registryUrl, topic, expected, resultFile,
    dbUrl: BENCH_DATABASE_URL, dbSchema: `bench_${ctx.runId}_${id}`.toLowerCase().replace(/[^a-z0-9_]/g, '_'),
  };
  return runReplayChild(ctx, { entry: 'bench/workers/replay-worker.ts', logName: `replay-${mode}`, what: `replay worker (${mode})`, args, resultFile, nodeArgs, timeoutMs });
}

/**
 * The bare consumer timed from the start of its first batch of records to the end of the batch holding the
 * last one (bench/workers/bare-span.ts): the baseline for a service timed by `timeFrom: 'records'`.
 */
export async function replayBareSpan(ctx: BenchContext, topic: string, expected: number, timeoutMs = 20 * 60_000): Promise<ReplayMeasure> {
  const resultFile = join(ctx.workDir, `replay-bare-span-${randomUUID().slice(0, 8)}.json`);
  const args = { brokers: ctx.brokers, topic, expected, resultFile };
  return runReplayChild(ctx, { entry: 'bench/workers/bare-span.ts', logName: 'replay-bare-span', what: 'bare span consumer', args, resultFile, nodeArgs: [], timeoutMs });
}

/** Runs one replay child to its end (stopped after timeoutMs) and reads its result file (bench/workers/result.ts). */
async function runReplayChild(
  ctx: BenchContext,
  opts: { entry: string; logName: string; what: string; args: Record<string, unknown>; resultFile: string; nodeArgs: string[]; timeoutMs: number },
): Promise<ReplayMeasure> {
  const child = spawnTs(opts.entry, { env: process.env, logFile: join(ctx.workDir, `${opts.logName}.log`), args: [JSON.stringify(opts.args)], nodeArgs: opts.nodeArgs });
  const rss = sampleRss(child.pid);
  const timer = setTimeout(() => void child.stop(1000), opts.timeoutMs);
  const code = await new Promise<number | null>((resolve) => child.child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const mem = rss.stop();
  if (code !== 0 || !existsSync(opts.resultFile)) throw new Error(`${opts.what} failed with exit code ${code}; see ${child.logFile}`);
  const { events, ms, facts } = JSON.parse(readFileSync(opts.resultFile, 'utf8')) as { events: number; ms: number; facts?: Record<string, number> };
  return { events, ms, eventsPerSec: events / (ms / 1000), peakRssMb: Math.max(mem.peakRssMb, Number.isFinite(mem.hwmMb) ? mem.hwmMb : 0), ...(facts ? { facts } : {}) };
}

/** The service's own first-batch-start and last-batch-end times (services/provisioning/main.ts), Unix ms. */
async function batchSpan(port: number): Promise<{ startMs: number; endMs: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const read = (name: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(`switchboard_${name}{`) || l.startsWith(`switchboard_${name} `));
    const v = line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : Number.NaN;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`the service's /metrics has no switchboard_${name}`);
    return v;
  };
  return { startMs: read('consumer_first_batch_started_seconds') * 1000, endMs: read('consumer_last_batch_ended_seconds') * 1000 };
}

/** Sum of committed offsets of `groupId` on `topic` minus the topic's end offsets (≤ 0 = caught up). */
async function remaining(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [ends, committed] = await Promise.all([admin.fetchTopicOffsets(topic), admin.fetchOffsets({ groupId, topics: [topic] })]);
  const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  return ends.reduce((sum, e) => sum + Number(e.high) - Math.max(0, done.get(e.partition) ?? 0), 0);
}

/**
 * A Switchboard consumer service as a child process on `prefix`'s topics, in a fresh group:
 * measured from its /readyz answer until its group's committed offsets reach the topic's end.
 */
export async function replayService(
  ctx: BenchContext,
  kafka: Kafka,
  opts: {
    name: string; entry: string; prefix: string; topic: string; events: number; groupVar: string; env: Record<string, string>; timeoutMs?: number; nodeArgs?: string[]; groupId?: string;
    /**
     * 'ready' (default): from the /readyz answer. 'spawn': from starting the process — for a replay so short that
     * the service (which starts consuming before its ops server answers) could finish it before /readyz.
     * 'none': no replay expected; measures spawn → /readyz only (the start-up to subtract from a 'spawn' time).
     * 'records': the service's own clock, from the start of its first batch of records to the end of its last
     * (its consumer_first_batch_started / consumer_last_batch_ended gauges, read once caught up): no start-up,
     * no group join, no poll interval. Compare it with replayBareSpan.
     */
    timeFrom?: 'ready' | 'spawn' | 'none' | 'records';
  },
): Promise<ReplayMeasure> {
  const port = await freePort();
  const groupId = opts.groupId ?? `bench-${opts.name}-${randomUUID().slice(0, 8)}`;
  const child = spawnTs(opts.entry, {
    env: ctx.serviceEnv({ ...opts.env, PORT: String(port), KAFKA_TOPIC_PREFIX: opts.prefix, [opts.groupVar]: groupId }),
    logFile: join(ctx.workDir, `${opts.name}.log`),
    ...(opts.nodeArgs ? { nodeArgs: opts.nodeArgs } : {}),
  });
  const spawned = performance.now();
  const rss = sampleRss(child.pid);
  try {
    await waitHttp(`http://127.0.0.1:${port}/readyz`, child, 90_000);
    if (opts.timeFrom === 'none') {
      const ms = performance.now() - spawned;
      return { events: 0, ms, eventsPerSec: 0, peakRssMb: rss.stop().peakRssMb };
    }
    const started = opts.timeFrom === 'spawn' ? spawned : performance.now();
    const deadline = Date.now() + (opts.timeoutMs ?? 20 * 60_000);
    // One admin connection for the whole poll: a connection per poll cost the measured service CPU.
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (;;) {
        if (child.exited()) throw new Error(`${opts.name} exited during the replay; see ${child.logFile}`);
        if ((await remaining(admin, groupId, opts.topic)) <= 0) break;
        if (Date.now() > deadline) throw new Error(`${opts.name} did not catch up within the time limit`);
        // Timed by the service's own clock, the poll only has to notice the end: poll less, take less CPU from it.
        await new Promise((r) => setTimeout(r, opts.timeFrom === 'records' ? 500 : 100));
      }
    } finally {
      await admin.disconnect();
    }
    const span = opts.timeFrom === 'records' ? await batchSpan(port) : undefined;
    const ms = span ? span.endMs - span.startMs : performance.now() - started;
    const mem = rss.stop();
    return { events: opts.events, ms, eventsPerSec: opts.events / (ms / 1000), peakRssMb: mem.peakRssMb, ...(span ? { span } : {}) };
  } finally {
    rss.stop();
    await child.stop();
  }
}

/** The WTL emulator (test/emulators/wtl.ts) in a process of its own, driven through its control server. */
export interface WtlProcess {
  url: string;
  reset(): Promise<void>;
  setLatency(ms: number): Promise<void>;
  /** Requests the emulator received since the last reset. */
  requestCount(): Promise<number>;
  close(): Promise<void>;
}

export async function startWtlProcess(ctx: BenchContext): Promise<WtlProcess> {
  const child = spawnTs('test/emulators/wtl.ts', { env: process.env, logFile: join(ctx.workDir, 'wtl-emulator.log'), output: 'pipe' });
  const { url, control } = await new Promise<{ url: string; control: string }>((resolve, reject) => {
    let buf = '';
    const onData = (chunk: Buffer): void => {
      buf += chunk.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      child.child.stdout!.off('data', onData);
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as { url: string; control: string });
      } catch (err) {
        reject(err);
      }
    };
    child.child.stdout!.on('data', onData);
    child.child.once('exit', (code) => reject(new Error(`WTL emulator exited (${code}); see ${child.logFile}`)));
  });
  const call = async (method: string, path: string): Promise<{ requests: number }> => {
    const res = await fetch(`${control}${path}`, { method });
    if (!res.ok) throw new Error(`WTL emulator control ${method} ${path}: ${res.status}`);
    return (await res.json()) as { requests: number };
  };
  return {
    url,
    reset: async () => void (await call('POST', '/reset')),
    setLatency: async (ms) => void (await call('POST', `/latency?ms=${ms}`)),
    requestCount: async () => (await call('GET', '/count')).requests,
    close: () => child.stop(5000),
  };
}
