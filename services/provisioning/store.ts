// The provisioning service's durable memory: which events already reached WTL (the shared
// processed_events record), which calls are in flight (provisioning_inflight) and, per subscriber,
// the position of the latest applied event (provisioning_subscribers). Why each exists: docs/provisioning.md.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { migrate, type Db } from '../shared/db.js';
import { migrateShared, recordProcessed } from '../shared/idempotency.js';
import { coalesce } from './coalesce.js';
import type { OrderingPosition } from './mapping.js';

export const CONSUMER = 'provisioning';
const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/** What to do with an event: nothing (done, or older than what WTL has), wait for another instance, or call WTL. */
export type Start =
  | { kind: 'duplicate' }
  | { kind: 'superseded'; by: string }
  /** Claimed: this instance calls WTL now; resend when an earlier call has no recorded outcome. */
  | { kind: 'claimed'; resend: boolean }
  /** Another live instance is calling WTL for this event; wait this long before taking over. */
  | { kind: 'busy'; owner: string; waitMs: number };

export interface ProvisioningStore {
  /**
   * Already done? Older than what WTL has? If neither, claim it (the in-flight row, committed before the
   * call) unless another instance's call for it is in flight — all in one statement.
   */
  start(eventId: string, imsi: string, position: OrderingPosition, owner: string, leaseMs: number): Promise<Start>;
  /** WTL applied the event: record it, advance the subscriber's position, drop the in-flight row — one transaction. */
  complete(eventId: string, imsi: string, position: OrderingPosition): Promise<void>;
  /**
   * This instance's call for the event is over without an effect recorded (failed, or never started): its
   * in-flight row goes. Only its own: another instance may have taken the event over meanwhile.
   */
  release(eventId: string, owner: string): Promise<void>;
  recordSuperseded(eventId: string): Promise<void>;
  /** Which of these events already have their outcome recorded (one query: the replay pre-filter). */
  alreadyProcessed(eventIds: string[]): Promise<Set<string>>;
}

export async function migrateProvisioning(db: Db): Promise<void> {
  await migrateShared(db);
  await migrate(db, migrationsDir, CONSUMER);
}

export function createStore(db: Db): ProvisioningStore {
  // Each step is one statement per flush of concurrent callers, not one per event (coalesce.ts).
  const start = coalesce<StartItem, Start>((items) => startMany(db, items), { keysOf: (i) => [i.eventId] });
  const complete = coalesce<CompleteItem, void>((items) => completeMany(db, items), { keysOf: (i) => [i.eventId, `imsi:${i.imsi}`] });
  return {
    start: (eventId, imsi, position, owner, leaseMs) => start({ eventId, imsi, position, owner, leaseMs }),
    complete: (eventId, imsi, position) => complete({ eventId, imsi, position }),

    async release(eventId, owner) {
      await db.query('DELETE FROM provisioning_inflight WHERE event_id = $1 AND owner = $2', [eventId, owner]);
    },

    async recordSuperseded(eventId) {
      await recordProcessed(db, CONSUMER, eventId, 'superseded');
    },

    async alreadyProcessed(eventIds) {
      if (eventIds.length === 0) return new Set();
      // The database answers with the events NOT yet recorded: on a replay, where nearly every event is
      // recorded, that is an empty answer instead of a row per event to send, parse and collect.
      // One index probe per event, whatever the table's size (OFFSET 0 keeps the subquery a per-row probe):
      // left to itself the planner hashes the whole table instead while it holds fewer than some 10^5 rows,
      // so each batch's question cost as much as the table (6.7 ms against 2.7 ms for 700 events and 20,000
      // rows, in psql); on a large table it chooses the probes itself.
      const r = await db.query<{ event_id: string }>(
        `SELECT e AS event_id FROM unnest($2::text[]) AS e
          WHERE NOT EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = $1 AND p.event_id = e OFFSET 0)`,
        [CONSUMER, eventIds],
      );
      const missing = new Set(r.rows.map((row) => row.event_id));
      return new Set(missing.size === 0 ? eventIds : eventIds.filter((id) => !missing.has(id)));
    },
  };
}

type StartItem = { eventId: string; imsi: string; position: OrderingPosition; owner: string; leaseMs: number };
type CompleteItem = { eventId: string; imsi: string; position: OrderingPosition };

/**
 * start() for a whole flush, in one statement (one transaction). Per event, in this order: recorded in
 * processed_events → duplicate; strictly older than the subscriber's applied position → superseded; an
 * in-flight row of another instance younger than the lease → busy; otherwise the in-flight row is written
 * (taken over when it is ours or its lease lapsed: resend) and the event is claimed. The same decisions as
 * the two lookups, SELECT … FOR UPDATE and upsert per event they replace.
 */
async function startMany(db: Db, items: StartItem[]): Promise<Start[]> {
  const r = await db.query<{ n: string | number; processed: boolean; older: boolean; latest_event_id: string | null; owner: string | null; age_ms: string | number | null; claimed: boolean }>(
    `WITH req AS (
       SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::bigint[])
         WITH ORDINALITY AS r(event_id, imsi, received_at, created_at, owner, lease_ms, n)
     ), checked AS (
       -- one index probe per event and per subscriber (OFFSET 0, LATERAL … LIMIT 1: see alreadyProcessed)
       SELECT r.*, EXISTS (SELECT 1 FROM processed_events p WHERE p.consumer = $1 AND p.event_id = r.event_id OFFSET 0) AS processed,
              s.event_id AS latest_event_id,
              s.imsi IS NOT NULL AND (r.received_at, r.created_at) < (s.received_at, s.created_at) AS older
         FROM req r
         LEFT JOIN LATERAL (SELECT s.imsi, s.event_id, s.received_at, s.created_at FROM provisioning_subscribers s WHERE s.imsi = r.imsi LIMIT 1) s ON true
     ), existing AS (
       -- locked in event_id order, so two instances claiming overlapping events never deadlock
       SELECT i.event_id, i.owner, (extract(epoch FROM (now() - i.claimed_at)) * 1000)::bigint AS age_ms
         FROM provisioning_inflight i
        WHERE i.event_id IN (SELECT event_id FROM checked WHERE NOT processed AND NOT older)
        ORDER BY i.event_id FOR UPDATE
     ), claimed AS (
       INSERT INTO provisioning_inflight (event_id, imsi, owner, claimed_at)
       SELECT c.event_id, c.imsi, c.owner, now() FROM checked c LEFT JOIN existing e ON e.event_id = c.event_id
        WHERE NOT c.processed AND NOT c.older AND (e.event_id IS NULL OR e.owner = c.owner OR e.age_ms >= c.lease_ms)
        ORDER BY c.event_id
       ON CONFLICT (event_id) DO UPDATE SET owner = EXCLUDED.owner, claimed_at = EXCLUDED.claimed_at
       RETURNING event_id
     )
     SELECT c.n, c.processed, c.older, c.latest_event_id, e.owner, e.age_ms, cl.event_id IS NOT NULL AS claimed
       FROM checked c LEFT JOIN existing e ON e.event_id = c.event_id LEFT JOIN claimed cl ON cl.event_id = c.event_id`,
    [
      CONSUMER,
      items.map((i) => i.eventId), items.map((i) => i.imsi), items.map((i) => i.position.receivedAt), items.map((i) => i.position.createdAt),
      items.map((i) => i.owner), items.map((i) => i.leaseMs),
    ],
  );
  const out: Start[] = new Array(items.length);
  for (const row of r.rows) {
    const i = Number(row.n) - 1;
    if (row.processed) out[i] = { kind: 'duplicate' };
    else if (row.older) out[i] = { kind: 'superseded', by: row.latest_event_id ?? '' };
    else if (row.claimed) out[i] = { kind: 'claimed', resend: row.owner !== null };
    else out[i] = { kind: 'busy', owner: row.owner ?? '', waitMs: Math.max(items[i]!.leaseMs - Number(row.age_ms ?? 0), 0) };
  }
  return out;
}

/**
 * WTL applied these events: their outcomes, the subscribers' positions (only ever moved forward: a slow old
 * call finishing late never lowers one) and the end of their in-flight rows, in one statement (one transaction).
 */
async function completeMany(db: Db, items: CompleteItem[]): Promise<void[]> {
  const byImsi = [...items].sort((a, b) => (a.imsi < b.imsi ? -1 : a.imsi > b.imsi ? 1 : 0));
  await db.query(
    `WITH done AS (
       INSERT INTO processed_events (consumer, event_id, outcome)
       SELECT $1, event_id, 'provisioned' FROM unnest($2::text[]) AS t(event_id) ORDER BY event_id
       ON CONFLICT (consumer, event_id) DO NOTHING
     ), positions AS (
       INSERT INTO provisioning_subscribers (imsi, event_id, received_at, created_at)
       SELECT imsi, event_id, received_at, created_at
         FROM unnest($3::text[], $4::text[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS t(imsi, event_id, received_at, created_at, n) ORDER BY n
       ON CONFLICT (imsi) DO UPDATE SET event_id = EXCLUDED.event_id, received_at = EXCLUDED.received_at,
         created_at = EXCLUDED.created_at, applied_at = now()
       WHERE (provisioning_subscribers.received_at, provisioning_subscribers.created_at) <= (EXCLUDED.received_at, EXCLUDED.created_at)
     )
     DELETE FROM provisioning_inflight WHERE event_id = ANY($2::text[])`,
    [CONSUMER, items.map((i) => i.eventId), byImsi.map((i) => i.imsi), byImsi.map((i) => i.eventId), byImsi.map((i) => i.position.receivedAt), byImsi.map((i) => i.position.createdAt)],
  );
  return items.map(() => undefined);
}
