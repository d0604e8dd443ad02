// Topic names and their creation. Raw topics are the system of record: never compacted,
// retention unlimited unless configured. Dead-letter topics keep everything too.
import type { Admin, Kafka } from 'kafkajs';
import { ConfigError, type KafkaConfig } from './config.js';

export interface TopicNames {
  nspsEvents: string;
  onceEvents: string;
  onceUsage: string;
  sapReports: string;
  /** Webhook records ingress could not classify (1NCE), with their exact bytes and the reason. */
  quarantine: string;
  /** What every consumer did with each record (schemas/outcome.avsc), keyed by event id: the trail's source. */
  outcomes: string;
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
    outcomes: `${prefix}outcomes`,
    deadLetter: (consumer) => `${prefix}dlq.${consumer}`,
    redrive: (consumer) => `${prefix}redrive.${consumer}`,
  };
}

export function rawTopics(names: TopicNames): string[] {
  return [names.nspsEvents, names.onceEvents, names.onceUsage, names.sapReports];
}

/** Largest record value ingress writes; SAP reports are split into parts below this. */
export const MAX_RECORD_BYTES = 900 * 1024;

/**
 * How the topics the system creates are replicated: KAFKA_REPLICATION_FACTOR copies, acknowledged
 * writes (acks=-1) need KAFKA_MIN_INSYNC_REPLICAS of them in sync (default 2 from three replicas up,
 * so one broker may be lost without refusing writes; else 1), and an out-of-sync replica is never
 * elected leader (that would silently drop acknowledged records).
 */
export function topicReplication(cfg: Pick<KafkaConfig, 'KAFKA_REPLICATION_FACTOR' | 'KAFKA_MIN_INSYNC_REPLICAS'>): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = cfg.KAFKA_REPLICATION_FACTOR;
  const minInsyncReplicas = cfg.KAFKA_MIN_INSYNC_REPLICAS ?? (replicationFactor >= 3 ? 2 : 1);
  if (minInsyncReplicas > replicationFactor) {
    throw new ConfigError([`KAFKA_MIN_INSYNC_REPLICAS: must be at most KAFKA_REPLICATION_FACTOR (${replicationFactor}), or no write could ever be acknowledged (got "${minInsyncReplicas}")`]);
  }
  return { replicationFactor, minInsyncReplicas };
}

/** Topic-level settings of every topic the system creates (raw, dead-letter, redrive, quarantine). */
export function topicConfigEntries(cfg: KafkaConfig): { name: string; value: string }[] {
  return [
    { name: 'cleanup.policy', value: 'delete' },
    { name: 'retention.ms', value: String(cfg.KAFKA_RAW_RETENTION_MS) },
    { name: 'retention.bytes', value: '-1' },
    { name: 'min.insync.replicas', value: String(topicReplication(cfg).minInsyncReplicas) },
    { name: 'unclean.leader.election.enable', value: 'false' },
  ];
}

/** Creates the given topics if they do not exist yet; existing topics are left as they are. */
export async function ensureTopics(kafka: Kafka, cfg: KafkaConfig, topics: string[]): Promise<void> {
  const { replicationFactor } = topicReplication(cfg);
  const configEntries = topicConfigEntries(cfg);
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t));
    // Not kafkajs's waitForLeaders: on a KRaft cluster it asks any broker, which may not know the new
    // topic yet and answers UNKNOWN_TOPIC_OR_PARTITION, an error kafkajs does not retry there.
    if (missing.length > 0) await admin.createTopics({
      waitForLeaders: false,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: cfg.KAFKA_TOPIC_PARTITIONS,
        replicationFactor,
        configEntries,
      })),
    }).catch((err: unknown) => {
      // Another service or instance created them in the meantime (kafkajs reports that per topic, inside
      // an aggregate "Topic creation errors"); any other creation error fails the start.
      if (!alreadyExists(err)) throw err;
    });
    // A topic just created (here or by another service) may not be known to every broker of a cluster
    // yet, and a consumer that subscribes then fails: go on only once each partition has a leader.
    await waitForLeaders(admin, topics);
  } finally {
    await admin.disconnect();
  }
}

async function waitForLeaders(admin: Admin, topics: string[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics });
      if (meta.length === topics.length && meta.every((t) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0))) return;
    } catch (err) {
      if (Date.now() >= deadline) throw err;
    }
    if (Date.now() >= deadline) throw new Error(`topics without a leader after ${timeoutMs} ms: ${topics.join(', ')}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function alreadyExists(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (/already exists/i.test(err.message)) return true;
  const inner = (err as { errors?: unknown }).errors;
  return Array.isArray(inner) && inner.length > 0
    && inner.every((e) => /already exists|TOPIC_ALREADY_EXISTS/i.test(`${(e as { message?: string }).message ?? ''} ${(e as { type?: string }).type ?? ''}`));
}
