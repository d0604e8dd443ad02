// The write path ingress answers on: records go to Kafka and the promise resolves only when all
// in-sync replicas acknowledged every one. Two clients sit behind the same interface:
//   platformatic  @platformatic/kafka (default): encodes record batches about 3× faster than kafkajs
//                 on this machine (docs/benchmarks.md), which is most of what a batched write costs us.
//   kafkajs       the client every consumer uses; kept as a switch (KAFKA_PRODUCER_CLIENT) in case
//                 an operator's cluster needs its behaviour.
// Both are idempotent producers with acks=-1 and the Java client's murmur2 partitioner, so a key
// lands in the same partition whichever client wrote it.
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Producer as PlatformaticProducer, ProduceAcks, compatibilityPartitioner, type SASLOptions } from '@platformatic/kafka';
import type { Message } from 'kafkajs';
import type { KafkaConfig } from './config.js';
import { ClientHungError, settleWithin } from './hang.js';
import { createKafka, createProducer, kafkaSecurity, produceAll, withProduceDeadline } from './kafka.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export const PRODUCER_CLIENTS = ['platformatic', 'kafkajs'] as const;
export type ProducerClient = (typeof PRODUCER_CLIENTS)[number];

export interface OutgoingRecord {
  topic: string;
  key: string;
  value: Buffer;
}

export interface RecordWriter {
  readonly client: ProducerClient;
  /**
   * Writes the records in order (per partition) and resolves when all in-sync replicas acknowledged
   * every one; rejects (ProduceTimeoutError after `timeoutMs`) otherwise. Nothing partial is success.
   */
  write(records: readonly OutgoingRecord[], opts: { timeoutMs: number; metrics?: Metrics }): Promise<void>;
  close(): Promise<void>;
}

/** kafkajs's shape: messages grouped by topic, each topic's in the given order. */
export function byTopic(records: readonly OutgoingRecord[]): { topic: string; messages: Message[] }[] {
  const topics = new Map<string, Message[]>();
  for (const r of records) {
    let messages = topics.get(r.topic);
    if (!messages) topics.set(r.topic, (messages = []));
    messages.push({ key: r.key, value: r.value });
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
}

export async function createRecordWriter(cfg: KafkaConfig & { KAFKA_PRODUCER_CLIENT: ProducerClient }, logger: Logger, clientSuffix: string): Promise<RecordWriter> {
  return cfg.KAFKA_PRODUCER_CLIENT === 'kafkajs' ? kafkajsWriter(cfg, logger, clientSuffix) : platformaticWriter(cfg, logger, clientSuffix);
}

async function kafkajsWriter(cfg: KafkaConfig, logger: Logger, clientSuffix: string): Promise<RecordWriter> {
  const producer = await createProducer(createKafka(cfg, logger, clientSuffix), { bounded: true });
  return {
    client: 'kafkajs',
    write: (records, opts) => produceAll(producer, byTopic(records), opts),
    close: () => producer.disconnect(),
  };
}

function platformaticSecurity(cfg: KafkaConfig): { tls?: TlsOptions; sasl?: SASLOptions } {
  const { tls, sasl } = kafkaSecurity(cfg);
  const mechanisms = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' } as const;
  return {
    ...(tls ? { tls } : {}),
    ...(sasl ? { sasl: { mechanism: mechanisms[sasl.mechanism], username: sasl.username, password: sasl.password } } : {}),
  };
}

/** The platformatic client's own bounds on one attempt: connect, then the request, then the pause before a retry. */
const PLATFORMATIC_CONNECT_TIMEOUT_MS = 3_000;
const PLATFORMATIC_RETRIES = 3;
const PLATFORMATIC_RETRY_DELAY_MS = 250;

/**
 * How long a platformatic send may stay unsettled before it is taken for hung: as long as all of its
 * attempts could take (the client bounds each connect, request and pause), and never under 30 s. Past
 * that it would hold every later write behind it, and ingress would answer 503 to every request. Taking
 * a merely slow send for hung costs what its failure would: the producer is replaced, and the requests
 * waiting on it were answered 503 long before.
 */
export function platformaticHungAfterMs(produceTimeoutMs: number): number {
  return Math.max(30_000, (PLATFORMATIC_RETRIES + 1) * (PLATFORMATIC_CONNECT_TIMEOUT_MS + produceTimeoutMs + PLATFORMATIC_RETRY_DELAY_MS));
}

async function platformaticWriter(cfg: KafkaConfig, logger: Logger, clientSuffix: string): Promise<RecordWriter> {
  const make = (): PlatformaticProducer => new PlatformaticProducer({
    clientId: clientSuffix ? `${cfg.KAFKA_CLIENT_ID}-${clientSuffix}` : cfg.KAFKA_CLIENT_ID,
    bootstrapBrokers: cfg.KAFKA_BROKERS,
    idempotent: true,
    acks: ProduceAcks.ALL,
    partitioner: compatibilityPartitioner,
    autocreateTopics: false,
    connectTimeout: PLATFORMATIC_CONNECT_TIMEOUT_MS,
    // Broker-side and client-side limits follow the produce deadline, so a send left running past its
    // deadline ends soon after it and releases the write queue.
    timeout: cfg.KAFKA_PRODUCE_TIMEOUT_MS,
    requestTimeout: cfg.KAFKA_PRODUCE_TIMEOUT_MS,
    retries: PLATFORMATIC_RETRIES,
    retryDelay: PLATFORMATIC_RETRY_DELAY_MS,
    ...platformaticSecurity(cfg),
  });
  let producer = make();
  // Fail at start, like kafkajs's connect(), rather than on the first webhook.
  await producer.metadata({ topics: [] });
  const hungAfterMs = platformaticHungAfterMs(cfg.KAFKA_PRODUCE_TIMEOUT_MS);
  // One send at a time: the idempotent producer numbers each partition's batches when it builds a
  // request and advances the numbers only on the answer, so two sends in flight would share numbers.
  let tail: Promise<unknown> = Promise.resolve();
  return {
    client: 'platformatic',
    write(records, opts) {
      const send = tail.then(async () => {
        const current = producer;
        try {
          await settleWithin(current.send({ messages: records.map((r) => ({ topic: r.topic, key: Buffer.from(r.key), value: r.value })) }), hungAfterMs);
        } catch (err) {
          if (err instanceof ClientHungError) logger.error({ after_ms: hungAfterMs, records: records.length }, 'the Kafka client left a send unsettled; replacing it so the next requests are not held behind it');
          // After a failed or timed-out send the broker may hold batches the client does not know
          // were written; a fresh producer id restarts the sequence numbers, so the next batch can never
          // be mistaken for a retry of one of those and silently dropped as a duplicate.
          producer = make();
          current.close().catch((closeErr: unknown) => logger.warn({ err: String(closeErr) }, 'closing the failed producer failed'));
          throw err;
        }
      });
      tail = send.catch(() => undefined);
      return withProduceDeadline(() => send, records.map((r) => r.topic), opts);
    },
    async close() {
      await tail;
      await producer.close();
    },
  };
}
