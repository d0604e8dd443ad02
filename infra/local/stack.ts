// Provisions and runs a real Apache Kafka (KRaft) and a real Confluent-compatible schema registry
// (Apicurio Registry) as local JVM processes, with jars fetched from Maven Central through Maven and
// cached under .local/cache. Kafka is one node by default (the embedded default), or a replicated
// cluster of N combined broker+controller nodes (LOCAL_KAFKA_NODES=3, or startKafkaCluster() in tests):
//   node i (1-based) listens on kafkaPort + 2(i-1) and its controller on controllerPort + 2(i-1),
//   keeps its data in <stateDir>/kafka-<i>, and runs with a 512 MB heap;
//   topics default to replication factor min(3, N), min.insync.replicas 2 (1 below three nodes),
//   unclean leader election off; the consumer-offsets and transaction topics are replicated the same way.
// Every node runs the Prometheus JMX exporter java agent (fetched from Maven Central too) with the rules in
// kafka-metrics.yml: node i serves broker metrics on http://127.0.0.1:<metricsPort + (i-1)>/metrics.
import { spawn, spawnSync, execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, rmSync, openSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KAFKA_VERSION = '3.9.1';
export const APICURIO_VERSION = '3.3.3';
/** io.prometheus.jmx:jmx_prometheus_javaagent: the newest version Maven Central serves us (1.1+ are not served). */
export const JMX_EXPORTER_VERSION = '1.0.1';
/** The exporter's rules: which broker MBeans become which Prometheus metrics (docker-compose.yml mounts the same file). */
export const KAFKA_METRICS_RULES = join(dirname(fileURLToPath(import.meta.url)), 'kafka-metrics.yml');
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '..', '..');
const cacheRoot = join(repoRoot, '.local', 'cache');

export interface StackOptions {
  /** Folder for data, logs and pid files of this stack instance. */
  stateDir: string;
  kafkaPort: number;
  controllerPort: number;
  registryPort: number;
  /** Broker metrics (JMX exporter agent) of node i on metricsPort + (i-1); default: right after the nodes' listener ports. */
  metricsPort?: number;
  /** Kafka nodes: 1 (default, the embedded single node) or a replicated KRaft cluster (3 recommended). */
  kafkaNodes?: number;
  /**
   * Run the single broker with full tiered compilation (C2). Default false: C1 only (-XX:TieredStopAtLevel=1),
   * which starts the JVM seconds sooner and suits `npm start` and the tests, but leaves steady-state
   * throughput below what C2 reaches after its warm-up. The benchmark sets it: it measures the broker's
   * ceiling over minutes, where start time does not matter and C1's slower code would understate it.
   */
  optimisingJit?: boolean;
  log?: (line: string) => void;
}

export interface RunningStack {
  /** Comma-separated host:port list (one entry per node), as KAFKA_BROKERS takes it. */
  brokers: string;
  registryUrl: string;
  /** The replication factor topics should use on this Kafka: 1 on one node, min(3, nodes) on a cluster. */
  replicationFactor: number;
  /** host:port of each node's broker metrics endpoint (/metrics), one per node, as Prometheus targets take them. */
  metricsTargets: string[];
}

function run(cmd: string, args: string[], cwd?: string): void {
  const result = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed with exit code ${result.status}`);
}

/** Fetches the broker jars once; later calls reuse the cache and touch no network. */
export function fetchKafka(log: (l: string) => void = console.log): string {
  const libs = join(cacheRoot, `kafka-${KAFKA_VERSION}`, 'libs');
  const marker = join(libs, '.complete');
  if (existsSync(marker)) return libs;
  log(`fetching Apache Kafka ${KAFKA_VERSION} from Maven Central into ${libs}`);
  mkdirSync(libs, { recursive: true });
  run('mvn', ['-B', '-q', '-f', join(here, 'kafka-pom.xml'), `-Dkafka.version=${KAFKA_VERSION}`,
    `${DEPENDENCY_PLUGIN}:copy-dependencies`, `-DoutputDirectory=${libs}`, '-DincludeScope=runtime']);
  writeFileSync(marker, new Date().toISOString());
  return libs;
}

/**
 * Kafka's own tools jar (org.apache.kafka:kafka-tools, same version as the broker), for the benchmark's
 * ProducerPerformance ceiling: run with the broker's jars plus this one on the classpath. Fetched once,
 * apart from the broker's jars so the broker's classpath stays as it was.
 */
export function fetchKafkaTools(log: (l: string) => void = console.log): string {
  const home = join(cacheRoot, `kafka-tools-${KAFKA_VERSION}`);
  const jar = join(home, `kafka-tools-${KAFKA_VERSION}.jar`);
  if (existsSync(join(home, '.complete'))) return jar;
  log(`fetching kafka-tools ${KAFKA_VERSION} from Maven Central into ${home}`);
  mkdirSync(home, { recursive: true });
  // Bounded: the benchmark reports its ceiling as not measured rather than wait on a slow mirror.
  const result = spawnSync('mvn', ['-B', '-q', `${DEPENDENCY_PLUGIN}:copy`, `-Dartifact=org.apache.kafka:kafka-tools:${KAFKA_VERSION}`, `-DoutputDirectory=${home}`],
    { stdio: ['ignore', 'inherit', 'inherit'], timeout: 180_000 });
  if (result.status !== 0 || !existsSync(jar)) throw new Error(`mvn could not fetch org.apache.kafka:kafka-tools:${KAFKA_VERSION} (${result.error?.message ?? `exit code ${result.status}`})`);
  writeFileSync(join(home, '.complete'), new Date().toISOString());
  return jar;
}

/** The Prometheus JMX exporter java agent every broker node runs; fetched once like the broker jars. */
export function fetchJmxAgent(log: (l: string) => void = console.log): string {
  const home = join(cacheRoot, `jmx-exporter-${JMX_EXPORTER_VERSION}`);
  const jar = join(home, `jmx_prometheus_javaagent-${JMX_EXPORTER_VERSION}.jar`);
  if (existsSync(join(home, '.complete'))) return jar;
  log(`fetching the Prometheus JMX exporter agent ${JMX_EXPORTER_VERSION} from Maven Central into ${home}`);
  mkdirSync(home, { recursive: true });
  run('mvn', ['-B', '-q', `${DEPENDENCY_PLUGIN}:copy`,
    `-Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:${JMX_EXPORTER_VERSION}`, `-DoutputDirectory=${home}`]);
  writeFileSync(join(home, '.complete'), new Date().toISOString());
  return jar;
}

export function fetchRegistry(log: (l: string) => void = console.log): string {
  const home = join(cacheRoot, `apicurio-${APICURIO_VERSION}`);
  const jar = join(home, 'quarkus-run.jar');
  if (existsSync(join(home, '.complete'))) return jar;
  log(`fetching Apicurio Registry ${APICURIO_VERSION} from Maven Central into ${home}`);
  mkdirSync(home, { recursive: true });
  run('mvn', ['-B', '-q', `${DEPENDENCY_PLUGIN}:copy`,
    `-Dartifact=io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`, `-DoutputDirectory=${home}`]);
  const archive = join(home, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
  run('tar', ['xzf', archive, '-C', home]);
  rmSync(archive);
  writeFileSync(join(home, '.complete'), new Date().toISOString());
  return jar;
}

function javaMajor(javaHome: string): number {
  try {
    const release = readFileSync(join(javaHome, 'release'), 'utf8');
    const m = /JAVA_VERSION="(\d+)/.exec(release);
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Apicurio 3.2+ needs Java 21; pick the newest JDK on the machine that is at least that. */
export function findJava(minMajor: number): string {
  const candidates: string[] = [];
  if (process.env.JAVA_HOME) candidates.push(process.env.JAVA_HOME);
  if (existsSync('/usr/lib/jvm')) {
    for (const d of readdirSync('/usr/lib/jvm')) candidates.push(join('/usr/lib/jvm', d));
  }
  const usable = candidates
    .map((home) => ({ home, major: javaMajor(home) }))
    .filter((c) => c.major >= minMajor && existsSync(join(c.home, 'bin', 'java')))
    .sort((a, b) => b.major - a.major);
  if (usable.length > 0) return join(usable[0]!.home, 'bin', 'java');
  if (minMajor <= 17) return 'java';
  throw new Error(`no JDK ${minMajor}+ found under JAVA_HOME or /usr/lib/jvm (Apicurio Registry ${APICURIO_VERSION} needs it)`);
}

export function portAnswers(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolveP) => {
    const socket = createConnection({ port, host });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolveP(true); });
    socket.once('error', () => resolveP(false));
    socket.once('timeout', () => { socket.destroy(); resolveP(false); });
  });
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number, pid?: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    if (pid !== undefined && !isAlive(pid)) throw new Error(`${what} exited during start-up`);
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not answer within ${timeoutMs} ms`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readPid(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : undefined;
}

function startDetached(java: string, args: string[], logFile: string, pidFile: string, cwd: string): number {
  const out = openSync(logFile, 'a');
  const child = spawn(java, args, { cwd, detached: true, stdio: ['ignore', out, out] });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${java}`);
  writeFileSync(pidFile, String(child.pid));
  return child.pid;
}

const CLUSTER_ID = 'c3dpdGNoYm9hcmQtbG9jYWw';

/** Broker settings every local Kafka gets, one node or a cluster. */
const COMMON_SETTINGS = [
  'num.partitions=3',
  'auto.create.topics.enable=false',
  'offsets.topic.num.partitions=10',
  'group.initial.rebalance.delay.ms=0',
  'num.network.threads=2',
  'num.io.threads=4',
  'log.retention.hours=-1',
];

const SINGLE_NODE_SETTINGS = [
  'offsets.topic.replication.factor=1',
  'transaction.state.log.replication.factor=1',
  'transaction.state.log.min.isr=1',
  'min.insync.replicas=1',
];

/** The broker settings of the single local node (the test harness gives a Kafka container the same ones). */
export function singleNodeSettings(): string[] {
  return [...COMMON_SETTINGS, ...SINGLE_NODE_SETTINGS];
}

/** Replication a local cluster of `nodes` gives its topics: factor min(3, nodes), min ISR 2 from three replicas. */
export function clusterReplication(nodes: number): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = Math.max(1, Math.min(3, nodes));
  return { replicationFactor, minInsyncReplicas: replicationFactor >= 3 ? 2 : 1 };
}

function clusterSettings(nodes: number): string[] {
  const { replicationFactor: rf, minInsyncReplicas: isr } = clusterReplication(nodes);
  return [
    `default.replication.factor=${rf}`,
    `min.insync.replicas=${isr}`,
    // Never elect an out-of-sync replica: a partition without an in-sync replica stays offline instead of losing acknowledged records.
    'unclean.leader.election.enable=false',
    `offsets.topic.replication.factor=${rf}`,
    `transaction.state.log.replication.factor=${rf}`,
    `transaction.state.log.min.isr=${isr}`,
    // A dead node is fenced (its partitions get new leaders, it leaves every ISR) after 6 s without a
    // heartbeat rather than the default 9 s; a follower that stops fetching leaves the ISR after 10 s.
    'broker.heartbeat.interval.ms=1000',
    'broker.session.timeout.ms=6000',
    'replica.lag.time.max.ms=10000',
    // Fewer threads and a smaller cleaner buffer (of the heap) than a production broker: three share two cores.
    'num.replica.fetchers=1',
    'background.threads=4',
    'log.cleaner.dedupe.buffer.size=33554432',
  ];
}

interface NodeSpec {
  id: number;
  /** Folder of this node: server.properties, log4j.properties, kafka.log, kafka.pid, data/. */
  dir: string;
  port: number;
  controllerPort: number;
  /** controller.quorum.voters of the whole cluster. */
  voters: string;
  settings: string[];
  heapMb: number;
  /** Port of the JMX exporter agent's /metrics (bound to 127.0.0.1). */
  metricsPort: number;
  /** Full tiered compilation (C2) instead of the fast-start C1 only (StackOptions.optimisingJit). */
  optimisingJit?: boolean;
}

const address = (port: number): string => `127.0.0.1:${port}`;

/** Writes the node's configuration; returns the JVM arguments before the main class (the broker adds `agent`). */
function prepareNode(spec: NodeSpec, classpath: string, agentJar: string): { jvm: string[]; agent: string; propsFile: string; dataDir: string } {
  mkdirSync(spec.dir, { recursive: true });
  const dataDir = join(spec.dir, 'data');
  const props = [
    'process.roles=broker,controller',
    `node.id=${spec.id}`,
    `controller.quorum.voters=${spec.voters}`,
    `listeners=PLAINTEXT://${address(spec.port)},CONTROLLER://${address(spec.controllerPort)}`,
    `advertised.listeners=PLAINTEXT://${address(spec.port)}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    ...spec.settings,
  ].join('\n');
  const propsFile = join(spec.dir, 'server.properties');
  writeFileSync(propsFile, props + '\n');
  writeFileSync(join(spec.dir, 'log4j.properties'), [
    'log4j.rootLogger=WARN, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka.server.KafkaServer=INFO',
    'log4j.logger.kafka.server.BrokerServer=INFO',
  ].join('\n') + '\n');
  const heap = spec.heapMb;
  // C1 only unless asked otherwise: a faster start for development and tests (see StackOptions.optimisingJit).
  const jit = spec.optimisingJit ? [] : ['-XX:TieredStopAtLevel=1'];
  const jvm = [`-Xms${Math.min(256, heap)}m`, `-Xmx${heap}m`, '-XX:+UseG1GC', ...jit, `-Dlog4j.configuration=file:${join(spec.dir, 'log4j.properties')}`, '-cp', classpath];
  // Only the broker runs the agent (not the storage format tool): it serves the metrics over HTTP from JVM start.
  const agent = `-javaagent:${agentJar}=127.0.0.1:${spec.metricsPort}:${KAFKA_METRICS_RULES}`;
  return { jvm, agent, propsFile, dataDir };
}

/** Formats the node's data folder once (a restart keeps its data and only launches the JVM). */
async function formatNode(java: string, jvm: string[], propsFile: string, dataDir: string): Promise<void> {
  if (existsSync(join(dataDir, 'meta.properties'))) return;
  await new Promise<void>((resolveP, reject) => {
    execFile(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', CLUSTER_ID, '-c', propsFile, '--ignore-formatted'], (err, _out, stderr) =>
      err ? reject(new Error(`formatting ${dataDir} failed: ${stderr || err.message}`)) : resolveP());
  });
}

function launchNode(java: string, jvm: string[], agent: string, spec: NodeSpec, propsFile: string): number {
  return startDetached(java, [agent, ...jvm, 'kafka.Kafka', propsFile], join(spec.dir, 'kafka.log'), join(spec.dir, 'kafka.pid'), spec.dir);
}

/** Refuses to start a layout over a running one of another size (single node vs cluster) in the same state folder. */
function assertNoOtherLayout(stateDir: string, keep: (dirName: string) => boolean): void {
  if (!existsSync(stateDir)) return;
  for (const d of readdirSync(stateDir)) {
    if (!/^kafka(-\d+)?$/.test(d) || keep(d)) continue;
    const pid = readPid(join(stateDir, d, 'kafka.pid'));
    if (pid !== undefined) {
      throw new Error(`a Kafka of another size runs from ${join(stateDir, d)} (pid ${pid}); stop it first (npm run infra:down)`);
    }
  }
}

export async function startKafka(opts: StackOptions): Promise<string> {
  const log = opts.log ?? console.log;
  const brokers = address(opts.kafkaPort);
  const dir = join(opts.stateDir, 'kafka');
  mkdirSync(dir, { recursive: true });
  // Already running (this stack's pid file, or another checkout's broker on the same port): reuse it.
  if (await kafkaReady(brokers)) return brokers;
  assertNoOtherLayout(opts.stateDir, (d) => d === 'kafka');
  const libs = fetchKafka(log);
  const agentJar = fetchJmxAgent(log);
  const java = findJava(17);
  const metricsPort = metricsPortOf(opts, 1);
  if ([opts.kafkaPort, opts.controllerPort].includes(metricsPort)) throw new Error(`Kafka metrics port ${metricsPort} is one of the broker's own ports`);
  const spec: NodeSpec = {
    id: 1, dir, port: opts.kafkaPort, controllerPort: opts.controllerPort, voters: `1@${address(opts.controllerPort)}`,
    settings: [...COMMON_SETTINGS, ...SINGLE_NODE_SETTINGS], heapMb: 768, metricsPort, optimisingJit: opts.optimisingJit ?? false,
  };
  const { jvm, agent, propsFile, dataDir } = prepareNode(spec, `${libs}/*`, agentJar);
  await formatNode(java, jvm, propsFile, dataDir);
  log(`starting Kafka ${KAFKA_VERSION} on ${brokers} (metrics on http://${address(metricsPort)}/metrics)`);
  const pid = launchNode(java, jvm, agent, spec, propsFile);
  await waitFor(`Kafka on ${brokers} (log: ${join(dir, 'kafka.log')})`, () => kafkaReady(brokers), 90_000, pid);
  return brokers;
}

export interface ClusterOptions {
  /** Folder for the nodes' data, logs and pid files (node i uses <stateDir>/kafka-<i>). */
  stateDir: string;
  /** Number of nodes, each broker and KRaft controller (all are controller voters). */
  nodes: number;
  /** Node i (1-based) listens on kafkaPort + 2(i-1). */
  kafkaPort: number;
  /** Node i's controller listens on controllerPort + 2(i-1). */
  controllerPort: number;
  /** Node i's broker metrics (JMX exporter agent) on metricsPort + (i-1); default: right after the nodes' listener ports. */
  metricsPort?: number;
  /** Heap of each node's JVM in MB (default 512: three nodes, a registry and the services fit a small machine). */
  heapMb?: number;
  log?: (line: string) => void;
}

export interface KafkaNode {
  readonly id: number;
  /** host:port of its broker listener. */
  readonly address: string;
  readonly port: number;
  readonly controllerPort: number;
  /** host:port of its broker metrics (/metrics of the JMX exporter agent). */
  readonly metricsAddress: string;
  /** Its folder (data/ holds the log directories; kafka.log its output). */
  readonly dir: string;
  /** The JVM's pid while it runs. */
  pid(): number | undefined;
  /** Starts the node with its existing data (unless it runs) and resolves when it answers. */
  start(timeoutMs?: number): Promise<void>;
  /** Controlled shutdown (SIGTERM; SIGKILL after 30 s). */
  stop(): Promise<void>;
  /** SIGKILL: the node dies at once, as in a crash or power loss. */
  kill(): Promise<void>;
}

export interface KafkaCluster {
  /** Comma-separated host:port of every node, as KAFKA_BROKERS takes it. */
  brokers: string;
  nodes: KafkaNode[];
  replicationFactor: number;
  minInsyncReplicas: number;
  /** Stops every node (controlled shutdown). */
  stop(): Promise<void>;
}

function clusterSpecs(opts: ClusterOptions): NodeSpec[] {
  const n = opts.nodes;
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`a local Kafka cluster has 1 to 9 nodes, got ${n}`);
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const ports = ids.flatMap((id) => [opts.kafkaPort + 2 * (id - 1), opts.controllerPort + 2 * (id - 1), metricsPortOf(opts, id)]);
  if (new Set(ports).size !== ports.length || ports.some((p) => p < 1 || p > 65535)) {
    throw new Error(`Kafka node ports overlap or leave 1-65535: brokers ${opts.kafkaPort}+2i, controllers ${opts.controllerPort}+2i, metrics ${metricsPortOf(opts, 1)}+i for ${n} nodes`);
  }
  const voters = ids.map((id) => `${id}@${address(opts.controllerPort + 2 * (id - 1))}`).join(',');
  const settings = [...COMMON_SETTINGS, ...clusterSettings(n)];
  return ids.map((id) => ({
    id, dir: join(opts.stateDir, `kafka-${id}`), port: opts.kafkaPort + 2 * (id - 1), controllerPort: opts.controllerPort + 2 * (id - 1),
    voters, settings, heapMb: opts.heapMb ?? 512, metricsPort: metricsPortOf(opts, id),
  }));
}

/**
 * Starts (or joins, when some nodes already run) a KRaft cluster of `nodes` combined broker+controller
 * nodes and resolves when every node answers and all of them are registered brokers. The handles stop,
 * SIGKILL and restart single nodes; a restarted node keeps its data folder.
 */
export async function startKafkaCluster(opts: ClusterOptions): Promise<KafkaCluster> {
  const log = opts.log ?? console.log;
  const specs = clusterSpecs(opts);
  assertNoOtherLayout(opts.stateDir, (d) => specs.some((s) => s.dir === join(opts.stateDir, d)));
  const libs = fetchKafka(log);
  const agentJar = fetchJmxAgent(log);
  const java = findJava(17);
  const prepared = specs.map((spec) => ({ spec, ...prepareNode(spec, `${libs}/*`, agentJar) }));
  await Promise.all(prepared.map((p) => formatNode(java, p.jvm, p.propsFile, p.dataDir)));

  const nodes: KafkaNode[] = prepared.map(({ spec, jvm, agent, propsFile }) => {
    const pidFile = join(spec.dir, 'kafka.pid');
    const where = `Kafka node ${spec.id} on ${address(spec.port)} (log: ${join(spec.dir, 'kafka.log')})`;
    const node: KafkaNode = {
      id: spec.id,
      address: address(spec.port),
      port: spec.port,
      controllerPort: spec.controllerPort,
      metricsAddress: address(spec.metricsPort),
      dir: spec.dir,
      pid: () => readPid(pidFile),
      async start(timeoutMs = 90_000) {
        let pid = readPid(pidFile);
        if (pid === undefined && !(await portAnswers(spec.port))) {
          log(`starting ${where}`);
          pid = launchNode(java, jvm, agent, spec, propsFile);
        }
        await waitFor(where, () => kafkaReady(node.address), timeoutMs, pid);
      },
      stop: () => stopPid(pidFile, `Kafka node ${spec.id}`, log),
      async kill() {
        const pid = readPid(pidFile);
        if (pid === undefined) return;
        process.kill(pid, 'SIGKILL');
        while (isAlive(pid)) await new Promise((r) => setTimeout(r, 50));
        rmSync(pidFile, { force: true });
      },
    };
    return node;
  });

  log(`starting a ${specs.length}-node Kafka ${KAFKA_VERSION} cluster on ${nodes.map((n) => n.address).join(',')}`);
  // All at once: a node becomes ready only when a majority of the controller voters runs.
  await Promise.all(nodes.map((n) => n.start()));
  const brokers = nodes.map((n) => n.address).join(',');
  await waitFor(`all ${specs.length} Kafka nodes registered`, async () => (await brokerCount(brokers)) === specs.length, 60_000);
  return {
    brokers,
    nodes,
    ...clusterReplication(specs.length),
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/**
 * Port of node `id`'s broker metrics: opts.metricsPort + (id-1), or by default the ports right after the
 * nodes' listeners (kafkaPort + 2·nodes + (id-1)), so stacks on different ports never share one.
 */
export function metricsPortOf(opts: { kafkaPort: number; metricsPort?: number; kafkaNodes?: number; nodes?: number }, id: number): number {
  const nodes = opts.nodes ?? opts.kafkaNodes ?? 1;
  return (opts.metricsPort ?? opts.kafkaPort + 2 * nodes) + (id - 1);
}

async function brokerCount(brokers: string): Promise<number> {
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    return (await admin.describeCluster()).brokers.length;
  } catch {
    return 0;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** True when the broker at host:port answers an admin request. */
export async function kafkaReady(brokers: string): Promise<boolean> {
  const [host, port] = brokers.split(':');
  if (!(await portAnswers(Number(port), host))) return false;
  const { Kafka, logLevel } = await import('kafkajs');
  const admin = new Kafka({ brokers: [brokers], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

export async function startRegistry(opts: StackOptions): Promise<string> {
  const log = opts.log ?? console.log;
  const registryUrl = `http://127.0.0.1:${opts.registryPort}/apis/ccompat/v7`;
  const dir = join(opts.stateDir, 'registry');
  const pidFile = join(dir, 'registry.pid');
  mkdirSync(dir, { recursive: true });
  if (await registryReady(registryUrl)) return registryUrl;
  const jar = fetchRegistry(log);
  const java = findJava(21);
  log(`starting Apicurio Registry ${APICURIO_VERSION} on ${registryUrl}`);
  const args = [
    '-Xms128m', '-Xmx512m', '-XX:TieredStopAtLevel=1',
    `-Dquarkus.http.port=${opts.registryPort}`,
    '-Dquarkus.http.host=127.0.0.1',
    // Quarkus' management interface would take port 9000 for every instance: give it the next port.
    `-Dquarkus.management.port=${opts.registryPort + 1}`,
    '-Dquarkus.management.host=127.0.0.1',
    // Schema ids are written into every Kafka record, so they must survive a registry restart.
    `-Dapicurio.datasource.url=jdbc:h2:file:${join(dir, 'db')}`,
    '-Dapicurio.datasource.jdbc.initial-size=2',
    '-Dapicurio.datasource.jdbc.min-size=2',
    '-Dapicurio.datasource.jdbc.max-size=20',
    '-Dquarkus.log.level=WARN',
    '-Dapicurio.rest.deletion.artifact.enabled=true',
    '-jar', jar,
  ];
  const pid = startDetached(java, args, join(dir, 'registry.log'), pidFile, dir);
  await waitFor(`schema registry on ${registryUrl} (log: ${join(dir, 'registry.log')})`, () => registryReady(registryUrl), 120_000, pid);
  return registryUrl;
}

async function registryReady(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(2000) });
    return res.ok;
  } catch {
    return false;
  }
}

export async function startStack(opts: StackOptions): Promise<RunningStack> {
  // Fetch everything first so the JVMs start back to back.
  fetchKafka(opts.log);
  fetchJmxAgent(opts.log);
  fetchRegistry(opts.log);
  const nodes = opts.kafkaNodes ?? 1;
  const kafka = nodes > 1
    ? startKafkaCluster({
      stateDir: opts.stateDir, nodes, kafkaPort: opts.kafkaPort, controllerPort: opts.controllerPort,
      ...(opts.metricsPort !== undefined ? { metricsPort: opts.metricsPort } : {}), ...(opts.log ? { log: opts.log } : {}),
    }).then((c) => c.brokers)
    : startKafka(opts);
  const [brokers, registryUrl] = await Promise.all([kafka, startRegistry(opts)]);
  const metricsTargets = Array.from({ length: nodes }, (_, i) => address(metricsPortOf(opts, i + 1)));
  return { brokers, registryUrl, replicationFactor: clusterReplication(nodes).replicationFactor, metricsTargets };
}

async function stopPid(pidFile: string, what: string, log: (l: string) => void): Promise<void> {
  const pid = readPid(pidFile);
  if (pid === undefined) return;
  log(`stopping ${what} (pid ${pid})`);
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(pidFile, { force: true });
}

/** Stops the stack's Kafka: the single node and every node of a cluster started from this state folder. */
export async function stopKafka(stateDir: string, log: (l: string) => void = console.log): Promise<void> {
  const dirs = existsSync(stateDir) ? readdirSync(stateDir).filter((d) => /^kafka(-\d+)?$/.test(d)) : [];
  await Promise.all(dirs.map((d) => stopPid(join(stateDir, d, 'kafka.pid'), d === 'kafka' ? 'Kafka' : `Kafka node ${d.slice(6)}`, log)));
}

export async function stopStack(stateDir: string, log: (l: string) => void = console.log): Promise<void> {
  await Promise.all([
    stopKafka(stateDir, log),
    stopPid(join(stateDir, 'registry', 'registry.pid'), 'schema registry', log),
  ]);
  clearStackOwner(stateDir);
}

/**
 * Which process started this stack and stops it on exit (`npm start`), so that a stack it left running
 * when it was killed (SIGKILL, an out-of-memory kill) is taken over by the next `npm start` instead of
 * running on, unowned, forever. A stack started by `npm run infra:up` has no owner: it is the user's.
 */
const ownerFile = (stateDir: string): string => join(stateDir, 'owner.pid');

export function markStackOwner(stateDir: string, pid: number): void {
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(ownerFile(stateDir), String(pid));
}

export function clearStackOwner(stateDir: string): void {
  rmSync(ownerFile(stateDir), { force: true });
}

/** The pid of the process that started this running stack and is gone without stopping it, if there is one. */
export function stackLeftByDeadOwner(stateDir: string): number | undefined {
  if (!existsSync(ownerFile(stateDir))) return undefined;
  const pid = Number(readFileSync(ownerFile(stateDir), 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) return undefined;
  return stackProcesses(stateDir).length > 0 ? pid : undefined;
}

/** A JVM of the stack started from this state folder that is running now: its name, pid and log file. */
export interface StackProcess {
  name: string;
  pid: number;
  log: string;
}

/** The stack's processes that run now (their pid files point at a live process), Kafka nodes first. */
export function stackProcesses(stateDir: string): StackProcess[] {
  const dirs = existsSync(stateDir) ? readdirSync(stateDir).filter((d) => /^kafka(-\d+)?$/.test(d)).sort() : [];
  const parts = [
    ...dirs.map((d) => ({ name: d === 'kafka' ? 'Kafka broker' : `Kafka node ${d.slice(6)}`, dir: join(stateDir, d), pidFile: 'kafka.pid', log: 'kafka.log' })),
    { name: 'schema registry', dir: join(stateDir, 'registry'), pidFile: 'registry.pid', log: 'registry.log' },
  ];
  return parts.flatMap((p) => {
    const pid = readPid(join(p.dir, p.pidFile));
    return pid === undefined ? [] : [{ name: p.name, pid, log: join(p.dir, p.log) }];
  });
}

/** Whether a process runs (signal 0 only checks). */
export function processRuns(pid: number): boolean {
  return isAlive(pid);
}

export function defaultStackOptions(env: NodeJS.ProcessEnv = process.env): StackOptions {
  const num = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${name} must be a TCP port (1-65535), got "${raw}"`);
    return n;
  };
  return {
    stateDir: env.LOCAL_STACK_DIR ?? join(repoRoot, '.local', 'stack'),
    kafkaPort: num('LOCAL_KAFKA_PORT', 9092),
    controllerPort: num('LOCAL_KAFKA_CONTROLLER_PORT', 9093),
    registryPort: num('LOCAL_REGISTRY_PORT', 8081),
    metricsPort: num('LOCAL_KAFKA_METRICS_PORT', 9404),
    kafkaNodes: nodeCount(env.LOCAL_KAFKA_NODES),
  };
}

/** LOCAL_KAFKA_NODES: 1 (default) runs one node; 3 a replicated cluster (node i on LOCAL_KAFKA_PORT + 2(i-1)). */
function nodeCount(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 1;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new Error(`LOCAL_KAFKA_NODES must be a whole number from 1 to 9 (3 for a replicated cluster), got "${raw}"`);
  return n;
}
