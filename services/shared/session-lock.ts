// A PostgreSQL session-level advisory lock held on a connection of its own, for work that spans many
// transactions and must be seen as alive by other processes (a rebuild's shadow tables, rebuild-tables.ts).
// The server releases the lock when the connection ends, so it ends with the process however the process
// ends — kill -9 included — which no row or heartbeat written by the process can promise.
//
// The key is the two-int form (hashtext(current_schema() || ':' || scope), id): PostgreSQL keeps it apart
// from the one-bigint keys the service's transaction locks use (writes.ts, migrations), so no hash
// collision can make a held session lock stall a live apply.
import pg from 'pg';
import type { Queryable } from './db.js';

export interface HeldLock {
  /** Releases the lock and closes its connection. */
  release(): Promise<void>;
}

/** The SQL of the lock's key, with $1 the scope and $2 the id. */
const SESSION_LOCK_KEY = `hashtext(current_schema() || ':' || $1::text), $2::int`;

/**
 * In the caller's transaction: takes the lock until the transaction ends, unless a session holds it — this
 * session included. Behind PgBouncer's transaction pooling the holder's server connection can be the very one
 * serving this transaction, where PostgreSQL would grant the lock again (a session's own locks do not block
 * it); pg_locks shows it held all the same. Returns whether the lock was taken.
 */
export async function lockUnlessHeld(tx: Queryable, scope: string, id: number): Promise<boolean> {
  const held = await tx.query<{ held: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
        AND classid::bigint = (hashtext(current_schema() || ':' || $1::text)::bigint & 4294967295)
        AND objid::bigint = ($2::bigint & 4294967295)) AS held`,
    [scope, id],
  );
  if (held.rows[0]?.held !== false) return false;
  const taken = await tx.query<{ taken: boolean }>(`SELECT pg_try_advisory_xact_lock(${SESSION_LOCK_KEY}) AS taken`, [scope, id]);
  return taken.rows[0]?.taken === true;
}

const RECONNECT_DELAYS_MS = [200, 500, 1000, 2000, 5000];

/**
 * Takes the lock (waiting while another session holds it) and keeps it until released. If the connection
 * is lost (PostgreSQL restarted), it reconnects with backoff for as long as it takes and takes the lock
 * again: between the loss and the new lock another session may take it (docs/replay.md says what that means
 * for a rebuild).
 */
export async function holdSessionLock(config: pg.ClientConfig, scope: string, id: number): Promise<HeldLock> {
  let released = false;
  let client: pg.Client | undefined;

  const take = async (): Promise<pg.Client> => {
    const c = new pg.Client(config);
    c.on('error', () => undefined); // a lost connection also ends it: handled by 'end'
    try {
      await c.connect();
      await c.query(`SELECT pg_advisory_lock(${SESSION_LOCK_KEY})`, [scope, id]);
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    c.on('end', () => {
      if (!released) void retake();
    });
    return c;
  };

  const retake = async () => {
    client = undefined;
    for (let attempt = 0; !released; attempt++) {
      await new Promise((r) => setTimeout(r, RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]));
      if (released) return;
      try {
        const c = await take();
        if (released) {
          await c.end().catch(() => undefined);
          return;
        }
        client = c;
        return;
      } catch {
        // still away: try again
      }
    }
  };

  client = await take();
  return {
    async release() {
      released = true;
      const c = client;
      client = undefined;
      // Ending the session releases its advisory locks.
      await c?.end().catch(() => undefined);
    },
  };
}
