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
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactSecrets },
    },
    // Standard output is written asynchronously: lines that arrive while a write is under way go out
    // together in the next one, instead of one blocking write(2) per line on the event loop (each
    // request logs a line). pino flushes what is pending when the process exits.
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
  // A child's bindings are serialised once, when it is made (pino's bindings formatter applies to the
  // root only): redact them there. Children inherit this child() from the root, so it covers all.
  const child = logger.child;
  logger.child = function redactedChild(this: Logger, bindings, options) {
    return child.call(this, redactSecrets(bindings), options);
  } as Logger['child'];
  return logger;
}
