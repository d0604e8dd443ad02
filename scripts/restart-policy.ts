// When `npm start` brings a service back after it died, and when it gives up. A service that was
// running and then exits (a crash, an OOM kill, a stray `kill`) is started again after a growing
// pause: consumers resume from their committed offsets and ingress keeps answering senders, so one
// crash does not take the whole system down. A service that keeps dying is a fault to look at, not
// to hide: past `maxRestarts` within `windowMs` everything stops, as it does when a service cannot
// start at all.

export interface RestartPolicy {
  /** Restarts allowed within the window; the next exit stops everything. */
  maxRestarts: number;
  windowMs: number;
  /** Pause before the first restart of a window; doubled for each further one, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { maxRestarts: 5, windowMs: 10 * 60_000, baseDelayMs: 1000, maxDelayMs: 30_000 };

export type RestartDecision =
  | { restart: true; delayMs: number; /** 1 for the first restart within the window. */ attempt: number }
  | { restart: false; /** Restarts already made within the window. */ restarts: number };

/** `restartedAt`: when this service was restarted before (any order); `now`: when it exited. */
export function decideRestart(restartedAt: readonly number[], now: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): RestartDecision {
  const recent = restartedAt.filter((t) => now - t < policy.windowMs).length;
  if (recent >= policy.maxRestarts) return { restart: false, restarts: recent };
  return { restart: true, delayMs: Math.min(policy.baseDelayMs * 2 ** recent, policy.maxDelayMs), attempt: recent + 1 };
}
