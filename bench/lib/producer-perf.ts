// The broker's own ceiling: Kafka's ProducerPerformance tool (org.apache.kafka:kafka-tools, the
// broker's version) as a JVM child process, writing records of a given size to a topic of this run
// with acks=all and idempotence on. No HTTP, no Node: what this broker takes from the Java client.
// The jar is fetched from Maven Central once; when it cannot be had, the ceiling is "not measured"
// with the reason, never a broken run.
import { execFile } from 'node:child_process';
import { KAFKA_VERSION, fetchKafka, fetchKafkaTools, findJava } from '../../infra/local/stack.js';

export interface ProducerPerfResult {
  records: number;
  recordsPerSec: number;
  mbPerSec: number;
  avgLatencyMs: number;
  p50Ms: number;
  p99Ms: number;
}

/**
 * Parses ProducerPerformance's closing summary, e.g.
 * `50000 records sent, 4760.997905 records/sec (5.45 MB/sec), 2206.38 ms avg latency, 2814.00 ms max latency, 2298 ms 50th, 2618 ms 95th, 2700 ms 99th, 2766 ms 99.9th.`
 * The interim lines (every 5 s) lack the percentiles; the last summary line of `output` wins.
 */
export function parseProducerPerfSummary(output: string): ProducerPerfResult | undefined {
  const re = /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency, [\d.]+ ms max latency, (\d+) ms 50th, \d+ ms 95th, (\d+) ms 99th/gm;
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(output); m; m = re.exec(output)) last = m;
  if (!last) return undefined;
  return {
    records: Number(last[1]),
    recordsPerSec: Number(last[2]),
    mbPerSec: Number(last[3]),
    avgLatencyMs: Number(last[4]),
    p50Ms: Number(last[5]),
    p99Ms: Number(last[6]),
  };
}

/**
 * Records for a run of about `seconds` at `recordsPerSec` (from a warm-up run), within [min, max]:
 * the tool takes a record count, not a duration, and runs of like length compare with the others.
 */
export function recordsForSeconds(recordsPerSec: number, seconds: number, min: number, max: number): number {
  if (!Number.isFinite(recordsPerSec) || recordsPerSec <= 0) return min;
  return Math.round(Math.min(max, Math.max(min, recordsPerSec * seconds)));
}

export interface ProducerPerfTool {
  run(opts: { topic: string; records: number; recordSize: number; timeoutMs?: number }): Promise<ProducerPerfResult>;
  /** What runs, for the report. */
  describe: string;
}

/** The tool, or the reason it cannot run here (no Maven, no network, no Java): the caller reports "not measured". */
export function producerPerfTool(brokers: string, log: (l: string) => void): ProducerPerfTool | { unavailable: string } {
  if (process.env.BENCH_PRODUCER_PERF === 'false') return { unavailable: 'switched off (BENCH_PRODUCER_PERF=false)' };
  let classpath: string;
  let java: string;
  try {
    classpath = `${fetchKafka(log)}/*:${fetchKafkaTools(log)}`;
    java = findJava(17);
  } catch (err) {
    return { unavailable: `org.apache.kafka:kafka-tools:${KAFKA_VERSION} could not be fetched (${err instanceof Error ? err.message.split('\n')[0] : String(err)})` };
  }
  // The issue's settings; the Java client's other defaults stay (batch.size 16 KiB, linger.ms 0 in 3.9).
  // BENCH_PRODUCER_PERF_PROPS adds producer settings, e.g. "batch.size=1048576 linger.ms=5", to see how far
  // larger requests take the broker (the report then says which were used).
  const extra = (process.env.BENCH_PRODUCER_PERF_PROPS ?? '').split(/\s+/).filter(Boolean);
  const props = ['bootstrap.servers=' + brokers, 'acks=all', 'enable.idempotence=true', ...extra];
  return {
    describe: `org.apache.kafka.tools.ProducerPerformance ${KAFKA_VERSION} (--throughput -1, --producer-props ${props.slice(1).join(' ')}, other producer settings the Java client's defaults)`,
    run: ({ topic, records, recordSize, timeoutMs = 180_000 }) =>
      new Promise((resolve, reject) => {
        const args = [
          '-Xmx512m', '-cp', classpath, 'org.apache.kafka.tools.ProducerPerformance',
          '--topic', topic, '--num-records', String(records), '--record-size', String(recordSize), '--throughput', '-1',
          '--producer-props', ...props,
        ];
        execFile(java, args, { timeout: timeoutMs, maxBuffer: 4 * 2 ** 20 }, (err, stdout, stderr) => {
          const parsed = parseProducerPerfSummary(stdout);
          if (parsed) resolve(parsed);
          else reject(new Error(`ProducerPerformance gave no summary${err ? ` (${err.message.split('\n')[0]})` : ''}: ${stderr.trim().split('\n').slice(-2).join(' / ')}`));
        });
      }),
  };
}
