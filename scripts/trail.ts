// `npm run trail -- <event_id> [--json]`: what happened to one event, in a terminal. Asks the running trail
// service's API (TRAIL_URL, default http://127.0.0.1:8095, with TRAIL_API_TOKEN as bearer token), so it
// works against any deployment without database access. See docs/trail.md.
//   exit 0: found; 1: unknown event id, or the trail did not answer; 2: wrong usage or a refused token.
import 'dotenv/config';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import type { EventTimeline } from '../services/trail/queries.js';

const USAGE = `usage: npm run trail -- <event_id> [--json]
  env: TRAIL_URL (default http://127.0.0.1:8095), TRAIL_API_TOKEN (when the trail has TRAIL_API_TOKENS set)`;

/** The timeline as lines for a terminal: the event, then each outcome oldest first, then its siblings. */
export function formatTimeline(eventId: string, t: EventTimeline): string {
  const lines: string[] = [];
  const e = t.event;
  if (e) {
    lines.push(`${e.event_id}  ${e.source} ${e.kind}${e.event_type ? ` (${e.event_type})` : ''}`);
    lines.push(`  key ${e.key ?? '-'}${e.tenant ? `  tenant ${e.tenant}` : ''}  request ${e.request_id}  ${e.size} bytes`);
    lines.push(`  ${e.topic}[${e.partition}]@${e.offset}${t.deliveries.length > 1 ? `  (${t.deliveries.length} deliveries)` : ''}`);
    lines.push('');
    lines.push(`${e.received_at}  received`);
  } else {
    lines.push(`${eventId}  (the event is not in the trail: not indexed yet, or pruned)`);
    lines.push('');
  }
  const width = Math.max(0, ...t.outcomes.map((o) => o.consumer.length));
  for (const o of t.outcomes) {
    const effect = Object.entries(o.effect ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
    const attempt = o.attempt > 1 ? ` (attempt ${o.attempt})` : '';
    lines.push(`${o.at}  ${o.consumer.padEnd(width)}  ${o.outcome}${attempt}${o.reason ? `: ${o.reason}` : ''}${effect ? `  [${effect}]` : ''}`);
  }
  if (t.outcomes.length === 0) lines.push('(no consumer has reported on it yet)');
  if (t.siblings.length > 0) {
    lines.push('');
    lines.push(`same ${e?.source === 'sap' ? 'report' : 'batch'} (${t.siblings.length}): ${t.siblings.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return (process.stdout.write(`${USAGE}\n`), 0);
  const eventId = positionals[0];
  if (!eventId || positionals.length > 1) return (process.stderr.write(`${USAGE}\n`), 2);
  const base = (process.env.TRAIL_URL || 'http://127.0.0.1:8095').replace(/\/+$/, '');
  const token = process.env.TRAIL_API_TOKEN;
  let res: Response;
  try {
    res = await fetch(`${base}/events/${encodeURIComponent(eventId)}`, {
      headers: token ? { authorization: `Bearer ${token}` } : {},
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    process.stderr.write(`the trail at ${base} did not answer: ${err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err)}\n`);
    return 1;
  }
  const body = (await res.json().catch(() => undefined)) as unknown;
  if (res.status === 401) {
    process.stderr.write(`the trail refused the token: set TRAIL_API_TOKEN to one of its TRAIL_API_TOKENS\n`);
    return 2;
  }
  if (res.status === 404) {
    if (values.json) process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
    process.stderr.write(`no event ${eventId} in the trail\n`);
    return 1;
  }
  if (!res.ok || body === undefined) {
    process.stderr.write(`the trail answered ${res.status}: ${JSON.stringify(body)}\n`);
    return 1;
  }
  process.stdout.write(values.json ? `${JSON.stringify(body, null, 2)}\n` : formatTimeline(eventId, body as EventTimeline));
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().then((code) => process.exit(code), (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
