// The provisioning service's durable memory: which events already reached WTL (the shared
// processed_events record), which calls are in flight (provisioning_inflight) and, per subscriber,
// the position of the latest applied event (provisioning_subscribers). Why each exists: docs/provisioning.md.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate, type Db } from '../shared/db.js';
import { isProcessed, migrateShared, recordProcessed } from '../shared/idempotency.js';
import { isOlder, type OrderingPosition } from './mapping.js';

export const CONSUMER = 'provisioning';
const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export type Precheck =
  | { kind: 'duplicate' }
  | { kind: 'superseded'; by: string }
  | { kind: 'apply' };

export type Claim =
  | { kind: 'claimed'; resend: boolean }
  /** Another live instance is calling WTL for this event; wait this long before taking over. */
  | { kind: 'busy'; owner: string; waitMs: number };

export interface ProvisioningStore {
  precheck(eventId: string, imsi: string, position: OrderingPosition): Promise<Precheck>;
  claim(eventId: string, imsi: string, owner: string, leaseMs: number): Promise<Claim>;
  /** WTL applied the event: record it, advance the subscriber's position, drop the in-flight row — one transaction. */
  complete(eventId: string, imsi: string, position: OrderingPosition): Promise<void>;
  /** The call failed for good (it will be dead-lettered): nothing is in flight any more. */
  release(eventId: string): Promise<void>;
  recordSuperseded(eventId: string): Promise<void>;
  /** Which of these events already have their outcome recorded (one query: the replay pre-filter). */
  alreadyProcessed(eventIds: string[]): Promise<Set<string>>;
}

export async function migrateProvisioning(db: Db): Promise<void> {
  await migrateShared(db);
  await migrate(db, migrationsDir, CONSUMER);
}

export function createStore(db: Db): ProvisioningStore {
  return {
    async precheck(eventId, imsi, position) {
      if (await isProcessed(db, CONSUMER, eventId)) return { kind: 'duplicate' };
      const r = await db.query<{ event_id: string; received_at: string | number; created_at: string | number }>(
        'SELECT event_id, received_at, created_at FROM provisioning_subscribers WHERE imsi = $1',
        [imsi],
      );
      const latest = r.rows[0];
      if (latest) {
        const applied = { receivedAt: Number(latest.received_at), createdAt: Number(latest.created_at) };
        if (isOlder(position, applied)) return { kind: 'superseded', by: latest.event_id };
      }
      return { kind: 'apply' };
    },

    async claim(eventId, imsi, owner, leaseMs) {
      return db.transaction(async (tx) => {
        const r = await tx.query<{ owner: string; age_ms: string | number }>(
          `SELECT owner, (extract(epoch FROM (now() - claimed_at)) * 1000)::bigint AS age_ms
             FROM provisioning_inflight WHERE event_id = $1 FOR UPDATE`,
          [eventId],
        );
        const existing = r.rows[0];
        if (existing && existing.owner !== owner && Number(existing.age_ms) < leaseMs) {
          return { kind: 'busy', owner: existing.owner, waitMs: leaseMs - Number(existing.age_ms) } satisfies Claim;
        }
        await tx.query(
          `INSERT INTO provisioning_inflight (event_id, imsi, owner, claimed_at) VALUES ($1, $2, $3, now())
           ON CONFLICT (event_id) DO UPDATE SET owner = EXCLUDED.owner, claimed_at = EXCLUDED.claimed_at`,
          [eventId, imsi, owner],
        );
        return { kind: 'claimed', resend: existing !== undefined } satisfies Claim;
      });
    },

    async complete(eventId, imsi, position) {
      await db.transaction(async (tx) => {
        await recordProcessed(tx, CONSUMER, eventId, 'provisioned');
        // Only moves forward: a slow old call finishing late never lowers the position.
        await tx.query(
          `INSERT INTO provisioning_subscribers (imsi, event_id, received_at, created_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (imsi) DO UPDATE SET event_id = EXCLUDED.event_id, received_at = EXCLUDED.received_at,
             created_at = EXCLUDED.created_at, applied_at = now()
           WHERE (provisioning_subscribers.received_at, provisioning_subscribers.created_at) <= (EXCLUDED.received_at, EXCLUDED.created_at)`,
          [imsi, eventId, position.receivedAt, position.createdAt],
        );
        await tx.query('DELETE FROM provisioning_inflight WHERE event_id = $1', [eventId]);
      });
    },

    async release(eventId) {
      await db.query('DELETE FROM provisioning_inflight WHERE event_id = $1', [eventId]);
    },

    async recordSuperseded(eventId) {
      await recordProcessed(db, CONSUMER, eventId, 'superseded');
    },

    async alreadyProcessed(eventIds) {
      if (eventIds.length === 0) return new Set();
      const r = await db.query<{ event_id: string }>(
        'SELECT event_id FROM processed_events WHERE consumer = $1 AND event_id = ANY($2::text[])',
        [CONSUMER, eventIds],
      );
      return new Set(r.rows.map((row) => row.event_id));
    },
  };
}
