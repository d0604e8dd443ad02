// scc-inventory: folds SAP NS reports from Kafka into a PostgreSQL read model and serves it over HTTP.
// Wires config, database (migrations at start), Kafka consumer and the query API.
import { runService } from '../shared/entry.js';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Kafka } from 'kafkajs';
import { runConsumer, type Handled, type RunningConsumer } from '../shared/consumer.js';
import { logWaitingForPostgres, migrate, openDb, serviceConnections, type Db } from '../shared/db.js';
import { EnvelopeCodec } from '../shared/envelope.js';
import { outcomeTarget } from '../shared/outcome.js';
import { kafkaReachable } from '../shared/http.js';
import { migrateShared } from '../shared/idempotency.js';
import { createKafka, createProducer } from '../shared/kafka.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createMetrics, type Metrics } from '../shared/metrics.js';
import { ensureTopics, topicNames } from '../shared/topics.js';
import { buildApi } from './api.js';
import { CONSUMER_NAME, loadSccInventoryConfig, type SccInventoryConfig } from './config.js';
import { createSccMetrics, registerSystemsGauge } from './metrics.js';
import { projectRecord, type AppliedReport } from './projector.js';
import { dropAbandonedShadowTables } from './rebuild-tables.js';
import { LIVE_TABLES } from './tables.js';
import { DataDirInUseError, lockDataDir } from '../shared/data-dir-lock.js';

export { DataDirInUseError };

export const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface SccInventoryDeps {
  logger?: Logger;
  metrics?: Metrics;
  /** A database to use instead of opening one from the config (tests); it is not closed on stop. */
  db?: Db;
}

export interface RunningSccInventory {
  app: FastifyInstance;
  url: string;
  db: Db;
  kafka: Kafka;
  stop(): Promise<void>;
}

/** Opens the service's database (PostgreSQL when DATABASE_URL is set, else PGlite under DATA_DIR) and migrates it. */
export async function openInventoryDb(config: SccInventoryConfig, logger?: Logger): Promise<Db> {
  const dataDir = join(config.DATA_DIR, 'scc-inventory', 'pglite');
  // PGlite is one process's database: a second process opening the same folder would corrupt it.
  const release = config.DATABASE_URL ? () => undefined : lockDataDir(`${dataDir}.lock`);
  try {
    const db = await openDb({ url: config.DATABASE_URL, dataDir, schema: config.DB_SCHEMA, poolSize: config.SCC_KEY_CONCURRENCY + 4, ...serviceConnections('scc-inventory'), ...(logger ? { onWaiting: logWaitingForPostgres(logger) } : {}) });
    await migrateInventory(db);
    return { ...db, close: () => db.close().finally(release) };
  } catch (err) {
    release();
    throw err;
  }
}

export async function migrateInventory(db: Db): Promise<void> {
  await migrateShared(db);
  await migrate(db, migrationsDir, 'scc-inventory');
}

export async function startSccInventory(config: SccInventoryConfig, deps: SccInventoryDeps = {}): Promise<RunningSccInventory> {
  const logger = deps.logger ?? createLogger({ service: CONSUMER_NAME, level: config.LOG_LEVEL });
  const metrics = deps.metrics ?? createMetrics(CONSUMER_NAME);
  const ownDb = !deps.db;
  const db = deps.db ?? (await openInventoryDb(config, logger));
  if (deps.db) await migrateInventory(db);
  // A rebuild killed outright leaves its shadow tables behind (rebuild-tables.ts): a restart cleans up.
  await dropAbandonedShadowTables(db, logger);
  const sccMetrics = createSccMetrics(metrics);
  registerSystemsGauge(metrics, db);

  const kafka = createKafka(config, logger, CONSUMER_NAME);
  const names = topicNames(config.KAFKA_TOPIC_PREFIX);
  const deadLetterTopic = names.deadLetter(CONSUMER_NAME);
  const redriveTopic = names.redrive(CONSUMER_NAME);
  await ensureTopics(kafka, config, [names.sapReports, deadLetterTopic, redriveTopic, names.outcomes]);
  const codec = EnvelopeCodec.create(config.SCHEMA_REGISTRY_URL, { username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD });
  const producer = await createProducer(kafka);
  const admin = kafka.admin();
  await admin.connect();

  const app = buildApi({
    db,
    metrics,
    logger,
    tokens: config.INVENTORY_API_TOKENS,
    ready: async () => ({
      database: await db.query('SELECT 1').then(() => true, () => false),
      kafka: await kafkaReachable(admin),
      // false while records wait for the registry, the broker or the database to come back
      infrastructure: !consumer?.waitingOnInfrastructure(),
    }),
  });

  let consumer: RunningConsumer | undefined;
  try {
    consumer = await runConsumer({
      name: CONSUMER_NAME,
      groupId: config.SCC_INVENTORY_GROUP_ID,
      topics: [names.sapReports, redriveTopic],
      kafka,
      codec,
      producer,
      deadLetterTopic,
      logger,
      metrics,
      outcomes: outcomeTarget(config, names.outcomes),
      keyConcurrency: config.SCC_KEY_CONCURRENCY,
      handle: async (record): Promise<Handled> => {
        let applied: AppliedReport | undefined;
        const outcome = await projectRecord(
          {
            db, tables: LIVE_TABLES, consumer: CONSUMER_NAME, partTtlMs: config.SCC_PART_TTL_MS, lock: true, metrics: sccMetrics,
            onApplied: (info) => {
              applied = info;
              logger.info({ event_id: record.envelope.event_id, request_id: record.envelope.request_id, report_id: info.reportId, tenant: info.tenant, report_type: info.reportType, changes: info.changes }, 'report applied');
            },
          },
          record.envelope,
          { partition: record.partition, offset: record.offset },
        );
        // The trail's reference to the effect: the report and the systems it changed (none: nothing changed).
        const reportId = record.envelope.attributes.report_id ?? '';
        if (outcome === 'duplicate') return { outcome };
        if (!applied) return { outcome, effect: { report_id: reportId, held: 'waiting for the other parts of the report' } };
        return { outcome, effect: { report_id: applied.reportId, changes: String(applied.changes), system_ids: applied.systemIds.join(',') } };
      },
    });
    await app.listen({ host: config.HOST, port: config.PORT });
  } catch (err) {
    await consumer?.stop().catch(() => undefined);
    await app.close().catch(() => undefined);
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    if (ownDb) await db.close().catch(() => undefined);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.PORT;
  const url = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${port}`;
  logger.info({ url, group: config.SCC_INVENTORY_GROUP_ID, topic: names.sapReports, database: db.kind }, 'scc-inventory started');

  return {
    app,
    url,
    db,
    kafka,
    async stop() {
      await app.close();
      await consumer?.stop();
      await producer.disconnect().catch(() => undefined);
      await admin.disconnect().catch(() => undefined);
      if (ownDb) await db.close();
    },
  };
}

runService({ name: CONSUMER_NAME, moduleUrl: import.meta.url, loadConfig: () => loadSccInventoryConfig(), start: (config, logger) => startSccInventory(config, { logger }) });
