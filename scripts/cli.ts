// What the operator commands (dlq, quarantine, replay) share about their command line.
import { defaultStackOptions } from '../infra/local/stack.js';

/** `--help`, `-h` or `help` first: print the usage on stdout and exit 0, as command-line tools do. */
export function wantsHelp(argv: string[]): boolean {
  return argv.some((a) => a === '--help' || a === '-h') || argv[0] === 'help';
}

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
