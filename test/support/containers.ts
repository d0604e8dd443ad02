// Where the test run's Kafka and schema registry come from, and the Testcontainers definitions of the
// Docker branch. Choice (chooseTestInfra):
//   'env'        KAFKA_BROKERS and SCHEMA_REGISTRY_URL are both set: use them;
//   'docker'     neither is set and a Docker engine answers: Kafka (KRaft) and the registry as containers,
//                with the images and versions of docker-compose.yml (read from it, so they cannot drift);
//   'local-jvm'  otherwise: the local JVMs of infra/local (fetched from Maven Central), as without Docker.
// TEST_INFRA=local-jvm keeps a Docker user on the JVMs; TEST_INFRA=docker makes a missing engine an error.
//
// Why GenericContainer and not @testcontainers/kafka: its KafkaContainer drives Confluent's cp-kafka images
// only (their /etc/confluent/docker/run, their version numbers), so it cannot run compose's apache/kafka image.
// The same trick is used here: the container waits for a start script that is copied in once the host port
// Docker mapped is known, so the broker can advertise an address the tests on the host can reach.
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { kafkaReady, repoRoot, singleNodeSettings } from '../../infra/local/stack.js';

export type TestInfra = 'env' | 'docker' | 'local-jvm';

/** Decides where the broker and registry come from; asks `dockerAnswers` only when the answer matters. */
export async function chooseTestInfra(env: NodeJS.ProcessEnv, dockerAnswers: () => Promise<boolean>): Promise<TestInfra> {
  if (env.KAFKA_BROKERS && env.SCHEMA_REGISTRY_URL) return 'env';
  const forced = env.TEST_INFRA?.trim();
  if (forced && forced !== 'docker' && forced !== 'local-jvm') throw new Error(`TEST_INFRA must be docker or local-jvm, got "${forced}"`);
  if (forced === 'local-jvm') return 'local-jvm';
  // Only one of the two set: not a complete external stack, and not "nothing set" either: the local JVMs, as always.
  if (env.KAFKA_BROKERS || env.SCHEMA_REGISTRY_URL) return 'local-jvm';
  if (await dockerAnswers()) return 'docker';
  if (forced === 'docker') throw new Error('TEST_INFRA=docker but no Docker engine answers (DOCKER_HOST, /var/run/docker.sock)');
  return 'local-jvm';
}

/**
 * Cheap first look before asking Testcontainers (whose import and probe cost a second or two): an engine can
 * only answer where DOCKER_HOST, a Testcontainers config or one of the usual sockets exists.
 */
export function dockerMayAnswer(env: NodeJS.ProcessEnv, exists: (path: string) => boolean = existsSync, home = homedir()): boolean {
  if (env.DOCKER_HOST) return true;
  const places = [
    '/var/run/docker.sock',
    join(home, '.docker', 'run', 'docker.sock'),
    join(home, '.docker', 'desktop', 'docker.sock'),
    join(home, '.testcontainers.properties'),
    ...(env.XDG_RUNTIME_DIR ? [join(env.XDG_RUNTIME_DIR, 'docker.sock')] : []),
  ];
  return places.some((p) => exists(p));
}

/** True when Testcontainers finds a working container runtime. */
export async function dockerAnswers(env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (!dockerMayAnswer(env)) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

/** The image of a service in docker-compose.yml (the tests use exactly what `docker compose up` runs). */
export function composeImage(composeYaml: string, service: string): string {
  const block = new RegExp(`^  ${service}:\\n((?:(?:    .*)?\\n)*?)(?=^  \\S|^\\S|(?![\\s\\S]))`, 'm').exec(composeYaml + '\n');
  const image = block && /^    image:\s*["']?([^"'\s#]+)/m.exec(block[1]!);
  if (!image) throw new Error(`docker-compose.yml has no image for service "${service}"`);
  return image[1]!;
}

export function composeImages(composeFile = join(repoRoot, 'docker-compose.yml')): { kafka: string; registry: string } {
  const yaml = readFileSync(composeFile, 'utf8');
  return { kafka: composeImage(yaml, 'kafka'), registry: composeImage(yaml, 'schema-registry') };
}

/** A container as data, so the definitions are tested without an engine. */
export interface ContainerSpec {
  image: string;
  env: Record<string, string>;
  /** The container port the tests reach through Docker's mapped host port. */
  port: number;
  entrypoint?: string[];
  command?: string[];
  /** Log line the container prints when it is ready (or, for Kafka, ready for its start script). */
  readyLog?: RegExp;
  /** HTTP path that answers 200 when it is ready. */
  readyPath?: string;
}

/** A broker property as the apache/kafka image takes it from the environment (`.` → `_`, `_` → `__`, `-` → `___`). */
export function kafkaEnvName(property: string): string {
  return 'KAFKA_' + property.replace(/_/g, '__').replace(/-/g, '___').replace(/\./g, '_').toUpperCase();
}

export const KAFKA_CLIENT_PORT = 9092;
const KAFKA_INTERNAL_PORT = 19092;
const KAFKA_CONTROLLER_PORT = 9093;
const START_SCRIPT = '/tmp/switchboard-start.sh';
const WAITING = 'waiting for the start script';

/**
 * Kafka: one KRaft node (broker + controller) of compose's image, with the settings of the local single node
 * (infra/local/stack.ts) so tests see the same broker on every branch.
 */
export function kafkaContainerSpec(image: string): ContainerSpec {
  const settings = Object.fromEntries(singleNodeSettings().map((line) => {
    const i = line.indexOf('=');
    return [kafkaEnvName(line.slice(0, i)), line.slice(i + 1)];
  }));
  return {
    image,
    port: KAFKA_CLIENT_PORT,
    env: {
      ...settings,
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: `PLAINTEXT://:${KAFKA_CLIENT_PORT},BROKER://:${KAFKA_INTERNAL_PORT},CONTROLLER://:${KAFKA_CONTROLLER_PORT}`,
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT',
      KAFKA_INTER_BROKER_LISTENER_NAME: 'BROKER',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: `1@localhost:${KAFKA_CONTROLLER_PORT}`,
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'false',
    },
    entrypoint: ['sh', '-c'],
    command: [`echo '${WAITING}'; while [ ! -f ${START_SCRIPT} ]; do sleep 0.1; done; exec sh ${START_SCRIPT}`],
    readyLog: new RegExp(WAITING),
  };
}

/** The script that really starts the broker, once the host address of its client port is known. */
export function kafkaStartScript(host: string, mappedPort: number): string {
  return [
    `export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://${host}:${mappedPort},BROKER://localhost:${KAFKA_INTERNAL_PORT}`,
    'exec /etc/kafka/docker/run',
    '',
  ].join('\n');
}

/** Apicurio Registry of compose's image (in-memory storage: a test run's schemas need not outlive it). */
export function registryContainerSpec(image: string): ContainerSpec {
  return {
    image,
    port: 8080,
    env: { APICURIO_REST_DELETION_ARTIFACT_ENABLED: 'true', QUARKUS_LOG_LEVEL: 'WARN' },
    readyPath: '/apis/ccompat/v7/subjects',
  };
}

export const registryUrlOf = (host: string, mappedPort: number): string => `http://${host}:${mappedPort}/apis/ccompat/v7`;

export interface ContainerStack {
  brokers: string;
  registryUrl: string;
  stop(): Promise<void>;
}

/** Starts both containers (Testcontainers' reaper removes them too if this process dies). */
export async function startContainers(log: (line: string) => void = console.log): Promise<ContainerStack> {
  const { GenericContainer, Wait } = await import('testcontainers');
  const images = composeImages();
  const kafkaSpec = kafkaContainerSpec(images.kafka);
  const registrySpec = registryContainerSpec(images.registry);
  log(`starting ${images.kafka} and ${images.registry} through Testcontainers`);

  const kafkaStarting = new GenericContainer(kafkaSpec.image)
    .withEnvironment(kafkaSpec.env)
    .withExposedPorts(kafkaSpec.port)
    .withEntrypoint(kafkaSpec.entrypoint!)
    .withCommand(kafkaSpec.command!)
    .withWaitStrategy(Wait.forLogMessage(kafkaSpec.readyLog!))
    .withStartupTimeout(180_000)
    .start();
  const registryStarting = new GenericContainer(registrySpec.image)
    .withEnvironment(registrySpec.env)
    .withExposedPorts(registrySpec.port)
    .withWaitStrategy(Wait.forHttp(registrySpec.readyPath!, registrySpec.port).forStatusCode(200))
    .withStartupTimeout(180_000)
    .start();
  const [kafka, registry] = await Promise.all([kafkaStarting, registryStarting]);

  const host = kafka.getHost();
  const mapped = kafka.getMappedPort(kafkaSpec.port);
  await kafka.copyContentToContainer([{ content: kafkaStartScript(host, mapped), target: START_SCRIPT, mode: 0o755 }]);
  const brokers = `${host}:${mapped}`;
  const deadline = Date.now() + 180_000;
  while (!(await kafkaReady(brokers))) {
    if (Date.now() > deadline) throw new Error(`the Kafka container did not answer on ${brokers} within 180 s`);
    await new Promise((r) => setTimeout(r, 250));
  }

  return {
    brokers,
    registryUrl: registryUrlOf(registry.getHost(), registry.getMappedPort(registrySpec.port)),
    stop: async () => {
      await Promise.all([kafka.stop(), registry.stop()]);
    },
  };
}
