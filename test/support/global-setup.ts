// Gives every test file a real Kafka broker and schema registry:
//   1. KAFKA_BROKERS + SCHEMA_REGISTRY_URL from the environment when both are set;
//   2. otherwise the local JVM broker and registry from infra/local (fetched from Maven Central),
//      on test ports so a running `npm start` is not disturbed.
// (A Docker engine is not used even when present: the local JVMs start in seconds and behave the same.)
// PostgreSQL comes from DATABASE_URL (default: the machine's local server); files get their own schemas.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, startStack, stopStack, portAnswers } from '../../infra/local/stack.js';

const stateDir = join(repoRoot, '.local', 'test-stack');
// One file per test run using the stack: the run that started it stops it only when no other run still uses it.
const usersDir = join(stateDir, 'users');
let startedHere = false;

function otherLiveUsers(): number {
  let live = 0;
  for (const name of readdirSync(usersDir)) {
    const pid = Number(name);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
      live++;
    } catch {
      rmSync(join(usersDir, name), { force: true });
    }
  }
  return live;
}

export async function setup(): Promise<void> {
  process.env.DATABASE_URL ??= 'postgres://postgres@127.0.0.1:5432/test';
  if (process.env.KAFKA_BROKERS && process.env.SCHEMA_REGISTRY_URL) return;
  mkdirSync(usersDir, { recursive: true });
  writeFileSync(join(usersDir, String(process.pid)), '');
  const kafkaPort = Number(process.env.TEST_KAFKA_PORT ?? 29092);
  startedHere = !(await portAnswers(kafkaPort));
  const { brokers, registryUrl } = await startStack({
    stateDir,
    kafkaPort,
    controllerPort: kafkaPort + 1,
    registryPort: Number(process.env.TEST_REGISTRY_PORT ?? 28081),
    log: (line) => console.log(`[test-stack] ${line}`),
  });
  process.env.KAFKA_BROKERS = brokers;
  process.env.SCHEMA_REGISTRY_URL = registryUrl;
}

export async function teardown(): Promise<void> {
  // Keep a stack that was already running (a developer's watch loop); stop the one we started.
  rmSync(join(usersDir, String(process.pid)), { force: true });
  if (startedHere && process.env.KEEP_TEST_STACK !== 'true' && otherLiveUsers() === 0) await stopStack(stateDir, () => undefined);
}
