// The rebuild's tables: shadow copies created and dropped, swapped into the live tables, or kept as
// a named point-in-time snapshot. The rebuild's fold writes the shadow tables (rebuild-fold.ts).
import { randomBytes } from 'node:crypto';
import type { Db, Queryable } from '../shared/db.js';
import { errorMessage } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { lockUnlessHeld } from '../shared/session-lock.js';
import { renameHistoryIntoPlace } from './history-swap.js';
import { HISTORY_COLUMNS, LIVE_TABLES, PART_COLUMNS, SYSTEM_COLUMNS, shadowTables, type Tables } from './tables.js';

// Who owns a set of shadow tables: the rebuild that holds the session lock on its token (PostgreSQL), or a
// rebuild of this process (PGlite, which is one session in one process: its data folder is locked to one
// process, so tables no rebuild of this process owns are abandoned). Tables nobody owns are left by a
// rebuild that was killed (kill -9, a lost machine) before it could drop them: the next rebuild, and each
// start of the service, drops them.
export const SHADOW_LOCK_SCOPE = 'scc-inventory:rebuild';
const tokensOfThisProcess = new Set<string>();

/** A new rebuild's token: the shadow tables' infix and, as a 32-bit number, its lock's id. */
export function newShadowToken(): string {
  return randomBytes(4).toString('hex');
}

/** The token as the lock's 32-bit id. */
export const lockIdOf = (token: string): number => Number.parseInt(token, 16) | 0;

export interface ShadowClaim {
  /** The tables are no longer this rebuild's (call after dropping them, or to leave them to the next sweep). */
  release(): Promise<void>;
}

/** Marks the token's shadow tables as owned by this rebuild for as long as it runs; take it before creating them. */
export async function claimShadowTables(db: Db, token: string): Promise<ShadowClaim> {
  tokensOfThisProcess.add(token);
  try {
    const held = await db.holdSessionLock?.(SHADOW_LOCK_SCOPE, lockIdOf(token));
    return {
      async release() {
        try {
          await held?.release();
        } finally {
          tokensOfThisProcess.delete(token);
        }
      },
    };
  } catch (err) {
    tokensOfThisProcess.delete(token);
    throw err;
  }
}

/**
 * Drops every set of shadow tables in the schema that no running rebuild owns, and says so in the log; returns
 * their tokens. Never a reason to stop (a failure is logged; the tables stay until the next try).
 */
export async function dropAbandonedShadowTables(db: Db, logger: Logger): Promise<string[]> {
  try {
    const tokens = await dropUnownedShadowTables(db);
    if (tokens.length > 0) {
      logger.warn({ tables: tokens.map((t) => `rebuild_${t}_*`) }, 'dropped the shadow tables of rebuilds that ended without dropping them (killed)');
    }
    return tokens;
  } catch (err) {
    logger.warn({ reason: errorMessage(err) }, 'could not look for shadow tables left by killed rebuilds; the next rebuild or start looks again');
    return [];
  }
}

/** Each set is dropped under its token's lock, taken only when no session holds it: a rebuild still running keeps its tables. */
async function dropUnownedShadowTables(db: Db): Promise<string[]> {
  const found = await db.query<{ token: string }>(
    `SELECT DISTINCT substring(tablename from '^rebuild_([0-9a-f]{8})_') AS token FROM pg_tables
      WHERE schemaname = current_schema() AND tablename ~ '^rebuild_[0-9a-f]{8}_(systems|history|parts|processed)$' ORDER BY 1`,
  );
  const dropped: string[] = [];
  for (const { token } of found.rows) {
    if (tokensOfThisProcess.has(token)) continue;
    const gone = await db.transaction(async (tx) => {
      if (!(await lockUnlessHeld(tx, SHADOW_LOCK_SCOPE, lockIdOf(token)))) return false;
      await tx.query(dropTablesSql(shadowTables(token)));
      return true;
    });
    if (gone) dropped.push(token);
  }
  return dropped;
}

/**
 * Logged, all of them: crash recovery empties every unlogged table, and a rebuild waits a database outage out,
 * so after a crash of PostgreSQL it went on writing into emptied shadow tables and swapped in an inventory
 * (and idempotency rows) without what it had written before the crash (test/e2e/faults/rebuild-crash.test.ts).
 * Logging the rows as each chunk is written costs PostgreSQL little beside parsing them (in psql: a COPY of
 * 100,000 idempotency rows 136-150 ms against 113-131 ms unlogged; 100,400 history rows within the noise, 1.5-2.0 s
 * either way). The history of a live rebuild also becomes the live table itself (history-swap.ts).
 * The idempotency rows get no key: the rebuild writes each event_id once (rebuild-fold.ts) and seldom
 * looks one up (indexShadowProcessed), and the copy into the live table checks the key anyway.
 */
export async function createShadowTables(db: Db, t: Tables): Promise<void> {
  await db.exec(`
    CREATE TABLE ${t.systems} (LIKE ${LIVE_TABLES.systems} INCLUDING ALL);
    CREATE TABLE ${t.history} (LIKE ${LIVE_TABLES.history} INCLUDING ALL);
    CREATE TABLE ${t.parts} (LIKE ${LIVE_TABLES.parts} INCLUDING ALL);
    CREATE TABLE ${t.processed} (LIKE ${LIVE_TABLES.processed} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);`);
}

/** Indexes the shadow idempotency rows by event_id: done once, when the rebuild first has to look one up. */
export async function indexShadowProcessed(q: Queryable, t: Tables): Promise<void> {
  await q.query(`CREATE INDEX ${t.processed}_by_event ON ${t.processed} (event_id)`);
}

export async function dropShadowTables(db: Db, t: Tables): Promise<void> {
  await db.exec(dropTablesSql(t));
}

const dropTablesSql = (t: Tables): string => `DROP TABLE IF EXISTS ${t.systems}, ${t.history}, ${t.parts}, ${t.processed}`;

/** How long the swap waits for the live history's exclusive lock before it copies the rows instead. */
export const HISTORY_RENAME_LOCK_TIMEOUT_MS = 2000;

/**
 * Replaces the live projection and this consumer's idempotency rows by a rebuild's, in the caller's
 * transaction: afterwards the live tables hold exactly the shadow tables' rows. The history table is
 * replaced by renaming where nothing an operator added to it would be lost (history-swap.ts), last, so that
 * its readers wait only for the commit; otherwise its rows are copied like the others'. Returns how the
 * history was swapped, and why it was copied.
 */
export async function swapShadowIntoLive(q: Queryable, shadow: Tables, consumer: string, logger: Logger): Promise<HistorySwap> {
  const live = LIVE_TABLES;
  // DELETE rather than TRUNCATE: readers keep their MVCC snapshot of the old rows and are never blocked.
  await q.query(`DELETE FROM ${live.systems}`);
  await q.query(`INSERT INTO ${live.systems} (${SYSTEM_COLUMNS}) SELECT ${SYSTEM_COLUMNS} FROM ${shadow.systems}`);
  await q.query(`DELETE FROM ${live.parts}`);
  await q.query(`INSERT INTO ${live.parts} (${PART_COLUMNS}) SELECT ${PART_COLUMNS} FROM ${shadow.parts}`);
  // The idempotency rows are the largest part: only the difference is written. After a live consumer
  // ran, nearly every row the rebuild wrote is there already, and rewriting them all (a DELETE and an
  // INSERT of every row, logged, with the key's index) held the lock for most of the swap and left as
  // many dead rows behind. A row that stays keeps its processed_at: when the effect was first recorded.
  await q.query(
    `DELETE FROM ${live.processed} l WHERE l.consumer = $1
       AND NOT EXISTS (SELECT 1 FROM ${shadow.processed} s WHERE s.consumer = l.consumer AND s.event_id = l.event_id AND s.outcome = l.outcome)`,
    [consumer],
  );
  // In key order: the live key's index is then filled leaf after leaf.
  await q.query(
    `INSERT INTO ${live.processed} (consumer, event_id, outcome, processed_at)
     SELECT consumer, event_id, outcome, processed_at FROM ${shadow.processed} s WHERE s.consumer = $1
       AND NOT EXISTS (SELECT 1 FROM ${live.processed} l WHERE l.consumer = s.consumer AND l.event_id = s.event_id)
     ORDER BY event_id`,
    [consumer],
  );
  const because = await renameHistoryIntoPlace(q, live.history, shadow.history, HISTORY_RENAME_LOCK_TIMEOUT_MS);
  if (because === undefined) return { how: 'renamed' };
  // A warning: copying holds the live applies back for time proportional to the history (docs/replay.md).
  logger.warn({ table: live.history, reason: because }, 'rebuild: copying the history rows instead of renaming the rebuilt table');
  await copyHistoryIntoLive(q, shadow);
  return { how: 'copied', because };
}

export type HistorySwap = { how: 'renamed' } | { how: 'copied'; because: string };

async function copyHistoryIntoLive(q: Queryable, shadow: Tables): Promise<void> {
  const live = LIVE_TABLES;
  // History rows are facts keyed by (system, report): as for the idempotency rows, only the
  // difference is written — a live row the rebuild made again, column for column, stays (over a live
  // history of 100,000 rows the rebuild made again: 0.9 s against 1.3 s for deleting and inserting them
  // all, and no dead rows). Into an empty live history (a first rebuild, a restored database) the rows
  // are simply inserted: the comparison would only cost time there.
  const liveHasHistory = (await q.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${live.history}) AS any`)).rows[0]?.any === true;
  if (liveHasHistory) {
    await q.query(
      `DELETE FROM ${live.history} l WHERE NOT EXISTS (
         SELECT 1 FROM ${shadow.history} s WHERE s.system_id = l.system_id AND s.report_id = l.report_id
           AND s.event_id = l.event_id AND s.report_type = l.report_type AND s.change = l.change AND s.before IS NOT DISTINCT FROM l.before
           AND s.after = l.after AND s.changed_at = l.changed_at AND s.source_partition = l.source_partition AND s.source_offset = l.source_offset)`,
    );
    await q.query(
      `INSERT INTO ${live.history} (${HISTORY_COLUMNS})
       SELECT ${HISTORY_COLUMNS} FROM ${shadow.history} s
         WHERE NOT EXISTS (SELECT 1 FROM ${live.history} l WHERE l.system_id = s.system_id AND l.report_id = s.report_id)`,
    );
  } else {
    await q.query(`INSERT INTO ${live.history} (${HISTORY_COLUMNS}) SELECT ${HISTORY_COLUMNS} FROM ${shadow.history}`);
  }
}

/** Stores a rebuild's systems and history as the named snapshot (replacing one of the same name). */
export async function saveSnapshot(q: Queryable, shadow: Tables, name: string, asOf: Date, records: number): Promise<void> {
  await q.query('DELETE FROM snapshots WHERE name = $1', [name]);
  await q.query('INSERT INTO snapshots (name, as_of, records) VALUES ($1, $2, $3)', [name, asOf, records]);
  await q.query(`INSERT INTO snapshot_systems (snapshot, ${SYSTEM_COLUMNS}) SELECT $1, ${SYSTEM_COLUMNS} FROM ${shadow.systems}`, [name]);
  await q.query(`INSERT INTO snapshot_system_history (snapshot, ${HISTORY_COLUMNS}) SELECT $1, ${HISTORY_COLUMNS} FROM ${shadow.history}`, [name]);
}
