// The cross-request produce batcher against the real broker: concurrent submissions share flushes,
// every record of a resolved submission is stored, per-key order holds across flushes, no flush
// exceeds its byte bound, and a failed flush fails every submission in it (no partial success).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProduceBatcher } from '../../services/ingress/batcher.js';
import { recordSize, type OutgoingRecord } from '../../services/ingress/produce.js';
import { createKafka } from '../../services/shared/kafka.js';
import { PRODUCER_CLIENTS, createRecordWriter, type RecordWriter } from '../../services/shared/record-writer.js';
import { createMetrics } from '../../services/shared/metrics.js';
import { ensureTopics } from '../../services/shared/topics.js';
import { captureLogger, readTopic, testKafkaConfig } from '../support/env.js';

const cfg = testKafkaConfig();
const kafka = createKafka(cfg, captureLogger().logger, 'batcher-test');

async function flushCount(metrics: ReturnType<typeof createMetrics>): Promise<number> {
  const metric = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name.endsWith('produce_duration_seconds'));
  const count = metric?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count'));
  return Number(count?.value ?? 0);
}

describe.each(PRODUCER_CLIENTS)('ProduceBatcher writing with %s', (client) => {
  const topic = `${cfg.KAFKA_TOPIC_PREFIX}batched-${client}`;
  let writer: RecordWriter;
  beforeAll(async () => {
    await ensureTopics(kafka, cfg, [topic]);
    writer = await createRecordWriter({ ...cfg, KAFKA_PRODUCER_CLIENT: client }, captureLogger().logger, 'batcher-test');
  });
  afterAll(async () => {
    await writer?.close();
  });

  it('sends concurrent submissions in shared, bounded flushes and keeps every key in order', async () => {
    const metrics = createMetrics('batcher-test');
    const maxBatchBytes = 16 * 1024;
    const flushes: { records: number; bytes: number; requests: number }[] = [];
    const batcher = new ProduceBatcher(writer, { lingerMs: 0, maxBatchBytes, timeoutMs: 20_000, metrics, onFlush: (f) => flushes.push(f) });
    // 120 single-record submissions over 8 keys, plus one submission of 60 records (bigger than one flush).
    const value = (key: string, seq: number): Buffer => Buffer.from(JSON.stringify({ key, seq, pad: 'x'.repeat(300) }));
    const submissions: OutgoingRecord[][] = [];
    const seqs = new Map<string, number>();
    const next = (key: string): number => {
      const n = seqs.get(key) ?? 0;
      seqs.set(key, n + 1);
      return n;
    };
    for (let i = 0; i < 120; i++) {
      const key = `k${i % 8}`;
      submissions.push([{ topic, key, value: value(key, next(key)) }]);
      if (i === 40) submissions.push(Array.from({ length: 60 }, (_, j) => ({ topic, key: `k${j % 8}`, value: value(`k${j % 8}`, next(`k${j % 8}`)) })));
    }
    const total = submissions.reduce((n, s) => n + s.length, 0);
    const totalBytes = submissions.flat().reduce((n, r) => n + recordSize(r), 0);
    await Promise.all(submissions.map((s) => batcher.send(s)));

    // Far fewer produce requests than submissions, each within the byte bound, nothing lost or doubled.
    expect(await flushCount(metrics)).toBe(flushes.length);
    expect(flushes.length).toBeLessThan(submissions.length / 4);
    for (const f of flushes) expect(f.bytes).toBeLessThanOrEqual(maxBatchBytes);
    expect(flushes.some((f) => f.requests > 1)).toBe(true);
    expect(flushes.reduce((n, f) => n + f.records, 0)).toBe(total);
    expect(flushes.reduce((n, f) => n + f.bytes, 0)).toBe(totalBytes);

    const read = await readTopic(kafka, topic, total);
    expect(read).toHaveLength(total);
    const seen = new Map<string, number[]>();
    for (const m of read) {
      const { key, seq } = JSON.parse(m.value!.toString()) as { key: string; seq: number };
      expect(m.key!.toString()).toBe(key);
      seen.set(key, [...(seen.get(key) ?? []), seq]);
    }
    for (const [key, list] of seen) expect(list, key).toEqual([...Array(seqs.get(key)).keys()]);
  });

  it('lets a record bigger than the bound travel alone', async () => {
    const flushes: { records: number; bytes: number }[] = [];
    const batcher = new ProduceBatcher(writer, { lingerMs: 0, maxBatchBytes: 16 * 1024, timeoutMs: 20_000, onFlush: (f) => flushes.push(f) });
    const small = (k: string): OutgoingRecord => ({ topic, key: k, value: Buffer.alloc(100, 1) });
    await Promise.all([batcher.send([small('a')]), batcher.send([small('b'), { topic, key: 'big', value: Buffer.alloc(40 * 1024, 2) }, small('c')])]);
    expect(flushes.map((f) => f.records)).toEqual([2, 1, 1]);
  });

  it('fails every submission of a flush that Kafka refuses, including records meant for a good topic', async () => {
    const batcher = new ProduceBatcher(writer, { lingerMs: 0, maxBatchBytes: 64 * 1024, timeoutMs: 3_000 });
    const good = batcher.send([{ topic, key: 'good', value: Buffer.from('good') }]);
    const bad = batcher.send([{ topic: `${cfg.KAFKA_TOPIC_PREFIX}does-not-exist`, key: 'bad', value: Buffer.from('bad') }]);
    const results = await Promise.allSettled([good, bad]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    // The batcher is usable again after a failed flush.
    await expect(batcher.send([{ topic, key: 'after', value: Buffer.from('after') }])).resolves.toBeUndefined();
  });
});
