// `npm run replay -- <consumer> [options]`: rebuilds a consumer's state from the raw topics.
//
//   npm run replay -- scc-inventory                      rebuild the live inventory from the topic and swap it in
//   npm run replay -- scc-inventory --as-of <ISO time>   build the inventory as it was then, as a named snapshot
//                                     [--snapshot <name>]
//        scc-inventory options: --wait <seconds>  how long one registry/database outage is waited out (default 300)
//                               --skip-undecodable  leave out records that cannot be decoded instead of aborting
//   npm run replay -- provisioning [--from <ISO time>]   rewind the consumer group (stop its instances first)
//   npm run replay -- sheet-export [--from <ISO time>]
//   npm run replay -- trail [--from <ISO time>]          rewind the trail's group (its projection is idempotent)
//
// Progress goes to stderr, the summary (JSON) to stdout. See docs/replay.md.
import 'dotenv/config';
import { parseArgs } from 'node:util';
import { kafkaConfigShape, loadConfig, ConfigError } from '../services/shared/config.js';
import { createKafka } from '../services/shared/kafka.js';
import { createLogger } from '../services/shared/logger.js';
import { GroupNotEmptyError, rewindGroup } from '../services/shared/replay.js';
import { rawTopics, topicNames } from '../services/shared/topics.js';
import { EnvelopeCodec } from '../services/shared/envelope.js';
import { localBrokerHint, withLocalDefaults } from './cli.js';

const USAGE = `usage:
  npm run replay -- scc-inventory [--as-of <ISO time> [--snapshot <name>]] [--wait <seconds>] [--skip-undecodable]
  npm run replay -- provisioning [--from <ISO time>]
  npm run replay -- sheet-export [--from <ISO time>]
  npm run replay -- trail [--from <ISO time>]`;

function fail(message: string, code = 2): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

function parseTime(name: string, value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) fail(`--${name}: not an ISO time: "${value}" (e.g. 2026-01-31T12:00:00Z)`);
  return d;
}

/** Step 1 of a provisioning, sheet-export or trail replay is Ctrl-C on npm start, which stops its broker too. */
const REPLAY_WITHOUT_NPM_START =
  'Start it alone with `npm run infra:up`, run the replay again, then `npm start` (it uses that broker and leaves it running; `npm run infra:down` stops it).';

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      'as-of': { type: 'string' }, from: { type: 'string' }, snapshot: { type: 'string' }, wait: { type: 'string' },
      'skip-undecodable': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const target = positionals[0];
  if (values.help || !target) fail(USAGE, values.help ? 0 : 2);
  const env = withLocalDefaults(process.env);
  const logger = createLogger({ service: `replay-${target}`, level: env.LOG_LEVEL ?? 'warn', destination: process.stderr as never });

  if (target === 'scc-inventory') {
    if (values.from) fail('scc-inventory always rebuilds from the first record (its projection needs every report); use --as-of for a point in time');
    const asOf = parseTime('as-of', values['as-of']);
    if (values.snapshot && !asOf) fail('--snapshot names an --as-of snapshot; give --as-of too');
    const waitSeconds = values.wait === undefined ? undefined : Number(values.wait);
    if (waitSeconds !== undefined && !(Number.isFinite(waitSeconds) && waitSeconds >= 0)) fail(`--wait: not a number of seconds: "${values.wait}"`);
    const { loadSccInventoryConfig } = await import('../services/scc-inventory/config.js');
    const { openInventoryDb } = await import('../services/scc-inventory/main.js');
    const { rebuild } = await import('../services/scc-inventory/rebuild.js');
    const { CONSUMER_NAME } = await import('../services/scc-inventory/config.js');
    const config = loadSccInventoryConfig(env);
    const db = await openInventoryDb(config).catch((err: unknown) =>
      fail(`cannot open the inventory database: ${err instanceof Error ? err.message : String(err)}` +
        (config.DATABASE_URL ? '' : '\n(the embedded PGlite database can be open in one process only: stop the scc-inventory service, replay, start it again)'), 1));
    try {
      const result = await rebuild({
        db,
        kafka: createKafka(config, logger, 'replay'),
        codec: EnvelopeCodec.create(config.SCHEMA_REGISTRY_URL, { username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD }),
        topic: topicNames(config.KAFKA_TOPIC_PREFIX).sapReports,
        consumer: CONSUMER_NAME,
        partTtlMs: config.SCC_PART_TTL_MS,
        logger,
        asOf,
        snapshotName: values.snapshot,
        outageWaitMs: waitSeconds === undefined ? undefined : waitSeconds * 1000,
        skipUndecodable: values['skip-undecodable'] ?? false,
        onProgress: (p) => process.stderr.write(`scc-inventory ${p.phase}: ${p.done}/${p.total} records (${p.ratePerSecond.toFixed(0)}/s)\n`),
      });
      process.stdout.write(`${JSON.stringify({ consumer: 'scc-inventory', mode: asOf ? 'snapshot' : 'rebuild', ...result }, null, 2)}\n`);
      if (result.snapshot) process.stderr.write(`snapshot "${result.snapshot}" is served at /snapshots/${encodeURIComponent(result.snapshot)}/systems\n`);
    } finally {
      await db.close();
    }
    return;
  }

  if (target === 'provisioning' || target === 'sheet-export') {
    if (values.wait || values['skip-undecodable']) fail(`--wait and --skip-undecodable apply to the scc-inventory rebuild only`);
    if (values['as-of'] || values.snapshot) fail(`${target} has no snapshots; use --from <ISO time> to replay from a point in time`);
    const from = parseTime('from', values.from);
    const cfg = loadConfig(kafkaConfigShape, env);
    const names = topicNames(cfg.KAFKA_TOPIC_PREFIX);
    const groupId = target === 'provisioning'
      ? env.PROVISIONING_GROUP_ID || 'switchboard-provisioning'
      : env.SHEET_EXPORT_GROUP_ID || 'switchboard-sheet-export';
    const topics = target === 'provisioning' ? [names.nspsEvents] : [names.nspsEvents, names.onceEvents, names.onceUsage];
    const rewound = await rewindGroup({ kafka: createKafka(cfg, logger, 'replay'), groupId, topics, from });
    for (const r of rewound) process.stderr.write(`${r.topic}[${r.partition}]: ${r.previous} -> ${r.offset}\n`);
    const records = rewound.reduce((n, r) => n + Math.max(0, Number(r.previous) - Number(r.offset)), 0);
    process.stdout.write(`${JSON.stringify({ consumer: target, groupId, from: from?.toISOString() ?? 'beginning', partitions: rewound.length, recordsToReread: records }, null, 2)}\n`);
    process.stderr.write(`Group ${groupId} rewound. Start ${target} again: it re-reads from there, and its idempotency records skip effects that already happened.\n`);
    return;
  }

  if (target === 'trail') {
    // The trail's rows are keyed by Kafka position and by delivery, so re-reading adds nothing that is there
    // and brings back what is missing (rows older than TRAIL_RETENTION_DAYS are not indexed again).
    if (values.wait || values['skip-undecodable'] || values['as-of'] || values.snapshot) fail('trail takes only --from <ISO time>');
    const from = parseTime('from', values.from);
    const cfg = loadConfig(kafkaConfigShape, env);
    const names = topicNames(cfg.KAFKA_TOPIC_PREFIX);
    const groupId = env.TRAIL_GROUP_ID || 'switchboard-trail';
    const topics = [...rawTopics(names), names.quarantine, names.outcomes];
    const rewound = await rewindGroup({ kafka: createKafka(cfg, logger, 'replay'), groupId, topics, from });
    for (const r of rewound) process.stderr.write(`${r.topic}[${r.partition}]: ${r.previous} -> ${r.offset}\n`);
    const records = rewound.reduce((n, r) => n + Math.max(0, Number(r.previous) - Number(r.offset)), 0);
    process.stdout.write(`${JSON.stringify({ consumer: 'trail', groupId, from: from?.toISOString() ?? 'beginning', partitions: rewound.length, recordsToReread: records }, null, 2)}\n`);
    process.stderr.write(`Group ${groupId} rewound. Start the trail again: it re-reads from there; rows it already has are not written twice.\n`);
    return;
  }

  fail(`unknown consumer "${target}"\n${USAGE}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    if (err instanceof GroupNotEmptyError || err instanceof ConfigError) fail(err.message, 1);
    const message = err instanceof Error ? (process.env.LOG_LEVEL === 'debug' ? err.stack ?? err.message : err.message) : String(err);
    fail(`replay failed: ${message}${localBrokerHint(message, REPLAY_WITHOUT_NPM_START)}`, 1);
  },
);
