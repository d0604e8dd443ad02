// Clients the scenarios share within one run: one kafkajs client, the envelope codec, and a
// producer with exactly ingress's settings (services/shared/kafka.ts createProducer: idempotent,
// 5 in flight) for the bare-producer baselines.
import type { Kafka, Producer } from 'kafkajs';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import { createProducer } from '../../services/shared/kafka.js';
import type { BenchContext } from './context.js';
import { benchKafka } from './kafka.js';

export interface BenchClients {
  kafka: Kafka;
  codec: EnvelopeCodec;
  /** Lazily connected producer with ingress's settings. */
  producer(): Promise<Producer>;
  close(): Promise<void>;
}

export function benchClients(ctx: BenchContext): BenchClients {
  const kafka = benchKafka(ctx.brokers);
  const codec = EnvelopeCodec.create(ctx.registryUrl);
  let producer: Promise<Producer> | undefined;
  return {
    kafka,
    codec,
    producer: () => (producer ??= createProducer(kafka)),
    async close() {
      if (producer) await (await producer).disconnect().catch(() => undefined);
    },
  };
}
