// The per-consumer record of which event_ids already produced their effect.
// Written in the same transaction as the effect where the effect is in the database (projection),
// and around the external call where it is not (provisioning, sheets; see their docs).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Db, Queryable } from './db.js';
import { migrate } from './db.js';

export const sharedMigrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export async function migrateShared(db: Db): Promise<void> {
  await migrate(db, sharedMigrationsDir, 'shared');
}

export async function isProcessed(q: Queryable, consumer: string, eventId: string): Promise<boolean> {
  const r = await q.query('SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2', [consumer, eventId]);
  return r.rows.length > 0;
}

/** Returns false when the event was already recorded (a duplicate): the caller must not apply it again. */
export async function recordProcessed(q: Queryable, consumer: string, eventId: string, outcome: string): Promise<boolean> {
  const r = await q.query(
    'INSERT INTO processed_events (consumer, event_id, outcome) VALUES ($1, $2, $3) ON CONFLICT (consumer, event_id) DO NOTHING RETURNING 1',
    [consumer, eventId, outcome],
  );
  return r.rows.length > 0;
}

export async function processedCount(q: Queryable, consumer: string): Promise<number> {
  const r = await q.query<{ n: string | number }>('SELECT count(*) AS n FROM processed_events WHERE consumer = $1', [consumer]);
  return Number(r.rows[0]?.n ?? 0);
}
