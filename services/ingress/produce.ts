// The records ingress writes and how they are sized: batcher.ts bounds each flush by these sizes
// (PRODUCE_BATCH_MAX_BYTES), so no partition's record batch exceeds the broker's message size limit.
import type { OutgoingRecord } from '../shared/record-writer.js';

export type { OutgoingRecord } from '../shared/record-writer.js';

/** Per-record framing the broker adds on top of key and value; generous on purpose. */
const RECORD_OVERHEAD_BYTES = 64;

export function recordSize(record: OutgoingRecord): number {
  return record.value.length + Buffer.byteLength(record.key) + RECORD_OVERHEAD_BYTES;
}
