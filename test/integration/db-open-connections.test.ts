// openDb's openAllConnections and applicationName against the real PostgreSQL: the pool's connections are open
// when openDb returns (a consumer's first batch after a start does not wait for backends to start), named for
// pg_stat_activity, and a server that will not give them all (a role's connection limit) still opens the
// database, which then works.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../services/shared/db.js';

/** The test server's URL with another user and an application name of its own (connection string parameters). */
function urlFor(user: string | undefined, applicationName: string): string {
  const url = new URL(process.env.DATABASE_URL!);
  if (user) url.username = user;
  url.searchParams.set('application_name', applicationName);
  return url.toString();
}

describe('openDb openAllConnections and applicationName (PostgreSQL)', () => {
  const dbs: Db[] = [];
  const roles: string[] = [];
  let admin: Db | undefined;
  const adminDb = async (): Promise<Db> => (admin ??= await openDb({ url: process.env.DATABASE_URL! }));
  /** Backends of this application name, counted by the server. */
  const backends = async (applicationName: string): Promise<number> => {
    const r = await (await adminDb()).query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    return r.rows[0]!.n;
  };
  afterAll(async () => {
    for (const db of dbs) await db.close().catch(() => undefined);
    for (const role of roles) await admin?.exec(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await admin?.close();
  });

  it('opens every connection of the pool before it returns; without it, none until first use', async () => {
    const warm = `sb_warm_${randomBytes(4).toString('hex')}`;
    const lazy = `sb_lazy_${randomBytes(4).toString('hex')}`;
    dbs.push(await openDb({ url: urlFor(undefined, warm), poolSize: 4, openAllConnections: true }));
    const lazyDb = await openDb({ url: urlFor(undefined, lazy), poolSize: 4 });
    dbs.push(lazyDb);
    expect(await backends(warm)).toBe(4);
    expect(await backends(lazy)).toBe(0);
    await lazyDb.query('SELECT 1');
    expect(await backends(lazy)).toBe(1);
  });

  it('names its connections with applicationName, unless the URL names them', async () => {
    const named = `sb_named_${randomBytes(4).toString('hex')}`;
    const fromUrl = `sb_url_${randomBytes(4).toString('hex')}`;
    const ignored = `sb_ignored_${randomBytes(4).toString('hex')}`;
    dbs.push(await openDb({ url: process.env.DATABASE_URL!, poolSize: 2, openAllConnections: true, applicationName: named }));
    dbs.push(await openDb({ url: urlFor(undefined, fromUrl), poolSize: 2, openAllConnections: true, applicationName: ignored }));
    expect(await backends(named)).toBe(2);
    expect(await backends(fromUrl)).toBe(2);
    expect(await backends(ignored)).toBe(0);
  });

  it('still opens, and works, when the server gives fewer connections than the pool holds', async () => {
    const role = `sb_limited_${randomBytes(4).toString('hex')}`;
    const name = `sb_limit_${randomBytes(4).toString('hex')}`;
    await (await adminDb()).exec(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 2`);
    roles.push(role);
    const db = await openDb({ url: urlFor(role, name), poolSize: 5, openAllConnections: true });
    dbs.push(db);
    // Those it could open are kept (the first connection openDb makes to wait for the server may still be
    // leaving, and count against the limit for a moment).
    const opened = await backends(name);
    expect(opened).toBeGreaterThanOrEqual(1);
    expect(opened).toBeLessThanOrEqual(2);
    const r = await db.query<{ one: number }>('SELECT 1 AS one');
    expect(r.rows[0]!.one).toBe(1);
  });
});
