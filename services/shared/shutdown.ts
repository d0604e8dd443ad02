// Graceful shutdown: on SIGTERM/SIGINT/SIGHUP run the steps in order (stop accepting, drain, commit, disconnect), once.
//
// One Ctrl-C often arrives as several signals: the terminal sends SIGINT to the whole foreground process
// group, and `npm start` (or a supervisor) passes a SIGTERM on as well. Every signal within
// SIGNAL_WINDOW_MS of the first belongs to the same stop and is ignored; a signal after the window (a
// second Ctrl-C once "draining…" was shown) ends the process at once, as do steps running past the grace.
import type { Server } from 'node:http';
import { Server as NetServer } from 'node:net';
import type { Logger } from './logger.js';

export type ShutdownStep = { name: string; run: () => Promise<void> };

/** Signals this close to the first are the same stop (the terminal's SIGINT and a supervisor's SIGTERM). */
export const SIGNAL_WINDOW_MS = 2_000;

export interface ShutdownOptions {
  graceMs?: number;
  windowMs?: number;
  /** Defaults to process.exit; tests pass their own. */
  exit?: (code: number) => void;
  now?: () => number;
}

/** The signal handler: the first call drains, calls within the window are ignored, a later one exits at once. */
export function shutdownHandler(logger: Logger, steps: ShutdownStep[], opts: ShutdownOptions = {}): (signal: string) => Promise<void> {
  const { graceMs = 20_000, windowMs = SIGNAL_WINDOW_MS, exit = (code: number) => process.exit(code), now = Date.now } = opts;
  let firstAt: number | undefined;
  return async (signal) => {
    if (firstAt !== undefined) {
      const sinceMs = now() - firstAt;
      if (sinceMs < windowMs) {
        logger.info({ signal, since_ms: sinceMs }, 'already draining: signal ignored (the same stop)');
        return;
      }
      logger.warn({ signal, since_ms: sinceMs }, 'second signal: exiting now without finishing the drain');
      exit(1);
      return;
    }
    firstAt = now();
    const started = firstAt;
    logger.info({ signal, steps: steps.map((s) => s.name), window_ms: windowMs, grace_ms: graceMs }, 'draining… (stop accepting, finish or abandon in-flight work, commit, disconnect)');
    const force = setTimeout(() => {
      logger.error({ grace_ms: graceMs }, 'shutdown took too long: exiting');
      exit(1);
    }, graceMs);
    force.unref();
    let failed = false;
    for (const step of steps) {
      try {
        await step.run();
      } catch (err) {
        failed = true;
        logger.error({ step: step.name, err: err instanceof Error ? err.message : String(err) }, 'shutdown step failed');
      }
    }
    clearTimeout(force);
    logger.info({ ms: now() - started, clean: !failed }, 'stopped');
    exit(0);
  };
}

export function installShutdown(logger: Logger, steps: ShutdownStep[], graceMs = 20_000): (reason: string) => Promise<void> {
  const handle = shutdownHandler(logger, steps, { graceMs });
  // `on`, not `once`: a signal that found no listener would end the process with the default action.
  process.on('SIGTERM', () => void handle('SIGTERM'));
  process.on('SIGINT', () => void handle('SIGINT'));
  // The terminal it runs in was closed (or a supervisor's hang-up): drain as for any stop rather than die
  // at once, which is SIGHUP's default. There is no configuration to reload on it.
  process.on('SIGHUP', () => void handle('SIGHUP'));
  return handle;
}

/**
 * Under `npm start` a service's standard input is a pipe from it that is never written: the end of that
 * pipe is the end of `npm start` itself, also when it was killed (SIGKILL, an out-of-memory kill) and could
 * not stop its services. The service then drains and exits instead of running on unsupervised, its log
 * lines going nowhere and its port blocking the next `npm start`.
 */
export function stopWhenSupervisorGone(stop: (reason: string) => Promise<void>): void {
  process.stdin.on('error', () => undefined);
  process.stdin.once('end', () => void stop('npm start is gone'));
  process.stdin.resume();
}

/**
 * The first part of an HTTP server's graceful close, for a preClose hook: stop accepting connections (a
 * sender's new connection is refused, which it retries) while every open connection ends on its own after
 * its current or next answer (the caller answers with `Connection: close` from now on), for at most
 * `timeoutMs`. Node's http.Server.close() would instead destroy every connection between two requests at
 * once, cutting a request the sender had already put on the wire (a connection reset under load).
 */
export async function stopAcceptingAndLetConnectionsEnd(server: Server, timeoutMs = 2_000): Promise<void> {
  if (!server.listening) return;
  // net.Server's own close: stops listening and keeps the open connections (http.Server's also closes idle ones).
  NetServer.prototype.close.call(server);
  const deadline = Date.now() + timeoutMs;
  const open = (): Promise<number> => new Promise((resolve) => server.getConnections((err, n) => resolve(err ? 0 : n)));
  while ((await open()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
}
