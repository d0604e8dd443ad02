// An operator replay of provisioning (`npm run replay -- provisioning`: the group rewound to the
// beginning): every already-provisioned event is recognised by one query per fetched batch (the
// runner's alreadyProcessed pre-filter), makes no WTL call and no per-record lookup; a new event
// still reaches WTL once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import type { Producer } from 'kafkajs';
import type { Db } from '../../services/shared/db.js';
import { EnvelopeCodec, type Envelope } from '../../services/shared/envelope.js';
import { OutcomeCodec, type OutcomeRecord } from '../../services/shared/outcome.js';
import { createKafka, createProducer, produceAll } from '../../services/shared/kafka.js';
import { rewindGroup } from '../../services/shared/replay.js';
import { topicNames } from '../../services/shared/topics.js';
import { loadProvisioningConfig } from '../../services/provisioning/config.js';
import { startProvisioning, type RunningProvisioning } from '../../services/provisioning/main.js';
import { startWtlEmulator, type WtlEmulator } from '../emulators/wtl.js';
import { captureLogger, eventually, readTopic, testDb, testKafkaConfig } from '../support/env.js';

function nspsPayload(eventId: string, imsi: string): Buffer {
  return Buffer.from(JSON.stringify({
    event_id: eventId,
    data: { event_type: 'SIM/Updated', variables: { i_env: 1, i_event: 999999, i_account: 1 } },
    pb_data: {
      account_info: { bill_status: 'open', blocked: false, i_account: 1, id: '79123456789@msisdn' },
      sim_info: { i_sim_card: 3793, imsi, msisdn: '79123456789', status: 'active' },
      access_policy_info: { i_access_policy: 179, attributes: [{ group_name: 'lte.wtl', name: 'cs_profile', value: 'cs-pp-20250319' }] },
    },
    handler_id: 'p1-nsps',
    created_at: new Date().toISOString(),
    status: 'received',
  }));
}

describe('provisioning operator replay (group rewound)', () => {
  const kcfg = testKafkaConfig();
  const prefix = kcfg.KAFKA_TOPIC_PREFIX;
  const names = topicNames(prefix);
  const groupId = `${prefix}provisioning`;
  const { logger } = captureLogger('provisioning-replay');
  const kafka = createKafka(kcfg, logger, 'test');
  const codec = EnvelopeCodec.create(kcfg.SCHEMA_REGISTRY_URL);
  let wtl: WtlEmulator;
  let db: Db;
  let producer: Producer;
  let svc: RunningProvisioning | undefined;
  const sql: string[] = [];

  // The service's database, with every statement it sends through db.query remembered.
  const counting = (): Db => ({ ...db, query: (text, params) => (sql.push(text), db.query(text, params)) }) as Db;
  const start = () => startProvisioning(loadProvisioningConfig({
    ...process.env, KAFKA_TOPIC_PREFIX: prefix, KAFKA_TOPIC_PARTITIONS: '3', PROVISIONING_GROUP_ID: groupId, PORT: '0',
    WTL_BASE_URL: wtl.url, WTL_API_KEY: 'wtl-test-key',
  }), { logger, db: counting() });
  const produce = async (n: number): Promise<string[]> => {
    const ids: string[] = [];
    const messages = [];
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      const imsi = `00101000${String(i % 7).padStart(7, '0')}`;
      const envelope: Envelope = { event_id: id, source: 'nsps', kind: 'nsps.event', tenant: null, received_at: Date.now(), request_id: `req-${id.slice(0, 8)}`, content_type: 'application/json', payload: nspsPayload(id, imsi), attributes: {} };
      messages.push({ key: imsi, value: await codec.encode(names.nspsEvents, envelope) });
      ids.push(id);
    }
    await produceAll(producer, [{ topic: names.nspsEvents, messages }], { timeoutMs: 10_000 });
    return ids;
  };
  const outcomes = async (outcome: string): Promise<number> =>
    (await svc!.metrics.consumerMessages.get()).values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);

  beforeAll(async () => {
    wtl = await startWtlEmulator();
    db = await testDb();
    producer = await createProducer(kafka);
  });
  afterAll(async () => {
    await svc?.stop();
    await producer?.disconnect();
    await db?.close();
    await wtl?.close();
  });

  it('skips every already-provisioned event with one query per batch and provisions only the new one', { timeout: 120_000 }, async () => {
    svc = await start();
    const first = await produce(40);
    expect(await eventually(async () => first.every((id) => wtl.appliedCountByEvent().get(id) === 1), 60_000)).toBe(true);
    await svc.stop();
    svc = undefined;

    await rewindGroup({ kafka, groupId, topics: [names.nspsEvents] });
    const callsBefore = wtl.requests.length;
    sql.length = 0;
    svc = await start();
    expect(await eventually(async () => (await outcomes('duplicate')) >= 40, 60_000)).toBe(true);
    const [fresh] = await produce(1);
    expect(await eventually(async () => wtl.appliedCountByEvent().get(fresh!) === 1, 60_000)).toBe(true);

    expect(wtl.requests.length).toBe(callsBefore + 1);
    expect(await outcomes('duplicate')).toBe(40);
    expect(await outcomes('processed')).toBe(1);
    expect(sql.filter((s) => s.includes('event_id = ANY(')).length).toBeGreaterThan(0);
    // The handler's own check (store.start: done? older? claim) ran for the new event only, not for the 40 replayed ones.
    expect(sql.filter((s) => s.includes('INSERT INTO provisioning_inflight')).length).toBe(1);

    // The trail hears of each replayed event once, as `duplicate`, in runs (one outcome record per fetched
    // batch's run), not in one record each.
    const outcomeCodec = OutcomeCodec.create(kcfg.SCHEMA_REGISTRY_URL);
    const duplicateRecords = async () => {
      const read = await readTopic(kafka, names.outcomes, 10_000, 6_000);
      const decoded = await Promise.all(read.map((m) => outcomeCodec.decode(m.value!)));
      return decoded.filter((o) => o.consumer === 'provisioning' && o.outcome === 'duplicate');
    };
    let runs: OutcomeRecord[] = [];
    expect(await eventually(async () => (runs = await duplicateRecords()).reduce((n, o) => n + 1 + (o.also?.length ?? 0), 0) >= 40, 30_000)).toBe(true);
    const filed = runs.flatMap((o) => [o.event_id, ...(o.also ?? []).map((a) => a.event_id)]);
    expect(filed.sort()).toEqual([...first].sort());
    expect(runs.length).toBeLessThan(first.length / 4); // one per fetched batch: 3 partitions, a fetch or two each
  });
});
