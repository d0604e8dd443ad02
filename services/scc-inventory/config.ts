// scc-inventory configuration: environment variables, validated once at start (see docs/scc-inventory.md).
import { z } from 'zod';
import { commonConfigShape, env, kafkaConfigShape, loadConfig } from '../shared/config.js';

export const sccInventoryConfigShape = {
  ...kafkaConfigShape,
  ...commonConfigShape,
  HOST: env.string('127.0.0.1'),
  PORT: env.port(8090),
  /** Bearer tokens accepted by the query API, comma-separated; empty leaves the API open. */
  INVENTORY_API_TOKENS: env.list(),
  DB_SCHEMA: env.dbSchema('scc_inventory'),
  SCC_INVENTORY_GROUP_ID: env.string('switchboard-scc-inventory'),
  /** An incomplete split report is dropped once a later record of its tenant is this much newer. */
  SCC_PART_TTL_MS: env.int(3_600_000, 1000),
  /** Tenants handled in parallel within one partition batch. */
  SCC_KEY_CONCURRENCY: env.int(4, 1),
};

export type SccInventoryConfig = z.infer<z.ZodObject<typeof sccInventoryConfigShape>>;

export function loadSccInventoryConfig(source: Record<string, string | undefined> = process.env): SccInventoryConfig {
  return loadConfig(sccInventoryConfigShape, source);
}

export const CONSUMER_NAME = 'scc-inventory';
