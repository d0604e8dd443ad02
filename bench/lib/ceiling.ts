// The broker's ceiling as a contender of a scenario: ProducerPerformance (producer-perf.ts) on a
// 6-partition topic of this run, records of the scenario's size, one unmeasured warm-up run that
// also sizes the measured runs to about the scenario's run length. Unavailable → the reason.
import type { BenchContext } from './context.js';
import { createTopic } from './kafka.js';
import type { LoadResult } from './load.js';
import { producerPerfTool, recordsForSeconds, type ProducerPerfResult } from './producer-perf.js';
import type { BenchClients } from './shared.js';

export const CEILING_PARTITIONS = 6;
/**
 * Each run starts a fresh JVM whose client code warms up inside the timed run (its first seconds
 * run at about half the later rate here), so runs last at least this long to let the steady rate count.
 */
const MIN_RUN_SECONDS = 15;

/** What the broker ceiling's numbers are and are not, for the scenarios' notes. */
export const CEILING_CAVEAT =
  'Its latencies are those of records queued in the Java client\'s buffer at full throttle (--throughput -1), not request latencies. ' +
  'With the Java client\'s default batch.size (16 KiB) and linger.ms (0) its requests are far smaller than the 900 KiB flushes of ingress and the bare producers, ' +
  'so a bare producer can pass it: it is the broker\'s rate for the Java client at its defaults, not a hard limit of the broker (BENCH_PRODUCER_PERF_PROPS adds settings to try larger requests).';

export interface BrokerCeiling {
  /** One measured run, as a LoadResult (ops = records; p50/p99 are the tool's record latencies). */
  run(): Promise<LoadResult>;
  describe: string;
  recordSize: number;
  records: number;
  /** About how long a run lasts (the records were sized for it from the warm-up's rate). */
  seconds: number;
  /** Runs that failed (their result is NaN, so medians skip nothing silently: they show as –). */
  errors: string[];
}

export async function brokerCeiling(
  ctx: BenchContext,
  clients: BenchClients,
  opts: { name: string; recordSize: number; seconds: number },
): Promise<BrokerCeiling | { unavailable: string }> {
  const tool = producerPerfTool(ctx.brokers, ctx.log);
  if ('unavailable' in tool) return tool;
  const topic = `${ctx.topicPrefix}ceiling.${opts.name}`;
  try {
    await createTopic(clients.kafka, topic, CEILING_PARTITIONS);
    // Smoke mode checks the path only: no warm-up, a fixed small run.
    let seconds = opts.seconds;
    let records = 2_000;
    if (!ctx.smoke) {
      ctx.log(`  ProducerPerformance warm-up, ${opts.recordSize}-byte records (not measured)`);
      const warm = await tool.run({ topic, records: 50_000, recordSize: opts.recordSize });
      seconds = Math.max(opts.seconds, MIN_RUN_SECONDS);
      records = recordsForSeconds(warm.recordsPerSec, seconds, 20_000, 3_000_000);
    }
    const errors: string[] = [];
    return {
      describe: tool.describe,
      recordSize: opts.recordSize,
      records,
      seconds,
      errors,
      run: async () => {
        try {
          return toLoad(await tool.run({ topic, records, recordSize: opts.recordSize }));
        } catch (err) {
          errors.push(err instanceof Error ? err.message : String(err));
          return { opsPerSec: Number.NaN, recordsPerSec: Number.NaN, p50Ms: Number.NaN, p99Ms: Number.NaN, ok: 0, failed: 1, seconds: 0 };
        }
      },
    };
  } catch (err) {
    return { unavailable: `ProducerPerformance failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function toLoad(r: ProducerPerfResult): LoadResult {
  return { opsPerSec: r.recordsPerSec, recordsPerSec: r.recordsPerSec, p50Ms: r.p50Ms, p99Ms: r.p99Ms, ok: r.records, failed: 0, seconds: r.records / r.recordsPerSec };
}
