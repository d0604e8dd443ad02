// Topics filled once per run with N raw envelopes, shared by the scenarios that replay them.
// Each dataset has its own topic prefix, so a service child pointed at it (KAFKA_TOPIC_PREFIX)
// sees exactly that topic under its usual name.
import { topicNames } from '../../services/shared/topics.js';
import type { BenchContext } from './context.js';
import { createTopic, fillTopic } from './kafka.js';
import type { BenchClients } from './shared.js';
import { imsiOf, nspsEnvelope, nspsEventBody } from './workload.js';
import type { Envelope } from '../../services/shared/envelope.js';

export interface Dataset {
  prefix: string;
  topic: string;
  count: number;
  partitions: number;
  fillMs: number;
}

export const DATASET_PARTITIONS = 6;
const cache = new Map<string, Promise<Dataset>>();

function label(count: number): string {
  return count >= 1_000_000 ? `${count / 1_000_000}m` : count >= 1000 ? `${count / 1000}k` : String(count);
}

/** `count` NSPS events over 10,000 subscribers, in the NSPS raw topic of prefix `<run>.nsps<count>.` */
export function nspsDataset(ctx: BenchContext, clients: BenchClients, count: number, opts: { partitions?: number; subscribers?: number } = {}): Promise<Dataset> {
  const subscribers = opts.subscribers ?? 10_000;
  const partitions = opts.partitions ?? DATASET_PARTITIONS;
  return dataset(ctx, clients, `nsps${partitions === DATASET_PARTITIONS ? '' : `p${partitions}`}${subscribers === 10_000 ? '' : `s${subscribers}`}`, count, partitions, (p) => topicNames(p).nspsEvents, (i) => {
    const id = `bench-${ctx.runId}-${partitions}-${subscribers}-${i}`;
    return { key: imsiOf(i % subscribers), envelope: nspsEnvelope(nspsEventBody(id, i % subscribers), id, id) };
  });
}

const SAP_TENANTS = 200;

/**
 * What a rebuild of sapDataset(count) must write: each tenant's first report creates its 3 systems, every
 * later report changes one. The scenario checks every rebuild against it, so a dataset that stops doing
 * what its caption says breaks the run instead of quietly measuring something else.
 */
export function sapExpectedRows(count: number): { systems: number; historyRows: number } {
  const tenants = Math.min(count, SAP_TENANTS);
  return { systems: 3 * tenants, historyRows: count + 2 * tenants };
}

/**
 * `count` SAP delta reports from 200 tenants, each listing one SCC with its 3 systems, one of which changes
 * its status from the tenant's report before: every report after a tenant's first changes one system (one
 * history row), as a delta report that lists what changed does.
 */
export function sapDataset(ctx: BenchContext, clients: BenchClients, count: number): Promise<Dataset> {
  return dataset(ctx, clients, 'sap', count, DATASET_PARTITIONS, (p) => topicNames(p).sapReports, (i) => {
    const tenant = `tenant-${i % SAP_TENANTS}`;
    // The tenant's n-th report: system n % 3 flips its status, the other two keep theirs.
    const n = Math.floor(i / SAP_TENANTS);
    const flips = (s: number): number => Math.floor((n + 2 - s) / 3);
    const body = JSON.stringify({
      type: 'notification-service',
      value: [{
        subaccount: `sub-${i % SAP_TENANTS}`,
        // One SCC per tenant: its reports all list the same 3 systems, so only the flipped one changes.
        locationId: `loc-${(i % SAP_TENANTS) % 3}`,
        exposedSystems: [0, 1, 2].map((s) => ({
          protocol: 'HTTP', host: `host-${s}.${i % SAP_TENANTS}.example:8080`, type: 'on-premise-system',
          status: flips(s) % 2 === 0 ? 'enabled' : 'disabled', description: `system ${s}`, systemNumber: `sys-${s}`,
        })),
      }],
    });
    const reportId = `r-${ctx.runId}-${i}`;
    const envelope: Envelope = {
      event_id: `sap:${reportId}:1`, source: 'sap', kind: 'sap.report', tenant, received_at: Date.now(), request_id: reportId,
      content_type: 'application/json', payload: Buffer.from(body),
      attributes: { report_id: reportId, report_type: 'delta', part: '1', parts: '1', external_tenant: `ext-${tenant}` },
    };
    return { key: tenant, envelope };
  });
}

function dataset(
  ctx: BenchContext,
  clients: BenchClients,
  kind: string,
  count: number,
  partitions: number,
  topicOf: (prefix: string) => string,
  make: (i: number) => { key: string; envelope: Envelope },
): Promise<Dataset> {
  const k = `${kind}:${count}`;
  let d = cache.get(k);
  if (!d) {
    d = (async () => {
      const prefix = `${ctx.topicPrefix}${kind}-${label(count)}.`;
      const topic = topicOf(prefix);
      const started = performance.now();
      ctx.log(`  filling ${topic} with ${count} records (setup, not measured)`);
      await createTopic(clients.kafka, topic, partitions);
      await fillTopic(clients.kafka, clients.codec, topic, count, make, ctx.log);
      return { prefix, topic, count, partitions, fillMs: performance.now() - started };
    })();
    cache.set(k, d);
  }
  return d;
}
