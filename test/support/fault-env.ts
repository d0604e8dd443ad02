// What several fault scenarios share: the services' environment on the test stack, waiting for consumer
// groups to catch up, and counting dead letters.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { readDeadLetters } from '../../services/shared/dead-letter.js';
import type { TopicNames } from '../../services/shared/topics.js';
import type { SheetsEmulator } from '../emulators/sheets.js';
import type { WtlEmulator } from '../emulators/wtl.js';
import type { ServiceName, ServiceProcess } from './processes.js';

export interface FaultRun {
  run: string;
  prefix: string;
  secrets: { nsps: string; oncePw: string; sap: string };
  schemas: { provisioning: string; sheets: string; inventory: string };
  groups: Record<'provisioning' | 'sheet-export' | 'scc-inventory', string>;
}

export function faultRun(tag: string): FaultRun {
  const run = `${tag}${Date.now().toString(36)}`;
  return {
    run,
    prefix: `${run}.`,
    secrets: { nsps: `${run}-nsps-token`, oncePw: `${run}-once-pw`, sap: `${run}-sap-secret-0123456789abcdef` },
    schemas: { provisioning: `${run}_prov`, sheets: `${run}_sheets`, inventory: `${run}_inv` },
    groups: { provisioning: `${run}-provisioning`, 'sheet-export': `${run}-sheet-export`, 'scc-inventory': `${run}-scc-inventory` },
  };
}

export interface ServiceEnvs {
  ingress: Record<string, string>;
  provisioning: Record<string, string>;
  'sheet-export': Record<string, string>;
  'scc-inventory': Record<string, string>;
}

/** Environments of the four services for one run, against the given broker and registry. */
export function serviceEnvs(r: FaultRun, opts: { brokers: string; registryUrl: string; wtl: WtlEmulator; sheets: SheetsEmulator }): ServiceEnvs {
  const credsFile = join(mkdtempSync(join(tmpdir(), 'switchboard-faults-sa-')), 'sa.json');
  writeFileSync(credsFile, opts.sheets.serviceAccountJson);
  const base = {
    KAFKA_BROKERS: opts.brokers,
    SCHEMA_REGISTRY_URL: opts.registryUrl,
    KAFKA_TOPIC_PREFIX: r.prefix,
    KAFKA_TOPIC_PARTITIONS: '3',
    DATABASE_URL: process.env.DATABASE_URL!,
    LOG_LEVEL: 'info',
    PROVISIONING_GROUP_ID: r.groups.provisioning,
    SHEET_EXPORT_GROUP_ID: r.groups['sheet-export'],
    SCC_INVENTORY_GROUP_ID: r.groups['scc-inventory'],
  };
  return {
    ingress: {
      ...base, NSPS_API_TOKENS: r.secrets.nsps, ONCE_BASIC_AUTH_USERS: `streamer:${r.secrets.oncePw}`, SAP_JWT_HS256_SECRET: r.secrets.sap,
      KAFKA_PRODUCE_TIMEOUT_MS: '5000', KAFKA_RETRY_AFTER_SECONDS: '1',
    },
    provisioning: {
      ...base, DB_SCHEMA: r.schemas.provisioning, WTL_BASE_URL: opts.wtl.url, WTL_API_KEY: `wtl-${r.run}-key`, WTL_TIMEOUT_MS: '3000',
      PROVISIONING_RETRY_MAX_ATTEMPTS: '4', PROVISIONING_RETRY_MAX_MS: '2000', PROVISIONING_SESSION_TIMEOUT_MS: '10000',
    },
    'sheet-export': {
      ...base, DB_SCHEMA: r.schemas.sheets, GOOGLE_SHEETS_SPREADSHEET_ID: opts.sheets.spreadsheetId, GOOGLE_APPLICATION_CREDENTIALS: credsFile,
      GOOGLE_SHEETS_ROOT_URL: opts.sheets.rootUrl, SHEETS_BATCH_MAX_WAIT_MS: '500', SHEETS_MIN_CALL_INTERVAL_MS: '100', SHEET_EXPORT_SESSION_TIMEOUT_MS: '10000',
    },
    'scc-inventory': { ...base, DB_SCHEMA: r.schemas.inventory },
  };
}

/** The raw topics each consumer reads. */
export function topicsOf(consumer: keyof FaultRun['groups'], names: TopicNames): string[] {
  if (consumer === 'provisioning') return [names.nspsEvents];
  if (consumer === 'scc-inventory') return [names.sapReports];
  return [names.nspsEvents, names.onceEvents, names.onceUsage];
}

/** Partitions where a group's committed offset is behind the end of a topic it reads (empty: caught up). */
export async function lagging(admin: Admin, r: FaultRun, names: TopicNames): Promise<string[]> {
  const behind: string[] = [];
  for (const consumer of Object.keys(r.groups) as (keyof FaultRun['groups'])[]) {
    const topics = topicsOf(consumer, names);
    const committed = await admin.fetchOffsets({ groupId: r.groups[consumer], topics }).catch(() => []);
    for (const topic of topics) {
      for (const p of await admin.fetchTopicOffsets(topic)) {
        const c = committed.find((t) => t.topic === topic)?.partitions.find((x) => x.partition === p.partition);
        if (Number(p.high) > 0 && (!c || Number(c.offset) < Number(p.high))) behind.push(`${consumer} ${topic}[${p.partition}] at ${c?.offset ?? 'none'} of ${p.high}`);
      }
    }
  }
  return behind;
}

/** Dead letters per consumer. */
export async function deadLetterCounts(kafka: Kafka, names: TopicNames): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const consumer of ['provisioning', 'sheet-export', 'scc-inventory']) out[consumer] = (await readDeadLetters(kafka, names.deadLetter(consumer))).length;
  return out;
}

/** The last warn/error lines of each service, for a failing run's diagnosis. */
export function lastProblems(services: ServiceProcess[]): string {
  return services.map((s) => `--- ${s.name}:${s.port}\n${s.lines.filter((l) => /"level":"(warn|error|fatal)"/.test(l) || !l.startsWith('{')).slice(-10).join('\n')}`).join('\n');
}

export type { ServiceName };
