// The provisioning store's look-ups are index probes whatever the size of the tables: left to itself,
// PostgreSQL's planner hashed the whole of processed_events (and provisioning_subscribers) for every fetched
// batch and every flush of claims while the tables held fewer than some 10^5 rows, so each question cost as
// much as the table. The plans of the store's real statements are read with EXPLAIN (no execution) against
// tables of a realistic size, statistics taken.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../../services/shared/db.js';
import { createStore, migrateProvisioning } from '../../services/provisioning/store.js';
import { testDb } from '../support/env.js';

type PlanNode = { 'Node Type': string; 'Relation Name'?: string; Plans?: PlanNode[] };

function scans(node: PlanNode, out: string[] = []): string[] {
  if (node['Node Type'] === 'Seq Scan' && node['Relation Name']) out.push(node['Relation Name']);
  for (const child of node.Plans ?? []) scans(child, out);
  return out;
}

describe('provisioning store query plans', () => {
  let db: Db;
  const plans: { sql: string; seqScans: string[] }[] = [];
  const ids: string[] = [];

  // The store's database, where every statement is also planned (EXPLAIN without ANALYZE runs nothing).
  const planning = (): Db => ({
    ...db,
    query: async (text: string, params?: unknown[]) => {
      const explained = await db.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) ${text}`, params);
      plans.push({ sql: text, seqScans: scans(explained.rows[0]!['QUERY PLAN'][0].Plan) });
      return db.query(text, params);
    },
  }) as Queryable as Db;

  beforeAll(async () => {
    db = await testDb();
    if (db.kind !== 'postgres') throw new Error('this test reads PostgreSQL plans: DATABASE_URL must be PostgreSQL');
    await migrateProvisioning(db);
    for (let i = 0; i < 20_000; i++) ids.push(randomUUID());
    await db.query(`INSERT INTO processed_events (consumer, event_id, outcome) SELECT 'provisioning', unnest($1::text[]), 'provisioned'`, [ids]);
    await db.query(`INSERT INTO provisioning_subscribers (imsi, event_id, received_at, created_at)
                    SELECT (1000000000 + g)::text, gen_random_uuid()::text, 1, 1 FROM generate_series(1, 10000) g`);
    await db.exec('ANALYZE processed_events; ANALYZE provisioning_subscribers;');
  }, 60_000);

  afterAll(async () => {
    await db?.close();
  });

  it('asks which of a batch\'s 700 events are done with index probes, not a scan of processed_events', async () => {
    const store = createStore(planning());
    const asked = ids.slice(5000, 5700);
    const done = await store.alreadyProcessed([...asked, randomUUID()]);
    expect(done.size).toBe(700);
    expect(plans).toHaveLength(1);
    expect(plans[0]!.seqScans).toEqual([]);
  });

  it('claims a flush of 100 events with index probes, not scans of processed_events or provisioning_subscribers', async () => {
    plans.length = 0;
    const store = createStore(planning());
    const position = { receivedAt: 2, createdAt: 2 };
    const starts = await Promise.all(Array.from({ length: 100 }, (_, i) =>
      store.start(i < 50 ? ids[i]! : randomUUID(), String(1000000001 + i), position, 'me', 60_000)));
    expect(starts.filter((s) => s.kind === 'duplicate')).toHaveLength(50);
    expect(starts.filter((s) => s.kind === 'claimed')).toHaveLength(50);
    expect(plans).toHaveLength(1); // one statement for the whole flush
    expect(plans[0]!.seqScans.filter((t) => t === 'processed_events' || t === 'provisioning_subscribers')).toEqual([]);
  });
});
