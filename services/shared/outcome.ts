// Outcomes: what each consumer did with each raw record, published to one topic (keyed by event id) so the
// trail can answer "what happened to event X?". Publishing never stands between a record and its commit:
// outcomes are buffered and sent in the background; a failed send is kept and tried again, so an outage
// only leaves the trail behind for as long as it lasts (the consumer's effects and its idempotency records
// are untouched). Outcomes are dropped (and counted) only beyond the buffer's bound or at a stop.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Producer } from 'kafkajs';
import { AvroCodec, type RegistryAuth } from './avro-codec.js';
import { errorMessage } from './errors.js';
import type { Logger } from './logger.js';

export type TrailOutcome = 'applied' | 'duplicate' | 'skipped' | 'superseded' | 'retrying' | 'dead_lettered' | 'redriven';

export interface OutcomeRecord {
  event_id: string;
  consumer: string;
  outcome: TrailOutcome;
  attempt: number;
  reason: string | null;
  /** A reference to the effect: WTL http_status, latency_ms; sheet tab, range; SCC report_id, system_ids. */
  effect: Record<string, string>;
  /** Milliseconds since the epoch. */
  at: number;
  topic: string;
  partition: number;
  offset: number;
  /**
   * More records of the same topic and partition with this very outcome: a batch's run of duplicates is one
   * outcome record, not one each (in an operator replay they were a third of the consumer's time). The trail
   * files one outcome per event, as if each had been published alone.
   */
  also?: AlsoRecord[];
}

export interface AlsoRecord {
  event_id: string;
  offset: number;
}

/**
 * Most events one outcome record carries (itself and `also`): ~45 bytes each, so a record stays far below
 * the broker's message size limit and a trail batch's statements stay small.
 */
export const MAX_EVENTS_PER_OUTCOME = 1000;

const schemasDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'schemas');
export const OUTCOME_SCHEMA = readFileSync(join(schemasDir, 'outcome.avsc'), 'utf8');

export class OutcomeCodec extends AvroCodec<OutcomeRecord> {
  static create(registryUrl: string, auth: RegistryAuth = {}): OutcomeCodec {
    return new OutcomeCodec(AvroCodec.registry(registryUrl, auth), OUTCOME_SCHEMA, (o) => {
      o.at = Number(o.at);
      o.offset = Number(o.offset);
      o.effect ??= {};
      o.reason ??= null;
      o.also ??= [];
      for (const a of o.also) a.offset = Number(a.offset);
      return o;
    });
  }
}

export interface OutcomePublisher {
  publish(outcome: OutcomeRecord): void;
  /** Sends what is buffered (on stop). */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export interface OutcomePublisherOptions {
  producer: Pick<Producer, 'send'>;
  codec: OutcomeCodec;
  topic: string;
  logger: Logger;
  /** Counts outcomes that could not be published, one per event (the trail is behind by that many). */
  onDropped?: (n: number) => void;
  /** Largest buffer; beyond it new outcomes are dropped rather than memory grow during a broker outage. */
  maxBuffered?: number;
  intervalMs?: number;
}

/** How many events' outcomes these records tell (a run of duplicates tells each of its events). */
function eventsIn(outcomes: readonly OutcomeRecord[]): number {
  let n = 0;
  for (const o of outcomes) n += 1 + (o.also?.length ?? 0);
  return n;
}

export function createOutcomePublisher(opts: OutcomePublisherOptions): OutcomePublisher {
  const maxBuffered = opts.maxBuffered ?? 20_000;
  let buffer: OutcomeRecord[] = [];
  let sending: Promise<void> | undefined;
  let lastWarning = 0;
  // A failed send keeps its outcomes and is tried again after a growing pause (registry or broker outage,
  // a fresh start racing the schema's registration): dropping them would leave the trail wrong for good.
  let failures = 0;
  let retryAt = 0;
  // The batch being sent: a stop that cannot wait for it counts it as not published.
  let inFlight: OutcomeRecord[] = [];
  let closed = false;
  const warn = (fields: Record<string, unknown>, message: string) => {
    // One line a minute at most: during a broker outage every flush fails.
    if (Date.now() - lastWarning > 60_000) {
      lastWarning = Date.now();
      opts.logger.warn(fields, message);
    }
  };
  const drop = (n: number, reason: string) => {
    opts.onDropped?.(n);
    warn({ outcomes: n, reason }, 'outcomes not published: the trail is behind by them');
  };
  const send = async (): Promise<void> => {
    while (buffer.length > 0) {
      const batch = buffer;
      buffer = [];
      inFlight = batch;
      try {
        const messages = await Promise.all(batch.map(async (o) => ({ key: o.event_id, value: await opts.codec.encode(opts.topic, o) })));
        await opts.producer.send({ topic: opts.topic, acks: -1, messages });
        failures = 0;
      } catch (err) {
        if (closed) return;
        // Oldest first, as they happened; what does not fit is dropped (counted) rather than memory grow.
        buffer = batch.concat(buffer);
        if (buffer.length > maxBuffered) drop(eventsIn(buffer.splice(maxBuffered)), 'outcome buffer full');
        failures++;
        retryAt = Date.now() + Math.min(5000, 200 * 2 ** Math.min(failures, 5));
        warn({ outcomes: buffer.length, reason: errorMessage(err) }, 'outcomes not published yet: kept and tried again');
        return;
      } finally {
        inFlight = [];
      }
    }
  };
  const flush = (): Promise<void> => {
    sending ??= send().finally(() => {
      sending = undefined;
    });
    return sending;
  };
  const timer = setInterval(() => {
    if (Date.now() >= retryAt) void flush();
  }, opts.intervalMs ?? 200);
  timer.unref();
  return {
    publish(outcome) {
      if (buffer.length >= maxBuffered) return drop(eventsIn([outcome]), 'outcome buffer full');
      buffer.push(outcome);
    },
    async flush() {
      await flush();
      if (buffer.length > 0 && failures === 0) await flush();
    },
    async close() {
      clearInterval(timer);
      // A stop during a broker outage must not wait for it: what is not sent within a few seconds is dropped.
      let timeout: NodeJS.Timeout | undefined;
      const deadline = Date.now() + 5000;
      const drain = async () => {
        while (buffer.length > 0 && Date.now() < deadline) {
          await flush();
          if (buffer.length > 0) await new Promise((r) => setTimeout(r, Math.max(0, Math.min(retryAt, deadline) - Date.now())));
        }
      };
      await Promise.race([drain(), new Promise((r) => (timeout = setTimeout(r, 5000)))]);
      clearTimeout(timeout);
      closed = true;
      const unsent = eventsIn(buffer) + eventsIn(inFlight);
      buffer = [];
      if (unsent > 0) drop(unsent, 'stopped before they could be published');
    },
  };
}

/** Where a consumer publishes its outcomes: the outcomes topic, through the same registry as its records. */
export function outcomeTarget(
  cfg: { SCHEMA_REGISTRY_URL: string; SCHEMA_REGISTRY_USERNAME?: string | undefined; SCHEMA_REGISTRY_PASSWORD?: string | undefined },
  topic: string,
): { topic: string; codec: OutcomeCodec } {
  return { topic, codec: OutcomeCodec.create(cfg.SCHEMA_REGISTRY_URL, { username: cfg.SCHEMA_REGISTRY_USERNAME, password: cfg.SCHEMA_REGISTRY_PASSWORD }) };
}
