// One database interface over PostgreSQL (pg) and PGlite (Postgres in-process, the embedded default).
// The same SQL and the same migrations run on both.
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import pgCopy from 'pg-copy-streams';
import { classifyError, errorMessage } from './errors.js';
import type { Logger } from './logger.js';
import { holdSessionLock, type HeldLock } from './session-lock.js';

export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<QueryResult<R>>;
}

export interface Db extends Queryable {
  readonly kind: 'postgres' | 'pglite';
  /** Runs several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Commits when fn resolves, rolls back when it throws. */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only (PGlite does not take COPY FROM STDIN through its API): runs `sql`, a
   * `COPY ... FROM STDIN` statement, with `data` as its input, in a transaction of its own.
   */
  copyFrom?(sql: string, data: Buffer): Promise<void>;
  /**
   * PostgreSQL only (PGlite is one session in one process): holds a session-level advisory lock on a
   * connection of its own until released or the process ends (session-lock.ts).
   */
  holdSessionLock?(scope: string, id: number): Promise<HeldLock>;
  close(): Promise<void>;
}

export interface OpenDbOptions {
  /** postgres://… ; when absent, PGlite is used. */
  url?: string | undefined;
  /** PGlite data folder; 'memory://' keeps it in memory. */
  dataDir?: string | undefined;
  /** Schema to create (if missing) and use as search_path: isolates tests and services. */
  schema?: string | undefined;
  poolSize?: number;
  /**
   * PostgreSQL: open every connection of the pool before returning, not at first use. A consumer's first
   * fetch after a start (a backlog that built up while it was down, an operator replay) sends one query per
   * partition batch at once, and each waited while PostgreSQL started a backend for it: 25–100 ms of a
   * 0.4 s replay of 20,000 events (docs/benchmarks.md). Connections idle for 10 s are closed as before.
   */
  openAllConnections?: boolean;
  /**
   * PostgreSQL's `application_name` of every connection, which pg_stat_activity shows: an operator sees which
   * service holds which connections. An `application_name` in the URL wins.
   */
  applicationName?: string;
  /**
   * Told each time the first connection fails because PostgreSQL is not there (yet): a service started
   * before its database, or during its restart, waits for it instead of exiting.
   */
  onWaiting?: (err: string, retryInMs: number) => void;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export async function openDb(opts: OpenDbOptions): Promise<Db> {
  if (opts.schema !== undefined && !SCHEMA_NAME.test(opts.schema)) throw new Error(`invalid schema name: ${opts.schema}`);
  if (!opts.url) return openPglite(opts.dataDir ?? 'memory://', opts.schema);
  await waitForPostgres(opts.url, opts.schema, opts.onWaiting);
  return openPostgres(opts.url, opts);
}

/**
 * Opens `size` connections at once and gives them back to the pool, idle. One that cannot be opened now (the
 * server's connection limit reached, a restart in between) is left to be opened at first use, as without this.
 */
async function openEveryConnection(pool: pg.Pool, size: number): Promise<void> {
  const opened = await Promise.allSettled(Array.from({ length: size }, () => pool.connect()));
  for (const result of opened) if (result.status === 'fulfilled') result.value.release();
}

/** How a consumer service opens its database: every connection at start, named `switchboard-<service>`. */
export function serviceConnections(service: string): Pick<OpenDbOptions, 'openAllConnections' | 'applicationName'> {
  return { openAllConnections: true, applicationName: `switchboard-${service}` };
}

/** The onWaiting of a service: one warning per failed try, so an operator sees what the service waits for. */
export function logWaitingForPostgres(logger: Logger): NonNullable<OpenDbOptions['onWaiting']> {
  return (err, retryInMs) => logger.warn({ err, retry_in_ms: retryInMs }, 'PostgreSQL is not reachable: waiting for it');
}

/** Connects once (creating the schema, if one is asked for), retrying with backoff for as long as the server is not there. */
async function waitForPostgres(url: string, schema: string | undefined, onWaiting: OpenDbOptions['onWaiting']): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if (schema) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      return;
    } catch (err) {
      // Not reachable or not ready yet (starting, restarting, a host name a compose network has not made yet):
      // waited out. Anything else — a wrong password, a missing database — is the operator's to fix.
      if (classifyError(err) !== 'unavailable') throw err;
      const delayMs = Math.min(500 * 2 ** attempt, 10_000);
      onWaiting?.(errorMessage(err), delayMs);
      await new Promise((r) => setTimeout(r, delayMs));
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}

const DEFAULT_POOL_SIZE = 5;

async function openPostgres(url: string, opts: OpenDbOptions): Promise<Db> {
  const { schema, applicationName } = opts;
  const poolSize = opts.poolSize ?? DEFAULT_POOL_SIZE;
  // pg takes the URL's own parameters over these.
  const connection: pg.ClientConfig = {
    connectionString: url,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    ...(applicationName ? { application_name: applicationName } : {}),
  };
  const pool = new pg.Pool({ ...connection, max: poolSize });
  // A restarted server drops idle connections; the pool replaces them, so the error is not fatal.
  pool.on('error', () => undefined);
  // The pool listens for errors only on idle clients. A client held by a transaction or a COPY whose connection
  // died between two statements (the server crashed or restarted meanwhile) emitted an 'error' nobody handled,
  // which ended the process; its next statement rejects with the error anyway, and is retried as an outage.
  pool.on('connect', (client) => client.on('error', () => undefined));
  if (opts.openAllConnections) await openEveryConnection(pool, poolSize);
  const toResult = <R>(r: pg.QueryResult): QueryResult<R> => ({ rows: r.rows as R[], rowCount: r.rowCount ?? 0 });
  return {
    kind: 'postgres',
    async query<R>(sql: string, params?: unknown[]) {
      return toResult<R>(await pool.query(sql, params as unknown[]));
    },
    async exec(sql: string) {
      await pool.query(sql);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({
          async query<R>(sql: string, params?: unknown[]) {
            return toResult<R>(await client.query(sql, params as unknown[]));
          },
        });
        await client.query('COMMIT');
        return result;
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        client.release();
      }
    },
    async copyFrom(sql: string, data: Buffer) {
      const client = await pool.connect();
      let failure: unknown;
      try {
        await new Promise<void>((resolve, reject) => {
          const input = client.query(pgCopy.from(sql));
          input.on('error', reject);
          input.on('finish', resolve);
          input.end(data);
        });
      } catch (err) {
        failure = err;
        throw err;
      } finally {
        client.release(failure instanceof Error ? failure : undefined);
      }
    },
    holdSessionLock: (scope, id) => holdSessionLock({ ...connection, connectionTimeoutMillis: 10_000 }, scope, id),
    async close() {
      await pool.end();
    },
  };
}

async function openPglite(dataDir: string, schema: string | undefined): Promise<Db> {
  const { PGlite } = await import('@electric-sql/pglite');
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const db = new PGlite(dataDir);
  await db.waitReady;
  if (schema) await db.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema};`);
  const toResult = <R>(r: { rows: unknown[]; affectedRows?: number }): QueryResult<R> => ({
    rows: r.rows as R[],
    rowCount: r.affectedRows ?? r.rows.length,
  });
  return {
    kind: 'pglite',
    async query<R>(sql: string, params?: unknown[]) {
      return toResult<R>(await db.query(sql, params));
    },
    async exec(sql: string) {
      await db.exec(sql);
    },
    async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
      return db.transaction(async (tx) =>
        fn({
          async query<R>(sql: string, params?: unknown[]) {
            return toResult<R>(await tx.query(sql, params));
          },
        }),
      );
    },
    async close() {
      await db.close();
    },
  };
}

/**
 * Applies `NNN_name.sql` files from `dir` in order, each once, recording them in schema_migrations.
 * Runs under an advisory lock so that several instances starting together do not race.
 */
export async function migrate(db: Db, dir: string, scope: string): Promise<string[]> {
  const files = readdirSync(dir).filter((f) => /^\d+_.+\.sql$/.test(f)).sort();
  await db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    scope text NOT NULL, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, name))`);
  const applied: string[] = [];
  await db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`migrate:${scope}`]);
    const done = new Set((await tx.query<{ name: string }>('SELECT name FROM schema_migrations WHERE scope = $1', [scope])).rows.map((r) => r.name));
    for (const file of files) {
      if (done.has(file)) continue;
      for (const statement of splitStatements(readFileSync(join(dir, file), 'utf8'))) await tx.query(statement);
      await tx.query('INSERT INTO schema_migrations (scope, name) VALUES ($1, $2)', [scope, file]);
      applied.push(file);
    }
  });
  return applied;
}

/** Migrations are plain DDL separated by semicolons at line ends (no functions with bodies). */
function splitStatements(sql: string): string[] {
  return sql
    .split(/;\s*(?:\r?\n|$)/)
    .map((s) => s.replace(/^\s*--.*$/gm, '').trim())
    .filter((s) => s.length > 0);
}
