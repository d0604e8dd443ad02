// The HTTP ceiling: a bare fastify app whose webhook routes parse the JSON body and answer at once,
// with no auth, no Kafka and no logging. Same framework and version as ingress.
import Fastify from 'fastify';

const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
app.get('/healthz', async () => ({ ok: true }));
app.post('/process-event', async (_req, reply) => reply.code(202).send({ message: 'accepted' }));
app.post('/1nce/data-streamer', async (req, reply) => reply.code(200).send({ accepted: Array.isArray(req.body) ? req.body.length : 0 }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
