// Errors are classified once, at the edge that sees them (an HTTP client, a decoder),
// and everything above decides by the class: transient ones are retried, permanent ones dead-lettered.

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

/** Unknown errors (bugs, driver errors) are treated as transient: retrying is safe, losing is not. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof PermanentError) return false;
  return true;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
