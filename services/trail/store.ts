// The trail's writes: rows from project.ts inserted idempotently (a redelivered, replayed or re-produced
// record adds nothing), each consumer's latest outcome kept up to date, and pruning by age.
import type { Queryable } from '../shared/db.js';
import type { EventRow, OutcomeRow } from './project.js';

const CHUNK = 500;

export interface Written {
  events: number;
  outcomes: number;
}

/** Inserts a batch of rows in the caller's transaction; returns how many were new. */
export async function writeRows(tx: Queryable, events: readonly EventRow[], outcomes: readonly OutcomeRow[]): Promise<Written> {
  let newEvents = 0;
  let newOutcomes = 0;
  for (let i = 0; i < events.length; i += CHUNK) newEvents += await insertEvents(tx, events.slice(i, i + CHUNK));
  for (let i = 0; i < outcomes.length; i += CHUNK) newOutcomes += await insertOutcomes(tx, outcomes.slice(i, i + CHUNK));
  const latest = latestByConsumer(outcomes);
  for (let i = 0; i < latest.length; i += CHUNK) await upsertLatest(tx, latest.slice(i, i + CHUNK));
  return { events: newEvents, outcomes: newOutcomes };
}

/** `($1, $2, …), ($n+1, …)` for rows of `width` parameters. */
export function valuesList(rows: number, width: number): string {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) out.push(`(${Array.from({ length: width }, (_, c) => `$${r * width + c + 1}`).join(', ')})`);
  return out.join(', ');
}

async function insertEvents(tx: Queryable, rows: readonly EventRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const params = rows.flatMap((r) => [
    r.topic, r.partition, r.offset, r.event_id, r.source, r.kind, r.event_type, r.key, r.tenant, r.request_id, r.received_at, r.size,
    r.sibling_group, JSON.stringify(r.attributes),
  ]);
  // No conflict target: both the position (a redelivery) and the delivery identity (a re-produce) count.
  const result = await tx.query(
    `INSERT INTO events (topic, partition, "offset", event_id, source, kind, event_type, key, tenant, request_id, received_at, size, sibling_group, attributes)
     VALUES ${valuesList(rows.length, 14)} ON CONFLICT DO NOTHING`,
    params,
  );
  return result.rowCount;
}

async function insertOutcomes(tx: Queryable, rows: readonly OutcomeRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const params = rows.flatMap((r) => [
    r.outcome_topic, r.outcome_partition, r.outcome_offset, r.outcome_index, r.event_id, r.consumer, r.outcome, r.attempt, r.reason, JSON.stringify(r.effect), r.at,
    r.topic, r.partition, r.offset,
  ]);
  const result = await tx.query(
    `INSERT INTO outcomes (outcome_topic, outcome_partition, outcome_offset, outcome_index, event_id, consumer, outcome, attempt, reason, effect, at, topic, partition, "offset")
     VALUES ${valuesList(rows.length, 14)} ON CONFLICT DO NOTHING`,
    params,
  );
  return result.rowCount;
}

/** Later wins: by `at`, then by position in the outcomes topic (where one event's outcomes keep their order). */
export function isLater(a: Pick<OutcomeRow, 'at' | 'outcome_offset'>, b: Pick<OutcomeRow, 'at' | 'outcome_offset'>): boolean {
  const byTime = a.at.getTime() - b.at.getTime();
  return byTime !== 0 ? byTime > 0 : BigInt(a.outcome_offset) > BigInt(b.outcome_offset);
}

/** Each (event, consumer)'s latest outcome of a batch: one row each, as one upsert statement needs. */
export function latestByConsumer(rows: readonly OutcomeRow[]): OutcomeRow[] {
  const latest = new Map<string, OutcomeRow>();
  for (const row of rows) {
    const id = JSON.stringify([row.event_id, row.consumer]);
    const known = latest.get(id);
    if (!known || isLater(row, known)) latest.set(id, row);
  }
  return [...latest.values()];
}

async function upsertLatest(tx: Queryable, rows: readonly OutcomeRow[]): Promise<void> {
  if (rows.length === 0) return;
  const params = rows.flatMap((r) => [r.event_id, r.consumer, r.outcome, r.attempt, r.reason, r.at, r.outcome_partition, r.outcome_offset]);
  await tx.query(
    `INSERT INTO latest_outcomes AS l (event_id, consumer, outcome, attempt, reason, at, outcome_partition, outcome_offset)
     VALUES ${valuesList(rows.length, 8)}
     ON CONFLICT (event_id, consumer) DO UPDATE SET
       outcome = excluded.outcome, attempt = excluded.attempt, reason = excluded.reason, at = excluded.at,
       outcome_partition = excluded.outcome_partition, outcome_offset = excluded.outcome_offset
     WHERE (excluded.at, excluded.outcome_offset) >= (l.at, l.outcome_offset)`,
    params,
  );
}

export interface Pruned {
  events: number;
  outcomes: number;
}

/** Removes index rows older than the cutoff: events by received_at, outcomes by at. */
export async function prune(db: Queryable, cutoff: Date): Promise<Pruned> {
  const events = await db.query('DELETE FROM events WHERE received_at < $1', [cutoff]);
  const outcomes = await db.query('DELETE FROM outcomes WHERE at < $1', [cutoff]);
  await db.query('DELETE FROM latest_outcomes WHERE at < $1', [cutoff]);
  return { events: events.rowCount, outcomes: outcomes.rowCount };
}
