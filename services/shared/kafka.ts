// The one place that knows how to reach Kafka: TLS, SASL, the idempotent producer, topic creation.
import { readFileSync } from 'node:fs';
import { Kafka, Partitioners, logLevel, type KafkaConfig as KafkaJsConfig, type Producer, type SASLOptions, type Message, type LogEntry } from 'kafkajs';
import type { KafkaConfig } from './config.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { settleWithin } from './hang.js';

export function createKafka(cfg: KafkaConfig, logger: Logger, clientSuffix = ''): Kafka {
  const config: KafkaJsConfig = {
    clientId: clientSuffix ? `${cfg.KAFKA_CLIENT_ID}-${clientSuffix}` : cfg.KAFKA_CLIENT_ID,
    brokers: cfg.KAFKA_BROKERS,
    connectionTimeout: 3000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 100, retries: 8, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator: () => (entry: LogEntry) => {
      const { message, ...extra } = entry.log;
      logger[kafkaLogLevel(entry.level, message, extra)]({ kafka: entry.namespace, ...redactKafkaLog(extra) }, message);
    },
  };
  const { tls, sasl } = kafkaSecurity(cfg);
  if (tls) config.ssl = tls;
  if (sasl) config.sasl = sasl as SASLOptions;
  return new Kafka(config);
}

export interface KafkaSecurity {
  tls?: { ca?: string[]; rejectUnauthorized: boolean };
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

/** TLS and SASL from the configuration, read once for every Kafka client (kafkajs and @platformatic/kafka). */
export function kafkaSecurity(cfg: KafkaConfig): KafkaSecurity {
  const out: KafkaSecurity = {};
  if (cfg.KAFKA_SSL) {
    out.tls = { rejectUnauthorized: cfg.KAFKA_SSL_REJECT_UNAUTHORIZED, ...(cfg.KAFKA_SSL_CA_FILE ? { ca: [readFileSync(cfg.KAFKA_SSL_CA_FILE, 'utf8')] } : {}) };
  }
  if (cfg.KAFKA_SASL_MECHANISM) {
    out.sasl = { mechanism: cfg.KAFKA_SASL_MECHANISM, username: cfg.KAFKA_SASL_USERNAME ?? '', password: cfg.KAFKA_SASL_PASSWORD ?? '' };
  }
  return out;
}

/**
 * Conditions of a cluster that is starting or moving leaders (a coordinator loading, a leader not elected
 * yet, a topic not yet known to the broker asked): kafkajs retries through them and logs each attempt as an
 * error. They are expected on every fresh start and during a broker failover, so they are logged as info;
 * when the retries run out, the caller gets the error and classifies it (errors.ts).
 */
const TRANSIENT_CLUSTER_CONDITIONS = /coordinator is loading|coordinator is not available|not the correct coordinator|leader not available|not the leader|does not host this topic-partition|There is no leader for this topic-partition|rebalance in progress|Connection error: connect ECONNREFUSED/i;

export function kafkaLogLevel(level: logLevel, message: string, extra: Record<string, unknown>): 'error' | 'warn' | 'info' | 'debug' {
  if (level !== logLevel.ERROR && level !== logLevel.WARN) return 'debug';
  const error = typeof extra.error === 'string' ? extra.error : '';
  const stackHead = typeof extra.stack === 'string' ? extra.stack.split('\n')[0] ?? '' : '';
  // A consumer crash and its restart, or a socket closed under a request, are retried by kafkajs; they stay
  // visible as warnings whatever caused them.
  if (message.startsWith('Crash') || /Restarting the consumer|write after end/i.test(`${message} ${error} ${stackHead}`)) return 'warn';
  // Services racing to create the same topics: ensureTopics treats "already exists" as done and fails the
  // start itself on any other creation error, so the client's own report of the response is only info.
  if (/Topic creation errors|already exists/i.test(`${message} ${error}`)) return 'info';
  if (TRANSIENT_CLUSTER_CONDITIONS.test(error) || TRANSIENT_CLUSTER_CONDITIONS.test(message)) return 'info';
  return level === logLevel.ERROR ? 'error' : 'warn';
}

function redactKafkaLog(extra: Record<string, unknown>): Record<string, unknown> {
  const { sasl: _sasl, ssl: _ssl, ...rest } = extra;
  return rest;
}

/**
 * Idempotent producer: retries cannot duplicate or reorder records within a partition,
 * and every send waits for all in-sync replicas (acks=-1).
 *
 * Retries: unbounded by default, as the idempotent producer needs them to be (kafkajs warns otherwise): a
 * consumer's dead-letter write waits out a broker outage instead of failing. Ingress's kafkajs writer asks
 * for `bounded` retries instead: it answers every webhook within KAFKA_PRODUCE_TIMEOUT_MS and must not
 * pile up sends that retry for ever during an outage; kafkajs logs its warning once for that producer.
 */
export async function createProducer(kafka: Kafka, opts: { bounded?: boolean } = {}): Promise<Producer> {
  const producer = kafka.producer({
    // The Java client's murmur2 partitioner: the same key lands in the same partition whichever client wrote it.
    createPartitioner: Partitioners.DefaultPartitioner,
    idempotent: true,
    maxInFlightRequests: 5,
    allowAutoTopicCreation: false,
    retry: { retries: opts.bounded ? 5 : Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: opts.bounded ? 2000 : 5000 },
  });
  await producer.connect();
  return producer;
}

export class ProduceTimeoutError extends Error {
  readonly retriable = true;
  constructor(ms: number) {
    super(`Kafka did not acknowledge within ${ms} ms`);
    this.name = 'ProduceTimeoutError';
  }
}

/**
 * Sends records to one or more topics and resolves only when all in-sync replicas acknowledged every one.
 * Rejects with ProduceTimeoutError when that takes longer than `timeoutMs`.
 */
export function produceAll(
  producer: Producer,
  batches: { topic: string; messages: Message[] }[],
  opts: { timeoutMs: number; metrics?: Metrics },
): Promise<void> {
  return withProduceDeadline(
    () => producer.sendBatch({ acks: -1, timeout: opts.timeoutMs, topicMessages: batches }),
    batches.map((b) => b.topic),
    opts,
  );
}

/**
 * Runs one acknowledged send under a deadline and records its duration or failure per topic:
 * whichever client does the sending, the caller sees the same timeout error and the same metrics.
 */
export async function withProduceDeadline(
  send: () => Promise<unknown>,
  topics: readonly string[],
  opts: { timeoutMs: number; metrics?: Metrics },
): Promise<void> {
  const started = process.hrtime.bigint();
  try {
    await settleWithin(send(), opts.timeoutMs, () => new ProduceTimeoutError(opts.timeoutMs));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    for (const topic of new Set(topics)) opts.metrics?.produceDuration.observe({ topic }, seconds);
  } catch (err) {
    for (const topic of new Set(topics)) opts.metrics?.produceErrors.inc({ topic });
    throw err;
  }
}
