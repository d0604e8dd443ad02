// A small WTL HLR/HSS API for tests: POST <syncPath> with a unified sync request, answers
// {is_successful, error?}. Records every request and keeps the state WTL would hold per IMSI.
// A request is applied ON RECEIPT: when the answer chosen for it is a success, WTL's state changes
// as the request arrives, whatever then happens to the answer (held, delayed, or its client gone) —
// so "WTL applied it, then the caller died before recording it" really happens in tests.
// Scriptable: latency, a queue of scripted answers (503 ×N, 400, is_successful:false, 429 +
// Retry-After), a default answer, "hold", an on-receipt hook that can hold the answer (kill the
// caller in that window), and whether the idempotency key is honoured (a re-send of an applied key
// is answered as the first time but not applied again).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ScriptedAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RecordedRequest {
  seq: number;
  /** Date.now() when the request arrived. */
  at: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: unknown;
  /** The idempotency-key header's value, when the request carried one. */
  idempotencyKey?: string | undefined;
  /** The answer's status (undefined while held or when the client went away first). */
  status?: number;
  /** True when the answer was written to a client that was still there. */
  answered: boolean;
  /** True when the client closed the connection before the answer. */
  aborted: boolean;
  /** WTL applied the request on receipt (its answer is a success), whatever happened to the answer. */
  applied: boolean;
  /** Its idempotency key had already been applied by an earlier request (a re-send), honoured or not. */
  resend: boolean;
  /** A re-send WTL dropped because it honours the idempotency key: answered as a success, not applied. */
  dropped: boolean;
}

export interface WtlEmulatorOptions {
  port?: number;
  syncPath?: string;
  /** Header that carries the idempotency key (default Idempotency-Key). */
  idempotencyHeader?: string;
  /** Drop a request whose idempotency key was already applied (default false: apply every success). */
  honourIdempotencyKey?: boolean;
}

export interface WtlEmulator {
  url: string;
  syncPath: string;
  requests: RecordedRequest[];
  /** IMSI → the last successfully applied request body. */
  subscribers: Map<string, Record<string, unknown>>;
  /** Delay before every answer. */
  setLatency(ms: number): void;
  /** Next answers, in order, before falling back to the default. */
  enqueue(answer: ScriptedAnswer, times?: number): void;
  /** Answer used when the queue is empty (default 200 {is_successful:true}). */
  setDefault(answer: ScriptedAnswer | undefined): void;
  /** Held requests get no answer until release() (or their client goes away). */
  hold(): void;
  /** Answer the next `count` requests normally, then hold every later one. */
  holdAfter(count: number): void;
  /** Stops holding; held requests are answered (unless their client already went away). */
  release(): void;
  heldCount(): number;
  /** Requests let through whose answer is not written yet (latency) and whose client is still there. */
  pendingAnswers(): number;
  /** Applications (on receipt) per x-event-id. */
  appliedCountByEvent(): Map<string, number>;
  /** Whether a re-send with an already applied idempotency key is dropped (answered, not applied). */
  honourIdempotencyKey(on: boolean): void;
  /**
   * Called for every sync request right after it is recorded (and applied, if it is); the answer waits
   * for the returned promise, so a test can kill the caller between WTL's effect and its answer.
   */
  onReceipt(hook: ((rec: RecordedRequest) => void | Promise<void>) | undefined): void;
  reset(): void;
  close(): Promise<void>;
}

const OK: ScriptedAnswer = { status: 200, body: { is_successful: true } };

const isSuccess = (a: ScriptedAnswer): boolean =>
  a.status >= 200 && a.status < 300 && typeof a.body === 'object' && a.body !== null && (a.body as { is_successful?: unknown }).is_successful === true;

export async function startWtlEmulator(opts: WtlEmulatorOptions = {}): Promise<WtlEmulator> {
  const syncPath = opts.syncPath ?? '/api/v1/subscribers/sync';
  const keyHeader = (opts.idempotencyHeader ?? 'Idempotency-Key').toLowerCase();
  let honour = opts.honourIdempotencyKey ?? false;
  let receiptHook: ((rec: RecordedRequest) => void | Promise<void>) | undefined;
  const requests: RecordedRequest[] = [];
  const subscribers = new Map<string, Record<string, unknown>>();
  const appliedKeys = new Set<string>();
  let latencyMs = 0;
  let queue: ScriptedAnswer[] = [];
  let fallback: ScriptedAnswer = OK;
  let holding = false;
  let holdAfterCount: number | undefined;
  let passed = 0;
  let held: { rec: RecordedRequest; go: () => void }[] = [];

  const answer = (rec: RecordedRequest, res: ServerResponse, a: ScriptedAnswer): void => {
    if (rec.aborted || res.destroyed) return;
    rec.status = a.status;
    rec.answered = true;
    const body = a.body === undefined ? '' : typeof a.body === 'string' ? a.body : JSON.stringify(a.body);
    res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers });
    res.end(body);
  };

  /** On receipt: a request whose answer will be a success changes WTL's state now. */
  const apply = (rec: RecordedRequest, a: ScriptedAnswer): void => {
    if (!isSuccess(a)) return;
    const key = rec.idempotencyKey;
    rec.resend = key !== undefined && appliedKeys.has(key);
    if (rec.resend && honour) {
      rec.dropped = true;
      return;
    }
    rec.applied = true;
    if (key !== undefined) appliedKeys.add(key);
    const b = rec.body as Record<string, unknown> | undefined;
    if (b && typeof b.imsi === 'string') subscribers.set(b.imsi, b);
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      const keyValue = req.headers[keyHeader];
      const rec: RecordedRequest = {
        seq: requests.length + 1, at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body,
        idempotencyKey: typeof keyValue === 'string' ? keyValue : undefined, answered: false, aborted: false, applied: false, resend: false, dropped: false,
      };
      requests.push(rec);
      res.on('close', () => {
        if (!rec.answered) rec.aborted = true;
      });
      if (req.method !== 'POST' || req.url !== syncPath) {
        answer(rec, res, { status: 404, body: { is_successful: false, error: 'not found' } });
        return;
      }
      const scripted = queue.shift() ?? fallback;
      apply(rec, scripted);
      const go = (): void => {
        if (latencyMs > 0) setTimeout(() => answer(rec, res, scripted), latencyMs);
        else answer(rec, res, scripted);
      };
      const proceed = (): void => {
        if (holding || (holdAfterCount !== undefined && passed >= holdAfterCount)) held.push({ rec, go });
        else {
          passed++;
          go();
        }
      };
      const waiting = receiptHook?.(rec);
      if (waiting) void waiting.then(proceed, proceed);
      else proceed();
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    syncPath,
    requests,
    subscribers,
    setLatency(ms) {
      latencyMs = ms;
    },
    enqueue(a, times = 1) {
      for (let i = 0; i < times; i++) queue.push(a);
    },
    setDefault(a) {
      fallback = a ?? OK;
    },
    hold() {
      holding = true;
    },
    holdAfter(count) {
      holdAfterCount = passed + count;
    },
    release() {
      holding = false;
      holdAfterCount = undefined;
      const waiting = held;
      held = [];
      for (const h of waiting) h.go();
    },
    heldCount() {
      return held.length;
    },
    pendingAnswers() {
      const heldRecs = new Set(held.map((h) => h.rec));
      return requests.filter((r) => !r.answered && !r.aborted && !heldRecs.has(r)).length;
    },
    honourIdempotencyKey(on) {
      honour = on;
    },
    onReceipt(hook) {
      receiptHook = hook;
    },
    appliedCountByEvent() {
      const counts = new Map<string, number>();
      for (const r of requests) {
        const id = r.headers['x-event-id'];
        if (r.applied && typeof id === 'string') counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      return counts;
    },
    reset() {
      requests.length = 0;
      subscribers.clear();
      appliedKeys.clear();
      honour = opts.honourIdempotencyKey ?? false;
      receiptHook = undefined;
      queue = [];
      fallback = OK;
      latencyMs = 0;
      holding = false;
      holdAfterCount = undefined;
      passed = 0;
      held = [];
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Run as a program (`node --import tsx test/emulators/wtl.ts`), the emulator is a process of its own, as
 * the real WTL is to the service: the benchmark uses it so that the emulator's work is not done by, nor
 * counted in, the process that measures. A second loopback server takes the bench's few controls:
 * GET /count (requests received), POST /reset, POST /latency?ms=N. Prints one JSON line {url, control}.
 */
async function runAsProgram(): Promise<void> {
  const wtl = await startWtlEmulator();
  const control = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (req.method === 'POST' && url.pathname === '/reset') wtl.reset();
    else if (req.method === 'POST' && url.pathname === '/latency') wtl.setLatency(Number(url.searchParams.get('ms') ?? 0));
    else if (!(req.method === 'GET' && url.pathname === '/count')) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ requests: wtl.requests.length }));
  });
  await new Promise<void>((resolve) => control.listen(0, '127.0.0.1', resolve));
  process.stdout.write(`${JSON.stringify({ url: wtl.url, control: `http://127.0.0.1:${(control.address() as AddressInfo).port}` })}\n`);
  const stop = (): void => {
    control.close();
    void wtl.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

const script = process.argv[1];
if (script !== undefined && import.meta.url === pathToFileURL(resolve(script)).href) void runAsProgram();
