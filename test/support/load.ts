// A load generator that behaves like the real webhook senders: it knows exactly what it sent,
// retries a delivery on a retriable answer (5xx, 408, 429, connection error) with backoff, and
// keeps every answer so the fault suite can reconcile "got a 2xx" against what Kafka holds.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { repoRoot } from '../../infra/local/stack.js';

export interface Delivery {
  source: 'nsps' | '1nce' | 'sap';
  /** event_ids this delivery must put in Kafka (for SAP: a marker found in the report payload). */
  eventIds: string[];
  marker?: string;
  tenant?: string;
  attempts: number[];
  /** Final HTTP status (0 = connection error on the last attempt). */
  final: number;
}

export interface LoadCredentials {
  ingressUrl: string;
  nspsToken: string;
  onceUser: string;
  oncePassword: string;
  sapSecret: string;
  oncePath?: string;
}

const sample = (name: string): string => readFileSync(join(repoRoot, 'samples', name), 'utf8');
const retriable = (status: number): boolean => status === 0 || status === 408 || status === 429 || status >= 500;

async function deliver(d: Delivery, send: () => Promise<number>, maxAttempts: number): Promise<Delivery> {
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    let status = 0;
    try {
      status = await send();
    } catch {
      status = 0;
    }
    d.attempts.push(status);
    d.final = status;
    if (!retriable(status)) break;
    await new Promise((r) => setTimeout(r, Math.min(4000, 250 * 2 ** (attempt - 1))));
  }
  return d;
}

export interface LoadPlan {
  nspsEvents: number;
  onceBatches: number;
  onceBatchSize: number;
  sapReports: number;
  sapTenants: number;
  /** Deliveries in flight at once. */
  concurrency: number;
  /** Spread the deliveries over about this long (so faults hit them while they flow). */
  spreadOverMs?: number;
  maxAttempts: number;
}

export function imsiFor(i: number): string {
  return `00101${String(900000000 + i).padStart(10, '0')}`;
}

/** Builds and sends the whole plan; resolves with every delivery and its answers. */
export async function runLoad(creds: LoadCredentials, plan: LoadPlan, runId: string): Promise<Delivery[]> {
  const nspsTemplate = JSON.parse(sample('nsps-event.json')) as { event_id: string; pb_data: { sim_info: { imsi: string } } };
  const onceEvent = (JSON.parse(sample('1nce-events.json')) as Record<string, unknown>[])[0]!;
  const onceUsage = (JSON.parse(sample('1nce-usage.json')) as Record<string, unknown>[])[0]!;
  const sapTemplate = JSON.parse(sample('sap-full.json')) as { value: { subaccount: string; locationId: string; exposedSystems: Record<string, string>[] }[] };
  const sapKey = new TextEncoder().encode(creds.sapSecret);
  const tokens = new Map<string, string>();
  const sapToken = async (tenant: string): Promise<string> => {
    let t = tokens.get(tenant);
    if (!t) {
      t = await new SignJWT({ tenant: { consumerTenant: tenant, externalTenant: `${tenant}-ext` } }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('2h').sign(sapKey);
      tokens.set(tenant, t);
    }
    return t;
  };

  const jobs: (() => Promise<Delivery>)[] = [];
  for (let i = 0; i < plan.nspsEvents; i++) {
    const event = structuredClone(nspsTemplate);
    event.event_id = `${runId}-nsps-${i}-${randomUUID()}`;
    event.pb_data.sim_info.imsi = imsiFor(i);
    const body = JSON.stringify(event);
    const d: Delivery = { source: 'nsps', eventIds: [event.event_id], attempts: [], final: -1 };
    jobs.push(() => deliver(d, async () => (await fetch(`${creds.ingressUrl}/process-event`, { method: 'POST', headers: { authorization: `Bearer ${creds.nspsToken}`, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) })).status, plan.maxAttempts));
  }
  const idBase = Number(`${Date.now()}`.slice(-9)) * 1000;
  for (let b = 0; b < plan.onceBatches; b++) {
    const records = Array.from({ length: plan.onceBatchSize }, (_, j) => {
      const usage = (b + j) % 2 === 0;
      const r = structuredClone(usage ? onceUsage : onceEvent);
      r.id = idBase + b * plan.onceBatchSize + j;
      return r;
    });
    const body = JSON.stringify(records);
    const d: Delivery = { source: '1nce', eventIds: records.map((r) => `${'traffic_type' in r ? '1nce-usage' : '1nce-event'}:${String(r.id)}`), attempts: [], final: -1 };
    const auth = `Basic ${Buffer.from(`${creds.onceUser}:${creds.oncePassword}`).toString('base64')}`;
    jobs.push(() => deliver(d, async () => (await fetch(`${creds.ingressUrl}${creds.oncePath ?? '/1nce/data-streamer'}`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) })).status, plan.maxAttempts));
  }
  for (let s = 0; s < plan.sapReports; s++) {
    const tenant = `${runId}-tenant-${s % plan.sapTenants}`;
    const marker = `${runId}-report-${s}`;
    const report = structuredClone(sapTemplate);
    // Each report lists a varying set of systems so successive reports change the projection.
    report.value = report.value.map((scc, k) => ({
      ...scc,
      exposedSystems: Array.from({ length: 1 + ((s + k) % 3) }, (_, n) => ({ ...scc.exposedSystems[0]!, host: `10.0.${k}.${n}:8080`, description: marker })),
    }));
    const body = JSON.stringify(report);
    const type = s % 4 === 3 ? 'full' : 'delta';
    const d: Delivery = { source: 'sap', eventIds: [], marker, tenant, attempts: [], final: -1 };
    jobs.push(async () => deliver(d, async () => (await fetch(`${creds.ingressUrl}/api/v1/notifications?reportType=${type}`, { method: 'PUT', headers: { authorization: `Bearer ${await sapToken(tenant)}`, 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) })).status, plan.maxAttempts));
  }
  // Interleave the sources like real traffic, keeping each SAP tenant's reports in their order.
  const order = jobs.map((job, i) => ({ job, i, k: (i * 7919) % jobs.length }));
  const sapJobs = order.filter((_, i) => i >= plan.nspsEvents + plan.onceBatches);
  const others = order.filter((_, i) => i < plan.nspsEvents + plan.onceBatches).sort((a, b) => a.k - b.k);
  const queue: (() => Promise<Delivery>)[] = [];
  const step = Math.max(1, Math.floor(others.length / Math.max(1, sapJobs.length)));
  let s = 0;
  others.forEach((o, idx) => {
    queue.push(o.job);
    if (idx % step === 0 && s < sapJobs.length) queue.push(sapJobs[s++]!.job);
  });
  while (s < sapJobs.length) queue.push(sapJobs[s++]!.job);

  const results: Delivery[] = [];
  const pause = plan.spreadOverMs ? (plan.spreadOverMs * plan.concurrency) / queue.length : 0;
  const workers = Array.from({ length: plan.concurrency }, async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      results.push(await job());
      if (pause > 0) await new Promise((r) => setTimeout(r, pause));
    }
  });
  await Promise.all(workers);
  return results;
}
