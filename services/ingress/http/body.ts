// Reads a request body into one Buffer with a size limit and a time limit, decoding a compressed
// body (Content-Encoding) on the way. Each source answers "too large" (413), "too slow" (408) and
// "cannot decode" in its own documented shape, so the errors carry a statusCode and a reason (a
// refusal of sources/replies.ts, which answers it).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable, Transform } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { FastifyRequest } from 'fastify';

export class BodyError extends Error {
  constructor(
    readonly statusCode: 400 | 408 | 413 | 415,
    readonly reason: 'body_unreadable' | 'body_timeout' | 'body_too_large' | 'unsupported_encoding',
    message: string,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

interface BodyLimits {
  limitBytes: number;
  timeoutMs: number;
}

// Lingering close: after a refusal the unread rest of the body is read and thrown away (up to these
// bounds) before the answer goes out. Closing a socket with unread input makes the kernel send a
// TCP reset, which can destroy the 413 before the sender reads it; the sender would then see a
// connection error instead of the documented answer. Bounded, so a refusal never costs more.
const LINGER_MAX_BYTES = 16 * 1024 * 1024;
const LINGER_MAX_MS = 2000;

function discardRest(payload: Readable, alreadyRead: number, declared: number | undefined): Promise<void> {
  // Nothing left to read (a compressed body can end before its decoded size passes the limit).
  if (payload.readableEnded) return Promise.resolve();
  if (declared !== undefined && declared - alreadyRead > LINGER_MAX_BYTES) return Promise.resolve();
  return new Promise<void>((resolve) => {
    let discarded = 0;
    const done = (): void => {
      clearTimeout(timer);
      payload.removeListener('data', onData);
      payload.removeListener('end', done);
      payload.removeListener('error', done);
      payload.removeListener('aborted', done);
      payload.pause();
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      discarded += chunk.length;
      if (discarded > LINGER_MAX_BYTES) done();
    };
    const timer = setTimeout(done, LINGER_MAX_MS);
    payload.on('data', onData);
    payload.on('end', done);
    payload.on('error', done);
    payload.on('aborted', done);
    payload.resume();
  });
}

const PENDING_CONTINUE = Symbol('switchboard.pendingContinue');
type AwaitingContinue = IncomingMessage & { [PENDING_CONTINUE]?: ServerResponse };

/**
 * `Expect: 100-continue`: Node would answer "100 Continue" before any hook ran, so a sender with a wrong
 * password uploaded its whole batch before hearing 401. The server's checkContinue handler marks the
 * request instead, and the interim answer goes out only when a source starts reading the body — after
 * authentication and the declared-size check passed. A refused sender is told so without sending its body.
 */
export function deferContinue(req: IncomingMessage, res: ServerResponse): void {
  (req as AwaitingContinue)[PENDING_CONTINUE] = res;
}

/** Sends the deferred "100 Continue", if the request asked for one: the sender may now send its body. */
function releaseContinue(payload: Readable): void {
  const req = payload as AwaitingContinue;
  const res = req[PENDING_CONTINUE];
  if (!res) return;
  delete req[PENDING_CONTINUE];
  if (!res.headersSent) res.writeContinue();
}

/** A refusal before the body was read: linger for its rest only when the sender may be sending it. */
function refuseUnread(payload: Readable, declared: number | undefined, err: BodyError): Promise<never> {
  const awaiting = (payload as AwaitingContinue)[PENDING_CONTINUE] !== undefined;
  // Still waiting for "100 Continue": the sender holds its body back; the final answer tells it not to send.
  if (awaiting) return Promise.reject(err);
  return discardRest(payload, 0, declared).then(() => Promise.reject(err));
}

type Coding = 'gzip' | 'deflate' | 'br';
const CODINGS: Record<string, Coding> = { gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate', br: 'br' };

/**
 * The codings of a Content-Encoding header in the order they were applied (`identity` dropped), or the
 * first one this reader cannot undo. Compression is not in any source's documentation, but an HTTP client
 * or a proxy in front of ingress may add it; refusing it as "not UTF-8" would be a permanent error for data
 * that is fine.
 */
export function contentCodings(header: string | undefined): { codings: Coding[] } | { unsupported: string } {
  const codings: Coding[] = [];
  if (header === undefined) return { codings };
  for (const raw of header.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '' || name === 'identity') continue;
    const coding = CODINGS[name];
    if (!coding) return { unsupported: raw.trim() };
    codings.push(coding);
  }
  return { codings };
}

const decoderFor = { gzip: createGunzip, deflate: createInflate, br: createBrotliDecompress } as const;

function collectBody(payload: Readable, headers: IncomingMessage['headers'], limits: BodyLimits): Promise<Buffer> {
  const declaredLength = headers['content-length'];
  const declared = declaredLength === undefined ? undefined : Number(declaredLength);
  // Refuse before buffering a byte when the sender already told us the size.
  if (declared !== undefined && Number.isFinite(declared) && declared > limits.limitBytes) return refuseUnread(payload, declared, tooLarge(limits));
  const encoding = contentCodings(headers['content-encoding']);
  if ('unsupported' in encoding) {
    return refuseUnread(payload, declared, new BodyError(415, 'unsupported_encoding', `Content-Encoding ${encoding.unsupported} is not supported (gzip, deflate, br and identity are)`));
  }
  releaseContinue(payload);
  // Decoded in the reverse order of their application. The limit holds for the bytes on the wire and for
  // the decoded bytes alike, so a small body that decodes to gigabytes stops at the limit.
  const decoders = encoding.codings.reverse().map((coding) => decoderFor[coding]());
  return new Promise<Buffer>((resolve, reject) => {
    new BodyCollector(payload, decoders, limits, declared, resolve, reject);
  });
}

function tooLarge(limits: BodyLimits): BodyError {
  return new BodyError(413, 'body_too_large', `request body larger than ${limits.limitBytes} bytes`);
}

/**
 * One body being read. A class, not closures: this runs for every request, and the TypeScript runner
 * (tsx, esbuild's keepNames) renames every named closure it creates with Object.defineProperty: with
 * eight closures per request that was over a third of the body reader's CPU. Its listeners are bound
 * methods instead, which are not renamed.
 */
class BodyCollector {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private wireSize = 0;
  private settled = false;
  private readonly source: Readable;
  private readonly timer: NodeJS.Timeout;
  private readonly onData = this.data.bind(this);
  private readonly onWireData = this.wireData.bind(this);
  private readonly onEnd = this.end.bind(this);
  private readonly onError = this.error.bind(this);
  private readonly onUndecodable = this.undecodable.bind(this);

  constructor(
    private readonly payload: Readable,
    private readonly decoders: Transform[],
    private readonly limits: BodyLimits,
    private readonly declared: number | undefined,
    private readonly resolve: (body: Buffer) => void,
    private readonly reject: (err: BodyError) => void,
  ) {
    let source: Readable = payload;
    for (const decoder of decoders) source = source.pipe(decoder);
    this.source = source;
    this.timer = setTimeout(this.timeout.bind(this), limits.timeoutMs);
    for (const decoder of decoders) decoder.on('error', this.onUndecodable);
    if (decoders.length > 0) payload.on('data', this.onWireData);
    source.on('data', this.onData);
    source.on('end', this.onEnd);
    payload.on('error', this.onError);
    payload.on('aborted', this.onError);
  }

  private data(chunk: Buffer): void {
    this.size += chunk.length;
    if (this.size > this.limits.limitBytes) this.finish(tooLarge(this.limits));
    else this.chunks.push(chunk);
  }

  private wireData(chunk: Buffer): void {
    this.wireSize += chunk.length;
    if (this.wireSize > this.limits.limitBytes) this.finish(tooLarge(this.limits));
  }

  private end(): void {
    this.finish(undefined);
  }

  private error(): void {
    this.finish(new BodyError(400, 'body_unreadable', 'failed to read the request body'));
  }

  private undecodable(err: Error): void {
    this.finish(new BodyError(400, 'body_unreadable', `the request body could not be decoded as its Content-Encoding says: ${err.message}`));
  }

  private timeout(): void {
    this.finish(new BodyError(408, 'body_timeout', `request body not received within ${this.limits.timeoutMs} ms`));
  }

  private finish(err: BodyError | undefined): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    const { payload, source, decoders } = this;
    source.removeListener('data', this.onData);
    source.removeListener('end', this.onEnd);
    payload.removeListener('data', this.onWireData);
    payload.removeListener('error', this.onError);
    payload.removeListener('aborted', this.onError);
    for (const decoder of decoders) {
      decoder.removeListener('error', this.onUndecodable);
      if (err) decoder.destroy();
    }
    if (decoders.length > 0) payload.unpipe();
    if (!err) {
      this.resolve(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size));
      return;
    }
    // Stop buffering; the response carries Connection: close.
    this.chunks.length = 0;
    if (err.reason === 'body_too_large') void discardRest(payload, this.wireSize, this.declared).then(() => this.reject(err));
    else {
      payload.pause();
      this.reject(err);
    }
  }
}

/** A fastify content-type parser that hands the handler the body's bytes: as received, or decoded (Content-Encoding). */
export function bodyParser(limits: BodyLimits): (req: FastifyRequest, payload: IncomingMessage) => Promise<Buffer> {
  return (req, payload) => collectBody(payload, req.headers, limits);
}
