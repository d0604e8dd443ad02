// A start that always works, quietly: the whole system starts from nothing — a broker with an empty data
// folder, topics that do not exist yet, consumer groups whose coordinator is still loading, PostgreSQL
// configured (the setting under which services used to die with "This server does not host this
// topic-partition") — many times in a row. Every start must reach /readyz on every service, and no
// service may print an error-level line while doing it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startKafka, stopKafka } from '../../../infra/local/stack.js';
import { startWtlEmulator } from '../../emulators/wtl.js';
import { startSheetsEmulator } from '../../emulators/sheets.js';
import { startService, type ServiceProcess } from '../../support/processes.js';
import { faultRun, serviceEnvs } from '../../support/fault-env.js';

const STARTS = Number(process.env.FAULTS_FRESH_STARTS ?? 20);
const KAFKA_PORT = 31392; // below the ephemeral port range, so no client socket can hold it
const ports = { ingress: 18880, provisioning: 19601, 'sheet-export': 19611, 'scc-inventory': 18890 } as const;

/** Error-level lines: pino's level 50 and above, or anything a service printed outside its JSON log. */
function errorLines(lines: string[]): string[] {
  return lines.filter((l) => {
    if (!l.startsWith('{')) return /error|fatal|Error/.test(l);
    try {
      const level = (JSON.parse(l) as { level?: number | string }).level;
      return typeof level === 'number' ? level >= 50 : level === 'error' || level === 'fatal';
    } catch {
      return true;
    }
  });
}

describe('fresh starts', () => {
  it(`starts the whole system from nothing ${STARTS} times in a row, every time, without an error line`, async () => {
    const wtl = await startWtlEmulator();
    const sheets = await startSheetsEmulator();
    const results: { start: number; seconds: number; errors: string[] }[] = [];
    try {
      for (let i = 1; i <= STARTS; i++) {
        const stateDir = mkdtempSync(join(tmpdir(), 'switchboard-fresh-'));
        const r = faultRun(`fresh${i}x`);
        const started = Date.now();
        const services: ServiceProcess[] = [];
        let failure: unknown;
        try {
          const brokers = await startKafka({ stateDir, kafkaPort: KAFKA_PORT, controllerPort: KAFKA_PORT + 1, registryPort: 0, log: () => undefined });
          const envs = serviceEnvs(r, { brokers, registryUrl: process.env.SCHEMA_REGISTRY_URL!, wtl, sheets });
          // All four at once, as npm start does: they race each other to create the same topics.
          const starting = (['ingress', 'provisioning', 'sheet-export', 'scc-inventory'] as const).map(async (name) => {
            const svc = await startService(name, ports[name], envs[name], { waitReady: false });
            services.push(svc);
            await svc.ready(120_000);
          });
          await Promise.all(starting);
        } catch (err) {
          failure = err;
        }
        const seconds = (Date.now() - started) / 1000;
        await Promise.all(services.map((s) => s.stop()));
        await stopKafka(stateDir, () => undefined);
        rmSync(stateDir, { recursive: true, force: true });
        const errors = services.flatMap((s) => errorLines(s.lines).map((l) => `${s.name}: ${l.slice(0, 300)}`));
        if (failure) errors.unshift(`start failed: ${failure instanceof Error ? failure.message.slice(0, 1500) : String(failure)}`);
        results.push({ start: i, seconds: Math.round(seconds * 10) / 10, errors });
        console.log(`[fresh-starts] start ${i}/${STARTS}: ${failure ? 'FAILED' : 'ready'} in ${seconds.toFixed(1)} s, ${errors.length} error line(s)`);
      }
    } finally {
      await wtl.close();
      await sheets.close();
    }
    const failed = results.filter((x) => x.errors.length > 0);
    const times = results.map((x) => x.seconds).sort((a, b) => a - b);
    console.log(`FRESH START FIGURES ${JSON.stringify({ starts: results.length, clean: results.length - failed.length, seconds_median: times[Math.floor(times.length / 2)], seconds_max: times[times.length - 1] })}`);
    expect(failed.map((x) => ({ start: x.start, errors: x.errors.slice(0, 5) }))).toEqual([]);
  }, 60 * 60_000);
});
