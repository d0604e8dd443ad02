// The SCC inventory through the real broker, registry and PostgreSQL: reports produced as ingress
// writes them appear in the query API; duplicates change nothing; split reports wait for all parts;
// two instances in one group give what one gives.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Producer } from 'kafkajs';
import { createKafka, createProducer } from '../../services/shared/kafka.js';
import { ensureTopics, topicNames } from '../../services/shared/topics.js';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import type { Db } from '../../services/shared/db.js';
import { systemId } from '../../services/scc-inventory/fold.js';
import { DataDirInUseError, openInventoryDb, startSccInventory } from '../../services/scc-inventory/main.js';
import { createMetrics } from '../../services/shared/metrics.js';
import { captureLogger, eventually, testDb, testKafkaConfig } from '../support/env.js';
import {
  canonicalDump, getJson, outcomeCount, processedCount, produceEnvelopes, reportBody, reportEnvelopes, sameSchema, serviceConfig, startService, waitForGroup,
} from './scc-helpers.js';

const TOKEN = 'inventory-test-token';

describe('scc-inventory service', () => {
  const kafkaCfg = testKafkaConfig();
  const kafka = createKafka(kafkaCfg, captureLogger().logger);
  const topic = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX).sapReports;
  const codec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
  let producer: Producer;
  let db: Db;
  let service: Awaited<ReturnType<typeof startService>>;
  let produced = 0;

  const produce = async (envelopes: ReturnType<typeof reportEnvelopes>) => {
    await produceEnvelopes(producer, codec, topic, envelopes);
    produced += envelopes.length;
  };
  const settled = () => eventually(async () => (await processedCount(db)) >= produced, 45_000);

  beforeAll(async () => {
    await ensureTopics(kafka, kafkaCfg, [topic]);
    producer = await createProducer(kafka);
    db = await testDb();
    const config = serviceConfig(kafkaCfg, { INVENTORY_API_TOKENS: `other-token,${TOKEN}` });
    service = await startService(config, db);
    expect(await waitForGroup(kafka, config.SCC_INVENTORY_GROUP_ID)).toBe(true);
  });
  afterAll(async () => {
    await service?.stop();
    await producer?.disconnect();
    await db?.close();
  });

  it('serves reported systems with filters, pagination, history and SCC summaries', async () => {
    await produce(reportEnvelopes({
      tenant: 'tenant-a', reportType: 'full', body: reportBody([
        { subaccount: 'sa-1', locationId: 'loc-1', exposedSystems: [{ host: 'h1:80' }, { host: 'h2:80' }, { host: 'h3:80' }] },
        { subaccount: 'sa-2', exposedSystems: [{ host: 'h9:443', protocol: 'HTTPS' }] },
      ]),
    }));
    await produce(reportEnvelopes({
      tenant: 'tenant-a', reportType: 'delta', body: reportBody([
        { subaccount: 'sa-1', locationId: 'loc-1', exposedSystems: [{ host: 'h1:80', status: 'disabled' }, { host: 'h2:80' }] },
      ]),
    }));
    expect(await settled()).toBe(true);

    const unauth = await fetch(`${service.url}/systems`);
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('www-authenticate')).toBe('Bearer');
    expect((await getJson(`${service.url}/systems`, 'wrong')).status).toBe(401);
    expect((await fetch(`${service.url}/healthz`)).status).toBe(200);

    const all = await getJson(`${service.url}/systems?tenant=tenant-a`, TOKEN);
    expect(all.status).toBe(200);
    expect(all.body.items).toHaveLength(4);
    const byHost = Object.fromEntries(all.body.items.map((s: any) => [s.host, s]));
    expect(byHost['h1:80']).toMatchObject({ subaccount: 'sa-1', locationId: 'loc-1', status: 'reachable', systemStatus: 'disabled' });
    expect(byHost['h3:80'].status).toBe('unreachable');
    expect(byHost['h9:443']).toMatchObject({ locationId: '', protocol: 'HTTPS', status: 'reachable' });

    const unreachable = await getJson(`${service.url}/systems?tenant=tenant-a&status=unreachable`, TOKEN);
    expect(unreachable.body.items.map((s: any) => s.host)).toEqual(['h3:80']);
    const bySubaccount = await getJson(`${service.url}/systems?subaccount=sa-1&locationId=loc-1`, TOKEN);
    expect(bySubaccount.body.items).toHaveLength(3);

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string }[]; nextCursor: string | null } } = await getJson(`${service.url}/systems?tenant=tenant-a&limit=3${cursor ? `&cursor=${cursor}` : ''}`, TOKEN);
      seen.push(...page.body.items.map((s) => s.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toHaveLength(4);
    expect([...seen].sort()).toEqual(seen);
    expect((await getJson(`${service.url}/systems?status=sideways`, TOKEN)).status).toBe(400);
    // A misspelt filter is refused by name, not dropped (which would answer every tenant's systems).
    const misspelt = await getJson(`${service.url}/systems?tenantId=tenant-a`, TOKEN);
    expect(misspelt.status).toBe(400);
    expect(misspelt.body).toEqual({ error: 'bad request', message: 'unknown parameter "tenantId"' });
    expect((await getJson(`${service.url}/sccs?asOf=2020-01-01T00:00:00Z`, TOKEN)).body.message).toBe('unknown parameter "asOf"');
    // A NUL character cannot reach PostgreSQL text: the client's 400, not the database's 500.
    expect((await getJson(`${service.url}/systems/abc%00`, TOKEN)).status).toBe(400);
    expect((await getJson(`${service.url}/systems?tenant=a%00b`, TOKEN)).status).toBe(400);

    const id = systemId({ tenant: 'tenant-a', subaccount: 'sa-1', locationId: 'loc-1', host: 'h1:80' });
    const one = await getJson(`${service.url}/systems/${id}`, TOKEN);
    expect(one.status).toBe(200);
    expect(one.body.history.map((h: any) => h.change)).toEqual(['create', 'update']);
    expect(one.body.history[1]).toMatchObject({ reportType: 'delta', before: { systemStatus: 'enabled' }, after: { systemStatus: 'disabled' } });
    const h3 = await getJson(`${service.url}/systems/${systemId({ tenant: 'tenant-a', subaccount: 'sa-1', locationId: 'loc-1', host: 'h3:80' })}`, TOKEN);
    expect(h3.body.history.map((h: any) => h.change)).toEqual(['create', 'unreachable']);
    expect((await getJson(`${service.url}/systems/${'0'.repeat(32)}`, TOKEN)).status).toBe(404);

    const sccs = await getJson(`${service.url}/sccs?tenant=tenant-a`, TOKEN);
    expect(sccs.body.items.map((s: any) => [s.subaccount, s.locationId, s.reachable, s.unreachable])).toEqual([
      ['sa-1', 'loc-1', 2, 1],
      ['sa-2', '', 1, 0],
    ]);

    const metricsText = await (await fetch(`${service.url}/metrics`)).text();
    expect(metricsText).toMatch(/switchboard_scc_systems\{[^}]*status="reachable"[^}]*\} 3/);
    expect(metricsText).toMatch(/switchboard_scc_systems\{[^}]*status="unreachable"[^}]*\} 1/);
  });

  it('changes nothing when the same records are delivered twice or the same report is sent again', async () => {
    const envelopes = reportEnvelopes({
      tenant: 'tenant-dup', reportType: 'full', parts: 2,
      body: reportBody([{ subaccount: 'sa-d', locationId: 'l', exposedSystems: [{ host: 'a' }, { host: 'b' }] }]),
    });
    await produce(envelopes);
    expect(await settled()).toBe(true);
    const before = await canonicalDump(db);
    const duplicatesBefore = await outcomeCount(service.metrics, 'duplicate');

    await produceEnvelopes(producer, codec, topic, envelopes); // the same records again (a producer retry, a replay)
    expect(await eventually(async () => (await outcomeCount(service.metrics, 'duplicate')) - duplicatesBefore >= 2, 45_000)).toBe(true);
    // The sender resending the same body is a new delivery (new report_id): folded, but nothing changed.
    await produce(reportEnvelopes({ tenant: 'tenant-dup', reportType: 'full', body: reportBody([{ subaccount: 'sa-d', locationId: 'l', exposedSystems: [{ host: 'a' }, { host: 'b' }] }]) }));
    expect(await settled()).toBe(true);

    expect(await canonicalDump(db)).toBe(before);
    const history = await db.query("SELECT count(*)::int AS n FROM system_history h JOIN systems s ON s.id = h.system_id WHERE s.tenant = 'tenant-dup'");
    expect(history.rows[0]).toEqual({ n: 2 });
  });

  it('applies a report split in 3 parts only once all parts arrived', async () => {
    const envelopes = reportEnvelopes({
      tenant: 'tenant-split', reportType: 'delta', parts: 3,
      body: reportBody([{ subaccount: 'sa-s', locationId: 'loc-ü', exposedSystems: [{ host: 'x1', description: 'ä'.repeat(50) }, { host: 'x2' }, { host: 'x3' }] }]),
    });
    expect(envelopes).toHaveLength(3);
    await produce(envelopes.slice(0, 2));
    expect(await settled()).toBe(true);
    const held = await db.query<{ part: number }>('SELECT part FROM report_parts WHERE report_id = $1 ORDER BY part', [envelopes[0]!.attributes.report_id]);
    expect(held.rows.map((r) => r.part)).toEqual([1, 2]);
    expect((await getJson(`${service.url}/systems?tenant=tenant-split`, TOKEN)).body.items).toHaveLength(0);

    await produce(envelopes.slice(2));
    expect(await settled()).toBe(true);
    const systems = await getJson(`${service.url}/systems?tenant=tenant-split`, TOKEN);
    expect(systems.body.items.map((s: any) => [s.host, s.locationId, s.status])).toEqual(
      expect.arrayContaining([['x1', 'loc-ü', 'reachable'], ['x2', 'loc-ü', 'reachable'], ['x3', 'loc-ü', 'reachable']]),
    );
    expect(systems.body.items.find((s: any) => s.host === 'x1').description).toBe('ä'.repeat(50));
    expect((await db.query('SELECT 1 FROM report_parts WHERE report_id = $1', [envelopes[0]!.attributes.report_id])).rows).toHaveLength(0);
  });

  it('folds a report whose keys are capitalised, as the reference adapter reads them (Subaccount, LocationID, Host, ExposedSystems…)', async () => {
    // Written by hand: the spelling of the SCC label in the adapter's documentation, in a report split over 2 records.
    const body = Buffer.from(JSON.stringify({
      Type: 'notification-service',
      Value: [
        {
          Subaccount: 'SA-Caps', LocationID: 'loc-caps',
          ExposedSystems: [
            { Protocol: 'HTTP', Host: 'caps-1:80', Type: 'on-premise-system', Status: 'disabled', Description: 'first', SystemNumber: 'n-1' },
            { PROTOCOL: 'HTTPS', HOST: 'caps-2:443', TYPE: 'on-premise-system', STATUS: 'enabled' },
          ],
        },
        { subaccount: 'SA-Caps', locationId: 'loc-other', exposedSystems: [{ protocol: 'RFC', host: 'lower:3300', type: 'on-premise-system', status: 'enabled' }] },
      ],
    }));
    const deadBefore = await outcomeCount(service.metrics, 'dead_lettered');
    await produce(reportEnvelopes({ tenant: 'tenant-caps', reportType: 'full', parts: 2, body }));
    expect(await settled()).toBe(true);
    const systems = await getJson(`${service.url}/systems?tenant=tenant-caps`, TOKEN);
    const rows = systems.body.items.map((s: any) => [s.subaccount, s.locationId, s.host, s.protocol, s.systemStatus, s.description, s.systemNumber, s.status]);
    expect(rows.sort()).toEqual([
      ['SA-Caps', 'loc-caps', 'caps-1:80', 'HTTP', 'disabled', 'first', 'n-1', 'reachable'],
      ['SA-Caps', 'loc-caps', 'caps-2:443', 'HTTPS', 'enabled', null, null, 'reachable'],
      ['SA-Caps', 'loc-other', 'lower:3300', 'RFC', 'enabled', null, null, 'reachable'],
    ]);
    expect(await outcomeCount(service.metrics, 'dead_lettered')).toBe(deadBefore);
  });

  it('stores a system whose description holds U+0000 with U+FFFD in its place, with the rest of its report, not a dead letter', async () => {
    // JSON may carry "\u0000"; PostgreSQL text and jsonb may not (the history holds jsonb).
    const body = Buffer.from(JSON.stringify({ type: 'notification-service', value: [{ subaccount: 'SA-Nul', locationId: 'loc-nul', exposedSystems: [
      { protocol: 'HTTP', host: 'nul-1:80', type: 'on-premise-system', status: 'enabled', description: 'a\u0000b', systemNumber: '\u0000' },
      { protocol: 'HTTP', host: 'nul-2:80', type: 'on-premise-system', status: 'enabled' },
    ] }] }));
    expect(body.includes('\\u0000')).toBe(true);
    const deadBefore = await outcomeCount(service.metrics, 'dead_lettered');
    await produce(reportEnvelopes({ tenant: 'tenant-nul', reportType: 'full', body }));
    expect(await settled()).toBe(true);
    const systems = await getJson(`${service.url}/systems?tenant=tenant-nul`, TOKEN);
    expect(systems.body.items.map((s: any) => [s.host, s.description, s.systemNumber]).sort()).toEqual([['nul-1:80', 'a\uFFFDb', '\uFFFD'], ['nul-2:80', null, null]]);
    expect(await outcomeCount(service.metrics, 'dead_lettered')).toBe(deadBefore);
  });

  it('drops an incomplete split report once a record of its tenant arrives SCC_PART_TTL_MS later', async () => {
    const t = Date.parse('2026-03-01T00:00:00Z');
    const stale = reportEnvelopes({ tenant: 'tenant-ttl', reportType: 'full', parts: 2, receivedAt: t, body: reportBody([{ subaccount: 's', exposedSystems: [{ host: 'never' }] }]) });
    await produce(stale.slice(0, 1));
    expect(await settled()).toBe(true);
    const reportId = stale[0]!.attributes.report_id;
    expect((await db.query('SELECT 1 FROM report_parts WHERE report_id = $1', [reportId])).rows).toHaveLength(1);
    await produce(reportEnvelopes({ tenant: 'tenant-ttl', reportType: 'delta', receivedAt: t + 3_600_000 + 1, body: reportBody([{ subaccount: 's', exposedSystems: [{ host: 'later' }] }]) }));
    expect(await settled()).toBe(true);
    expect((await db.query('SELECT 1 FROM report_parts WHERE report_id = $1', [reportId])).rows).toHaveLength(0);
    const dropped = await service.metrics.registry.getSingleMetric('switchboard_scc_incomplete_reports_dropped_total')!.get();
    expect(dropped.values[0]!.value).toBe(1);
    // The late last part finds nothing to complete: it is held alone, and the stale report is never applied.
    await produce(stale.slice(1));
    expect(await settled()).toBe(true);
    expect((await getJson(`${service.url}/systems?tenant=tenant-ttl`, TOKEN)).body.items.map((s: any) => s.host)).toEqual(['later']);
  });

  it('dead-letters a report whose body is not valid JSON and keeps consuming', async () => {
    const bad = reportEnvelopes({ tenant: 'tenant-bad', reportType: 'delta', body: Buffer.from('{"value": [') });
    await produceEnvelopes(producer, codec, topic, bad);
    await produce(reportEnvelopes({ tenant: 'tenant-bad', reportType: 'delta', body: reportBody([{ subaccount: 's', exposedSystems: [{ host: 'ok' }] }]) }));
    expect(await settled()).toBe(true);
    expect(await eventually(async () => (await outcomeCount(service.metrics, 'dead_lettered')) >= 1, 30_000)).toBe(true);
    expect((await getJson(`${service.url}/systems?tenant=tenant-bad`, TOKEN)).body.items.map((s: any) => s.host)).toEqual(['ok']);
  });
});

describe('scc-inventory on the embedded database', () => {
  it('runs on PGlite under DATA_DIR when DATABASE_URL is not set, and keeps a second process out', { timeout: 180_000 }, async () => {
    const kafkaCfg = testKafkaConfig();
    const kafka = createKafka(kafkaCfg, captureLogger().logger);
    const topic = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX).sapReports;
    const codec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
    const dataDir = mkdtempSync(join(tmpdir(), 'scc-pglite-'));
    const config = serviceConfig(kafkaCfg, { DATABASE_URL: '', DATA_DIR: dataDir });
    const metrics = createMetrics('scc-inventory');
    const service = await startSccInventory(config, { metrics, logger: captureLogger().logger });
    const producer = await createProducer(kafka);
    try {
      expect(service.db.kind).toBe('pglite');
      expect(existsSync(join(dataDir, 'scc-inventory', 'pglite'))).toBe(true);
      expect(await waitForGroup(kafka, config.SCC_INVENTORY_GROUP_ID)).toBe(true);
      await expect(openInventoryDb(config)).rejects.toThrow(DataDirInUseError);
      await produceEnvelopes(producer, codec, topic, reportEnvelopes({
        tenant: 'tenant-p', reportType: 'full', parts: 2, body: reportBody([{ subaccount: 'sa', locationId: 'l', exposedSystems: [{ host: 'p1' }] }]),
      }));
      expect(await eventually(async () => (await outcomeCount(metrics, 'processed')) >= 2, 45_000)).toBe(true);
      const systems = await getJson(`${service.url}/systems?tenant=tenant-p`);
      expect(systems.body.items.map((s: any) => [s.host, s.status])).toEqual([['p1', 'reachable']]);
    } finally {
      await producer.disconnect();
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('scc-inventory scaling', () => {
  it('two instances in one group produce the same inventory as one instance', { timeout: 240_000 }, async () => {
    const kafkaCfg = testKafkaConfig();
    const kafka = createKafka(kafkaCfg, captureLogger().logger);
    const topic = topicNames(kafkaCfg.KAFKA_TOPIC_PREFIX).sapReports;
    const codec = EnvelopeCodec.create(kafkaCfg.SCHEMA_REGISTRY_URL);
    await ensureTopics(kafka, kafkaCfg, [topic]);
    const producer = await createProducer(kafka);
    const shared = await testDb();
    const sharedToo = await sameSchema(shared);
    const single = await testDb();
    const pair = [
      await startService(serviceConfig(kafkaCfg, { SCC_INVENTORY_GROUP_ID: `${kafkaCfg.KAFKA_TOPIC_PREFIX}pair` }), shared),
      await startService(serviceConfig(kafkaCfg, { SCC_INVENTORY_GROUP_ID: `${kafkaCfg.KAFKA_TOPIC_PREFIX}pair` }), sharedToo),
    ];
    const alone = await startService(serviceConfig(kafkaCfg, { SCC_INVENTORY_GROUP_ID: `${kafkaCfg.KAFKA_TOPIC_PREFIX}alone` }), single);
    try {
      // Both members hold partitions before anything is produced, so the work really is shared.
      expect(await waitForGroup(kafka, `${kafkaCfg.KAFKA_TOPIC_PREFIX}pair`, 2)).toBe(true);
      expect(await waitForGroup(kafka, `${kafkaCfg.KAFKA_TOPIC_PREFIX}alone`, 1)).toBe(true);
      let total = 0;
      for (let round = 0; round < 3; round++) {
        for (let t = 0; t < 6; t++) {
          const tenant = `tenant-${t}`;
          const sccs = [
            { subaccount: 'shared-sa', locationId: `loc-${round % 2}`, exposedSystems: [{ host: `h-${round}` }, { host: 'stable', status: `s${round}` }] },
            { subaccount: `sa-${t}`, exposedSystems: round === 1 ? [] : [{ host: 'only' }] },
          ];
          const envelopes = reportEnvelopes({ tenant, reportType: round === 2 ? 'full' : 'delta', body: reportBody(sccs), parts: 1 + (t % 3) });
          await produceEnvelopes(producer, codec, topic, envelopes);
          total += envelopes.length;
        }
      }
      expect(await eventually(async () => (await processedCount(shared)) >= total && (await processedCount(single)) >= total, 60_000)).toBe(true);
      const pairDump = await canonicalDump(shared);
      expect(pairDump.split('\n').filter((l) => l.startsWith('S ')).length).toBeGreaterThan(20);
      expect(pairDump).toBe(await canonicalDump(single));
      expect(await outcomeCount(pair[0]!.metrics, 'processed')).toBeGreaterThan(0);
      expect(await outcomeCount(pair[1]!.metrics, 'processed')).toBeGreaterThan(0);
    } finally {
      for (const s of [...pair, alone]) await s.stop();
      await producer.disconnect();
      for (const d of [shared, sharedToo, single]) await d.close();
    }
  });
});
