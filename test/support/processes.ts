// Services as real child processes (tsx services/<name>/main.ts), the way `npm start` runs them:
// their log lines are kept for assertions (no secrets), and they can be stopped, killed and restarted.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import { repoRoot } from '../../infra/local/stack.js';

// node --import tsx, not the tsx CLI: the CLI runs the service in a grandchild process, so a SIGKILL
// would hit only the wrapper and leave the service running as an orphan.
const nodeArgs = (entry: string): string[] => ['--import', 'tsx', entry];

export type ServiceName = 'ingress' | 'provisioning' | 'sheet-export' | 'scc-inventory';

export interface ServiceProcess {
  name: ServiceName;
  port: number;
  url: string;
  child: ChildProcess;
  /** Every line the process wrote to stdout or stderr, across restarts. */
  lines: string[];
  /** Resolves when /readyz answers 200. */
  ready(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
  pid(): number | undefined;
}

/** All log lines of every service process started in this test process (for the secrets check). */
export const allServiceLines: string[] = [];

// A test that fails before it knows its services (a rejected Promise.all in beforeAll) cannot stop them;
// left running, they hold their ports into the next run, where a new service of the same port fails
// with EADDRINUSE while the readiness check talks to the old one. So every child still running when
// this test process exits is killed, and a port that already answers is refused before a start.
const running = new Set<ChildProcess>();
/** Children this helper itself stopped or killed (every other exit is reported). */
const expectedExit = new WeakSet<ChildProcess>();
process.once('exit', () => {
  for (const child of running) {
    expectedExit.add(child);
    child.kill('SIGKILL');
  }
});

function portAnswers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startService(name: ServiceName, port: number, env: Record<string, string | undefined>, opts: { waitReady?: boolean } = {}): Promise<ServiceProcess> {
  if (await portAnswers(port)) {
    throw new Error(`${name}: port ${port} already answers before the service starts (a service left over from an earlier run? ss -ltnp 'sport = :${port}')`);
  }
  const lines: string[] = [];
  let child!: ChildProcess;
  const launch = (): void => {
    child = spawn(process.execPath, nodeArgs(`services/${name}/main.ts`), {
      cwd: repoRoot,
      env: { ...process.env, ...env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = child;
    running.add(started);
    started.once('exit', (code, signal) => {
      running.delete(started);
      // A service that dies on its own is the first thing to know when a test then times out.
      if (!expectedExit.has(started)) console.error(`[${name}] exited unexpectedly (code ${code}, signal ${signal}); its last lines:\n${lines.slice(-40).join('\n')}`);
    });
    for (const stream of [child.stdout!, child.stderr!]) {
      createInterface({ input: stream }).on('line', (l) => {
        lines.push(l);
        allServiceLines.push(l);
      });
    }
  };
  launch();
  const url = `http://127.0.0.1:${port}`;
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const waitExit = (): Promise<void> => (exited() ? Promise.resolve() : new Promise((r) => child.once('exit', () => r())));
  const svc: ServiceProcess = {
    name,
    port,
    url,
    get child() {
      return child;
    },
    lines,
    async ready(timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (exited()) throw new Error(`${name} exited during start:\n${lines.slice(-30).join('\n')}`);
        try {
          const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) });
          if (res.ok) return;
        } catch {
          // not listening yet
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`${name} not ready within ${timeoutMs} ms:\n${lines.slice(-30).join('\n')}`);
    },
    async stop() {
      if (exited()) return;
      const done = waitExit();
      expectedExit.add(child);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await done;
      clearTimeout(timer);
    },
    async kill() {
      if (exited()) return;
      const done = waitExit();
      expectedExit.add(child);
      child.kill('SIGKILL');
      await done;
    },
    async restart() {
      await svc.stop();
      launch();
      await svc.ready();
    },
    pid: () => child.pid,
  };
  if (opts.waitReady !== false) await svc.ready();
  return svc;
}

/** Fails with the offending line (secret masked) when any line contains any of the secrets. */
export function findSecretLeaks(lines: string[], secrets: string[]): string[] {
  const leaks: string[] = [];
  const needles = secrets.filter((s) => s.length >= 6);
  for (const line of lines) {
    for (const s of needles) {
      if (line.includes(s)) leaks.push(line.split(s).join('<SECRET>').slice(0, 300));
    }
  }
  return leaks;
}
