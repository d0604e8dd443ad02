// The one retry policy every consumer path uses (per-record handlers, batch handlers, decoding, dead-letter
// writes, the rebuild): by the class of the failure (see errors.ts), not by where it was caught.
//   unavailable -> wait it out with capped exponential backoff for as long as it lasts (or until the caller
//                  gives up ownership: a rebalance, a stop, a deadline);
//   invalid     -> give up at once: the caller dead-letters that one record;
//   unexpected  -> retry up to maxAttempts, then give up.
import { classifyError, retryAfterOf, type FailureClass } from './errors.js';

export interface RetryPolicy {
  /** Attempts for an unexpected error (a bug) before the record is dead-lettered. */
  maxAttempts: number;
  initialDelayMs: number;
  maxDelayMs: number;
  /** Longest pause between attempts while infrastructure is unavailable (default 30 s). */
  maxOutageDelayMs?: number;
}

export const DEFAULT_RETRY: RetryPolicy = { maxAttempts: 5, initialDelayMs: 200, maxDelayMs: 5000, maxOutageDelayMs: 30_000 };

export type Attempted<T> =
  | { status: 'done'; value: T; attempts: number }
  | { status: 'failed'; error: unknown; failure: FailureClass; attempts: number }
  | { status: 'abandoned'; error: unknown; attempts: number };

export interface RetryHooks {
  /** Checked before every attempt and while waiting: false abandons the work (partition revoked, stopping). */
  keepGoing?: () => boolean;
  /** Called before each wait. */
  onRetry?: (info: { error: unknown; failure: FailureClass; attempt: number; delayMs: number }) => void;
  /** Called once the work succeeds or gives up after at least one 'unavailable' failure. */
  onRecovered?: () => void;
}

/** Runs `work` under the policy; never throws. */
export async function attempt<T>(work: () => Promise<T>, policy: RetryPolicy, hooks: RetryHooks = {}): Promise<Attempted<T>> {
  const keepGoing = hooks.keepGoing ?? (() => true);
  let unexpectedFailures = 0;
  let outage = false;
  const recovered = () => {
    if (outage) hooks.onRecovered?.();
    outage = false;
  };
  for (let attempts = 1; ; attempts++) {
    try {
      const value = await work();
      recovered();
      return { status: 'done', value, attempts };
    } catch (error) {
      const failure = classifyError(error);
      if (failure === 'invalid') {
        recovered();
        return { status: 'failed', error, failure, attempts };
      }
      if (failure === 'unexpected' && ++unexpectedFailures >= policy.maxAttempts) {
        recovered();
        return { status: 'failed', error, failure, attempts };
      }
      if (!keepGoing()) {
        recovered();
        return { status: 'abandoned', error, attempts };
      }
      outage ||= failure === 'unavailable';
      const ceiling = failure === 'unavailable' ? Math.max(policy.maxDelayMs, policy.maxOutageDelayMs ?? 30_000) : policy.maxDelayMs;
      const delayMs = backoffDelay({ ...policy, maxDelayMs: ceiling }, attempts, retryAfterOf(error));
      hooks.onRetry?.({ error, failure, attempt: attempts, delayMs });
      if (!(await pause(delayMs, keepGoing))) {
        recovered();
        return { status: 'abandoned', error, attempts };
      }
    }
  }
}

/** Exponential backoff with full jitter; a server's Retry-After wins when it is longer. */
export function backoffDelay(policy: Pick<RetryPolicy, 'initialDelayMs' | 'maxDelayMs'>, attempt: number, retryAfterMs?: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** Math.min(attempt - 1, 30));
  const jittered = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  return retryAfterMs !== undefined ? Math.min(Math.max(jittered, retryAfterMs), Math.max(policy.maxDelayMs, 60_000)) : jittered;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Sleeps up to `ms`, waking early (false) as soon as keepGoing() turns false, so a stop never waits out a long backoff. */
async function pause(ms: number, keepGoing: () => boolean): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!keepGoing()) return false;
    await sleep(Math.min(250, until - Date.now()));
  }
  return keepGoing();
}
