// Entry of the provisioning service: wires config, Kafka, PostgreSQL/PGlite, the WTL client and the
// consumer runner. `tsx services/provisioning/main.ts` runs it; tests call startProvisioning in-process.
import { runService } from '../shared/entry.js';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { Counter, Gauge } from 'prom-client';
import { runConsumer } from '../shared/consumer.js';
import { logWaitingForPostgres, openDb, serviceConnections, type Db } from '../shared/db.js';
import { EnvelopeCodec } from '../shared/envelope.js';
import { outcomeTarget } from '../shared/outcome.js';
import { kafkaReachable, startOpsServer } from '../shared/http.js';
import { createKafka, createProducer } from '../shared/kafka.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createRecordWriter, type RecordWriter } from '../shared/record-writer.js';
import { createMetrics, METRIC_PREFIX, type Metrics } from '../shared/metrics.js';
import { ensureTopics, topicNames } from '../shared/topics.js';
import { inflightLeaseMs, loadProvisioningConfig, mappingSettings, type ProvisioningConfig } from './config.js';
import { createHandler } from './handler.js';
import { CONSUMER, createStore, migrateProvisioning } from './store.js';
import { createWtlClient } from './wtl-client.js';

export interface ProvisioningDeps {
  logger?: Logger;
  metrics?: Metrics;
  /** An already open database (tests); otherwise opened from DATABASE_URL / PGlite and closed on stop. */
  db?: Db;
}

export interface RunningProvisioning {
  /** The ops server's port (useful when PORT=0). */
  port: number;
  metrics: Metrics;
  stop(): Promise<void>;
}

export async function startProvisioning(cfg: ProvisioningConfig, deps: ProvisioningDeps = {}): Promise<RunningProvisioning> {
  const logger = deps.logger ?? createLogger({ service: CONSUMER, level: cfg.LOG_LEVEL });
  const metrics = deps.metrics ?? createMetrics(CONSUMER);
  const names = topicNames(cfg.KAFKA_TOPIC_PREFIX);
  const topics = [names.nspsEvents, names.redrive(CONSUMER)];
  const deadLetterTopic = names.deadLetter(CONSUMER);

  const kafka = createKafka(cfg, logger, CONSUMER);
  await ensureTopics(kafka, cfg, [...topics, deadLetterTopic, names.outcomes]);
  const db = deps.db ?? (await openDb({ url: cfg.DATABASE_URL, dataDir: join(cfg.DATA_DIR, CONSUMER, 'pglite'), schema: cfg.DB_SCHEMA, ...serviceConnections(CONSUMER), onWaiting: logWaitingForPostgres(logger) }));
  await migrateProvisioning(db);

  const producer = await createProducer(kafka);
  // The trail's outcomes are one record per event, and in an operator replay (every event already provisioned)
  // writing them was a third of its CPU on kafkajs: they go through the record writer ingress uses (KAFKA_PRODUCER_CLIENT, docs/provisioning.md).
  const outcomeWriter = await createRecordWriter(cfg, logger, `${CONSUMER}-outcomes`);
  const admin = kafka.admin();
  await admin.connect();
  const wtl = createWtlClient({
    baseUrl: cfg.WTL_BASE_URL,
    syncPath: cfg.WTL_SYNC_PATH,
    timeoutMs: cfg.WTL_TIMEOUT_MS,
    apiKey: cfg.WTL_API_KEY,
    authHeader: cfg.WTL_AUTH_HEADER,
    idempotencyHeader: cfg.WTL_IDEMPOTENCY_HEADER,
    logger,
    metrics,
  });
  if (wtl.dryRun) logger.warn('WTL_BASE_URL is not set: dry run, requests are logged and treated as applied');

  const skippedByType = new Counter({
    name: `${METRIC_PREFIX}provisioning_skipped_total`,
    help: 'NSPS events skipped because their event_type has no WTL action',
    labelNames: ['event_type'],
    registers: [metrics.registry],
  });
  const owner = `${CONSUMER}-${process.pid}-${randomUUID().slice(0, 8)}`;
  const store = createStore(db);
  const handle = createHandler({
    settings: mappingSettings(cfg),
    store,
    wtl,
    logger,
    skippedByType,
    owner,
    leaseMs: inflightLeaseMs(cfg),
  });

  // When this process began its first batch with records and when it last ended one or had offsets committed
  // (commits go out behind the work, so the last commit ends a replay). For an operator, the second says the
  // consumer is still moving; for the benchmark, the two bound a replay from its first record to its last
  // commit, without the process start-up and group join (a scrape after the replay reads them, so polling
  // costs the run nothing). The batch events are attached as runConsumer returns: the first batch needs a
  // fetch answer, which cannot arrive before.
  const nowSeconds = (): number => (performance.timeOrigin + performance.now()) / 1000;
  const batchTimes = {
    first: new Gauge({ name: `${METRIC_PREFIX}consumer_first_batch_started_seconds`, help: 'Unix time (s) this process began handling its first batch of records', registers: [metrics.registry] }),
    last: new Gauge({ name: `${METRIC_PREFIX}consumer_last_batch_ended_seconds`, help: 'Unix time (s) this process last ended handling a batch of records or had their offsets committed, whichever came later', registers: [metrics.registry] }),
  };

  const consumer = await runConsumer({
    name: CONSUMER,
    groupId: cfg.PROVISIONING_GROUP_ID,
    topics,
    kafka,
    codec: EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL, { username: cfg.SCHEMA_REGISTRY_USERNAME, password: cfg.SCHEMA_REGISTRY_PASSWORD }),
    outcomes: { ...outcomeTarget(cfg, names.outcomes), producer: outcomeProducer(outcomeWriter, cfg.KAFKA_PRODUCE_TIMEOUT_MS) },
    producer,
    deadLetterTopic,
    logger,
    metrics,
    handle,
    // A rewound group re-reads events it already provisioned: one query per fetched batch skips them.
    alreadyProcessed: (eventIds) => store.alreadyProcessed(eventIds),
    onOffsetsCommitted: () => batchTimes.last.set(nowSeconds()),
    keyConcurrency: cfg.PROVISIONING_KEY_CONCURRENCY,
    partitionsConsumedConcurrently: cfg.PROVISIONING_PARTITION_CONCURRENCY,
    sessionTimeoutMs: cfg.PROVISIONING_SESSION_TIMEOUT_MS,
    retry: { maxAttempts: cfg.PROVISIONING_RETRY_MAX_ATTEMPTS, initialDelayMs: cfg.PROVISIONING_RETRY_INITIAL_MS, maxDelayMs: cfg.PROVISIONING_RETRY_MAX_MS },
  });

  let firstSeen = false;
  const { START_BATCH_PROCESS, END_BATCH_PROCESS } = consumer.consumer.events;
  consumer.consumer.on(START_BATCH_PROCESS, () => {
    if (firstSeen) return;
    firstSeen = true;
    batchTimes.first.set(nowSeconds());
  });
  consumer.consumer.on(END_BATCH_PROCESS, () => batchTimes.last.set(nowSeconds()));

  const ops = await startOpsServer({
    host: cfg.HOST,
    port: cfg.PORT,
    metrics,
    ready: async () => ({
      kafka: await kafkaReachable(admin),
      database: await db.query('SELECT 1').then(() => true, () => false),
      // false while records wait for the registry, the broker, the database or WTL to come back
      infrastructure: !consumer.waitingOnInfrastructure(),
    }),
  });
  const address = ops.server.address();
  const port = typeof address === 'object' && address ? address.port : cfg.PORT;
  logger.info({ port, owner, topics, dry_run: wtl.dryRun }, 'provisioning started');

  let stopped = false;
  return {
    port,
    metrics,
    async stop() {
      if (stopped) return;
      stopped = true;
      await ops.close();
      await consumer.stop(); // waits for the running batch, which commits its offsets
      await wtl.close();
      await outcomeWriter.close();
      await producer.disconnect();
      await admin.disconnect();
      if (!deps.db) await db.close();
    },
  };
}

/** The outcome publisher's view of a record writer: kafkajs's send() shape, resolved once every record is acknowledged. */
function outcomeProducer(writer: RecordWriter, timeoutMs: number): Pick<Producer, 'send'> {
  return {
    async send({ topic, messages }) {
      await writer.write(messages.map((m) => ({ topic, key: String(m.key), value: m.value as Buffer })), { timeoutMs });
      return [];
    },
  };
}

runService({ name: CONSUMER, moduleUrl: import.meta.url, loadConfig: () => loadProvisioningConfig(), start: (cfg, logger) => startProvisioning(cfg, { logger }) });
