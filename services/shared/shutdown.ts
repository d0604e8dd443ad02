// Graceful shutdown: on SIGTERM/SIGINT run the steps in order (stop accepting, drain, commit, disconnect).
// A second signal, or steps taking longer than the grace period, end the process at once.
import type { Logger } from './logger.js';

export type ShutdownStep = { name: string; run: () => Promise<void> };

export function installShutdown(logger: Logger, steps: ShutdownStep[], graceMs = 20_000): void {
  let shuttingDown = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    shuttingDown = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error({ grace_ms: graceMs }, 'shutdown took too long: exiting');
      process.exit(1);
    }, graceMs);
    force.unref();
    for (const step of steps) {
      try {
        await step.run();
      } catch (err) {
        logger.error({ step: step.name, err: err instanceof Error ? err.message : String(err) }, 'shutdown step failed');
      }
    }
    logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
