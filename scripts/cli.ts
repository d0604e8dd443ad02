// What the operator commands (dlq, quarantine, replay) share about their command line.
import { defaultStackOptions } from '../infra/local/stack.js';

/** `--help`, `-h` or `help` first: print the usage on stdout and exit 0, as command-line tools do. */
export function wantsHelp(argv: string[]): boolean {
  return argv.some((a) => a === '--help' || a === '-h') || argv[0] === 'help';
}

/**
 * On the embedded defaults the broker is npm start's, and Ctrl-C on npm start stops it too: a command's
 * bare ECONNREFUSED then gets a line saying whose broker is missing and `then`, what to do about it.
 * Empty when KAFKA_BROKERS is set (the operator's own cluster) or the failure is something else.
 */
export function localBrokerHint(message: string, then: string): string {
  if (process.env.KAFKA_BROKERS || !message.includes('ECONNREFUSED')) return '';
  const { kafkaPort } = defaultStackOptions(process.env);
  return `\nNo Kafka broker answers at 127.0.0.1:${kafkaPort}, the local one npm start runs (and stops on Ctrl-C). ${then}`;
}

/** The next step for dlq and quarantine when the local broker is not there. */
export const START_THE_BROKER = 'Start the system with `npm start` (or the broker alone with `npm run infra:up`) and run the command again.';

/** The same defaults as `npm start`: the local broker and registry when nothing else is configured. */
export function withLocalDefaults(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const local = defaultStackOptions(env);
  return {
    ...env,
    KAFKA_BROKERS: env.KAFKA_BROKERS || `127.0.0.1:${local.kafkaPort}`,
    SCHEMA_REGISTRY_URL: env.SCHEMA_REGISTRY_URL || `http://127.0.0.1:${local.registryPort}/apis/ccompat/v7`,
    DATA_DIR: env.DATA_DIR || './data',
  };
}
