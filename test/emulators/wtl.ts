// A small WTL HLR/HSS API for tests: POST <syncPath> with a unified sync request, answers
// {is_successful, error?}. Records every request (including ones whose client went away before the
// answer) and keeps the state WTL would hold per IMSI. Scriptable: latency, a queue of scripted
// answers (503 ×N, 400, is_successful:false, 429 + Retry-After), a default answer, and "hold".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

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
  /** The answer's status (undefined while held or when the client went away first). */
  status?: number;
  /** True when the answer was written to a client that was still there. */
  answered: boolean;
  /** True when the client closed the connection before the answer. */
  aborted: boolean;
  /** True when the answer was a success that was delivered: WTL applied the request. */
  applied: boolean;
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
  /** Successful answers written, per x-event-id. */
  appliedCountByEvent(): Map<string, number>;
  reset(): void;
  close(): Promise<void>;
}

const OK: ScriptedAnswer = { status: 200, body: { is_successful: true } };

export async function startWtlEmulator(opts: { port?: number; syncPath?: string } = {}): Promise<WtlEmulator> {
  const syncPath = opts.syncPath ?? '/api/v1/subscribers/sync';
  const requests: RecordedRequest[] = [];
  const subscribers = new Map<string, Record<string, unknown>>();
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
    const b = rec.body as Record<string, unknown> | undefined;
    const ok = a.status >= 200 && a.status < 300 && typeof a.body === 'object' && a.body !== null && (a.body as { is_successful?: unknown }).is_successful === true;
    rec.applied = ok;
    if (ok && b && typeof b.imsi === 'string') subscribers.set(b.imsi, b);
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
      const rec: RecordedRequest = { seq: requests.length + 1, at: Date.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, answered: false, aborted: false, applied: false };
      requests.push(rec);
      res.on('close', () => {
        if (!rec.answered) rec.aborted = true;
      });
      if (req.method !== 'POST' || req.url !== syncPath) {
        answer(rec, res, { status: 404, body: { is_successful: false, error: 'not found' } });
        return;
      }
      const scripted = queue.shift() ?? fallback;
      const go = (): void => {
        if (latencyMs > 0) setTimeout(() => answer(rec, res, scripted), latencyMs);
        else answer(rec, res, scripted);
      };
      if (holding || (holdAfterCount !== undefined && passed >= holdAfterCount)) held.push({ rec, go });
      else {
        passed++;
        go();
      }
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
