// Fault scenario e: a poison record in each consumer — one that makes its handler throw an error nobody
// classified (a bug). The fault comes from outside the services: a trigger in each service's own
// PostgreSQL schema raises an exception (SQLSTATE P0001, neither an outage nor a data error the code
// knows) for one record only. Promised: that record is retried a bounded number of times, then it alone
// is dead-lettered with the error; the records behind it, of the same key and partition, keep flowing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../../services/shared/kafka.js';
import { loadConfig, kafkaConfigShape } from '../../../services/shared/config.js';
import { topicNames } from '../../../services/shared/topics.js';
import { openDb, type Db } from '../../../services/shared/db.js';
import { readDeadLetters, type DeadLetter } from '../../../services/shared/dead-letter.js';
import { repoRoot } from '../../../infra/local/stack.js';
import { startWtlEmulator, type WtlEmulator } from '../../emulators/wtl.js';
import { startSheetsEmulator, type SheetsEmulator } from '../../emulators/sheets.js';
import { captureLogger, eventually } from '../../support/env.js';
import { startService, type ServiceProcess } from '../../support/processes.js';
import { faultRun, lagging, lastProblems, serviceEnvs } from '../../support/fault-env.js';

const sample = (name: string) => JSON.parse(readFileSync(join(repoRoot, 'samples', name), 'utf8'));

describe('fault e: a poison record in each consumer', () => {
  const r = faultRun('poi');
  const names = topicNames(r.prefix);
  const { logger } = captureLogger();
  let wtl: WtlEmulator;
  let sheets: SheetsEmulator;
  const services: ServiceProcess[] = [];
  let ingress: ServiceProcess;
  const ports = { ingress: 18780, provisioning: 19501, 'sheet-export': 19511, 'scc-inventory': 18790 } as const;
  const kafka = () => createKafka(loadConfig(kafkaConfigShape, { ...process.env, KAFKA_TOPIC_PREFIX: r.prefix }), logger);

  const imsi = '001019999000001';
  const poisonNsps = `${r.run}-nsps-poison`;
  const poisonOnceId = 7_700_000 + (Date.now() % 100_000);
  const poisonHost = `poison-${r.run}.example:443`;
  const tenant = `${r.run}-tenant`;

  const nsps = async (eventId: string, blocked: boolean) => {
    const e = sample('nsps-event.json');
    e.event_id = eventId;
    e.pb_data.sim_info.imsi = imsi;
    e.pb_data.sim_info.blocked = blocked;
    const res = await fetch(`${ingress.url}/process-event`, { method: 'POST', headers: { authorization: `Bearer ${r.secrets.nsps}`, 'content-type': 'application/json' }, body: JSON.stringify(e) });
    expect(res.status).toBe(202);
  };
  const once = async (ids: number[]) => {
    const template = sample('1nce-events.json')[0];
    const body = JSON.stringify(ids.map((id) => ({ ...template, id })));
    const auth = `Basic ${Buffer.from(`streamer:${r.secrets.oncePw}`).toString('base64')}`;
    const res = await fetch(`${ingress.url}/1nce/data-streamer`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body });
    expect(res.status).toBe(200);
  };
  const sap = async (hosts: string[]) => {
    const report = sample('sap-full.json');
    report.value = [{ ...report.value[0], exposedSystems: hosts.map((host) => ({ ...report.value[0].exposedSystems[0], host })) }];
    const token = await new SignJWT({ tenant: { consumerTenant: tenant, externalTenant: `${tenant}-ext` } })
      .setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode(r.secrets.sap));
    const res = await fetch(`${ingress.url}/api/v1/notifications?reportType=delta`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(report) });
    expect(res.status).toBe(204);
  };

  /** A trigger in the service's own schema that raises for one record: a bug, as far as the service can tell. */
  const poison = async (schema: string, table: string, condition: string) => {
    const db: Db = await openDb({ url: process.env.DATABASE_URL, schema });
    try {
      await db.query(`CREATE OR REPLACE FUNCTION ${schema}.poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'poison record (injected by the fault suite)'; END $$`);
      await db.query(`CREATE TRIGGER poison BEFORE INSERT ON ${schema}.${table} FOR EACH ROW WHEN (${condition}) EXECUTE FUNCTION ${schema}.poison()`);
    } finally {
      await db.close();
    }
  };

  beforeAll(async () => {
    wtl = await startWtlEmulator();
    sheets = await startSheetsEmulator();
    const envs = serviceEnvs(r, { brokers: process.env.KAFKA_BROKERS!, registryUrl: process.env.SCHEMA_REGISTRY_URL!, wtl, sheets });
    ingress = await startService('ingress', ports.ingress, envs.ingress);
    for (const c of ['provisioning', 'sheet-export', 'scc-inventory'] as const) services.push(await startService(c, ports[c], envs[c]));
    // The services created their tables at start; now one record of each becomes poison.
    await poison(r.schemas.provisioning, 'provisioning_inflight', `NEW.event_id = '${poisonNsps}'`);
    await poison(r.schemas.sheets, 'sheet_pending_rows', `NEW.event_id = '1nce-event:${poisonOnceId}'`);
    await poison(r.schemas.inventory, 'systems', `NEW.host = '${poisonHost}'`);
  }, 240_000);

  afterAll(async () => {
    await Promise.all([ingress, ...services].filter(Boolean).map((s) => s.stop()));
    await wtl?.close();
    await sheets?.close();
  }, 120_000);

  it('dead-letters only the poison record of each consumer after bounded retries, and its partition keeps flowing', async () => {
    // Same subscriber, same tenant, same batch: the records after the poison share its key and partition.
    await nsps(`${r.run}-nsps-before`, false);
    await nsps(poisonNsps, true);
    await nsps(`${r.run}-nsps-after`, false);
    await once([poisonOnceId - 1, poisonOnceId, poisonOnceId + 1]);
    await sap([`ok-1-${r.run}.example:443`]);
    await sap([poisonHost]);
    await sap([`ok-2-${r.run}.example:443`]);

    const admin = kafka().admin();
    await admin.connect();
    const caught = await eventually(async () => (await lagging(admin, r, names)).length === 0, 180_000, 1000);
    if (!caught) console.log(`STILL BEHIND: ${(await lagging(admin, r, names)).join('; ')}\n${lastProblems([ingress, ...services])}`);
    await admin.disconnect();
    expect(caught, 'every partition moved past its poison record').toBe(true);

    const letters: Record<string, DeadLetter[]> = {};
    for (const c of ['provisioning', 'sheet-export', 'scc-inventory']) letters[c] = await readDeadLetters(kafka(), names.deadLetter(c));
    const summary = (ls: DeadLetter[]) => ls.map((l) => ({ eventId: l.eventId, failure: l.headers['sb-dlq-failure']?.toString(), attempts: l.attempts, reason: l.reason }));

    const applied = wtl.appliedCountByEvent();
    const rows = new Map<string, number>();
    for (const tab of sheets.tabs()) for (const row of sheets.rows(tab).slice(1)) rows.set(String(row[0]), (rows.get(String(row[0])) ?? 0) + 1);
    const db = await openDb({ url: process.env.DATABASE_URL, schema: r.schemas.inventory });
    const hosts = (await db.query<{ host: string }>('SELECT host FROM systems WHERE tenant = $1 ORDER BY host', [tenant])).rows.map((x) => x.host);
    await db.close();

    const figures = {
      provisioning: { dead_letters: summary(letters.provisioning!), applied_before: applied.get(`${r.run}-nsps-before`) ?? 0, applied_after: applied.get(`${r.run}-nsps-after`) ?? 0, poison_calls_at_wtl: applied.get(poisonNsps) ?? 0 },
      'sheet-export': { dead_letters: summary(letters['sheet-export']!), rows_neighbours: [rows.get(`1nce-event:${poisonOnceId - 1}`) ?? 0, rows.get(`1nce-event:${poisonOnceId + 1}`) ?? 0], poison_rows: rows.get(`1nce-event:${poisonOnceId}`) ?? 0 },
      'scc-inventory': { dead_letters: summary(letters['scc-inventory']!), hosts },
    };
    console.log(`POISON RECORD FIGURES ${JSON.stringify(figures, null, 2)}`);

    for (const c of ['provisioning', 'sheet-export', 'scc-inventory'] as const) {
      expect(letters[c]!.length, `${c}: exactly one dead letter`).toBe(1);
      expect(letters[c]![0]!.headers['sb-dlq-failure']?.toString()).toBe('unexpected');
      expect(letters[c]![0]!.reason).toMatch(/poison record/);
      expect(letters[c]![0]!.attempts).toBeGreaterThan(1);
    }
    expect(letters.provisioning![0]!.eventId).toBe(poisonNsps);
    expect(letters.provisioning![0]!.attempts).toBe(4); // PROVISIONING_RETRY_MAX_ATTEMPTS in fault-env
    expect(letters['sheet-export']![0]!.eventId).toBe(`1nce-event:${poisonOnceId}`);
    expect(letters['scc-inventory']![0]!.value.toString('latin1')).toContain(poisonHost);
    expect(figures.provisioning.applied_before).toBe(1);
    expect(figures.provisioning.applied_after).toBe(1);
    expect(figures.provisioning.poison_calls_at_wtl).toBe(0);
    expect(figures['sheet-export'].rows_neighbours).toEqual([1, 1]);
    expect(figures['sheet-export'].poison_rows).toBe(0);
    expect(hosts).toEqual([`ok-1-${r.run}.example:443`, `ok-2-${r.run}.example:443`]);
  }, 600_000);
});
