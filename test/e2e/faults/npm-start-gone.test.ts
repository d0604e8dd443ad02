// `npm start` itself goes away, as on an operator's bad day:
// - it is SIGKILLed (an out-of-memory kill, `kill -9`): its services must not run on unsupervised with
//   their ports taken and their logs going nowhere, and the local Kafka and registry it started must not be
//   left running unowned: the next `npm start` takes them over and stops them on its way out;
// - its console goes away (`npm start | tee log` loses tee to the same Ctrl-C, a terminal window is closed)
//   and it is hung up on (SIGHUP): it must still drain every service and stop the JVMs.
// npm start runs its own stack here (its own ports and state folder), so the shared test broker is untouched.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processRuns, stackProcesses } from '../../../infra/local/stack.js';
import { SERVICES } from '../../../scripts/dev-defaults.js';
import { eventually } from '../../support/env.js';
import { launchNpmStart, ownDatabase, ownStackEnv, servicePorts, type NpmStart } from '../../support/npm-start.js';

const answers = async (port: string): Promise<boolean> => {
  try {
    await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
};

const groupRuns = (pgid: number): boolean => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('npm start goes away', () => {
  const run = `gone${Date.now().toString(36)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-gone-data-'));
  const stackDir = mkdtempSync(join(tmpdir(), 'switchboard-gone-stack-'));
  const started: NpmStart[] = [];
  let env: NodeJS.ProcessEnv;
  let ports: Record<string, string>;
  let database: Awaited<ReturnType<typeof ownDatabase>>;

  beforeAll(async () => {
    database = await ownDatabase(run);
    ports = await servicePorts();
    env = { ...process.env, ...ports, ...(await ownStackEnv(stackDir)), DATA_DIR: dataDir, DATABASE_URL: database.url, LOG_LEVEL: 'info' };
  }, 60_000);

  afterAll(async () => {
    for (const s of started) s.kill();
    // JVMs the SIGKILL of a group did not reach (they run detached).
    for (const p of stackProcesses(stackDir)) process.kill(p.pid, 'SIGKILL');
    await database?.drop();
  });

  it('SIGKILLed: its services drain and exit, and the next npm start takes over its Kafka and registry; hung up on with its console gone: it still drains and stops them', async () => {
    const first = await launchNpmStart(env, 240_000);
    started.push(first);
    const jvms = stackProcesses(stackDir);
    expect(jvms.map((p) => p.name).sort()).toEqual(['Kafka broker', 'schema registry']);
    // The pid of scripts/start.ts (npm and its shell sit above it): the owner it recorded for the stack.
    const starter = Number(readFileSync(join(stackDir, 'owner.pid'), 'utf8'));
    process.kill(starter, 'SIGKILL');

    const servicesGone = await eventually(async () => {
      for (const port of Object.values(ports)) if (await answers(port)) return false;
      return true;
    }, 60_000, 500);
    expect(servicesGone, 'every service stopped once npm start was gone').toBe(true);
    expect(jvms.every((p) => processRuns(p.pid)), 'the JVMs outlive it (they are detached)').toBe(true);
    first.kill();

    const second = await launchNpmStart(env, 240_000);
    started.push(second);
    expect(second.output()).toMatch(new RegExp(`taking over the local Kafka and registry that an earlier npm start \\(pid ${starter}\\) left running`));
    expect(stackProcesses(stackDir).map((p) => p.pid).sort()).toEqual(jvms.map((p) => p.pid).sort());

    // The console goes away (its reader is gone: the next write fails with EPIPE), then the hang-up.
    second.process.stdout!.destroy();
    second.process.stderr!.destroy();
    const pgid = second.process.pid!;
    process.kill(-pgid, 'SIGHUP');
    const stopped = await eventually(async () => !groupRuns(pgid) && stackProcesses(stackDir).length === 0, 90_000, 500);
    expect(stopped, 'npm start, its services and the JVMs it took over are gone').toBe(true);
    for (const p of jvms) expect(processRuns(p.pid), p.name).toBe(false);

    for (const svc of SERVICES) {
      const log = readFileSync(join(dataDir, 'logs', `${svc.name}.log`), 'utf8');
      const drain = log.split('\n').filter((l) => l.includes('"msg":"draining…'));
      const stop = log.split('\n').filter((l) => l.includes('"msg":"stopped"'));
      expect(drain.at(-1), `${svc.name} drained on the hang-up`).toContain('"signal":"SIGHUP"');
      expect(stop.at(-1), `${svc.name} stopped cleanly`).toContain('"clean":true');
    }
  }, 600_000);
});
