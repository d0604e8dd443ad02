// A service started before its PostgreSQL (a power cut, a compose network where the database comes up
// last) waits for it instead of exiting; a database that does not exist is not waited for.
import { createConnection, createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../services/shared/db.js';
import { freePort } from '../support/env.js';

const server = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test');

/** A TCP proxy to the real server on `port`, started only when the test says the database is "up". */
function proxyTo(port: number): Promise<Server> {
  const proxy = createServer((client) => {
    const upstream = createConnection(Number(server.port || 5432), server.hostname);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => proxy.listen(port, '127.0.0.1', () => resolve(proxy)));
}

describe('openDb waits for PostgreSQL', () => {
  let proxy: Server | undefined;
  let db: Db | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
    proxy?.close();
    proxy = undefined;
  });

  it('a server that is not there yet: retried with backoff until it answers, then the schema is made and queries run', async () => {
    const port = await freePort();
    const url = new URL(server.toString());
    url.port = String(port);
    const waits: Array<{ err: string; retryInMs: number }> = [];
    const opening = openDb({ url: url.toString(), schema: `wait_${Date.now().toString(36)}`, onWaiting: (err, retryInMs) => waits.push({ err, retryInMs }) });
    // Nothing listens for about 2 s: the first tries are refused.
    await new Promise((r) => setTimeout(r, 2000));
    expect(waits.length, 'told about the refused tries').toBeGreaterThanOrEqual(2);
    expect(waits[0]!.err).toContain('ECONNREFUSED');
    expect(waits[1]!.retryInMs, 'backoff grows').toBeGreaterThan(waits[0]!.retryInMs);
    proxy = await proxyTo(port);
    db = await opening;
    const { rows } = await db.query<{ schema: string }>('SELECT current_schema() AS schema');
    expect(rows[0]!.schema).toMatch(/^wait_/);
    await db.exec(`DROP SCHEMA ${rows[0]!.schema} CASCADE`);
  }, 60_000);

  it('a database that does not exist is the operator\'s to fix: refused at once, not waited for', async () => {
    const url = new URL(server.toString());
    url.pathname = '/no_such_database_here';
    let waited = 0;
    await expect(openDb({ url: url.toString(), onWaiting: () => waited++ })).rejects.toThrow(/does not exist/);
    expect(waited).toBe(0);
  });
});
