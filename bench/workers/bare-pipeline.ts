// The NSPS pipeline ceiling: what a hand-written HTTP-to-Kafka bridge does. A bare fastify route
// reads each request's body as bytes and produces it, as is, to one topic, through ingress's own
// write path used as a library: the same record writer (services/shared/record-writer.ts, the client
// chosen by KAFKA_PRODUCER_CLIENT, idempotent, acks=all) behind the same cross-request batcher
// (services/ingress/batcher.ts) with ingress's defaults for linger and flush size. No auth, no
// validation or JSON parsing, no Avro envelope, no logging, no metrics.
// Env: PORT, KAFKA_BROKERS, BENCH_TOPIC, KAFKA_PRODUCER_CLIENT (and ingress's PRODUCE_* if set).
import Fastify from 'fastify';
import { ProduceBatcher } from '../../services/ingress/batcher.js';
import { ingressConfigShape } from '../../services/ingress/config.js';
import { kafkaConfigShape, loadConfig } from '../../services/shared/config.js';
import { createLogger } from '../../services/shared/logger.js';
import { createRecordWriter } from '../../services/shared/record-writer.js';

const topic = process.env.BENCH_TOPIC;
if (!topic) throw new Error('BENCH_TOPIC is required');
// Ingress's own variables and defaults, so the batching is configured exactly as in ingress.
const cfg = loadConfig({
  ...kafkaConfigShape,
  KAFKA_PRODUCER_CLIENT: ingressConfigShape.KAFKA_PRODUCER_CLIENT,
  PRODUCE_LINGER_MS: ingressConfigShape.PRODUCE_LINGER_MS,
  PRODUCE_BATCH_MAX_BYTES: ingressConfigShape.PRODUCE_BATCH_MAX_BYTES,
});
// Only the writer's failure paths log (a failed send); nothing is logged per request.
const logger = createLogger({ service: 'bench-bare-pipeline', level: 'warn' });
const writer = await createRecordWriter(cfg, logger, 'bench-bare-pipeline');
const batcher = new ProduceBatcher(writer, { lingerMs: cfg.PRODUCE_LINGER_MS, maxBatchBytes: cfg.PRODUCE_BATCH_MAX_BYTES, timeoutMs: cfg.KAFKA_PRODUCE_TIMEOUT_MS });

const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.get('/healthz', async () => ({ ok: true, client: writer.client }));
// The key spreads records over the partitions as ingress's subscriber keys do, without reading the body.
let sequence = 0;
app.post('/process-event', async (req, reply) => {
  try {
    await batcher.send([{ topic, key: String(sequence++ % 1000), value: req.body as Buffer }]);
  } catch {
    return reply.code(503).send({ message: 'kafka unavailable' });
  }
  return reply.code(202).send({ message: 'accepted' });
});
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.on('SIGTERM', () => void app.close().then(() => writer.close()).then(() => process.exit(0), () => process.exit(1)));
