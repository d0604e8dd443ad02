// Provisioning settings: the shared Kafka and common variables plus the WTL ones, validated at start.
import { z } from 'zod';
import { commonConfigShape, env, kafkaConfigShape, loadConfig } from '../shared/config.js';
import { PRODUCER_CLIENTS } from '../shared/record-writer.js';
import { parseEventActions, type MappingSettings } from './mapping.js';

export const provisioningConfigShape = {
  ...kafkaConfigShape,
  ...commonConfigShape,
  HOST: env.string('127.0.0.1'),
  PORT: env.port(9101),
  DB_SCHEMA: env.dbSchema('provisioning'),
  PROVISIONING_GROUP_ID: env.string('switchboard-provisioning'),
  PROVISIONING_KEY_CONCURRENCY: env.int(16, 1),
  /**
   * How many partitions' batches are handled at once, each with up to PROVISIONING_KEY_CONCURRENCY subscribers in
   * parallel: their product bounds the WTL calls in flight (and so the re-sends after a crash). 6, the default
   * partition count: with a WTL answering at once, 2,800 events/s against 2,100-2,300 with 3 (2026-12-03).
   */
  PROVISIONING_PARTITION_CONCURRENCY: env.int(6, 1),
  /** The client that writes the trail outcomes (one per event): the same switch, and default, as ingress's. */
  KAFKA_PRODUCER_CLIENT: z.enum(PRODUCER_CLIENTS, { message: `must be ${PRODUCER_CLIENTS.join(' or ')}` }).default('platformatic'),
  /** How long the group waits for a silent member (a crashed instance) before giving its partitions away. */
  PROVISIONING_SESSION_TIMEOUT_MS: env.int(30_000, 6000),
  PROVISIONING_RETRY_MAX_ATTEMPTS: env.int(5, 1),
  PROVISIONING_RETRY_INITIAL_MS: env.int(200, 1),
  PROVISIONING_RETRY_MAX_MS: env.int(5000, 1),
  /** How long another instance's unfinished WTL call for the same event is waited for before taking over. 0 = 2 × WTL_TIMEOUT_MS. */
  PROVISIONING_INFLIGHT_LEASE_MS: env.int(0, 0),
  /** Unset: dry run (log the request, treat it as success). */
  WTL_BASE_URL: env.url(),
  WTL_SYNC_PATH: z.string().startsWith('/', 'must start with /').default('/api/v1/subscribers/sync'),
  WTL_TIMEOUT_MS: env.int(10_000, 1),
  WTL_API_KEY: env.optionalString(),
  /** Header carrying WTL_API_KEY; "Authorization" sends "Bearer <key>", any other name sends the key as is. */
  WTL_AUTH_HEADER: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name').default('Authorization'),
  /** Header carrying the event id as an idempotency key on every WTL call (a re-send after a crash carries the same key). */
  WTL_IDEMPOTENCY_HEADER: z.string().regex(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name').default('Idempotency-Key'),
  WTL_EVENT_ACTIONS: z.string().default('SIM/Updated=update').transform((spec, ctx) => {
    try {
      return parseEventActions(spec);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err) });
      return z.NEVER;
    }
  }),
  WTL_IMSI_REGEXP: env.optionalString().transform((src, ctx) => {
    if (src === undefined) return undefined;
    try {
      return new RegExp(src);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'must be a valid regular expression' });
      return z.NEVER;
    }
  }),
  WTL_DEFAULT_CS_PROFILE: env.optionalString(),
  WTL_DEFAULT_EPS_PROFILE: env.optionalString(),
};

export type ProvisioningConfig = z.infer<z.ZodObject<typeof provisioningConfigShape>>;

export function loadProvisioningConfig(source: Record<string, string | undefined> = process.env): ProvisioningConfig {
  return loadConfig(provisioningConfigShape, source);
}

export function mappingSettings(cfg: ProvisioningConfig): MappingSettings {
  return {
    eventActions: cfg.WTL_EVENT_ACTIONS,
    imsiPattern: cfg.WTL_IMSI_REGEXP,
    defaultCsProfile: cfg.WTL_DEFAULT_CS_PROFILE,
    defaultEpsProfile: cfg.WTL_DEFAULT_EPS_PROFILE,
  };
}

export function inflightLeaseMs(cfg: ProvisioningConfig): number {
  return cfg.PROVISIONING_INFLIGHT_LEASE_MS > 0 ? cfg.PROVISIONING_INFLIGHT_LEASE_MS : 2 * cfg.WTL_TIMEOUT_MS;
}
