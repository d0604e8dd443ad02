// `npm run dlq -- list <consumer>` and `npm run dlq -- redrive <consumer> [--event-id ID ...]`.
// Lists a consumer's dead letters, or writes them (all, or the chosen event ids) to the consumer's
// redrive topic, which only that consumer reads. Config from the environment like the services
// (KAFKA_* and SCHEMA_REGISTRY_URL); works for any consumer name.
import { pathToFileURL } from 'node:url';
import 'dotenv/config';
import { kafkaConfigShape, loadConfig, env, ConfigError } from '../services/shared/config.js';
import { createKafka, createProducer } from '../services/shared/kafka.js';
import { createLogger } from '../services/shared/logger.js';
import { readDeadLetters, redrive, type DeadLetter } from '../services/shared/dead-letter.js';
import { ensureTopics, topicNames } from '../services/shared/topics.js';
import { errorMessage } from '../services/shared/errors.js';
import { localBrokerHint, START_THE_BROKER, wantsHelp, withLocalDefaults } from './cli.js';

const USAGE = `usage:
  npm run dlq -- list <consumer> [--json]
  npm run dlq -- redrive <consumer> [--event-id ID ...]
consumers: provisioning, sheet-export, scc-inventory (any consumer service name)`;

export class UsageError extends Error {}

export interface DlqCommand {
  action: 'list' | 'redrive';
  consumer: string;
  eventIds: string[];
  json: boolean;
}

export function parseDlqArgs(argv: string[]): DlqCommand {
  const [action, consumer, ...rest] = argv;
  if (action !== 'list' && action !== 'redrive') throw new UsageError(`unknown command "${action ?? ''}"`);
  if (!consumer || !/^[a-z0-9][a-z0-9-]*$/.test(consumer)) throw new UsageError('a consumer name is required (e.g. provisioning)');
  const eventIds: string[] = [];
  let json = false;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--event-id') {
      const id = rest[++i];
      if (!id) throw new UsageError('--event-id needs a value');
      eventIds.push(id);
    } else if (arg.startsWith('--event-id=')) eventIds.push(arg.slice('--event-id='.length));
    else throw new UsageError(`unknown argument "${arg}"`);
  }
  if (action === 'list' && eventIds.length > 0) throw new UsageError('--event-id is for redrive');
  return { action, consumer, eventIds, json };
}

export function formatLetters(letters: DeadLetter[]): string {
  const header = ['DEAD_LETTERED_AT', 'EVENT_ID', 'ATTEMPTS', 'ORIGINAL', 'ERROR', 'REASON'];
  const rows = letters.map((l) => [
    l.deadLetteredAt, l.eventId || '(undecodable)', String(l.attempts), `${l.originalTopic}/${l.originalPartition}@${l.originalOffset}`, l.errorClass, l.reason.replace(/\s+/g, ' '),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

/** Runs one command; output lines go to `out`. Returns the process exit code. */
export async function runDlq(argv: string[], source: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const cmd = parseDlqArgs(argv);
  const cfg = loadConfig({ ...kafkaConfigShape, LOG_LEVEL: env.level() }, source);
  const logger = createLogger({ service: 'dlq', level: cfg.LOG_LEVEL === 'info' ? 'warn' : cfg.LOG_LEVEL, destination: process.stderr });
  const kafka = createKafka(cfg, logger, 'dlq');
  const names = topicNames(cfg.KAFKA_TOPIC_PREFIX);
  const letters = await readDeadLetters(kafka, names.deadLetter(cmd.consumer));

  if (cmd.action === 'list') {
    if (cmd.json) {
      for (const l of letters) {
        const { value: _v, headers: _h, ...rest } = l;
        out(JSON.stringify(rest));
      }
    } else {
      out(letters.length === 0 ? `no dead letters for ${cmd.consumer} (${names.deadLetter(cmd.consumer)})` : formatLetters(letters));
    }
    return 0;
  }

  const wanted = cmd.eventIds.length > 0 ? new Set(cmd.eventIds) : undefined;
  const missing = cmd.eventIds.filter((id) => !letters.some((l) => l.eventId === id));
  for (const id of missing) out(`not in the dead-letter topic: ${id}`);
  const redriveTopic = names.redrive(cmd.consumer);
  // The consumer creates its redrive topic at start; create it here too so a redrive never fails on it.
  await ensureTopics(kafka, cfg, [redriveTopic]);
  const producer = await createProducer(kafka);
  try {
    const sent = await redrive(producer, letters, redriveTopic, wanted);
    for (const l of sent) out(`redriven ${l.eventId || `(undecodable ${l.dlqPartition}:${l.dlqOffset})`} → ${redriveTopic}`);
    out(`${sent.length} dead letter(s) written to ${redriveTopic}`);
  } finally {
    await producer.disconnect();
  }
  return missing.length > 0 ? 2 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && wantsHelp(process.argv.slice(2))) {
  process.stdout.write(`${USAGE}\n`);
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runDlq(process.argv.slice(2), withLocalDefaults(process.env), (line) => process.stdout.write(`${line}\n`)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof UsageError) process.stderr.write(`${err.message}\n${USAGE}\n`);
      else if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
      else process.stderr.write(`dlq failed: ${errorMessage(err)}${localBrokerHint(errorMessage(err), START_THE_BROKER)}\n`);
      process.exit(1);
    },
  );
}
