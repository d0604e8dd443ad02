// Configuration comes from the environment only, and is validated once at start.
// Every wrong or missing variable is named in one message, so an operator fixes them all at once.
import { readFileSync } from 'node:fs';
import { z } from 'zod';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

/**
 * Parses `env` against a shape whose keys are the variable names. Empty strings count as unset.
 * Every variable can also be read from a file named by `<NAME>_FILE` (the convention of the official
 * Docker images, for Docker and Kubernetes secrets); one trailing newline is dropped, like every value's
 * surrounding whitespace.
 */
export function loadConfig<S extends z.ZodRawShape>(shape: S, env: Env = process.env): z.infer<z.ZodObject<S>> {
  const cleaned: Env = {};
  const fromFile = new Set<string>();
  const fileProblems = new Map<string, string>();
  for (const key of Object.keys(shape)) {
    const read = readVariable(key, env);
    if ('problem' in read) {
      fileProblems.set(key, read.problem);
      continue;
    }
    if (read.fromFile) fromFile.add(key);
    const value = read.value;
    cleaned[key] = value === undefined || value.trim() === '' ? undefined : value.trim();
  }
  const result = z.object(shape).safeParse(cleaned);
  if (result.success && fileProblems.size === 0) return result.data;
  const problems = [...fileProblems.values()];
  for (const issue of result.success ? [] : result.error.issues) {
    const name = String(issue.path[0] ?? '?');
    if (fileProblems.has(name)) continue; // its file is the problem, said once
    const got = cleaned[name];
    const shown = got === undefined ? 'it is not set' : isSecretName(name) || fromFile.has(name) ? 'got a value (hidden)' : `got "${got}"`;
    problems.push(`${name}${fromFile.has(name) ? ` (from ${name}_FILE)` : ''}: ${issue.message} (${shown})`);
  }
  throw new ConfigError(problems);
}

/** NAME from the environment, or from the file NAME_FILE names; never both. */
function readVariable(name: string, env: Env): { value: string | undefined; fromFile: boolean } | { problem: string } {
  const isSet = (v: string | undefined): v is string => v !== undefined && v.trim() !== '';
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (!isSet(file)) return { value: direct, fromFile: false };
  if (isSet(direct)) return { problem: `${name} and ${name}_FILE: set only one of them (both are set)` };
  const path = file.trim();
  let content: string;
  try {
    content = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (err as Error).message;
    return { problem: `${name}_FILE: cannot read "${path}" (${why})` };
  }
  content = content.replace(/\r?\n$/, '');
  if (content.trim() === '') return { problem: `${name}_FILE: "${path}" is empty` };
  return { value: content, fromFile: true };
}

function isSecretName(name: string): boolean {
  return /TOKEN|PASSWORD|SECRET|KEY|CREDENTIAL|USERS|SERVICE_ACCOUNT|DATABASE_URL/i.test(name);
}

// Reusable field types. Each yields a clear message for the operator.
export const env = {
  port: (fallback: number) =>
    z.coerce.number({ message: 'must be a TCP port number' }).int('must be a whole number').min(0, 'must be 0-65535').max(65535, 'must be 0-65535').default(fallback),
  int: (fallback: number, min = 0) =>
    z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(min, `must be at least ${min}`).default(fallback),
  bool: (fallback: boolean) =>
    z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }).default(fallback ? 'true' : 'false').transform((v) => v === 'true' || v === '1' || v === 'yes'),
  list: (fallback: string[] = []) =>
    z.string().default(fallback.join(',')).transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0)),
  string: (fallback: string) => z.string().default(fallback),
  optionalString: () => z.string().optional(),
  url: () => z.string().url('must be a URL').optional(),
  level: () => z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be a pino level' }).default('info'),
  /** A PostgreSQL schema name the services create and quote nowhere: a plain lower-case identifier. */
  dbSchema: (fallback: string) => z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case SQL identifier (a-z, 0-9, _; at most 63)').default(fallback),
};

/** Brokers as host:port, comma-separated. */
const brokerList = z
  .string({ message: 'is required (comma-separated host:port list)' })
  .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
  .refine((list) => list.length > 0 && list.every((b) => /^[^\s:]+:\d{1,5}$/.test(b) && Number(b.split(':').pop()) <= 65535), {
    message: 'must be a comma-separated list of host:port',
  });

export const kafkaConfigShape = {
  KAFKA_BROKERS: brokerList,
  KAFKA_CLIENT_ID: env.string('switchboard'),
  KAFKA_SSL: env.bool(false),
  KAFKA_SSL_CA_FILE: env.optionalString(),
  KAFKA_SSL_REJECT_UNAUTHORIZED: env.bool(true),
  KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512'], { message: 'must be plain, scram-sha-256 or scram-sha-512' }).optional(),
  KAFKA_SASL_USERNAME: env.optionalString(),
  KAFKA_SASL_PASSWORD: env.optionalString(),
  KAFKA_TOPIC_PREFIX: env.string('switchboard.'),
  KAFKA_TOPIC_PARTITIONS: env.int(6, 1),
  KAFKA_REPLICATION_FACTOR: env.int(1, 1),
  /** min.insync.replicas of topics the system creates; unset = 2 from replication factor 3 up, else 1 (topics.ts). */
  KAFKA_MIN_INSYNC_REPLICAS: z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(1, 'must be at least 1').optional(),
  /** -1 keeps raw events forever: the raw topics are the system of record. */
  KAFKA_RAW_RETENTION_MS: z.coerce.number({ message: 'must be a number of milliseconds or -1' }).int().min(-1).default(-1),
  KAFKA_PRODUCE_TIMEOUT_MS: env.int(10_000, 100),
  SCHEMA_REGISTRY_URL: z.string({ message: 'is required (e.g. http://127.0.0.1:8081/apis/ccompat/v7)' }).url('must be a URL'),
  SCHEMA_REGISTRY_USERNAME: env.optionalString(),
  SCHEMA_REGISTRY_PASSWORD: env.optionalString(),
};

export type KafkaConfig = z.infer<z.ZodObject<typeof kafkaConfigShape>>;

export const commonConfigShape = {
  LOG_LEVEL: env.level(),
  DATABASE_URL: env.optionalString(),
  /** Where embedded defaults (PGlite, CSV files) keep their data when no external store is configured. */
  DATA_DIR: env.string('./data'),
};
