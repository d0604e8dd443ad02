// Errors are classified once, by cause, at the edge that sees them (an HTTP client, the codec, the
// database driver), and everything above decides by the class:
//   - unavailable: infrastructure did not answer (broker, registry, database, an API, a network error or
//     timeout). Waited out with backoff for as long as it lasts; never dead-lettered.
//   - invalid: the record itself is bad (bytes that do not parse, a schema id the registry does not know,
//     a payload the contract or the API rejects). Dead-lettered at once, alone.
//   - unexpected: anything else, i.e. a bug. Retried a bounded number of times, then dead-lettered alone.
// As in kafkajs, the decision rides on a `retriable` property: true = unavailable, false = invalid.

export type FailureClass = 'unavailable' | 'invalid' | 'unexpected';

export class TransientError extends Error {
  readonly retriable = true;
  constructor(message: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TransientError';
  }
}

export class PermanentError extends Error {
  readonly retriable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** Socket and DNS errors of Node and undici: the other side did not answer, the data is not at fault. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'EHOSTDOWN', 'ENETUNREACH',
  'ENETDOWN', 'EAI_AGAIN', 'ENOTFOUND', 'ESOCKETTIMEDOUT', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED', 'UND_ERR_ABORTED',
]);

/**
 * PostgreSQL SQLSTATEs that mean "the server cannot serve now", not "this statement is wrong":
 * connection exceptions (08), insufficient resources (53), operator intervention such as a shutdown or
 * restart (57), system errors (58), serialization failures and deadlocks, and a lock not available.
 */
function isUnavailableSqlState(code: string): boolean {
  return /^(08|53|57|58)/.test(code) || code === '40001' || code === '40P01' || code === '55P03';
}

const DRIVER_UNAVAILABLE_MESSAGES = /Connection terminated|connection error|Client was closed|terminating connection|the database system is (starting up|shutting down|in recovery mode)|timeout exceeded when trying to connect/i;

/** Classifies an error by its cause. Looks through `cause` chains and AggregateErrors (a refused dual-stack connect). */
export function classifyError(err: unknown, depth = 0): FailureClass {
  if (!(err instanceof Error) || depth > 5) return 'unexpected';
  const flagged = (err as { retriable?: unknown }).retriable;
  // kafkajs errors name themselves KafkaJS*; in a handler they come from a producer or admin talking to the
  // cluster (the dead-letter or outcome producer), so they are infrastructure whatever their own flag says:
  // its "retries exhausted" error is marked non-retriable yet only means the brokers stayed away longer.
  if (err.name.startsWith('KafkaJS')) return 'unavailable';
  if (flagged === true) return 'unavailable';
  if (flagged === false) return 'invalid';
  if (err.name === 'AbortError' || err.name === 'TimeoutError') return 'unavailable';
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (NETWORK_CODES.has(code)) return 'unavailable';
    if (/^[0-9A-Z]{5}$/.test(code) && isUnavailableSqlState(code)) return 'unavailable';
  }
  if (DRIVER_UNAVAILABLE_MESSAGES.test(err.message)) return 'unavailable';
  if (err instanceof AggregateError && err.errors.some((e) => classifyError(e, depth + 1) === 'unavailable')) return 'unavailable';
  if (err.cause !== undefined) {
    const inner = classifyError(err.cause, depth + 1);
    if (inner !== 'unexpected') return inner;
  }
  return 'unexpected';
}

/** True unless the error says the record itself is bad: unavailable and unexpected errors are worth another try. */
export function isRetriable(err: unknown): boolean {
  return classifyError(err) !== 'invalid';
}

/** The server's Retry-After, when the error carries one. */
export function retryAfterOf(err: unknown): number | undefined {
  return err instanceof TransientError ? err.retryAfterMs : undefined;
}

export function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // "fetch failed" and friends say nothing; the cause says what happened.
  if (err.cause instanceof Error && err.cause.message && !err.message.includes(err.cause.message)) return `${err.message}: ${err.cause.message}`;
  if (err instanceof AggregateError && err.errors.length > 0 && !err.message) return err.errors.map(errorMessage).join('; ');
  return err.message;
}
