// Drops the PostgreSQL schemas this run created (SCC rebuild and provisioning state), all of which
// carry the run id in their name, so a run leaves nothing behind in a shared database.
import pg from 'pg';

export async function dropRunSchemas(url: string, runId: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const { rows } = await client.query<{ name: string }>(
      `SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE 'bench\\_%' AND schema_name LIKE $1`,
      [`%${runId.toLowerCase()}%`],
    );
    for (const { name } of rows) await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
    return rows.length;
  } catch {
    return 0; // no database (e.g. only ingress scenarios ran): nothing to clean
  } finally {
    await client.end().catch(() => undefined);
  }
}
