// A service that dies under `npm start` once the system runs is started again (scripts/restart-policy.ts):
// sheet-export is SIGKILLed, ingress keeps accepting meanwhile, and the restarted process writes the row
// of the event sent while it was down. Then Ctrl-C still stops everything cleanly.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/stack.js';
import { DEV_DEFAULTS } from '../../scripts/dev-defaults.js';
import { eventually } from '../support/env.js';
import { launchNpmStart, ownDatabase, servicePorts, type NpmStart } from '../support/npm-start.js';

/** The pid of the process running `entry` below `root` in the process tree (npm → sh → start.ts → services). */
function descendantRunning(root: number, entry: string): number | undefined {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3]! }));
  const below = new Set([root]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of rows) if (below.has(r.ppid) && !below.has(r.pid)) (below.add(r.pid), (grew = true));
  }
  return rows.find((r) => below.has(r.pid) && r.pid !== root && r.args.includes(entry))?.pid;
}

describe('npm start restarts a service that dies', () => {
  const run = `restart${Date.now().toString(36)}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'switchboard-restart-'));
  let system: NpmStart;
  let ingressUrl = '';
  let database: Awaited<ReturnType<typeof ownDatabase>>;

  beforeAll(async () => {
    database = await ownDatabase(run);
    const ports = await servicePorts();
    ingressUrl = `http://127.0.0.1:${ports.INGRESS_PORT}`;
    system = await launchNpmStart({
      ...process.env,
      ...ports,
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      LOG_LEVEL: 'info',
      KAFKA_TOPIC_PREFIX: `${run}.`,
      KAFKA_TOPIC_PARTITIONS: '2',
      PROVISIONING_GROUP_ID: `${run}-provisioning`,
      SHEET_EXPORT_GROUP_ID: `${run}-sheet-export`,
      SCC_INVENTORY_GROUP_ID: `${run}-scc-inventory`,
      TRAIL_GROUP_ID: `${run}-trail`,
      SHEETS_BATCH_MAX_WAIT_MS: '200',
    });
  }, 180_000);

  afterAll(async () => {
    system?.kill();
    await database?.drop();
  });

  it('SIGKILL of sheet-export: restarted, the event sent while it was down gets its row, Ctrl-C still drains', async () => {
    const entry = 'services/sheet-export/main.ts';
    const first = descendantRunning(system.process.pid!, entry);
    expect(first, `sheet-export's process under npm start\n${system.output()}`).toBeDefined();
    process.kill(first!, 'SIGKILL');

    // Ingress is not taken down with it: the sender's event is accepted while sheet-export is gone.
    const event = JSON.parse(readFileSync(join(repoRoot, 'samples', 'nsps-event.json'), 'utf8')) as { event_id: string };
    event.event_id = `${run}-${randomUUID()}`;
    const res = await fetch(`${ingressUrl}/process-event`, {
      method: 'POST',
      headers: { authorization: `Bearer ${DEV_DEFAULTS.NSPS_API_TOKENS}`, 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    expect(res.status).toBe(202);

    expect(await eventually(async () => system.output().includes('[sheet-export] running again.'), 90_000, 300), system.output()).toBe(true);
    const output = system.output();
    expect(output).toContain('[sheet-export] exited (code SIGKILL)');
    expect(output).toMatch(/\[sheet-export\] exited \(code SIGKILL\); see .*\. Restarting it in 1 s \(restart 1 of 5 allowed within 10 minutes\)\./);
    expect(output).not.toContain('Stopping everything');
    const second = descendantRunning(system.process.pid!, entry);
    expect(second).toBeDefined();
    expect(second).not.toBe(first);

    const csv = join(dataDir, 'sheets', 'NSPS events.csv');
    const written = await eventually(async () => existsSync(csv) && readFileSync(csv, 'utf8').includes(event.event_id), 60_000, 300);
    expect(written, `the row of ${event.event_id} in ${csv}`).toBe(true);
    expect(readFileSync(csv, 'utf8').split(event.event_id).length - 1, 'one row for the event').toBe(1);

    process.kill(-system.process.pid!, 'SIGINT');
    const { code, signal } = await system.exited();
    expect(code === 0 || signal === 'SIGINT', `exit ${code ?? signal}\n${system.output()}`).toBe(true);
    expect(system.output()).toContain('Stopped.');
    expect(system.output().match(/\[sheet-export\] stopped after/g), 'the restarted sheet-export drained').toHaveLength(1);
  }, 180_000);
});
