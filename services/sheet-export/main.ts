// Entry point of the sheet-export consumer: wires config, database ledger, destination (Google Sheets
// or CSV files), the batching exporter and the ops server. `tsx services/sheet-export/main.ts` runs it.
import { runService } from '../shared/entry.js';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { runConsumer, type RunningConsumer } from '../shared/consumer.js';
import { logWaitingForPostgres, openDb, serviceConnections, type Db } from '../shared/db.js';
import { EnvelopeCodec } from '../shared/envelope.js';
import { outcomeTarget } from '../shared/outcome.js';
import { errorMessage } from '../shared/errors.js';
import { kafkaReachable, startOpsServer } from '../shared/http.js';
import { createKafka, createProducer } from '../shared/kafka.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { createMetrics, type Metrics } from '../shared/metrics.js';
import { ensureTopics, topicNames } from '../shared/topics.js';
import { createBatcher } from './batcher.js';
import { loadSheetExportConfig, type SheetExportConfig } from './config.js';
import { createCsvSink } from './csv-sink.js';
import { createBatchHandler, type TabNames } from './exporter.js';
import { createGoogleSink } from './google-sink.js';
import { CONSUMER, openLedger } from './ledger.js';
import { createSheetMetrics } from './metrics.js';
import { HEADERS, ROW_KINDS, type RowKind } from './rows.js';
import type { Sink } from './sink.js';
import { createTabWriter } from './writer.js';

export interface SheetExportDeps {
  logger?: Logger;
  metrics?: Metrics;
}

export interface RunningSheetExport {
  stop(): Promise<void>;
  /** The ops server's port (useful with PORT=0). */
  port: number;
  sink: Sink;
  metrics: Metrics;
}

export async function startSheetExport(config: SheetExportConfig, deps: SheetExportDeps = {}): Promise<RunningSheetExport> {
  const logger = deps.logger ?? createLogger({ service: CONSUMER, level: config.LOG_LEVEL });
  const metrics = deps.metrics ?? createMetrics(CONSUMER);
  const cleanup: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const step of cleanup.reverse()) await step().catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'stop step failed'));
    cleanup.length = 0;
  };

  try {
    const db: Db = await openDb({ url: config.DATABASE_URL, dataDir: join(config.DATA_DIR, CONSUMER, 'pglite'), schema: config.DB_SCHEMA, ...serviceConnections(CONSUMER), onWaiting: logWaitingForPostgres(logger) });
    cleanup.push(() => db.close());
    const ledger = await openLedger(db);

    const target = config.google ? 'google-sheets' : 'csv';
    const sheetMetrics = createSheetMetrics(metrics, target);
    const sink: Sink = config.google
      ? createGoogleSink({
          spreadsheetId: config.google.spreadsheetId,
          credentials: config.google.credentials,
          rootUrl: config.GOOGLE_SHEETS_ROOT_URL,
          timeoutMs: config.GOOGLE_SHEETS_TIMEOUT_MS,
          onThrottled: () => sheetMetrics.throttled.inc({ target }),
        })
      : createCsvSink(join(config.DATA_DIR, 'sheets'));
    logger.info(
      config.google ? { target, spreadsheet_id: config.google.spreadsheetId, client_email: config.google.credentials.client_email } : { target, dir: join(config.DATA_DIR, 'sheets') },
      'sheet export destination',
    );

    const tabs: TabNames = { nsps: config.SHEETS_TAB_NSPS, onceEvents: config.SHEETS_TAB_1NCE_EVENTS, onceUsage: config.SHEETS_TAB_1NCE_USAGE };
    const headerOf = new Map<string, string[]>(ROW_KINDS.map((k: RowKind) => [tabs[k], HEADERS[k]]));
    const writer = createTabWriter({ sink, ledger, metrics: sheetMetrics });
    // Settle what a previous run left in flight before anything new is appended. If the destination is
    // unreachable now, each write reconciles its tab first anyway.
    await writer.reconcileAll().catch((err: unknown) => logger.warn({ err: errorMessage(err) }, 'start-up reconciliation deferred'));

    const batcher = createBatcher({
      maxRows: config.SHEETS_BATCH_MAX_ROWS,
      maxWaitMs: config.SHEETS_BATCH_MAX_WAIT_MS,
      minIntervalMs: config.google ? config.SHEETS_MIN_CALL_INTERVAL_MS : 0,
      flush: (tab, entries) => writer.write(tab, headerOf.get(tab)!, entries),
    });

    const kafka = createKafka(config, logger, CONSUMER);
    const names = topicNames(config.KAFKA_TOPIC_PREFIX);
    const topics = [names.nspsEvents, names.onceEvents, names.onceUsage, names.redrive(CONSUMER)];
    await ensureTopics(kafka, config, [...topics, names.deadLetter(CONSUMER), names.outcomes]);
    const producer = await createProducer(kafka);
    cleanup.push(() => producer.disconnect());
    const admin = kafka.admin();
    await admin.connect();
    cleanup.push(() => admin.disconnect());

    const consumer: RunningConsumer = await runConsumer({
      name: CONSUMER,
      groupId: config.SHEET_EXPORT_GROUP_ID,
      topics,
      kafka,
      codec: EnvelopeCodec.create(config.SCHEMA_REGISTRY_URL, { username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD }),
      outcomes: outcomeTarget(config, names.outcomes),
      producer,
      deadLetterTopic: names.deadLetter(CONSUMER),
      logger,
      metrics,
      handleBatch: createBatchHandler({ batcher, tabs, logger }),
      // Enough partitions at once that their rows meet in one append.
      partitionsConsumedConcurrently: Math.max(3, config.KAFKA_TOPIC_PARTITIONS),
      sessionTimeoutMs: config.SHEET_EXPORT_SESSION_TIMEOUT_MS,
    });
    // The consumer stops first (its last batch finishes and commits), then the batcher drains.
    cleanup.push(() => batcher.close());
    cleanup.push(() => consumer.stop());

    const ops: FastifyInstance = await startOpsServer({
      host: config.HOST,
      port: config.PORT,
      metrics,
      // 'infrastructure' is false while records wait for the registry, the broker or the Sheets API.
      ready: async () => ({ kafka: await kafkaReachable(admin), infrastructure: !consumer.waitingOnInfrastructure() }),
    });
    cleanup.push(() => ops.close());
    const address = ops.server.address();
    const port = typeof address === 'object' && address ? address.port : config.PORT;
    logger.info({ port, group: config.SHEET_EXPORT_GROUP_ID, topics }, 'sheet export running');

    return { stop: stopAll, port, sink, metrics };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

runService({ name: CONSUMER, moduleUrl: import.meta.url, loadConfig: () => loadSheetExportConfig(), start: (config, logger) => startSheetExport(config, { logger }) });
