// Shared helpers for integration tests: the real broker, registry and PostgreSQL that
// global-setup provides, with names unique to each test so files never see each other's data.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { kafkaConfigShape, loadConfig, type KafkaConfig } from '../../services/shared/config.js';
import { openDb, type Db } from '../../services/shared/db.js';
import { createLogger, type Logger } from '../../services/shared/logger.js';
import { randomUUID } from 'node:crypto';

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** Kafka settings for one test: its own topic prefix, 3 partitions. */
export function testKafkaConfig(extra: Record<string, string> = {}): KafkaConfig {
  return loadConfig(kafkaConfigShape, {
    ...process.env,
    KAFKA_TOPIC_PREFIX: `${uniqueName('t')}.`,
    KAFKA_TOPIC_PARTITIONS: '3',
    ...extra,
  });
}

/** A PostgreSQL schema of its own on the real server (DATABASE_URL). */
export async function testDb(): Promise<Db> {
  const url = process.env.DATABASE_URL;
  if (!url) throw new Error('DATABASE_URL is not set (global-setup sets a default)');
  return openDb({ url, schema: uniqueName('t').toLowerCase() });
}

/** A logger whose JSON lines are kept in `lines` (for assertions on logs, e.g. no secrets). */
export function captureLogger(service = 'test'): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(l);
      cb();
    },
  });
  return { logger: createLogger({ service, level: 'debug', destination }), lines };
}

export type ReadMessage = KafkaMessage & {
  topic: string;
  partition: number;
};

/** Reads a topic from the beginning until `count` records arrived (or the timeout passes). */
export async function readTopic(kafka: Kafka, topic: string, count: number, timeoutMs = 30_000): Promise<ReadMessage[]> {
  const consumer = kafka.consumer({ groupId: `test-reader-${randomUUID()}` });
  const out: ReadMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => resolve(), timeoutMs);
      consumer
        .run({
          eachMessage: async ({ topic: t, partition, message }) => {
            out.push({ ...message, topic: t, partition });
            if (out.length >= count) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Polls until `check` returns a truthy value or the timeout passes; returns the last value. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 30_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await check();
  while (!last && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, intervalMs));
    last = await check();
  }
  return last;
}

/** A port nothing listens on right now: bound on 127.0.0.1, read, released. */
export async function freePort(): Promise<number> {
  return listenOnce(0) as Promise<number>;
}

/** Listens on `port` (0: any) and closes again: the port it got, or undefined when that port is taken. */
function listenOnce(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => (port !== 0 && err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err)));
    srv.listen(port, '127.0.0.1', () => {
      const { port: got } = srv.address() as { port: number };
      srv.close(() => resolve(got));
    });
  });
}

/**
 * A free port whose next port is free too, for a server that takes both (the registry's management
 * interface listens on its port + 1): a lone free port's neighbour was once another process's, and the
 * registry died at start with "Address already in use".
 */
export async function freePortPair(): Promise<number> {
  for (let tries = 0; ; tries++) {
    const port = await freePort();
    if (port < 65535 && (await listenOnce(port + 1)) !== undefined) return port;
    if (tries >= 50) throw new Error('no two free neighbouring ports on 127.0.0.1');
  }
}
