// The test harness's choice of Kafka and registry (test/support/containers.ts) and its Testcontainers
// definitions, tested without a Docker engine: which branch runs for which environment, and that the
// containers are docker-compose.yml's images configured like the local single node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, singleNodeSettings } from '../../infra/local/stack.js';
import {
  chooseTestInfra, composeImage, composeImages, dockerMayAnswer, kafkaContainerSpec, kafkaEnvName, kafkaStartScript,
  registryContainerSpec, registryUrlOf,
} from '../support/containers.js';

const probe = (answer: boolean) => {
  const calls: number[] = [];
  return { calls, ask: async () => { calls.push(1); return answer; } };
};

describe('chooseTestInfra', () => {
  it('uses KAFKA_BROKERS and SCHEMA_REGISTRY_URL when both are set, without asking Docker', async () => {
    const docker = probe(true);
    expect(await chooseTestInfra({ KAFKA_BROKERS: 'k:9092', SCHEMA_REGISTRY_URL: 'http://r' }, docker.ask)).toBe('env');
    expect(await chooseTestInfra({ KAFKA_BROKERS: 'k:9092', SCHEMA_REGISTRY_URL: 'http://r', TEST_INFRA: 'docker' }, docker.ask)).toBe('env');
    expect(docker.calls).toHaveLength(0);
  });

  it('starts containers when neither is set and a Docker engine answers', async () => {
    expect(await chooseTestInfra({}, probe(true).ask)).toBe('docker');
    expect(await chooseTestInfra({ KAFKA_BROKERS: '', SCHEMA_REGISTRY_URL: '' }, probe(true).ask)).toBe('docker');
  });

  it('starts the local JVMs when no engine answers', async () => {
    expect(await chooseTestInfra({}, probe(false).ask)).toBe('local-jvm');
  });

  it('starts the local JVMs when only one of the two is set, whatever Docker says', async () => {
    const docker = probe(true);
    expect(await chooseTestInfra({ KAFKA_BROKERS: 'k:9092' }, docker.ask)).toBe('local-jvm');
    expect(await chooseTestInfra({ SCHEMA_REGISTRY_URL: 'http://r' }, docker.ask)).toBe('local-jvm');
    expect(docker.calls).toHaveLength(0);
  });

  it('TEST_INFRA=local-jvm keeps a Docker user on the JVMs; TEST_INFRA=docker fails loudly without an engine', async () => {
    const docker = probe(true);
    expect(await chooseTestInfra({ TEST_INFRA: 'local-jvm' }, docker.ask)).toBe('local-jvm');
    expect(docker.calls).toHaveLength(0);
    expect(await chooseTestInfra({ TEST_INFRA: 'docker' }, probe(true).ask)).toBe('docker');
    await expect(chooseTestInfra({ TEST_INFRA: 'docker' }, probe(false).ask)).rejects.toThrow(/no Docker engine/);
    await expect(chooseTestInfra({ TEST_INFRA: 'podman' }, probe(true).ask)).rejects.toThrow(/TEST_INFRA must be/);
  });
});

describe('dockerMayAnswer', () => {
  const none = () => false;
  it('is false where no socket, DOCKER_HOST or Testcontainers config exists (Testcontainers is then not even loaded)', () => {
    expect(dockerMayAnswer({}, none, '/home/u')).toBe(false);
  });
  it('is true for DOCKER_HOST, the system socket, Docker Desktop, rootless Docker and ~/.testcontainers.properties', () => {
    expect(dockerMayAnswer({ DOCKER_HOST: 'tcp://127.0.0.1:2375' }, none, '/home/u')).toBe(true);
    for (const [env, path] of [
      [{}, '/var/run/docker.sock'],
      [{}, '/home/u/.docker/run/docker.sock'],
      [{}, '/home/u/.docker/desktop/docker.sock'],
      [{}, '/home/u/.testcontainers.properties'],
      [{ XDG_RUNTIME_DIR: '/run/user/1000' }, '/run/user/1000/docker.sock'],
    ] as const) {
      expect(dockerMayAnswer(env, (p) => p === path, '/home/u'), path).toBe(true);
    }
  });
});

describe('container definitions', () => {
  const compose = readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8');

  it('are the images and versions of docker-compose.yml', () => {
    const images = composeImages();
    expect(images.kafka).toMatch(/^apache\/kafka:\d+\.\d+\.\d+$/);
    expect(images.registry).toMatch(/^apicurio\/apicurio-registry:\d+\.\d+\.\d+$/);
    expect(compose).toContain(`image: ${images.kafka}`);
    expect(compose).toContain(`image: ${images.registry}`);
    expect(kafkaContainerSpec(images.kafka).image).toBe(images.kafka);
    expect(registryContainerSpec(images.registry).image).toBe(images.registry);
  });

  it('reads the image of the named service only', () => {
    const yaml = 'services:\n  kafka:\n    image: apache/kafka:9.9.9\n    ports: ["1:1"]\n\n  schema-registry:\n    image: "apicurio/apicurio-registry:1.2.3"\n  other:\n    build: .\n';
    expect(composeImage(yaml, 'kafka')).toBe('apache/kafka:9.9.9');
    expect(composeImage(yaml, 'schema-registry')).toBe('apicurio/apicurio-registry:1.2.3');
    expect(() => composeImage(yaml, 'other')).toThrow(/no image for service "other"/);
    expect(() => composeImage(yaml, 'missing')).toThrow(/no image/);
  });

  it('the broker property names map to the apache/kafka image environment', () => {
    expect(kafkaEnvName('offsets.topic.replication.factor')).toBe('KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR');
    expect(kafkaEnvName('listener.name.internal.ssl.key_password')).toBe('KAFKA_LISTENER_NAME_INTERNAL_SSL_KEY__PASSWORD');
    expect(kafkaEnvName('a-b.c')).toBe('KAFKA_A___B_C');
  });

  it('Kafka is one KRaft node with the settings of the local single node, its client listener on the mapped port', () => {
    const spec = kafkaContainerSpec('apache/kafka:3.9.1');
    expect(spec.env.KAFKA_PROCESS_ROLES).toBe('broker,controller');
    expect(spec.env.KAFKA_CONTROLLER_QUORUM_VOTERS).toBe('1@localhost:9093');
    expect(spec.env.KAFKA_LISTENERS).toContain(`PLAINTEXT://:${spec.port}`);
    for (const line of singleNodeSettings()) {
      const [key, value] = line.split('=') as [string, string];
      expect(spec.env[kafkaEnvName(key)], key).toBe(value);
    }
    // Each listener in the map, the inter-broker one not the one advertised to the host.
    const listeners = spec.env.KAFKA_LISTENERS!.split(',').map((l) => l.split(':')[0]);
    const mapped = spec.env.KAFKA_LISTENER_SECURITY_PROTOCOL_MAP!.split(',').map((l) => l.split(':')[0]);
    expect(mapped.sort()).toEqual([...listeners].sort());
    expect(spec.env.KAFKA_INTER_BROKER_LISTENER_NAME).not.toBe('PLAINTEXT');
    // Settings compose gives its broker and the tests rely on: no topic appears without being created.
    expect(spec.env.KAFKA_AUTO_CREATE_TOPICS_ENABLE).toBe('false');
    expect(compose).toContain('KAFKA_AUTO_CREATE_TOPICS_ENABLE: "false"');
  });

  it('Kafka waits for its start script, which advertises the host address and runs the image\'s own start', () => {
    const spec = kafkaContainerSpec('apache/kafka:3.9.1');
    expect(spec.entrypoint).toEqual(['sh', '-c']);
    const command = spec.command!.join(' ');
    expect(command).toMatch(spec.readyLog!);
    const script = kafkaStartScript('localhost', 55001);
    expect(script).toMatch(/^export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT:\/\/localhost:55001,BROKER:\/\/localhost:19092$/m);
    expect(script).toMatch(/^exec \/etc\/kafka\/docker\/run$/m);
    expect(command).toMatch(/while \[ ! -f (\/tmp\/\S+\.sh) \]; do sleep 0\.1; done; exec sh \1$/);
  });

  it('the registry answers the Confluent-compatible API the services use', () => {
    const spec = registryContainerSpec('apicurio/apicurio-registry:3.3.3');
    expect(spec.port).toBe(8080);
    expect(compose).toMatch(/schema-registry:[\s\S]*?ports: \[[^\]]*:8080/);
    expect(spec.readyPath).toBe('/apis/ccompat/v7/subjects');
    expect(registryUrlOf('localhost', 55002)).toBe('http://localhost:55002/apis/ccompat/v7');
    expect(compose).toContain('SCHEMA_REGISTRY_URL: http://schema-registry:8080/apis/ccompat/v7');
  });
});
