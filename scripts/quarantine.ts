// `npm run quarantine -- list [--json] [--reason R]` and `npm run quarantine -- redrive [--event-id ID ...] [--dry-run]`.
// Lists the 1NCE records ingress could not classify (exact bytes, reason, request, position), or
// re-classifies their stored bytes with the classification this checkout runs and writes those
// that now classify to their raw topic (acks=-1), under the event_id they would have had on receipt:
// consumers are idempotent on it, so redriving twice applies nothing twice. Records still
// unclassifiable stay in quarantine and are reported. Config from the environment like the services
// (KAFKA_* and SCHEMA_REGISTRY_URL).
import { pathToFileURL } from 'node:url';
import 'dotenv/config';
import { kafkaConfigShape, loadConfig, env, ConfigError } from '../services/shared/config.js';
import { EnvelopeCodec } from '../services/shared/envelope.js';
import { createKafka, createProducer } from '../services/shared/kafka.js';
import { createLogger } from '../services/shared/logger.js';
import { topicNames } from '../services/shared/topics.js';
import { planRedrive, readQuarantine, writeRedrive, type QuarantinedRecord } from '../services/ingress/quarantine.js';
import { errorMessage } from '../services/shared/errors.js';
import { localBrokerHint, START_THE_BROKER, wantsHelp, withLocalDefaults } from './cli.js';

const USAGE = `usage:
  npm run quarantine -- list [--json] [--reason REASON]
  npm run quarantine -- redrive [--event-id ID ...] [--dry-run]
reasons: not_an_object, no_id, unknown_shape, ambiguous_shape`;

export class UsageError extends Error {}

export interface QuarantineCommand {
  action: 'list' | 'redrive';
  eventIds: string[];
  reason: string | undefined;
  json: boolean;
  dryRun: boolean;
}

export function parseQuarantineArgs(argv: string[]): QuarantineCommand {
  const [action, ...rest] = argv;
  if (action !== 'list' && action !== 'redrive') throw new UsageError(`unknown command "${action ?? ''}"`);
  const cmd: QuarantineCommand = { action, eventIds: [], reason: undefined, json: false, dryRun: false };
  const value = (i: number, name: string): string => {
    const v = rest[i];
    if (!v || v.startsWith('--')) throw new UsageError(`${name} needs a value`);
    return v;
  };
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--json') cmd.json = true;
    else if (arg === '--dry-run') cmd.dryRun = true;
    else if (arg === '--event-id') cmd.eventIds.push(value(++i, '--event-id'));
    else if (arg.startsWith('--event-id=')) cmd.eventIds.push(arg.slice('--event-id='.length));
    else if (arg === '--reason') cmd.reason = value(++i, '--reason');
    else if (arg.startsWith('--reason=')) cmd.reason = arg.slice('--reason='.length);
    else throw new UsageError(`unknown argument "${arg}"`);
  }
  if (action === 'list' && (cmd.eventIds.length > 0 || cmd.dryRun)) throw new UsageError('--event-id and --dry-run are for redrive');
  if (action === 'redrive' && (cmd.json || cmd.reason !== undefined)) throw new UsageError('--json and --reason are for list');
  return cmd;
}

/** The first characters of a payload on one line, for a table cell. */
export function preview(payload: Buffer, max = 60): string {
  const text = payload.subarray(0, max * 4).toString('utf8').replace(/\s+/g, ' ');
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function nowText(r: QuarantinedRecord): string {
  return r.now.ok ? `→ ${r.now.record.eventId}` : r.now.reason;
}

export function formatQuarantined(records: QuarantinedRecord[]): string {
  const header = ['RECEIVED_AT', 'REQUEST_ID', 'POS', 'REASON', 'NOW', 'EVENT_ID', 'PREVIEW'];
  const rows = records.map((r) => [
    new Date(r.envelope.received_at).toISOString(), r.envelope.request_id, r.envelope.attributes.index ?? '', r.envelope.attributes.reason ?? '', nowText(r), r.envelope.event_id, preview(r.envelope.payload),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]!) : c)).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function quarantinedJson(r: QuarantinedRecord): Record<string, unknown> {
  const e = r.envelope;
  return {
    event_id: e.event_id, reason: e.attributes.reason ?? null, detail: e.attributes.detail ?? null, index: Number(e.attributes.index ?? 0),
    request_id: e.request_id, received_at: new Date(e.received_at).toISOString(), content_type: e.content_type,
    partition: r.partition, offset: r.offset,
    now: r.now.ok ? { classifies: true, kind: r.now.record.kind, event_id: r.now.record.eventId } : { classifies: false, reason: r.now.reason },
    payload: e.payload.toString('utf8'),
  };
}

/** Runs one command; output lines go to `out`. Returns the process exit code. */
export async function runQuarantine(argv: string[], source: Record<string, string | undefined>, out: (line: string) => void): Promise<number> {
  const cmd = parseQuarantineArgs(argv);
  const cfg = loadConfig({ ...kafkaConfigShape, LOG_LEVEL: env.level() }, source);
  const logger = createLogger({ service: 'quarantine', level: cfg.LOG_LEVEL === 'info' ? 'warn' : cfg.LOG_LEVEL, destination: process.stderr });
  const kafka = createKafka(cfg, logger, 'quarantine');
  const codec = EnvelopeCodec.create(cfg.SCHEMA_REGISTRY_URL, { username: cfg.SCHEMA_REGISTRY_USERNAME, password: cfg.SCHEMA_REGISTRY_PASSWORD });
  const names = topicNames(cfg.KAFKA_TOPIC_PREFIX);
  const records = await readQuarantine(kafka, codec, names.quarantine);

  if (cmd.action === 'list') {
    const shown = cmd.reason === undefined ? records : records.filter((r) => r.envelope.attributes.reason === cmd.reason);
    if (cmd.json) for (const r of shown) out(JSON.stringify(quarantinedJson(r)));
    else out(shown.length === 0 ? `no quarantined records${cmd.reason ? ` with reason ${cmd.reason}` : ''} (${names.quarantine})` : formatQuarantined(shown));
    return 0;
  }

  const plan = planRedrive(records, names, cmd.eventIds.length > 0 ? new Set(cmd.eventIds) : undefined);
  for (const id of plan.missing) out(`not in the quarantine topic: ${id}`);
  if (!cmd.dryRun && plan.redrive.length > 0) {
    const producer = await createProducer(kafka);
    try {
      await writeRedrive(producer, codec, plan.redrive, cfg.KAFKA_PRODUCE_TIMEOUT_MS);
    } finally {
      await producer.disconnect();
    }
  }
  const verb = cmd.dryRun ? 'would redrive' : 'redriven';
  for (const item of plan.redrive) {
    const e = item.from.envelope;
    out(`${verb} ${e.event_id} (request ${e.request_id}, position ${e.attributes.index ?? '?'}) → ${item.topic} as ${item.envelope.event_id}`);
  }
  for (const r of plan.remaining) {
    out(`still quarantined ${r.envelope.event_id} (request ${r.envelope.request_id}, position ${r.envelope.attributes.index ?? '?'}): ${r.now.ok ? '' : `${r.now.reason}: ${r.now.error}`}`);
  }
  out(`${plan.redrive.length} record(s) ${cmd.dryRun ? 'would be' : ''}${cmd.dryRun ? ' ' : ''}written to their raw topics; ${plan.remaining.length} still unclassifiable, left in ${names.quarantine}`);
  return plan.missing.length > 0 ? 2 : 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href && wantsHelp(process.argv.slice(2))) {
  process.stdout.write(`${USAGE}\n`);
} else if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runQuarantine(process.argv.slice(2), withLocalDefaults(process.env), (line) => process.stdout.write(`${line}\n`)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof UsageError) process.stderr.write(`${err.message}\n${USAGE}\n`);
      else if (err instanceof ConfigError) process.stderr.write(`${err.message}\n`);
      else process.stderr.write(`quarantine failed: ${errorMessage(err)}${localBrokerHint(errorMessage(err), START_THE_BROKER)}\n`);
      process.exit(1);
    },
  );
}
