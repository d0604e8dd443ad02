// `npm start` as a test drives it: in a process group of its own (as a terminal's foreground job), its
// console collected, started once "Switchboard is running" is printed.
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { repoRoot } from '../../infra/local/stack.js';
import { SERVICES } from '../../scripts/dev-defaults.js';
import { eventually, freePort, freePortPair } from './env.js';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

export interface NpmStart {
  process: ChildProcess;
  /** Everything printed so far (stdout and stderr). */
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Waits for the exit, failing with the console after `timeoutMs`. */
  exited(timeoutMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL to the whole group, if it still runs (afterAll). */
  kill(): void;
}

export async function launchNpmStart(env: NodeJS.ProcessEnv, startTimeoutMs = 150_000): Promise<NpmStart> {
  const child = spawn(npm, ['start', '--silent'], { cwd: repoRoot, detached: true, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const started: NpmStart = {
    process: child,
    output: () => output,
    exit,
    exited: (timeoutMs = 60_000) =>
      Promise.race([exit, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`npm start did not exit within ${timeoutMs / 1000} s:\n${output}`)), timeoutMs))]),
    kill: () => {
      if (!child.pid || child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
  const up = await eventually(async () => output.includes('Switchboard is running') || child.exitCode !== null, startTimeoutMs, 300);
  if (!up || !output.includes('Switchboard is running')) {
    started.kill();
    throw new Error(`system did not start:\n${output}`);
  }
  return started;
}

/**
 * The variables that give npm start a local Kafka and registry of its own (own ports, state folder
 * `stackDir`), so a test may kill them without touching the shared test broker.
 */
export async function ownStackEnv(stackDir: string): Promise<Record<string, string>> {
  return {
    // Without these two npm start provisions and starts Kafka and the registry itself.
    KAFKA_BROKERS: '',
    SCHEMA_REGISTRY_URL: '',
    LOCAL_STACK_DIR: stackDir,
    LOCAL_KAFKA_PORT: String(await freePort()),
    LOCAL_KAFKA_CONTROLLER_PORT: String(await freePort()),
    LOCAL_KAFKA_METRICS_PORT: String(await freePort()),
    // The registry also takes the next port (its management interface).
    LOCAL_REGISTRY_PORT: String(await freePortPair()),
  };
}

/** A free port for every service, as the `<NAME>_PORT` variables npm start passes on. */
export async function servicePorts(): Promise<Record<string, string>> {
  const ports: Record<string, string> = {};
  for (const svc of SERVICES) ports[`${svc.name.toUpperCase().replace('-', '_')}_PORT`] = String(await freePort());
  return ports;
}

/**
 * A database of its own on the test PostgreSQL server for one npm start (faster to start than three PGlite
 * instances): its URL, and drop() for afterAll.
 */
export async function ownDatabase(name: string): Promise<{ url: string; drop(): Promise<void> }> {
  const serverUrl = process.env.DATABASE_URL!;
  const database = name.toLowerCase();
  const adminQuery = async (sql: string): Promise<void> => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  await adminQuery(`CREATE DATABASE ${database}`);
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return { url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined) };
}
