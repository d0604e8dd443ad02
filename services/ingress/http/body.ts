// Reads a request body into one Buffer with a size limit and a time limit. Each source answers
// "too large" (413) and "too slow" (408) in its own documented shape, so the errors carry a
// statusCode and a reason (a refusal of sources/replies.ts, which answers it).
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyRequest } from 'fastify';

export class BodyError extends Error {
  constructor(
    readonly statusCode: 400 | 408 | 413,
    readonly reason: 'body_unreadable' | 'body_timeout' | 'body_too_large',
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

function collectBody(payload: Readable, declaredLength: string | undefined, limits: BodyLimits): Promise<Buffer> {
  const tooLarge = (): BodyError => new BodyError(413, 'body_too_large', `request body larger than ${limits.limitBytes} bytes`);
  const declared = declaredLength === undefined ? undefined : Number(declaredLength);
  // Refuse before buffering a byte when the sender already told us the size.
  if (declared !== undefined && Number.isFinite(declared) && declared > limits.limitBytes) {
    return discardRest(payload, 0, declared).then(() => Promise.reject(tooLarge()));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: BodyError | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      payload.removeListener('aborted', onAborted);
      if (err) {
        // Stop buffering; the response carries Connection: close.
        chunks.length = 0;
        if (err.reason === 'body_too_large') void discardRest(payload, size, declared).then(() => reject(err));
        else {
          payload.pause();
          reject(err);
        }
      } else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limits.limitBytes) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = (): void => finish(undefined);
    const onError = (): void => finish(new BodyError(400, 'body_unreadable', 'failed to read the request body'));
    const onAborted = onError;
    const timer = setTimeout(
      () => finish(new BodyError(408, 'body_timeout', `request body not received within ${limits.timeoutMs} ms`)),
      limits.timeoutMs,
    );
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.on('aborted', onAborted);
  });
}

/** A fastify content-type parser that hands the handler the exact bytes received. */
export function bodyParser(limits: BodyLimits): (req: FastifyRequest, payload: IncomingMessage) => Promise<Buffer> {
  return (req, payload) => collectBody(payload, req.headers['content-length'], limits);
}
