// The bare @platformatic/kafka producer for the baselines: the library ingress writes with by
// default, driven directly, with ingress's settings (idempotent, acks=-1, Java murmur2 partitioner).
// Its idempotent producer takes one send at a time (sequence numbers advance only on the answer),
// so concurrent callers queue here, as they queue behind kafkajs's per-broker lock.
import { Producer, ProduceAcks, compatibilityPartitioner } from '@platformatic/kafka';
import type { Message } from 'kafkajs';
import type { ChunkSender } from './load.js';

export async function platformaticSender(brokers: string): Promise<{ send: ChunkSender; close(): Promise<void> }> {
  const producer = new Producer({
    clientId: 'bench-platformatic',
    bootstrapBrokers: brokers.split(','),
    idempotent: true,
    acks: ProduceAcks.ALL,
    partitioner: compatibilityPartitioner,
    autocreateTopics: false,
    timeout: 30_000,
  });
  await producer.metadata({ topics: [] });
  let tail: Promise<unknown> = Promise.resolve();
  const send: ChunkSender = (topic, messages: Message[]) => {
    const next = tail.then(() => producer.send({
      messages: messages.map((m) => ({ topic, key: typeof m.key === 'string' ? Buffer.from(m.key) : (m.key ?? undefined), value: m.value as Buffer })),
    }));
    tail = next.catch(() => undefined);
    return next;
  };
  return { send, close: () => producer.close() };
}
