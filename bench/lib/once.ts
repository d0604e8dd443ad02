// 1NCE batch workloads shared by scenarios 2, 5 and 6: request bodies and, for the bare producer,
// the very same records as encoded envelopes grouped the way ingress groups them per send.
import type { Message } from 'kafkajs';
import { MAX_RECORD_BYTES } from '../../services/shared/topics.js';
import type { BenchClients } from './shared.js';
import { chunkMessages } from './load.js';
import { encodeAll } from './kafka.js';
import { onceBatchBody, onceKey, onceUsageEnvelope, onceUsageRecord } from './workload.js';

export interface OnceBatch {
  body: string;
  records: number;
  /** The batch's records as envelopes, in ingress's send groups (≤ MAX_RECORD_BYTES each). */
  chunks: Message[][];
}

/** `count` distinct batches of `size` usage records, ids unique within the run. */
export async function onceBatches(clients: BenchClients, topic: string, count: number, size: number, firstId: number): Promise<OnceBatch[]> {
  const out: OnceBatch[] = [];
  for (let b = 0; b < count; b++) {
    const start = firstId + b * size;
    const records = Array.from({ length: size }, (_, i) => onceUsageRecord(start + i));
    const messages = await encodeAll(clients.codec, topic, records.map((r) => ({ key: onceKey(r), envelope: onceUsageEnvelope(r, `bench-${start}`) })));
    out.push({ body: onceBatchBody(start, size), records: size, chunks: chunkMessages(messages, MAX_RECORD_BYTES) });
  }
  return out;
}

/** Round-robin over a pool. */
export function cycle<T>(pool: readonly T[]): () => T {
  let i = 0;
  return () => pool[i++ % pool.length]!;
}
