// Provisions and runs a real Apache Kafka broker (KRaft, single node) and a real
// Confluent-compatible schema registry (Apicurio Registry) as local JVM processes,
// with jars fetched from Maven Central through Maven and cached under .local/cache.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync, rmSync, openSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KAFKA_VERSION = '3.9.1';
export const APICURIO_VERSION = '3.3.3';
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
  log?: (line: string) => void;
}

export interface RunningStack {
  brokers: string;
  registryUrl: string;
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

export async function startKafka(opts: StackOptions): Promise<string> {
  const log = opts.log ?? console.log;
  const brokers = `127.0.0.1:${opts.kafkaPort}`;
  const dir = join(opts.stateDir, 'kafka');
  const pidFile = join(dir, 'kafka.pid');
  mkdirSync(dir, { recursive: true });
  // Already running (this stack's pid file, or another checkout's broker on the same port): reuse it.
  if (await kafkaReady(brokers)) return brokers;
  const libs = fetchKafka(log);
  const classpath = `${libs}/*`;
  const java = findJava(17);
  const dataDir = join(dir, 'data');
  const props = [
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@127.0.0.1:${opts.controllerPort}`,
    `listeners=PLAINTEXT://127.0.0.1:${opts.kafkaPort},CONTROLLER://127.0.0.1:${opts.controllerPort}`,
    `advertised.listeners=PLAINTEXT://127.0.0.1:${opts.kafkaPort}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${dataDir}`,
    'num.partitions=3',
    'auto.create.topics.enable=false',
    'offsets.topic.replication.factor=1',
    'offsets.topic.num.partitions=10',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'min.insync.replicas=1',
    'group.initial.rebalance.delay.ms=0',
    'num.network.threads=2',
    'num.io.threads=4',
    'log.retention.hours=-1',
  ].join('\n');
  const propsFile = join(dir, 'server.properties');
  writeFileSync(propsFile, props + '\n');
  writeFileSync(join(dir, 'log4j.properties'), [
    'log4j.rootLogger=WARN, stdout',
    'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
    'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
    'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
    'log4j.logger.kafka.server.KafkaServer=INFO',
    'log4j.logger.kafka.server.BrokerServer=INFO',
  ].join('\n') + '\n');
  const jvm = ['-Xms256m', '-Xmx768m', '-XX:+UseG1GC', '-XX:TieredStopAtLevel=1', `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`, '-cp', classpath];
  if (!existsSync(join(dataDir, 'meta.properties'))) {
    execFileSync(java, [...jvm, 'kafka.tools.StorageTool', 'format', '-t', 'c3dpdGNoYm9hcmQtbG9jYWw', '-c', propsFile, '--ignore-formatted'], { stdio: 'ignore' });
  }
  log(`starting Kafka ${KAFKA_VERSION} on ${brokers}`);
  const pid = startDetached(java, [...jvm, 'kafka.Kafka', propsFile], join(dir, 'kafka.log'), pidFile, dir);
  await waitFor(`Kafka on ${brokers} (log: ${join(dir, 'kafka.log')})`, () => kafkaReady(brokers), 90_000, pid);
  return brokers;
}

async function kafkaReady(brokers: string): Promise<boolean> {
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
  // Fetch both first so the two JVMs start back to back.
  fetchKafka(opts.log);
  fetchRegistry(opts.log);
  const [brokers, registryUrl] = await Promise.all([startKafka(opts), startRegistry(opts)]);
  return { brokers, registryUrl };
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

export async function stopKafka(stateDir: string, log: (l: string) => void = console.log): Promise<void> {
  await stopPid(join(stateDir, 'kafka', 'kafka.pid'), 'Kafka', log);
}

export async function stopStack(stateDir: string, log: (l: string) => void = console.log): Promise<void> {
  await Promise.all([
    stopKafka(stateDir, log),
    stopPid(join(stateDir, 'registry', 'registry.pid'), 'schema registry', log),
  ]);
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
  };
}
