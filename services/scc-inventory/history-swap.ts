// A live rebuild's history swap by renaming: the rebuilt (logged) shadow history table takes the live
// table's place, its indexes the live indexes' names and the live table's grants, comment and storage
// options, instead of its rows being copied over. Copying them was the largest part of the swap, under the
// lock that holds every live apply back (PostgreSQL inserting 100,400 history rows: 0.8-0.9 s, the same as
// making an unlogged shadow table logged), while renaming takes milliseconds whatever the inventory's size.
//
// Done only where the rename cannot lose anything an operator added to the live table; otherwise (a view or
// rule on it, a trigger, a row-level policy, a publication listing it, a statistics object, a foreign key
// to it, inheritance, column privileges, another owner, columns or indexes that differ from the shadow's)
// the caller copies the rows as before.
import type { Queryable } from '../shared/db.js';

/**
 * Replaces the live history table by the shadow one, in the caller's transaction. Returns undefined when it
 * did; otherwise why not, with nothing changed: something renaming would lose, or the live table's exclusive
 * lock not granted within `lockTimeoutMs` (a long-running reader). The caller then copies the rows instead,
 * which never blocks readers.
 */
export async function renameHistoryIntoPlace(q: Queryable, live: string, shadow: string, lockTimeoutMs: number): Promise<string | undefined> {
  const obstacle = await renameObstacle(q, live, shadow);
  if (obstacle !== undefined) return obstacle;
  const names = await indexNamesToTake(q, live, shadow);
  if (!names) return 'its indexes differ from the shadow table\'s';
  await copyTableSettings(q, live, shadow);
  await q.query('SAVEPOINT history_rename');
  const previousTimeout = (await q.query<{ t: string }>(`SELECT current_setting('lock_timeout') AS t`)).rows[0]!.t;
  await q.query(`SELECT set_config('lock_timeout', $1, true)`, [`${lockTimeoutMs}ms`]);
  try {
    await q.query(`LOCK TABLE ${live} IN ACCESS EXCLUSIVE MODE`);
  } catch (err) {
    if ((err as { code?: string }).code !== '55P03') throw err; // lock_not_available
    await q.query('ROLLBACK TO SAVEPOINT history_rename');
    await q.query(`SELECT set_config('lock_timeout', $1, true)`, [previousTimeout]);
    return `its lock was not granted within ${lockTimeoutMs} ms (a reader held it)`;
  }
  await q.query(`SELECT set_config('lock_timeout', $1, true)`, [previousTimeout]);
  await q.query(`DROP TABLE ${live}`);
  await q.query(`ALTER TABLE ${shadow} RENAME TO ${live}`);
  // Renaming a constraint's index renames the constraint too (the primary key keeps its migration's name).
  for (const [shadowIndex, liveIndex] of names) await q.query(`ALTER INDEX ${shadowIndex} RENAME TO ${liveIndex}`);
  await q.query('RELEASE SAVEPOINT history_rename');
  return undefined;
}

/** What an operator added to the live table that renaming would lose, if anything (its indexes apart). */
async function renameObstacle(q: Queryable, live: string, shadow: string): Promise<string | undefined> {
  const r = await q.query<{ obstacle: string | null }>(
    `WITH l AS (SELECT to_regclass($1) AS oid), s AS (SELECT to_regclass($2) AS oid)
     SELECT CASE
       WHEN (SELECT oid FROM l) IS NULL OR (SELECT oid FROM s) IS NULL THEN 'table missing'
       WHEN (SELECT relkind FROM pg_class WHERE oid = (SELECT oid FROM l)) <> 'r' THEN 'not a plain table'
       WHEN (SELECT relpersistence FROM pg_class WHERE oid = (SELECT oid FROM l)) <> (SELECT relpersistence FROM pg_class WHERE oid = (SELECT oid FROM s))
         THEN 'logged and unlogged'
       WHEN (SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = (SELECT oid FROM l)) <> current_user THEN 'owned by another role'
       WHEN EXISTS (SELECT 1 FROM pg_inherits WHERE inhrelid = (SELECT oid FROM l) OR inhparent = (SELECT oid FROM l)) THEN 'inheritance'
       WHEN EXISTS (SELECT 1 FROM pg_depend WHERE refclassid = 'pg_class'::regclass AND refobjid = (SELECT oid FROM l)
                      AND classid IN ('pg_rewrite'::regclass, 'pg_trigger'::regclass, 'pg_policy'::regclass, 'pg_publication_rel'::regclass,
                                      'pg_statistic_ext'::regclass))
         THEN 'a view, rule, trigger, policy, publication or statistics object depends on it'
       WHEN EXISTS (SELECT 1 FROM pg_constraint WHERE confrelid = (SELECT oid FROM l)) THEN 'a foreign key refers to it'
       WHEN (SELECT relrowsecurity FROM pg_class WHERE oid = (SELECT oid FROM l)) THEN 'row-level security'
       WHEN EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = (SELECT oid FROM l) AND attacl IS NOT NULL) THEN 'column privileges'
       WHEN (SELECT array_agg((attname, atttypid, atttypmod, attnotnull, attcollation)::text ORDER BY attnum) FROM pg_attribute
               WHERE attrelid = (SELECT oid FROM l) AND attnum > 0 AND NOT attisdropped)
         IS DISTINCT FROM (SELECT array_agg((attname, atttypid, atttypmod, attnotnull, attcollation)::text ORDER BY attnum) FROM pg_attribute
               WHERE attrelid = (SELECT oid FROM s) AND attnum > 0 AND NOT attisdropped)
         THEN 'its columns differ from the shadow table''s (altered during the rebuild)'
       END AS obstacle`,
    [live, shadow],
  );
  return r.rows[0]?.obstacle ?? undefined;
}

/**
 * Each shadow index paired with the live index of the same definition (the shadow table was created LIKE the
 * live one INCLUDING ALL, under generated names); undefined when they do not pair up one to one. The names come quoted for SQL.
 */
async function indexNamesToTake(q: Queryable, live: string, shadow: string): Promise<Array<[string, string]> | undefined> {
  const r = await q.query<{ owner: string; name: string; def: string }>(
    `SELECT CASE WHEN indrelid = to_regclass($1) THEN 'live' ELSE 'shadow' END AS owner, quote_ident(c.relname) AS name, pg_get_indexdef(indexrelid) AS def
       FROM pg_index JOIN pg_class c ON c.oid = indexrelid
      WHERE indrelid IN (to_regclass($1), to_regclass($2))`,
    [live, shadow],
  );
  // The definition without the index's and the table's names: "UNIQUE … USING btree (system_id, report_id)".
  const shape = (def: string) => def.replace(/^CREATE (UNIQUE )?INDEX \S+ ON \S+ /, '$1');
  const liveByShape = new Map<string, string>();
  const shadowByShape = new Map<string, string>();
  for (const row of r.rows) {
    const byShape = row.owner === 'live' ? liveByShape : shadowByShape;
    if (byShape.has(shape(row.def))) return undefined; // two indexes of one shape: no telling which name is whose
    byShape.set(shape(row.def), row.name);
  }
  if (liveByShape.size !== shadowByShape.size) return undefined;
  const pairs: Array<[string, string]> = [];
  for (const [s, liveName] of liveByShape) {
    const shadowName = shadowByShape.get(s);
    if (shadowName === undefined) return undefined;
    pairs.push([shadowName, liveName]);
  }
  return pairs;
}

/** The live table's grants, comment and storage options onto the shadow table, which is to take its place. */
async function copyTableSettings(q: Queryable, live: string, shadow: string): Promise<void> {
  const grants = await q.query<{ grantee: string; privilege: string; grantable: boolean }>(
    `SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee,
            a.privilege_type AS privilege, a.is_grantable AS grantable
       FROM pg_class c, aclexplode(c.relacl) a
      WHERE c.oid = to_regclass($1) AND a.grantee <> c.relowner`,
    [live],
  );
  for (const g of grants.rows) {
    await q.query(`GRANT ${g.privilege} ON ${shadow} TO ${g.grantee}${g.grantable ? ' WITH GRANT OPTION' : ''}`);
  }
  const settings = await q.query<{ comment: string | null; options: string[] | null }>(
    `SELECT quote_literal(obj_description(to_regclass($1), 'pg_class')) AS comment, (SELECT reloptions FROM pg_class WHERE oid = to_regclass($1)) AS options`,
    [live],
  );
  const { comment, options } = settings.rows[0] ?? { comment: null, options: null };
  if (comment !== null) await q.query(`COMMENT ON TABLE ${shadow} IS ${comment}`);
  if (options && options.length > 0) await q.query(`ALTER TABLE ${shadow} SET (${options.join(', ')})`);
}
