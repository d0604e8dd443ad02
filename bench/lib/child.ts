// Runs a TypeScript entry point as one child process (node --import tsx, no wrapper process, so
// the pid we sample is the process doing the work), logs to a file, waits until it answers HTTP.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, openSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../../infra/local/stack.js';

export interface RunningChild {
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process exited. */
  stop(graceMs?: number): Promise<void>;
  exited(): boolean;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * `output: 'file'` (the default) gives the child the log file itself as stdout and stderr: the kernel writes its
 * logs, and this process (which also runs the load generators) never copies a byte of them. A service logging a
 * line per request through a pipe into this process cost it about a tenth of a core, taken from the load
 * generator and from the machine the service shares. `'pipe'` is for a child whose output is read (its first
 * line is an address); it is then copied into the file.
 */
export function spawnTs(entry: string, opts: { env: NodeJS.ProcessEnv; logFile: string; args?: string[]; nodeArgs?: string[]; output?: 'file' | 'pipe' }): RunningChild {
  const argv = [...(opts.nodeArgs ?? []), '--import', 'tsx', join(repoRoot, entry), ...(opts.args ?? [])];
  const fd = opts.output === 'pipe' ? undefined : openSync(opts.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, argv, { cwd: repoRoot, env: opts.env, stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'] });
  } finally {
    if (fd !== undefined) closeSync(fd); // the child holds its own copy
  }
  if (fd === undefined) {
    const out = createWriteStream(opts.logFile, { flags: 'a' });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
  }
  let done = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { done = true; resolve(); }));
  if (child.pid === undefined) throw new Error(`could not start ${entry}`);
  return {
    pid: child.pid,
    child,
    logFile: opts.logFile,
    exited: () => done,
    async stop(graceMs = 10_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** Polls `url` until it answers 2xx; throws if the child exits or the time runs out. */
export async function waitHttp(url: string, child: RunningChild, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exited()) throw new Error(`process exited before answering ${url} (log: ${child.logFile})`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms (log: ${child.logFile})`);
}
