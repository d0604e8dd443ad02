// trail configuration: environment variables, validated once at start (see docs/trail.md).
import { z } from 'zod';
import { commonConfigShape, env, kafkaConfigShape, loadConfig } from '../shared/config.js';

export const trailConfigShape = {
  ...kafkaConfigShape,
  ...commonConfigShape,
  HOST: env.string('127.0.0.1'),
  PORT: env.port(8095),
  /** Bearer tokens accepted by the API and the page, comma-separated; empty leaves them open. */
  TRAIL_API_TOKENS: env.list(),
  DB_SCHEMA: env.dbSchema('trail'),
  TRAIL_GROUP_ID: env.string('switchboard-trail'),
  /** Index rows (events by received_at, outcomes by at) older than this many days are pruned. */
  TRAIL_RETENTION_DAYS: env.int(30, 1),
  /** How often the pruning runs (it also runs at start). */
  TRAIL_PRUNE_INTERVAL_MS: env.int(3_600_000, 1000),
};

export type TrailConfig = z.infer<z.ZodObject<typeof trailConfigShape>>;

export function loadTrailConfig(source: Record<string, string | undefined> = process.env): TrailConfig {
  return loadConfig(trailConfigShape, source);
}

export const SERVICE_NAME = 'trail';
