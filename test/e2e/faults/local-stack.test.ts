// The Kafka broker that `npm start` started dies (SIGKILL, as an OOM kill would): senders get a retriable
// 503 meanwhile, npm start starts the broker again on its data folder, and the sender's retry is accepted
// and reaches its consumer once. npm start runs its own stack here (its own ports and state folder), so the
// shared test broker is untouched.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processRuns, repoRoot, stackProcesses } from '../../../infra/local/stack.js';
import { DEV_DEFAULTS } from '../../../scripts/dev-defaults.js';
import { eventually } from '../../support/env.js';
import { launchNpmStart, ownDatabase, ownStackEnv, servicePorts, type NpmStart } from '../../support/npm-start.js';

describe('npm start restarts the local Kafka broker it started', () => {
  const run = `stack${Date.now().toString(36)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-stack-data-'));
  const stackDir = mkdtempSync(join(tmpdir(), 'switchboard-stack-'));
  let system: NpmStart;
  let ingressUrl = '';
  let database: Awaited<ReturnType<typeof ownDatabase>>;

  beforeAll(async () => {
    database = await ownDatabase(run);
    const ports = await servicePorts();
    ingressUrl = `http://127.0.0.1:${ports.INGRESS_PORT}`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...ports,
      ...(await ownStackEnv(stackDir)),
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'info',
      SHEETS_BATCH_MAX_WAIT_MS: '200',
    };
    system = await launchNpmStart(env, 240_000);
  }, 300_000);

  afterAll(async () => {
    system?.kill();
    // A JVM the test's SIGKILL of the group did not reach (they run detached).
    for (const p of stackProcesses(stackDir)) process.kill(p.pid, 'SIGKILL');
    await database?.drop();
  });

  it('SIGKILL of the broker: 503 + Retry-After meanwhile, the broker started again, the retry accepted and exported once', async () => {
    const broker = stackProcesses(stackDir).find((p) => p.name === 'Kafka broker');
    expect(broker, `the broker's pid file in ${stackDir}`).toBeDefined();
    process.kill(broker!.pid, 'SIGKILL');
    await eventually(async () => !processRuns(broker!.pid), 10_000, 100);

    const event = JSON.parse(readFileSync(join(repoRoot, 'samples', 'nsps-event.json'), 'utf8')) as { event_id: string };
    event.event_id = `${run}-${randomUUID()}`;
    const post = () =>
      fetch(`${ingressUrl}/process-event`, {
        method: 'POST',
        headers: { authorization: `Bearer ${DEV_DEFAULTS.NSPS_API_TOKENS}`, 'content-type': 'application/json' },
        body: JSON.stringify(event),
        signal: AbortSignal.timeout(30_000),
      });
    const refused = await post();
    expect(refused.status, 'while the broker is down').toBe(503);
    expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);

    const back = await eventually(async () => system.output().includes('The local Kafka broker is running again.'), 120_000, 500);
    expect(back, system.output()).toBe(true);
    expect(system.output()).toMatch(/The local Kafka broker \(pid \d+\) exited; see .*kafka\.log\. Starting it again in 1 s \(restart 1 of 5 allowed within 10 minutes\)/);
    const restarted = stackProcesses(stackDir).find((p) => p.name === 'Kafka broker');
    expect(restarted?.pid).not.toBe(broker!.pid);

    // The sender retries, as a 503 tells it to, until the producer has found the broker again.
    const accepted = await eventually(async () => (await post()).status === 202, 60_000, 1000);
    expect(accepted, 'the retry is accepted once the broker is back').toBe(true);
    const csv = join(dataDir, 'sheets', 'NSPS events.csv');
    const exported = await eventually(async () => existsSync(csv) && readFileSync(csv, 'utf8').includes(event.event_id), 90_000, 500);
    expect(exported, `the row of ${event.event_id}`).toBe(true);
    expect(readFileSync(csv, 'utf8').split(event.event_id).length - 1, 'one row for the event').toBe(1);

    process.kill(-system.process.pid!, 'SIGINT');
    const { code, signal } = await system.exited(90_000);
    expect(code === 0 || signal === 'SIGINT', `exit ${code ?? signal}\n${system.output()}`).toBe(true);
    expect(system.output()).toContain('Stopped.');
    expect(stackProcesses(stackDir), 'the JVMs npm start started are gone').toEqual([]);
  }, 300_000);
});
