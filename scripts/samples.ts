// `npm run samples`: sends every source's documented example webhook to a running Switchboard
// (npm start), then says where to see the effects. Each run uses fresh ids so the effects repeat.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import 'dotenv/config';
import { SignJWT } from 'jose';
import { repoRoot } from '../infra/local/stack.js';
import { DEV_DEFAULTS } from './dev-defaults.js';

const ingress = process.env.INGRESS_URL ?? 'http://127.0.0.1:8080';
const inventory = process.env.INVENTORY_URL ?? 'http://127.0.0.1:8090';
const nspsToken = (process.env.NSPS_API_TOKENS ?? DEV_DEFAULTS.NSPS_API_TOKENS!).split(',')[0]!.trim();
const basic = (process.env.ONCE_BASIC_AUTH_USERS ?? DEV_DEFAULTS.ONCE_BASIC_AUTH_USERS!).split(',')[0]!.trim();
const sapSecret = process.env.SAP_JWT_HS256_SECRET ?? DEV_DEFAULTS.SAP_JWT_HS256_SECRET!;
const oncePath = process.env.ONCE_PATH ?? '/1nce/data-streamer';
const unique = !process.argv.includes('--as-documented');

const sample = (name: string): string => readFileSync(join(repoRoot, 'samples', name), 'utf8');

async function send(label: string, method: string, path: string, headers: Record<string, string>, body: string): Promise<boolean> {
  const res = await fetch(`${ingress}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  const ok = res.status >= 200 && res.status < 300;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label.padEnd(28)} ${method} ${path} -> ${res.status} ${text}`);
  return ok;
}

async function main(): Promise<void> {
  const suffix = Date.now();
  const nsps = JSON.parse(sample('nsps-event.json')) as Record<string, unknown>;
  if (unique) nsps.event_id = randomUUID();
  const events = JSON.parse(sample('1nce-events.json')) as Array<Record<string, unknown>>;
  const usage = JSON.parse(sample('1nce-usage.json')) as Array<Record<string, unknown>>;
  if (unique) {
    events.forEach((r, i) => (r.id = suffix * 10 + i));
    usage.forEach((r, i) => (r.id = suffix * 10 + i));
  }
  const jwt = await new SignJWT({ tenant: { consumerTenant: 'demo-tenant', externalTenant: 'demo-external' } })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(new TextEncoder().encode(sapSecret));

  const results = [
    await send('NSPS SIM/Updated event', 'POST', '/process-event', { authorization: `Bearer ${nspsToken}` }, JSON.stringify(nsps)),
    await send('1NCE event records', 'POST', oncePath, { authorization: `Basic ${Buffer.from(basic).toString('base64')}` }, JSON.stringify(events)),
    await send('1NCE usage records', 'POST', oncePath, { authorization: `Basic ${Buffer.from(basic).toString('base64')}` }, JSON.stringify(usage)),
    await send('SAP NS full report', 'PUT', '/api/v1/notifications?reportType=full', { authorization: `Bearer ${jwt}` }, sample('sap-full.json')),
    await send('SAP NS delta report', 'PUT', '/api/v1/notifications?reportType=delta', { authorization: `Bearer ${jwt}` }, sample('sap-delta.json')),
  ];
  console.log('');
  console.log('Where to look (give the consumers a second):');
  console.log(`  SCC inventory:   curl ${inventory}/systems?tenant=demo-tenant`);
  console.log(`  Sheet rows:      ls data/sheets/ && cat "data/sheets/NSPS events.csv"`);
  console.log(`  Provisioning:    grep "wtl dry run" data/logs/provisioning.log`);
  console.log(`  The trail:       TRAIL_API_TOKEN=<the token npm start printed> npm run trail -- ${String(nsps.event_id)}`);
  if (results.some((r) => !r)) process.exit(1);
}

main().catch((err: unknown) => {
  console.error(`could not reach Switchboard at ${ingress}: ${err instanceof Error ? err.message : String(err)} — is npm start running?`);
  process.exit(1);
});
