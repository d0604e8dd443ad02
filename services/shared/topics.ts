// Topic names and their creation. Raw topics are the system of record: never compacted,
// retention unlimited unless configured. Dead-letter topics keep everything too.
import type { Kafka } from 'kafkajs';
import type { KafkaConfig } from './config.js';

export interface TopicNames {
  nspsEvents: string;
  onceEvents: string;
  onceUsage: string;
  sapReports: string;
  /** Webhook records ingress could not classify (1NCE), with their exact bytes and the reason. */
  quarantine: string;
  /** Dead letters of one consumer service, e.g. deadLetter('provisioning'). */
  deadLetter: (consumer: string) => string;
  /** Redriven dead letters, read only by their consumer service. */
  redrive: (consumer: string) => string;
}

export function topicNames(prefix: string): TopicNames {
  return {
    nspsEvents: `${prefix}raw.nsps.events`,
    onceEvents: `${prefix}raw.1nce.events`,
    onceUsage: `${prefix}raw.1nce.usage`,
    sapReports: `${prefix}raw.sap.reports`,
    quarantine: `${prefix}quarantine`,
    deadLetter: (consumer) => `${prefix}dlq.${consumer}`,
    redrive: (consumer) => `${prefix}redrive.${consumer}`,
  };
}

export function rawTopics(names: TopicNames): string[] {
  return [names.nspsEvents, names.onceEvents, names.onceUsage, names.sapReports];
}

/** Largest record value ingress writes; SAP reports are split into parts below this. */
export const MAX_RECORD_BYTES = 900 * 1024;

/** Creates the given topics if they do not exist yet; existing topics are left as they are. */
export async function ensureTopics(kafka: Kafka, cfg: KafkaConfig, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    if (missing.length === 0) return;
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: cfg.KAFKA_TOPIC_PARTITIONS,
        replicationFactor: cfg.KAFKA_REPLICATION_FACTOR,
        configEntries: [
          { name: 'cleanup.policy', value: 'delete' },
          { name: 'retention.ms', value: String(cfg.KAFKA_RAW_RETENTION_MS) },
          { name: 'retention.bytes', value: '-1' },
          { name: 'min.insync.replicas', value: String(Math.max(1, Math.min(2, cfg.KAFKA_REPLICATION_FACTOR - 1))) },
        ],
      })),
    }).catch((err: unknown) => {
      // Another instance may have created it in the meantime.
      if (!(err instanceof Error && /already exists/i.test(err.message))) throw err;
    });
  } finally {
    await admin.disconnect();
  }
}
