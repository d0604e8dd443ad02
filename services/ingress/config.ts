// Ingress configuration: every variable, its default and its check, in one place.
import { z } from 'zod';
import { commonConfigShape, env, kafkaConfigShape, loadConfig, ConfigError } from '../shared/config.js';
import { PRODUCER_CLIENTS } from '../shared/record-writer.js';
import { MAX_RECORD_BYTES } from '../shared/topics.js';
import { parseBasicUsers } from '../shared/credentials.js';
import { DEV_DEFAULTS } from '../../scripts/dev-defaults.js';

const JWT_ALGORITHMS = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export const ingressConfigShape = {
  ...kafkaConfigShape,
  ...commonConfigShape,
  PORT: env.port(8080),
  HOST: env.string('127.0.0.1'),
  /** Node's socket idle timeout in ms (0 = none): a connection that sends nothing for this long is closed. */
  HTTP_CONNECTION_TIMEOUT_MS: env.int(0),
  /** Node's limit on receiving a whole request (headers and body); answers a bare 408. Keep it above BODY_TIMEOUT_MS. */
  HTTP_REQUEST_TIMEOUT_MS: env.int(120_000),
  /** Time to receive a request body once its headers arrived; each source answers its own 408/timeout. */
  BODY_TIMEOUT_MS: env.int(30_000, 1),
  /** Load shedding (@fastify/under-pressure): 0 disables a check. */
  LOAD_MAX_EVENT_LOOP_DELAY_MS: env.int(1_000),
  LOAD_MAX_HEAP_USED_BYTES: env.int(0),
  LOAD_MAX_RSS_BYTES: env.int(0),
  LOAD_RETRY_AFTER_SECONDS: env.int(10, 1),
  /** Retry-After sent with a 503 when Kafka could not take the records. */
  KAFKA_RETRY_AFTER_SECONDS: env.int(30, 1),
  /** Kafka client of the write path (docs/ingress.md): platformatic (@platformatic/kafka, faster) or kafkajs. */
  KAFKA_PRODUCER_CLIENT: z.enum(PRODUCER_CLIENTS, { message: `must be ${PRODUCER_CLIENTS.join(' or ')}` }).default('platformatic'),
  /** Cross-request batching (batcher.ts): wait up to this many ms for more records before a flush; 0 = no wait. */
  PRODUCE_LINGER_MS: env.int(0, 0),
  /** Most bytes of records in one flush; at most MAX_RECORD_BYTES so every partition's record batch fits the broker's limit. */
  PRODUCE_BATCH_MAX_BYTES: env.int(MAX_RECORD_BYTES, 16 * 1024).refine((v) => v <= MAX_RECORD_BYTES, `must be at most ${MAX_RECORD_BYTES} (the broker's message size limit, with margin)`),

  NSPS_API_TOKENS: env.list(),
  NSPS_MAX_BODY_BYTES: env.int(512 * 1024, 1).refine((v) => v <= MAX_RECORD_BYTES - 16 * 1024, `must leave room for the envelope (at most ${MAX_RECORD_BYTES - 16 * 1024})`),

  ONCE_BASIC_AUTH_USERS: env.list(),
  ONCE_PATH: env.string('/1nce/data-streamer').refine((v) => /^\/[A-Za-z0-9._~\-/]*$/.test(v), 'must be a URL path starting with /'),
  ONCE_MAX_BODY_BYTES: env.int(32 * 1024 * 1024, 1),
  ONCE_MAX_RECORDS: env.int(3_000, 1),
  /** Worker threads that read 1NCE batches (once-reader.ts); 0 reads them on the main thread. */
  ONCE_READER_THREADS: env.int(1, 0),

  SAP_JWT_HS256_SECRET: env.optionalString(),
  SAP_JWKS_URL: env.url(),
  /** Accepted JWT algorithms; default: HS256 when a secret is set, RS256 when a JWKS URL is set. `none` is never accepted. */
  SAP_JWT_ALGORITHMS: env.list().refine((list) => list.every((a) => (JWT_ALGORITHMS as readonly string[]).includes(a)), `each must be one of ${JWT_ALGORITHMS.join(', ')}`),
  SAP_JWT_ISSUER: env.optionalString(),
  SAP_JWT_AUDIENCE: env.optionalString(),
  SAP_JWT_CLOCK_TOLERANCE_SECONDS: env.int(30),
  SAP_MAX_BODY_BYTES: env.int(5 * 1024 * 1024, 1),
  /** Set by `npm start` for its children: the embedded development credentials are accepted on any HOST. */
  SWITCHBOARD_STARTED_BY: env.optionalString(),
};

export type IngressConfig = z.infer<z.ZodObject<typeof ingressConfigShape>>;

export interface EnabledSources {
  nsps: boolean;
  once: boolean;
  sap: boolean;
}

/** A source is served only when it has credentials; without any it is disabled (see docs/ingress.md). */
export function enabledSources(cfg: IngressConfig): EnabledSources {
  return {
    nsps: cfg.NSPS_API_TOKENS.length > 0,
    once: cfg.ONCE_BASIC_AUTH_USERS.length > 0,
    sap: Boolean(cfg.SAP_JWT_HS256_SECRET) || Boolean(cfg.SAP_JWKS_URL),
  };
}

/** The algorithms SAP tokens may use. */
export function sapAlgorithms(cfg: IngressConfig): string[] {
  if (cfg.SAP_JWT_ALGORITHMS.length > 0) return cfg.SAP_JWT_ALGORITHMS;
  return [...(cfg.SAP_JWT_HS256_SECRET ? ['HS256'] : []), ...(cfg.SAP_JWKS_URL ? ['RS256'] : [])];
}

/** Checks that span several variables, with the same one-message-names-everything style. */
export function checkIngressConfig(cfg: IngressConfig): void {
  const problems: string[] = [];
  const { problems: userProblems } = parseBasicUsers(cfg.ONCE_BASIC_AUTH_USERS);
  for (const p of userProblems) problems.push(`ONCE_BASIC_AUTH_USERS: ${p} (got a value (hidden))`);
  const sources = enabledSources(cfg);
  if (!sources.nsps && !sources.once && !sources.sap) {
    problems.push('NSPS_API_TOKENS, ONCE_BASIC_AUTH_USERS, SAP_JWT_HS256_SECRET / SAP_JWKS_URL: at least one source needs credentials (none is set)');
  }
  if (sources.sap) {
    const algs = sapAlgorithms(cfg);
    if (algs.some((a) => a.startsWith('HS')) && !cfg.SAP_JWT_HS256_SECRET) problems.push('SAP_JWT_ALGORITHMS: an HS algorithm needs SAP_JWT_HS256_SECRET');
    if (algs.some((a) => !a.startsWith('HS')) && !cfg.SAP_JWKS_URL) problems.push('SAP_JWT_ALGORITHMS: an asymmetric algorithm needs SAP_JWKS_URL');
  }
  if (cfg.HTTP_REQUEST_TIMEOUT_MS > 0 && cfg.HTTP_REQUEST_TIMEOUT_MS <= cfg.BODY_TIMEOUT_MS) {
    problems.push(`HTTP_REQUEST_TIMEOUT_MS: must be above BODY_TIMEOUT_MS (${cfg.BODY_TIMEOUT_MS}) so the sources answer their own timeout (got "${cfg.HTTP_REQUEST_TIMEOUT_MS}")`);
  }
  problems.push(...devCredentialProblems(cfg));
  if (problems.length > 0) throw new ConfigError(problems);
}

/** True for addresses only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h) || /^::ffff:127(\.\d{1,3}){3}$/.test(h);
}

/**
 * The development credentials of `npm start` (scripts/dev-defaults.ts) are public: they are refused unless
 * ingress listens on loopback only or `npm start` started it.
 */
export function devCredentialProblems(cfg: IngressConfig): string[] {
  if (isLoopbackHost(cfg.HOST) || cfg.SWITCHBOARD_STARTED_BY === 'npm-start') return [];
  const why = `a public development credential is accepted only when HOST is loopback or under npm start (HOST is "${cfg.HOST}"); set your own (docs/configuration.md)`;
  const problems: string[] = [];
  const devToken = DEV_DEFAULTS.NSPS_API_TOKENS!;
  if (cfg.NSPS_API_TOKENS.includes(devToken)) problems.push(`NSPS_API_TOKENS: contains the development token "${devToken}": ${why}`);
  const devPassword = DEV_DEFAULTS.ONCE_BASIC_AUTH_USERS!.slice(DEV_DEFAULTS.ONCE_BASIC_AUTH_USERS!.indexOf(':') + 1);
  const { users } = parseBasicUsers(cfg.ONCE_BASIC_AUTH_USERS);
  if (users.some((u) => u.password === devPassword)) problems.push(`ONCE_BASIC_AUTH_USERS: uses the development password "${devPassword}": ${why}`);
  if (cfg.SAP_JWT_HS256_SECRET === DEV_DEFAULTS.SAP_JWT_HS256_SECRET) problems.push(`SAP_JWT_HS256_SECRET: is the development secret: ${why}`);
  return problems;
}

export function loadIngressConfig(envVars: Record<string, string | undefined> = process.env): IngressConfig {
  const cfg = loadConfig(ingressConfigShape, envVars);
  checkIngressConfig(cfg);
  return cfg;
}
