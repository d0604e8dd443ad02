// Gives every test file a real Kafka broker and schema registry (the choice: test/support/containers.ts):
//   1. KAFKA_BROKERS + SCHEMA_REGISTRY_URL from the environment when both are set;
//   2. with neither set and a Docker engine answering: Kafka (KRaft) and the registry through Testcontainers,
//      the images of docker-compose.yml, one pair per test run;
//   3. otherwise the local JVM broker and registry from infra/local (fetched from Maven Central),
//      on test ports so a running `npm start` is not disturbed; the broker runs the JMX exporter agent and
//      KAFKA_METRICS_TARGETS tells the end-to-end test where Prometheus scrapes it.
// PostgreSQL comes from DATABASE_URL (default: the machine's local server); files get their own schemas.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, startStack, stopStack, portAnswers } from '../../infra/local/stack.js';
import { chooseTestInfra, dockerAnswers, startContainers, type ContainerStack } from './containers.js';

const stateDir = join(repoRoot, '.local', 'test-stack');
// One file per test run using the stack: the run that started it stops it only when no other run still uses it.
const usersDir = join(stateDir, 'users');
let startedHere = false;
let containers: ContainerStack | undefined;

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
  const infra = await chooseTestInfra(process.env, () => dockerAnswers(process.env));
  if (infra === 'env') return;
  if (infra === 'docker') {
    containers = await startContainers((line) => console.log(`[test-containers] ${line}`));
    process.env.KAFKA_BROKERS = containers.brokers;
    process.env.SCHEMA_REGISTRY_URL = containers.registryUrl;
    return;
  }
  mkdirSync(usersDir, { recursive: true });
  writeFileSync(join(usersDir, String(process.pid)), '');
  const kafkaPort = Number(process.env.TEST_KAFKA_PORT ?? 29092);
  startedHere = !(await portAnswers(kafkaPort));
  const { brokers, registryUrl, metricsTargets } = await startStack({
    stateDir,
    kafkaPort,
    controllerPort: kafkaPort + 1,
    registryPort: Number(process.env.TEST_REGISTRY_PORT ?? 28081),
    // Broker metrics (JMX exporter agent): 29404 beside npm start's 9404.
    metricsPort: Number(process.env.TEST_KAFKA_METRICS_PORT ?? 29404),
    log: (line) => console.log(`[test-stack] ${line}`),
  });
  process.env.KAFKA_BROKERS = brokers;
  process.env.SCHEMA_REGISTRY_URL = registryUrl;
  process.env.KAFKA_METRICS_TARGETS = metricsTargets.join(',');
}

export async function teardown(): Promise<void> {
  if (containers) {
    await containers.stop();
    return;
  }
  // Keep a stack that was already running (a developer's watch loop); stop the one we started.
  rmSync(join(usersDir, String(process.pid)), { force: true });
  if (startedHere && process.env.KEEP_TEST_STACK !== 'true' && otherLiveUsers() === 0) await stopStack(stateDir, () => undefined);
}
