// trail: the event log operators search when someone asks "what happened to event X?". Projects the raw
// topics and the outcomes topic into PostgreSQL (or embedded PGlite) and serves the API and the page.
// Wires config, database (migrations at start), the consumer, pruning and the HTTP server.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import { Counter } from 'prom-client';
import { logWaitingForPostgres, migrate, openDb, serviceConnections, type Db } from '../shared/db.js';
import { runService } from '../shared/entry.js';
import { EnvelopeCodec } from '../shared/envelope.js';
import { errorMessage } from '../shared/errors.js';
import { kafkaReachable } from '../shared/http.js';
import { createKafka } from '../shared/kafka.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { METRIC_PREFIX, createMetrics, type Metrics } from '../shared/metrics.js';
import { OutcomeCodec } from '../shared/outcome.js';
import { ensureTopics, rawTopics, topicNames } from '../shared/topics.js';
import { buildTrailApi } from './api.js';
import { SERVICE_NAME, loadTrailConfig, type TrailConfig } from './config.js';
import { runTrailConsumer, type RunningTrailConsumer } from './consumer.js';
import { retentionCutoff } from './project.js';
import { prune, type Pruned } from './store.js';
import { lockDataDir } from '../shared/data-dir-lock.js';

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface TrailDeps {
  logger?: Logger;
  metrics?: Metrics;
  /** A database to use instead of opening one from the config (tests); it is not closed on stop. */
  db?: Db;
}

export interface RunningTrail {
  app: FastifyInstance;
  url: string;
  db: Db;
  kafka: Kafka;
  /** Prunes now (as the timer does); `now` moves the clock for tests of the retention. */
  prune(now?: Date): Promise<Pruned>;
  stop(): Promise<void>;
}

export async function migrateTrail(db: Db): Promise<void> {
  await migrate(db, migrationsDir, 'trail');
}

/** Opens the trail's database (PostgreSQL when DATABASE_URL is set, else PGlite under DATA_DIR/trail) and migrates it. */
export async function openTrailDb(config: TrailConfig, logger?: Logger): Promise<Db> {
  const dataDir = join(config.DATA_DIR, 'trail', 'pglite');
  // PGlite is one process's database: a second process opening the same folder would corrupt it.
  const release = config.DATABASE_URL ? () => undefined : lockDataDir(`${dataDir}.lock`);
  try {
    const db = await openDb({ url: config.DATABASE_URL, dataDir, schema: config.DB_SCHEMA, poolSize: 6, ...serviceConnections('trail'), ...(logger ? { onWaiting: logWaitingForPostgres(logger) } : {}) });
    await migrateTrail(db);
    return { ...db, close: () => db.close().finally(release) };
  } catch (err) {
    release();
    throw err;
  }
}



export async function startTrail(config: TrailConfig, deps: TrailDeps = {}): Promise<RunningTrail> {
  const logger = deps.logger ?? createLogger({ service: SERVICE_NAME, level: config.LOG_LEVEL });
  const metrics = deps.metrics ?? createMetrics(SERVICE_NAME);
  const ownDb = !deps.db;
  const db = deps.db ?? (await openTrailDb(config, logger));
  if (deps.db) await migrateTrail(db);
  const pruned = new Counter({
    name: `${METRIC_PREFIX}trail_pruned_rows_total`,
    help: 'Trail index rows removed for being older than TRAIL_RETENTION_DAYS',
    labelNames: ['table'],
    registers: [metrics.registry],
  });

  const kafka = createKafka(config, logger, SERVICE_NAME);
  const names = topicNames(config.KAFKA_TOPIC_PREFIX);
  const envelopeTopics = [...rawTopics(names), names.quarantine];
  await ensureTopics(kafka, config, [...envelopeTopics, names.outcomes]);
  const auth = { username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD };
  const admin = kafka.admin();
  await admin.connect();

  let consumer: RunningTrailConsumer | undefined;
  const app = buildTrailApi({
    db,
    metrics,
    logger,
    tokens: config.TRAIL_API_TOKENS,
    ready: async () => ({
      database: await db.query('SELECT 1').then(() => true, () => false),
      kafka: await kafkaReachable(admin),
      infrastructure: !consumer?.waitingOnInfrastructure(),
    }),
  });

  const pruneNow = async (now = new Date()): Promise<Pruned> => {
    const result = await prune(db, retentionCutoff(now, config.TRAIL_RETENTION_DAYS));
    pruned.inc({ table: 'events' }, result.events);
    pruned.inc({ table: 'outcomes' }, result.outcomes);
    if (result.events + result.outcomes > 0) logger.info({ ...result, retention_days: config.TRAIL_RETENTION_DAYS }, 'trail pruned');
    return result;
  };
  let pruning: Promise<unknown> | undefined;
  const pruneInBackground = () => {
    pruning ??= pruneNow()
      .catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'trail pruning failed; trying again at the next interval'))
      .finally(() => (pruning = undefined));
  };
  const pruneTimer = setInterval(pruneInBackground, config.TRAIL_PRUNE_INTERVAL_MS);
  pruneTimer.unref();

  try {
    consumer = await runTrailConsumer({
      name: SERVICE_NAME,
      kafka,
      groupId: config.TRAIL_GROUP_ID,
      envelopeTopics,
      outcomesTopic: names.outcomes,
      envelopeCodec: EnvelopeCodec.create(config.SCHEMA_REGISTRY_URL, auth),
      outcomeCodec: OutcomeCodec.create(config.SCHEMA_REGISTRY_URL, auth),
      db,
      logger,
      metrics,
      retentionDays: config.TRAIL_RETENTION_DAYS,
    });
    pruneInBackground();
    await app.listen({ host: config.HOST, port: config.PORT });
  } catch (err) {
    clearInterval(pruneTimer);
    await consumer?.stop().catch(() => undefined);
    await app.close().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    await pruning;
    if (ownDb) await db.close().catch(() => undefined);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  logger.info({ url, group: config.TRAIL_GROUP_ID, database: db.kind, retention_days: config.TRAIL_RETENTION_DAYS, auth: config.TRAIL_API_TOKENS.length > 0 }, 'trail started');
  if (config.TRAIL_API_TOKENS.length === 0) logger.warn('TRAIL_API_TOKENS is not set: the trail API (subscriber identifiers) is open to anyone who can reach it');

  return {
    app,
    url,
    db,
    kafka,
    prune: pruneNow,
    async stop() {
      clearInterval(pruneTimer);
      await app.close();
      await consumer?.stop();
      await admin.disconnect().catch(() => undefined);
      await pruning;
      if (ownDb) await db.close();
    },
  };
}

runService({ name: SERVICE_NAME, moduleUrl: import.meta.url, loadConfig: () => loadTrailConfig(), start: (config, logger) => startTrail(config, { logger }) });
