// Kafka plumbing for the harness: topics of this run, filling a topic fast (setup, never measured),
// and the shared producer settings the baselines must match.
import { Kafka, logLevel, type Message } from 'kafkajs';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { chunkMessages } from './load.js';

export function benchKafka(brokers: string, clientId = 'bench'): Kafka {
  return new Kafka({ clientId, brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 100 } });
}

export async function createTopic(kafka: Kafka, topic: string, partitions: number): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, prefix: string): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
  } catch {
    // best effort: a leftover topic costs disk, not correctness
  } finally {
    await admin.disconnect();
  }
}

/** Encodes envelopes with the real codec (Confluent framing through the registry). */
export async function encodeAll(codec: EnvelopeCodec, topic: string, items: { key: string; envelope: Envelope }[]): Promise<Message[]> {
  const out: Message[] = [];
  for (const { key, envelope } of items) out.push({ key, value: await codec.encode(topic, envelope) });
  return out;
}

/**
 * Writes `count` records made by `make(i)` to `topic`, in chunks with a few sends in flight.
 * Setup only: plain acks=1 producer, since nothing here is being measured.
 */
export async function fillTopic(
  kafka: Kafka,
  codec: EnvelopeCodec,
  topic: string,
  count: number,
  make: (i: number) => { key: string; envelope: Envelope },
  log?: (l: string) => void,
): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const chunk = 2000;
    let lastLog = Date.now();
    for (let start = 0; start < count; start += chunk) {
      const items = [];
      for (let i = start; i < Math.min(count, start + chunk); i++) items.push(make(i));
      const messages = await encodeAll(codec, topic, items);
      // Bounded by bytes, so that even a one-partition topic never gets a batch over the broker's 1 MiB limit.
      // One send at a time: kafkajs encodes requests asynchronously, so a smaller send issued later can
      // overtake a larger one and land first, which would put one subscriber's events out of order.
      for (const group of chunkMessages(messages, 900 * 1024)) await producer.send({ topic, acks: 1, messages: group });
      if (log && Date.now() - lastLog > 10_000) {
        log(`    filled ${start + items.length}/${count} records of ${topic}`);
        lastLog = Date.now();
      }
    }
  } finally {
    await producer.disconnect();
  }
}
