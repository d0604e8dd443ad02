// `npm start` as a test drives it: in a process group of its own (as a terminal's foreground job), its
// console collected, started once "Switchboard is running" is printed.
import { spawn, type ChildProcess } from 'node:child_process';
import { repoRoot } from '../../infra/local/stack.js';
import { eventually } from './env.js';

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
