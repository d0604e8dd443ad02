// Clients the scenarios share within one run: one kafkajs client, the envelope codec, and the two
// bare producers of the baselines, each with ingress's settings for that client: kafkajs as
// services/shared/kafka.ts createProducer makes it (idempotent, 5 in flight), @platformatic/kafka
// idempotent with acks=-1 and the Java partitioner (bench/lib/platformatic.ts).
import type { Kafka, Producer } from 'kafkajs';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import { createProducer } from '../../services/shared/kafka.js';
import type { BenchContext } from './context.js';
import { benchKafka } from './kafka.js';
import { kafkajsSender, type ChunkSender } from './load.js';
import { platformaticSender } from './platformatic.js';

export interface BenchClients {
  kafka: Kafka;
  codec: EnvelopeCodec;
  /** Lazily connected kafkajs producer with ingress's settings. */
  producer(): Promise<Producer>;
  /** The bare kafkajs producer as a chunk sender. */
  kafkajsSend(): Promise<ChunkSender>;
  /** The bare @platformatic/kafka producer as a chunk sender. */
  platformaticSend(): Promise<ChunkSender>;
  close(): Promise<void>;
}

export function benchClients(ctx: BenchContext): BenchClients {
  const kafka = benchKafka(ctx.brokers);
  const codec = EnvelopeCodec.create(ctx.registryUrl);
  let producer: Promise<Producer> | undefined;
  let platformatic: ReturnType<typeof platformaticSender> | undefined;
  const getProducer = (): Promise<Producer> => (producer ??= createProducer(kafka));
  return {
    kafka,
    codec,
    producer: getProducer,
    kafkajsSend: async () => kafkajsSender(await getProducer()),
    platformaticSend: async () => (await (platformatic ??= platformaticSender(ctx.brokers))).send,
    async close() {
      if (producer) await (await producer).disconnect().catch(() => undefined);
      if (platformatic) await (await platformatic).close().catch(() => undefined);
    },
  };
}
