// Consumer lag from the group's committed offsets against the topics' end offsets.
import type { Kafka } from 'kafkajs';
import type { Gauge } from 'prom-client';
import type { Logger } from './logger.js';

export interface LagMonitorOptions {
  kafka: Kafka;
  groupId: string;
  topics: string[];
  gauge: Gauge<'group' | 'topic' | 'partition'>;
  kafkaUp?: Gauge;
  intervalMs: number;
  logger: Logger;
}

/** Measures lag now and every interval; returns a function that stops measuring. */
export function startLagMonitor(opts: LagMonitorOptions): () => Promise<void> {
  const admin = opts.kafka.admin();
  let connected: Promise<void> | undefined;
  let stopped = false;
  const measure = async (): Promise<void> => {
    if (stopped) return;
    try {
      connected ??= admin.connect();
      await connected;
      const committed = await admin.fetchOffsets({ groupId: opts.groupId, topics: opts.topics });
      for (const { topic, partitions } of committed) {
        const ends = await admin.fetchTopicOffsets(topic);
        for (const end of ends) {
          const c = partitions.find((p) => p.partition === end.partition);
          const committedOffset = c && Number(c.offset) >= 0 ? BigInt(c.offset) : BigInt(end.low);
          const lag = BigInt(end.high) - committedOffset;
          opts.gauge.set({ group: opts.groupId, topic, partition: String(end.partition) }, Number(lag < 0n ? 0n : lag));
        }
      }
      opts.kafkaUp?.set(1);
    } catch (err) {
      opts.kafkaUp?.set(0);
      opts.logger.debug({ err: err instanceof Error ? err.message : String(err) }, 'lag measurement failed');
    }
  };
  void measure();
  const timer = setInterval(() => void measure(), opts.intervalMs);
  timer.unref();
  return async () => {
    stopped = true;
    clearInterval(timer);
    if (connected) await connected.then(() => admin.disconnect()).catch(() => undefined);
  };
}
