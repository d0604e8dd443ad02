// The edge to the WTL HLR/HSS API. Every failure is classified here, once: TransientError
// (timeout, connection, 408, 429, 5xx — retried) or PermanentError (other 4xx, is_successful:false,
// an answer that is not a WTL response — dead-lettered). Nothing above looks at HTTP again.
import type { Logger } from '../shared/logger.js';
import type { Metrics } from '../shared/metrics.js';
import { PermanentError, TransientError, errorMessage } from '../shared/errors.js';
import type { UnifiedSyncRequest } from './mapping.js';
import { retryAfterMs } from '../shared/retry-after.js';
import { Agent, request as httpRequest, type Dispatcher } from 'undici';

export interface WtlResponse {
  is_successful: boolean;
  error?: string;
  [extra: string]: unknown;
}

export interface WtlClientOptions {
  /** Unset → dry run. */
  baseUrl?: string | undefined;
  syncPath: string;
  timeoutMs: number;
  apiKey?: string | undefined;
  authHeader: string;
  /** Header that carries the event id as an idempotency key, so a WTL that honours it drops a re-send. */
  idempotencyHeader: string;
  logger: Logger;
  metrics: Metrics;
}

export interface CallContext {
  eventId: string;
  requestId: string;
}

export interface WtlClient {
  readonly dryRun: boolean;
  sync(request: UnifiedSyncRequest, ctx: CallContext): Promise<WtlAnswer>;
  /** Closes the kept-alive connections (on stop). */
  close(): Promise<void>;
}

/** WTL's answer body, and the HTTP status it came with (absent in a dry run). */
export type WtlAnswer = WtlResponse & { http_status?: number };

const TARGET = 'wtl';
const CONSUMER = 'provisioning';

export function createWtlClient(opts: WtlClientOptions): WtlClient {
  if (!opts.baseUrl) {
    return {
      dryRun: true,
      async sync(request, ctx) {
        opts.logger.info({ event_id: ctx.eventId, request_id: ctx.requestId, wtl_request: request }, 'wtl dry run');
        return { is_successful: true, dry_run: true };
      },
      async close() {},
    };
  }
  const url = `${opts.baseUrl.replace(/\/+$/, '')}${opts.syncPath}`;
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (opts.apiKey) headers[opts.authHeader.toLowerCase()] = opts.authHeader.toLowerCase() === 'authorization' ? `Bearer ${opts.apiKey}` : opts.apiKey;
  const idempotencyHeader = opts.idempotencyHeader.toLowerCase();
  // undici's own request API on kept-alive connections (one per call in flight, no pipelining, so a timed-out
  // call never delays another): fetch() costs several times more CPU per call for the same request.
  const agent = new Agent({ keepAliveTimeout: 30_000 });

  return {
    dryRun: false,
    close: () => agent.close(),
    async sync(request, ctx) {
      const started = process.hrtime.bigint();
      const observe = (outcome: string): void => {
        opts.metrics.externalCallDuration.observe({ consumer: CONSUMER, target: TARGET, outcome }, Number(process.hrtime.bigint() - started) / 1e9);
      };
      try {
        const result = await call(agent, url, { ...headers, [idempotencyHeader]: ctx.eventId }, request, ctx, opts.timeoutMs);
        observe('success');
        return result;
      } catch (err) {
        const cls = err instanceof PermanentError ? 'permanent' : 'transient';
        observe(cls);
        opts.metrics.externalCallErrors.inc({ consumer: CONSUMER, target: TARGET, class: cls });
        throw err;
      }
    },
  };
}

async function call(
  agent: Dispatcher,
  url: string,
  headers: Record<string, string>,
  request: UnifiedSyncRequest,
  ctx: CallContext,
  timeoutMs: number,
): Promise<WtlAnswer> {
  let res: { status: number; retryAfter: string | undefined };
  let text: string;
  // One deadline for the whole exchange (connect, answer, body), as the lease in provisioning.md assumes.
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, timeoutMs);
  try {
    const answer = await httpRequest(url, {
      dispatcher: agent,
      method: 'POST',
      // x-event-id lets WTL (and its operators) correlate a re-sent request with the first one; the
      // idempotency header (the same event id) lets a WTL that honours it drop the re-send.
      headers: { ...headers, 'x-request-id': ctx.requestId, 'x-event-id': ctx.eventId },
      body: JSON.stringify(request),
      signal: abort.signal,
    });
    text = await answer.body.text();
    const retryAfter = answer.headers['retry-after'];
    res = { status: answer.statusCode, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter };
  } catch (err) {
    throw new TransientError(timedOut ? `WTL did not answer within ${timeoutMs} ms` : `WTL unreachable: ${causeMessage(err)}`, undefined, { cause: err });
  } finally {
    clearTimeout(timer);
  }

  if (res.status === 429 || res.status === 408 || res.status >= 500) {
    throw new TransientError(`WTL answered ${res.status}${excerpt(text)}`, retryAfterMs(res.retryAfter));
  }
  if (res.status >= 400 || res.status < 200 || res.status >= 300) {
    throw new PermanentError(`WTL rejected the request with ${res.status}${excerpt(text)}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new PermanentError(`WTL answered ${res.status} with a body that is not JSON${excerpt(text)}`);
  }
  if (typeof body !== 'object' || body === null || typeof (body as { is_successful?: unknown }).is_successful !== 'boolean') {
    throw new PermanentError(`WTL answered ${res.status} without a boolean is_successful${excerpt(text)}`);
  }
  const wtl = body as WtlResponse;
  if (!wtl.is_successful) throw new PermanentError(`WTL service error: ${typeof wtl.error === 'string' && wtl.error ? wtl.error : 'Unknown error'}`);
  return { ...wtl, http_status: res.status };
}

function excerpt(text: string): string {
  const t = text.trim();
  return t ? `: ${t.slice(0, 300)}` : '';
}

function causeMessage(err: unknown): string {
  const cause = err instanceof Error ? (err as { cause?: unknown }).cause : undefined;
  return cause ? `${errorMessage(err)} (${errorMessage(cause)})` : errorMessage(err);
}
