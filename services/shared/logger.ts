import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger };

// Credentials can only reach a log line through these fields, which are removed before serialising:
// a secret-named field at the top level or one level down (`password`, `*.password`, …), and the
// request's `req.headers.authorization` / `req.headers.cookie`.
const SECRET_FIELDS = new Set(['authorization', 'password', 'token', 'secret']);
const SECRET_REQUEST_HEADERS = ['authorization', 'cookie'] as const;

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasSecretField(value: Record<string, unknown>): boolean {
  for (const key in value) if (SECRET_FIELDS.has(key)) return true;
  return false;
}

/**
 * A shallow copy of `value` without the given fields. Prototype and non-enumerable properties are
 * kept, so an Error stays an Error (message, stack, type) for pino's serialiser.
 */
function copyWithout(value: Record<string, unknown>, fields: Iterable<string>): Record<string, unknown> {
  const copy = Object.create(Object.getPrototypeOf(value) as object | null, Object.getOwnPropertyDescriptors(value)) as Record<string, unknown>;
  // Node 22+ (V8 12) keeps an error's stack behind an own accessor that only answers on the original error:
  // copied, it would read as empty. Keep the stack itself.
  if (value instanceof Error) Object.defineProperty(copy, 'stack', { value: value.stack, writable: true, configurable: true, enumerable: false });
  for (const key of fields) delete copy[key];
  return copy;
}

/**
 * The log object without credentials. A plain check of the keys, instead of pino's path redaction,
 * which cloned and walked every path on every line (a measurable share of a busy ingress, where
 * every request logs a line); the caller's object is never changed: a copy is made only when a
 * secret is actually present.
 */
export function redactSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  let out = obj;
  for (const key in obj) {
    if (SECRET_FIELDS.has(key)) {
      if (out === obj) out = { ...obj };
      delete out[key];
      continue;
    }
    const value = obj[key];
    if (!isPlainRecord(value)) continue;
    let clean = hasSecretField(value) ? copyWithout(value, SECRET_FIELDS) : value;
    const headers = key === 'req' ? clean.headers : undefined;
    if (isPlainRecord(headers) && SECRET_REQUEST_HEADERS.some((h) => headers[h] !== undefined)) {
      if (clean === value) clean = copyWithout(value, []);
      clean.headers = copyWithout(headers, SECRET_REQUEST_HEADERS);
    }
    if (clean !== value) {
      if (out === obj) out = { ...obj };
      out[key] = clean;
    }
  }
  return out;
}

/**
 * Standard output, written once per event-loop turn: the lines logged during one turn (a busy ingress
 * finishes many requests per turn, each with its line) go out in one write(2) right after it, instead
 * of one write per line. Measured per line: ~3 µs of CPU against ~5.5 µs for a write per line and
 * ~7 µs for pino's asynchronous mode (sonic-boom measures its whole pending buffer on every line).
 * Error and fatal lines are written at once (with what is pending before them), and whatever is
 * pending when the process exits is written then, so a crash loses no line it could have written.
 */
class TurnBatchedStdout {
  private pending: string[] = [];
  private scheduled = false;
  /** pino's synchronous stdout (sonic-boom): retries a full pipe (EAGAIN) instead of dropping. */
  private readonly out = pino.destination({ dest: 1, sync: true });
  /**
   * Set when standard output is gone (EPIPE: the reader of the pipe, e.g. `npm start` or `| tee`, died;
   * EIO: the terminal was closed). The service then goes on, or drains, without its log lines rather than
   * dying mid-request on the first line it cannot write.
   */
  private gone = false;

  constructor() {
    process.on('exit', () => this.flush());
    this.out.on('error', () => {
      this.gone = true;
    });
  }

  write(line: string): boolean {
    this.pending.push(line);
    if (line.startsWith('{"level":"error"') || line.startsWith('{"level":"fatal"')) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushAfterTurn);
    }
    return true;
  }

  private readonly flushAfterTurn = (): void => {
    this.scheduled = false;
    this.flush();
  };

  /** Writes what is pending now; pino's logger.flush(cb) calls it with a callback. */
  flush(done?: (err?: Error) => void): void {
    if (this.gone) this.pending = [];
    if (this.pending.length > 0) {
      const data = this.pending.length === 1 ? this.pending[0]! : this.pending.join('');
      this.pending = [];
      this.out.write(data);
    }
    done?.();
  }
}

/**
 * pino's ISO timestamp, formatted once per millisecond: a busy ingress logs several lines in the same
 * millisecond, and formatting a Date for each was about 1 µs of every NSPS request's CPU.
 */
let lastTimeMs = -1;
let lastTime = '';
function isoTimeOncePerMillisecond(): string {
  const now = Date.now();
  if (now !== lastTimeMs) {
    lastTimeMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

let stdout: TurnBatchedStdout | undefined;
/** One for the process, whatever the number of loggers, so their lines keep their order. */
function stdoutOncePerTurn(): TurnBatchedStdout {
  return (stdout ??= new TurnBatchedStdout());
}

export interface LoggerOptions {
  service: string;
  level?: string;
  destination?: DestinationStream;
}

/** One logger per process, created at start and passed down; children add request_id / event_id. */
export function createLogger(opts: LoggerOptions): Logger {
  const logger = pino(
    {
      level: opts.level ?? 'info',
      base: { service: opts.service },
      timestamp: isoTimeOncePerMillisecond,
      formatters: { level: (label) => ({ level: label }), log: redactSecrets },
    },
    opts.destination ?? stdoutOncePerTurn(),
  );
  // A child's bindings are serialised once, when it is made (pino's bindings formatter applies to the
  // root only): redact them there. Children inherit this child() from the root, so it covers all.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as Logger['child'];
  return logger;
}
