// How a service module knows it was started as a program (tsx services/<name>/main.ts) rather than
// imported by a test or by npm start; only then is .env read (it never overrides the environment).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { config as loadDotenv } from 'dotenv';
import { ConfigError } from './config.js';
import { errorMessage } from './errors.js';
import { createLogger, type Logger } from './logger.js';
import { installShutdown, stopWhenSupervisorGone } from './shutdown.js';

export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  const main = script !== undefined && moduleUrl === pathToFileURL(resolve(script)).href;
  if (main) loadDotenv({ quiet: true });
  return main;
}

export interface ServiceProgram<C extends { LOG_LEVEL: string }> {
  /** The service's name, in messages and logs. */
  name: string;
  /** import.meta.url of the service's main module. */
  moduleUrl: string;
  loadConfig: () => C;
  start: (config: C, logger: Logger) => Promise<{ stop(): Promise<void> }>;
}

/** Exit code of a configuration error, the same in every service and command. */
export const CONFIG_ERROR_EXIT = 2;

/**
 * Runs a service as a program when its module is the entry point: configuration errors exit with
 * CONFIG_ERROR_EXIT and one message naming every wrong variable (no stack trace for an operator's typo);
 * a failed start exits 1 after a fatal log line; a started service stops gracefully on SIGTERM/SIGINT/SIGHUP,
 * and under `npm start` also when `npm start` is gone.
 */
export function runService<C extends { LOG_LEVEL: string }>(program: ServiceProgram<C>): void {
  if (!isEntryPoint(program.moduleUrl)) return;
  let config: C;
  try {
    config = program.loadConfig();
  } catch (err) {
    process.stderr.write(`${program.name}: ${err instanceof ConfigError ? err.message : `cannot read the configuration: ${errorMessage(err)}`}\n`);
    process.exit(CONFIG_ERROR_EXIT);
  }
  const logger = createLogger({ service: program.name, level: config.LOG_LEVEL });
  program.start(config, logger).then(
    (running) => {
      const stop = installShutdown(logger, [{ name: program.name, run: () => running.stop() }]);
      if (process.env.SWITCHBOARD_STARTED_BY === 'npm-start') stopWhenSupervisorGone(stop);
    },
    (err: unknown) => {
      logger.fatal({ err: errorMessage(err) }, `${program.name} failed to start`);
      process.exit(1);
    },
  );
}
