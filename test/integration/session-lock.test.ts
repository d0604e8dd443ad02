// The session lock a rebuild holds on its own connection (services/shared/session-lock.ts), against the real
// PostgreSQL: held until released, taken again when its connection is lost, gone with release().
import { afterAll, describe, expect, it } from 'vitest';
import type { Db } from '../../services/shared/db.js';
import { eventually, testDb } from '../support/env.js';

describe('session lock', () => {
  const dbs: Db[] = [];
  afterAll(async () => {
    for (const db of dbs) await db.close().catch(() => undefined);
  });

  /** The backend holding the (scope, id) lock of this schema, if any. */
  const holder = async (db: Db, scope: string, id: number): Promise<number | undefined> => {
    const r = await db.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
          AND classid::bigint = (hashtext(current_schema() || ':' || $1::text)::bigint & 4294967295) AND objid::bigint = ($2::bigint & 4294967295)`,
      [scope, id],
    );
    return r.rows[0]?.pid;
  };

  it('is taken again when its connection is lost, and is gone once released', { timeout: 60_000 }, async () => {
    const db = await testDb();
    dbs.push(db);
    const lock = await db.holdSessionLock!('test:scope', -123456);
    const first = await holder(db, 'test:scope', -123456);
    expect(first).toBeDefined();
    // Others cannot take it meanwhile.
    const tryLock = () => db.query<{ got: boolean }>(
      `SELECT pg_try_advisory_xact_lock(hashtext(current_schema() || ':' || $1::text), $2::int) AS got`, ['test:scope', -123456]);
    expect((await tryLock()).rows[0]!.got).toBe(false);

    // The server ends its connection (what a restart of PostgreSQL does to every connection).
    await db.query('SELECT pg_terminate_backend($1)', [first]);
    const second = await eventually(async () => {
      const pid = await holder(db, 'test:scope', -123456);
      return pid !== undefined && pid !== first ? pid : undefined;
    }, 30_000, 100);
    expect(second).toBeDefined();
    expect((await tryLock()).rows[0]!.got).toBe(false);

    await lock.release();
    expect(await holder(db, 'test:scope', -123456)).toBeUndefined();
    expect((await tryLock()).rows[0]!.got).toBe(true);
  });
});
