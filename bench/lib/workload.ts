// Request bodies and raw-topic envelopes shaped like the real senders' (see samples/), with ids
// unique per run, built the way ingress builds them (services/shared/README.md conventions), so the
// baselines send exactly what ingress would have sent.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../infra/local/stack.js';
import type { Envelope } from '../../services/shared/envelope.js';

const nspsSample = JSON.parse(readFileSync(join(repoRoot, 'samples', 'nsps-event.json'), 'utf8')) as Record<string, unknown>;
const usageSample = (JSON.parse(readFileSync(join(repoRoot, 'samples', '1nce-usage.json'), 'utf8')) as Record<string, unknown>[])[0]!;

/** An NSPS SIM/Updated event for subscriber `subscriber` (IMSI derived from it). */
export function nspsEventBody(eventId: string, subscriber: number): string {
  const imsi = `0010100${String(subscriber).padStart(8, '0')}`;
  const pb = nspsSample.pb_data as Record<string, Record<string, unknown>>;
  return JSON.stringify({
    ...nspsSample,
    event_id: eventId,
    pb_data: { ...pb, sim_info: { ...pb.sim_info, imsi } },
  });
}

export function imsiOf(subscriber: number): string {
  return `0010100${String(subscriber).padStart(8, '0')}`;
}

/** One 1NCE usage record (the sample's shape) with its own id and SIM. */
export function onceUsageRecord(id: number): Record<string, unknown> {
  const sim = usageSample.sim as Record<string, unknown>;
  return { ...usageSample, id, imsi: imsiOf(id % 100_000), sim: { ...sim, iccid: `8988${String(id % 100_000).padStart(15, '0')}` } };
}

/** A 1NCE Data Streamer request body: a JSON array of `count` usage records with ids from `firstId`. */
export function onceBatchBody(firstId: number, count: number): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(JSON.stringify(onceUsageRecord(firstId + i)));
  return `[${parts.join(',')}]`;
}

export function nspsEnvelope(body: string, eventId: string, requestId: string): Envelope {
  return {
    event_id: eventId,
    source: 'nsps',
    kind: 'nsps.event',
    tenant: null,
    received_at: Date.now(),
    request_id: requestId,
    content_type: 'application/json',
    payload: Buffer.from(body),
    attributes: {},
  };
}

export function onceUsageEnvelope(record: Record<string, unknown>, requestId: string): Envelope {
  return {
    event_id: `1nce-usage:${String(record.id)}`,
    source: '1nce',
    kind: '1nce.usage',
    tenant: '1234',
    received_at: Date.now(),
    request_id: requestId,
    content_type: 'application/json',
    payload: Buffer.from(JSON.stringify(record)),
    attributes: {},
  };
}

/** The record key ingress uses for a 1NCE record: the SIM's ICCID. */
export function onceKey(record: Record<string, unknown>): string {
  return String((record.sim as Record<string, unknown>).iccid);
}
