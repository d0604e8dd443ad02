// One replay contender in its own process, so its memory is its own: reads a topic from the
// beginning in a fresh consumer group until it has seen `expected` records, then writes
// {events, ms} as JSON to `resultFile`. Modes:
//   bare       kafkajs consumer, eachBatch that does nothing (the baseline)
//   framework  services/shared runConsumer with a handler that does nothing (decode, per-key
//              ordering, offset commits: what every Switchboard consumer pays before its own work)
//   scc        services/scc-inventory rebuild() into PostgreSQL (the operator's replay command)
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { runConsumer } from '../../services/shared/consumer.js';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import { createProducer } from '../../services/shared/kafka.js';
import { createLogger } from '../../services/shared/logger.js';
import { createMetrics } from '../../services/shared/metrics.js';
import { finishReplayWorker, type WorkerOutcome } from './result.js';

interface Args {
  mode: 'bare' | 'framework' | 'scc';
  brokers: string;
  registryUrl: string;
  topic: string;
  expected: number;
  resultFile: string;
  dbUrl?: string;
  dbSchema?: string;
}

const args = JSON.parse(process.argv[2]!) as Args;
const kafka = new Kafka({ clientId: `bench-replay-${args.mode}`, brokers: args.brokers.split(','), logLevel: logLevel.NOTHING });
const logger = createLogger({ service: `bench-replay-${args.mode}`, level: 'warn' });

async function bare(): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-bare-${randomUUID()}`, maxBytesPerPartition: 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics: [args.topic], fromBeginning: true });
  let seen = 0;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    consumer.run({
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= args.expected) resolve();
      },
    }).catch(reject);
  });
  const ms = performance.now() - started;
  await consumer.disconnect();
  return ms;
}

async function framework(): Promise<number> {
  const codec = EnvelopeCodec.create(args.registryUrl);
  const producer = await createProducer(kafka);
  let seen = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const started = performance.now();
  const running = await runConsumer({
    name: 'bench-framework',
    groupId: `bench-framework-${randomUUID()}`,
    topics: [args.topic],
    kafka,
    codec,
    producer,
    deadLetterTopic: `${args.topic}.bench-dlq`,
    logger,
    metrics: createMetrics('bench-framework'),
    handle: async () => {
      if (++seen >= args.expected) done();
      return 'processed';
    },
  });
  await finished;
  const ms = performance.now() - started;
  await running.stop();
  await producer.disconnect();
  return ms;
}

async function scc(): Promise<WorkerOutcome> {
  const { openDb } = await import('../../services/shared/db.js');
  const { migrateInventory } = await import('../../services/scc-inventory/main.js');
  const { rebuild } = await import('../../services/scc-inventory/rebuild.js');
  const db = await openDb({ url: args.dbUrl, schema: args.dbSchema, poolSize: 8 });
  await migrateInventory(db);
  const codec = EnvelopeCodec.create(args.registryUrl);
  const started = performance.now();
  const result = await rebuild({ db, kafka, codec, topic: args.topic, consumer: 'scc-inventory', partTtlMs: 3_600_000, logger });
  const ms = performance.now() - started;
  // What the rebuild wrote (after the clock stopped): the scenario checks it against what the dataset promises.
  const counts = await db.query<{ systems: string; history: string }>('SELECT (SELECT count(*) FROM systems) AS systems, (SELECT count(*) FROM system_history) AS history');
  await db.close();
  const facts = { systems: Number(counts.rows[0]!.systems), historyRows: Number(counts.rows[0]!.history) };
  // Where the rebuild's time went (its own phase clock), for the log beside the result.
  console.error(JSON.stringify({ seconds: result.seconds, phases: result.phases, ...facts }));
  if (result.records < args.expected) throw new Error(`rebuild read ${result.records} records, expected ${args.expected}`);
  return { ms, facts };
}

const run = { bare, framework, scc }[args.mode];
finishReplayWorker(run(), args.expected, args.resultFile);
