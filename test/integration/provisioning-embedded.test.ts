// The newcomer's default: no DATABASE_URL (PGlite in DATA_DIR) and no WTL_BASE_URL (dry run).
// Each event's WTL request is logged once at info, and a repeat of the event is a duplicate.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import { createKafka, createProducer, produceAll } from '../../services/shared/kafka.js';
import { topicNames } from '../../services/shared/topics.js';
import { loadProvisioningConfig } from '../../services/provisioning/config.js';
import { startProvisioning, type RunningProvisioning } from '../../services/provisioning/main.js';
import { captureLogger, eventually, testKafkaConfig } from '../support/env.js';

describe('provisioning on embedded defaults (PGlite, WTL dry run)', () => {
  const kcfg = testKafkaConfig();
  const names = topicNames(kcfg.KAFKA_TOPIC_PREFIX);
  const { logger, lines } = captureLogger('provisioning');
  const dataDir = mkdtempSync(join(tmpdir(), 'provisioning-'));
  let svc: RunningProvisioning;
  let producer: Producer;

  beforeAll(async () => {
    const env: Record<string, string | undefined> = {
      ...process.env, KAFKA_TOPIC_PREFIX: kcfg.KAFKA_TOPIC_PREFIX, KAFKA_TOPIC_PARTITIONS: '3',
      PROVISIONING_GROUP_ID: `${kcfg.KAFKA_TOPIC_PREFIX}provisioning`, PORT: '0', DATA_DIR: dataDir,
      WTL_DEFAULT_CS_PROFILE: 'cs-default', WTL_DEFAULT_EPS_PROFILE: 'eps-default',
    };
    delete env.DATABASE_URL;
    delete env.WTL_BASE_URL;
    svc = await startProvisioning(loadProvisioningConfig(env), { logger });
    producer = await createProducer(createKafka(kcfg, logger, 'test'));
  });
  afterAll(async () => {
    await svc?.stop();
    await producer?.disconnect();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('logs the request it would send, once per event', async () => {
    const codec = EnvelopeCodec.create(kcfg.SCHEMA_REGISTRY_URL);
    const body = { event_id: 'dry-1', data: { event_type: 'SIM/Updated' }, pb_data: { account_info: { bill_status: 'open', id: '420777@msisdn' }, sim_info: { imsi: '001010000099999' } } };
    const value = await codec.encode(names.nspsEvents, {
      event_id: 'dry-1', source: 'nsps', kind: 'nsps.event', tenant: null, received_at: Date.now(), request_id: 'req-dry',
      content_type: 'application/json', payload: Buffer.from(JSON.stringify(body)), attributes: {},
    });
    await produceAll(producer, [{ topic: names.nspsEvents, messages: [{ key: '001010000099999', value }, { key: '001010000099999', value }] }], { timeoutMs: 10_000 });

    const dup = await eventually(async () => (await svc.metrics.consumerMessages.get()).values.some((v) => v.labels.outcome === 'duplicate'));
    expect(dup).toBe(true);
    const dry = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'wtl dry run');
    expect(dry).toHaveLength(1);
    expect(dry[0]).toMatchObject({
      level: 'info', event_id: 'dry-1',
      wtl_request: { imsi: '001010000099999', subscriber_status: 'SERVICE_GRANTED', msisdn: ['420777'], cs_profile: 'cs-default', eps_profile: 'eps-default', action: 'update' },
    });
  });
});
