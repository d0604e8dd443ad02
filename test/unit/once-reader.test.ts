// The 1NCE batch reader on real worker threads (services/ingress/once-reader.ts): a thread reads a batch
// exactly as the main thread does, a burst beyond its queue is shared with the main thread, and a thread
// that dies fails only the batches it held, then is replaced, until ingress gives up on threads.
import { afterEach, describe, expect, it } from 'vitest';
import { readOnceBatch } from '../../services/ingress/domain/once-batch.js';
import { createOnceBatchReader, type OnceBatchReader } from '../../services/ingress/once-reader.js';
import { captureLogger } from '../support/env.js';

function usageBatch(records: number, firstId = 1): Buffer {
  const elements = Array.from({ length: records }, (_, i) => ({
    id: firstId + i, traffic_type: { id: 5, description: 'Data' }, volume: { total: '0.1', rx: '0.05', tx: '0.05' },
    start_timestamp: '2026-12-01T10:00:00.000+0000', stop_timestamp: '2026-12-01T10:05:00.000+0000', cost: '0.01',
    currency: { id: 1, code: 'EUR', symbol: '€' }, sim: { id: 7, iccid: `8988228066${String(firstId + i).padStart(10, '0')}` },
    organisation: { id: 1001, name: 'Zürich Labs' },
  }));
  // An element that is not a record, and one of no known shape: they are quarantined, not refused.
  return Buffer.from(JSON.stringify([...elements, 42, { id: 'x-1', colour: 'blue' }]), 'utf8');
}

let reader: OnceBatchReader | undefined;
afterEach(async () => {
  await reader?.close();
  reader = undefined;
});

describe('1NCE batch reader threads', () => {
  it('read a batch on a thread exactly as the main thread does, refusals included', async () => {
    const where: string[] = [];
    reader = createOnceBatchReader({ threads: 1, maxRecords: 3_000, logger: captureLogger().logger, onRead: (w) => where.push(w) });
    const body = usageBatch(500);
    // Its memory moves to the thread and back: the same bytes return, the buffer passed in is emptied.
    const sent = Buffer.from(body);
    const onThread = await reader.read(sent);
    expect(onThread.reading).toEqual(readOnceBatch(body, 3_000));
    expect(onThread.reading.ok && onThread.reading.elements.classes.length).toBe(502);
    expect(onThread.body.equals(body)).toBe(true);
    expect(sent.length).toBe(0);
    // A body sharing its memory with others (Node's pool) is copied, not moved: the others keep theirs.
    const pooled = Buffer.from('[{"id":"a","event_type":"x"}]');
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.length);
    const fromPool = await reader.read(pooled);
    expect(pooled.toString()).toBe('[{"id":"a","event_type":"x"}]');
    expect(fromPool.body.equals(pooled)).toBe(true);
    expect((await reader.read(Buffer.from('[{"id":1,'))).reading).toEqual({ ok: false, code: 'invalid_json', detail: 'body is not valid JSON' });
    expect((await reader.read(Buffer.from('{"id":1}'))).reading).toEqual({ ok: false, code: 'not_an_array' });
    expect((await reader.read(usageBatch(3_000))).reading).toEqual({ ok: false, code: 'too_many_records', detail: '3002 records in one request; at most 3000 are accepted' });
    expect(where).toEqual(['reader', 'reader', 'reader', 'reader', 'reader']);
  });

  it('share a burst with the main thread once two batches wait for the thread', async () => {
    const where: string[] = [];
    reader = createOnceBatchReader({ threads: 1, maxRecords: 3_000, logger: captureLogger().logger, onRead: (w) => where.push(w) });
    const bodies = Array.from({ length: 6 }, (_, i) => usageBatch(200, 1 + i * 1_000));
    const readings = await Promise.all(bodies.map((b) => reader!.read(Buffer.from(b))));
    readings.forEach((r, i) => {
      expect(r.reading).toEqual(readOnceBatch(bodies[i]!, 3_000));
      expect(r.body.equals(bodies[i]!)).toBe(true);
    });
    expect(where).toEqual(['reader', 'reader', 'main', 'main', 'main', 'main']);
  });

  it('fail only the batches a dying thread held, replace it, and fall back to the main thread after three deaths', async () => {
    const { logger, lines } = captureLogger();
    const where: string[] = [];
    // A heap far too small for a 2,000-record batch: each thread runs out of memory on its first batch.
    reader = createOnceBatchReader({ threads: 1, maxRecords: 3_000, logger, onRead: (w) => where.push(w), resourceLimits: { maxOldGenerationSizeMb: 4, maxYoungGenerationSizeMb: 1 } });
    const body = usageBatch(2_000);
    const failures: string[] = [];
    let reading;
    for (let attempt = 0; attempt < 5 && !reading; attempt++) {
      reading = await reader.read(Buffer.from(body)).then((r) => r.reading, (err: Error) => void failures.push(err.message));
    }
    expect(failures.length).toBeGreaterThanOrEqual(1);
    expect(failures[0]).toMatch(/^1NCE batch reader thread stopped: /);
    expect(reading).toEqual(readOnceBatch(body, 3_000));
    expect(where.at(-1)).toBe('main');
    const errors = lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level === 'error').map((l) => l.msg);
    expect(errors).toContain('1NCE batch reader thread died; starting another');
    expect(errors.at(-1)).toBe('1NCE batch reader threads keep dying; reading batches on the main thread from now on');
  });

  it('read on the main thread alone when no threads are asked for, and after close', async () => {
    const where: string[] = [];
    reader = createOnceBatchReader({ threads: 0, maxRecords: 3_000, logger: captureLogger().logger, onRead: (w) => where.push(w) });
    const body = usageBatch(10);
    expect((await reader.read(body)).reading).toEqual(readOnceBatch(body, 3_000));
    const threaded = createOnceBatchReader({ threads: 1, maxRecords: 3_000, logger: captureLogger().logger, onRead: (w) => where.push(w) });
    await threaded.close();
    expect((await threaded.read(body)).reading).toEqual(readOnceBatch(body, 3_000));
    expect(where).toEqual(['main', 'main']);
  });
});
