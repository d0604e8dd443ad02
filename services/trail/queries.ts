// The trail's reads. Parsing the list's query string and building its SQL are pure functions (unit
// tested); the two lookups run them.
import type { Queryable } from '../shared/db.js';
import type { TrailOutcome } from '../shared/outcome.js';

export const OUTCOMES: readonly TrailOutcome[] = ['applied', 'duplicate', 'skipped', 'superseded', 'retrying', 'dead_lettered', 'redriven'];
export const SOURCES = ['nsps', '1nce', 'sap'] as const;
export const DEFAULT_LIMIT = 50;
export const MAX_LIMIT = 500;
const MAX_SIBLINGS = 5000;

/** Where a page ends: the last event's (received_at, topic, partition, offset), newest first. */
export interface Cursor {
  receivedAt: Date;
  topic: string;
  partition: number;
  offset: string;
}

export interface ListQuery {
  source?: string;
  key?: string;
  outcome?: TrailOutcome;
  consumer?: string;
  from?: Date;
  to?: Date;
  limit: number;
  after?: Cursor;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

const LIST_PARAMS = new Set(['source', 'key', 'outcome', 'consumer', 'from', 'to', 'limit', 'cursor']);

/** The list's query string → a query, or what is wrong with it (a 400). */
export function parseListQuery(raw: Record<string, unknown>): Parsed<ListQuery> {
  const bad = (message: string): Parsed<ListQuery> => ({ ok: false, message });
  for (const name of Object.keys(raw)) if (!LIST_PARAMS.has(name)) return bad(`unknown parameter "${name}"`);
  for (const [name, value] of Object.entries(raw)) if (typeof value !== 'string') return bad(`${name}: give it once`);
  const q = raw as Record<string, string | undefined>;
  const query: ListQuery = { limit: DEFAULT_LIMIT };
  if (q.source !== undefined) {
    if (!(SOURCES as readonly string[]).includes(q.source)) return bad(`source: must be one of ${SOURCES.join(', ')}`);
    query.source = q.source;
  }
  if (q.key !== undefined) {
    if (q.key === '') return bad('key: must not be empty');
    query.key = q.key;
  }
  if (q.outcome !== undefined) {
    if (!(OUTCOMES as readonly string[]).includes(q.outcome)) return bad(`outcome: must be one of ${OUTCOMES.join(', ')}`);
    query.outcome = q.outcome as TrailOutcome;
  }
  if (q.consumer !== undefined) {
    if (q.consumer === '') return bad('consumer: must not be empty');
    query.consumer = q.consumer;
  }
  for (const name of ['from', 'to'] as const) {
    const value = q[name];
    if (value === undefined) continue;
    const time = parseTime(value);
    if (!time) return bad(`${name}: must be an ISO 8601 time (e.g. 2026-01-31T09:00:00Z) or milliseconds since the epoch`);
    query[name] = time;
  }
  if (query.from && query.to && query.from > query.to) return bad('from: must not be after to');
  if (q.limit !== undefined) {
    const limit = /^\d{1,6}$/.test(q.limit) ? Number(q.limit) : NaN;
    if (!(limit >= 1 && limit <= MAX_LIMIT)) return bad(`limit: must be a whole number from 1 to ${MAX_LIMIT}`);
    query.limit = limit;
  }
  if (q.cursor !== undefined) {
    const after = decodeCursor(q.cursor);
    if (!after) return bad('cursor: not a cursor this API gave out');
    query.after = after;
  }
  return { ok: true, value: query };
}

function parseTime(value: string): Date | undefined {
  if (/^\d{1,15}$/.test(value)) return new Date(Number(value));
  // A date and a time with a zone; a bare date means its midnight UTC.
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2}))?$/.test(value)) return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time;
}

/** Cursors are opaque to clients: base64url of the last event's sort key. */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.receivedAt.getTime(), c.topic, c.partition, c.offset]), 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Cursor | undefined {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(v) || v.length !== 4) return undefined;
    const [ms, topic, partition, offset] = v as unknown[];
    if (typeof ms !== 'number' || !Number.isFinite(ms) || typeof topic !== 'string' || !Number.isInteger(partition)) return undefined;
    if (typeof offset !== 'string' || !/^\d{1,19}$/.test(offset)) return undefined;
    return { receivedAt: new Date(ms), topic, partition: partition as number, offset };
  } catch {
    return undefined;
  }
}

export interface Sql {
  text: string;
  params: unknown[];
}

/**
 * The list's SQL: the first delivery of each event (a resent event is listed once), newest first, keyset
 * paginated; limit + 1 rows are asked for, so the caller knows whether there is a next page. `outcome`
 * means "some consumer's latest outcome is X" (with `consumer`: that consumer's); `consumer` alone means
 * "events that consumer handled".
 */
export function buildListSql(q: ListQuery): Sql {
  const params: unknown[] = [];
  const p = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where: string[] = [
    `NOT EXISTS (SELECT 1 FROM events d WHERE d.event_id = e.event_id
       AND (d.received_at, d.topic, d.partition, d."offset") < (e.received_at, e.topic, e.partition, e."offset"))`,
  ];
  if (q.source !== undefined) where.push(`e.source = ${p(q.source)}`);
  if (q.key !== undefined) where.push(`e.key = ${p(q.key)}`);
  if (q.from !== undefined) where.push(`e.received_at >= ${p(q.from)}`);
  if (q.to !== undefined) where.push(`e.received_at < ${p(q.to)}`);
  if (q.outcome !== undefined || q.consumer !== undefined) {
    const cond = ['l.event_id = e.event_id'];
    if (q.outcome !== undefined) cond.push(`l.outcome = ${p(q.outcome)}`);
    if (q.consumer !== undefined) cond.push(`l.consumer = ${p(q.consumer)}`);
    where.push(`EXISTS (SELECT 1 FROM latest_outcomes l WHERE ${cond.join(' AND ')})`);
  }
  if (q.after !== undefined) {
    where.push(`(e.received_at, e.topic, e.partition, e."offset") < (${p(q.after.receivedAt)}, ${p(q.after.topic)}, ${p(q.after.partition)}, ${p(q.after.offset)})`);
  }
  const text = `SELECT ${EVENT_COLUMNS} FROM events e WHERE ${where.join('\n  AND ')}
ORDER BY e.received_at DESC, e.topic DESC, e.partition DESC, e."offset" DESC
LIMIT ${p(q.limit + 1)}`;
  return { text, params };
}

const EVENT_COLUMNS = `e.event_id, e.source, e.kind, e.event_type, e.key, e.tenant, e.request_id, e.received_at, e.topic, e.partition,
  e."offset", e.size, e.sibling_group, e.attributes`;

interface EventDbRow {
  event_id: string;
  source: string;
  kind: string;
  event_type: string | null;
  key: string | null;
  tenant: string | null;
  request_id: string;
  received_at: Date | string;
  topic: string;
  partition: number;
  offset: string | number;
  size: number;
  sibling_group: string | null;
  attributes: Record<string, string> | string;
}

export interface EventView {
  event_id: string;
  source: string;
  kind: string;
  event_type: string | null;
  key: string | null;
  tenant: string | null;
  request_id: string;
  received_at: string;
  topic: string;
  partition: number;
  offset: number;
  size: number;
  sibling_group: string | null;
  attributes: Record<string, string>;
}

export interface OutcomeView {
  consumer: string;
  outcome: string;
  attempt: number;
  reason: string | null;
  effect?: Record<string, string>;
  at: string;
  topic?: string;
  partition?: number;
  offset?: number;
}

const iso = (d: Date | string) => new Date(d).toISOString();
const json = <T>(v: T | string): T => (typeof v === 'string' ? (JSON.parse(v) as T) : v);

function eventView(r: EventDbRow): EventView {
  return {
    event_id: r.event_id, source: r.source, kind: r.kind, event_type: r.event_type, key: r.key, tenant: r.tenant, request_id: r.request_id,
    received_at: iso(r.received_at), topic: r.topic, partition: r.partition, offset: Number(r.offset), size: r.size,
    sibling_group: r.sibling_group, attributes: json(r.attributes),
  };
}

function sortKey(r: EventDbRow): Cursor {
  return { receivedAt: new Date(r.received_at), topic: r.topic, partition: r.partition, offset: String(r.offset) };
}

export interface EventPage {
  items: Array<EventView & { latest: OutcomeView[] }>;
  nextCursor: string | null;
}

export async function listEvents(db: Queryable, q: ListQuery): Promise<EventPage> {
  const sql = buildListSql(q);
  const rows = (await db.query<EventDbRow>(sql.text, sql.params)).rows;
  const page = rows.slice(0, q.limit);
  const latest = new Map<string, OutcomeView[]>();
  if (page.length > 0) {
    const r = await db.query<{ event_id: string; consumer: string; outcome: string; attempt: number; reason: string | null; at: Date | string }>(
      'SELECT event_id, consumer, outcome, attempt, reason, at FROM latest_outcomes WHERE event_id = ANY($1) ORDER BY at, consumer',
      [page.map((e) => e.event_id)],
    );
    for (const o of r.rows) {
      const list = latest.get(o.event_id) ?? [];
      list.push({ consumer: o.consumer, outcome: o.outcome, attempt: o.attempt, reason: o.reason, at: iso(o.at) });
      latest.set(o.event_id, list);
    }
  }
  return {
    items: page.map((e) => ({ ...eventView(e), latest: latest.get(e.event_id) ?? [] })),
    nextCursor: rows.length > q.limit ? encodeCursor(sortKey(page[page.length - 1]!)) : null,
  };
}

export interface EventTimeline {
  /** The first delivery; null when only outcomes are known (the event is not indexed yet, or was pruned). */
  event: EventView | null;
  /** Every delivery of this event id (a sender's resend is a second one), oldest first. */
  deliveries: EventView[];
  outcomes: OutcomeView[];
  /** The other event ids of its 1NCE batch or split SAP report, in order. */
  siblings: string[];
}

/** One event's timeline; undefined when neither the event nor any outcome of it is known. */
export async function getTimeline(db: Queryable, eventId: string): Promise<EventTimeline | undefined> {
  const deliveries = (await db.query<EventDbRow>(
    `SELECT ${EVENT_COLUMNS} FROM events e WHERE e.event_id = $1 ORDER BY e.received_at, e.topic, e.partition, e."offset"`,
    [eventId],
  )).rows;
  const outcomes = (await db.query<{
    consumer: string; outcome: string; attempt: number; reason: string | null; effect: Record<string, string> | string; at: Date | string;
    topic: string; partition: number; offset: string | number;
  }>(
    `SELECT consumer, outcome, attempt, reason, effect, at, topic, partition, "offset" FROM outcomes WHERE event_id = $1
     ORDER BY at, outcome_partition, outcome_offset, outcome_index`,
    [eventId],
  )).rows;
  if (deliveries.length === 0 && outcomes.length === 0) return undefined;
  const groups = [...new Set(deliveries.map((d) => d.sibling_group).filter((g): g is string => g !== null))];
  const siblings = groups.length === 0 ? [] : (await db.query<{ event_id: string }>(
    `SELECT event_id FROM events WHERE sibling_group = ANY($1) AND event_id <> $2
     GROUP BY event_id
     ORDER BY min(received_at),
       min(CASE WHEN coalesce(attributes->>'part', attributes->>'index') ~ '^[0-9]{1,9}$'
                THEN coalesce(attributes->>'part', attributes->>'index')::integer END),
       event_id
     LIMIT ${MAX_SIBLINGS}`,
    [groups, eventId],
  )).rows.map((r) => r.event_id);
  const views = deliveries.map(eventView);
  return {
    event: views[0] ?? null,
    deliveries: views,
    outcomes: outcomes.map((o) => ({
      consumer: o.consumer, outcome: o.outcome, attempt: o.attempt, reason: o.reason, effect: json(o.effect), at: iso(o.at),
      topic: o.topic, partition: o.partition, offset: Number(o.offset),
    })),
    siblings,
  };
}
