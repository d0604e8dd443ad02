// Scenario 5: peak memory. Ingress (a child process of its own, started fresh) while 20 clients
// post 3,000-record batches at once; and each consumer's peak RSS during the replays of scenario 3.
import type { BenchContext } from '../lib/context.js';
import { ONCE_PATH, basicAuthHeader, ingressMissing, startIngressChild, type HttpTarget } from '../lib/ingress.js';
import { batchHttpLoad } from '../lib/load.js';
import { cycle, onceBatches } from '../lib/once.js';
import { fmt, type ScenarioResult, type Target } from '../lib/report.js';
import { readMemory, sampleRss } from '../lib/rss.js';
import type { BenchClients } from '../lib/shared.js';
import { replayMemory } from './replay.js';

const ID = '5';
const TITLE = 'Memory';
const LIMIT_MB = 512;

export async function memoryScenario(ctx: BenchContext, clients: BenchClients): Promise<ScenarioResult> {
  const { memoryClients, memorySeconds, onceBatchRecords } = ctx.sizes;
  const targetName = `Ingress peak RSS < ${LIMIT_MB} MB with ${memoryClients} clients posting ${fmt(onceBatchRecords)}-record batches at once`;
  const notes: string[] = [];
  const tables: ScenarioResult['tables'] = [];
  const targets: Target[] = [];
  let partly = false;
  const missing = ingressMissing();
  if (missing) {
    partly = true;
    notes.push(`Ingress part not run: ${missing}.`);
    targets.push({ name: targetName, status: 'not evaluated', detail: `not run: ${missing}` });
  } else {
    let ingress: HttpTarget | undefined;
    try {
      ingress = await startIngressChild(ctx, 'ingress-memory');
      const idle = readMemory(ingress.child.pid);
      const pool = await onceBatches(clients, `${ctx.topicPrefix}unused`, Math.min(memoryClients, 10), onceBatchRecords, 5_000_000);
      const rss = sampleRss(ingress.child.pid, 25);
      const load = await batchHttpLoad({
        url: `${ingress.url}${ONCE_PATH}`, clients: memoryClients, seconds: memorySeconds, headers: { authorization: basicAuthHeader() }, body: cycle(pool),
      });
      const mem = rss.stop();
      const peak = Math.max(mem.peakRssMb, mem.hwmMb);
      tables.push({
        caption: 'Ingress under concurrent large batches',
        headers: ['clients', 'records per batch', 'seconds', 'batches ok', 'failed', 'records/s', 'batch p99 ms', 'RSS idle MB', 'peak RSS MB (sampled every 25 ms)', 'VmHWM MB'],
        rows: [[memoryClients, fmt(onceBatchRecords), fmt(load.seconds, 1), load.ok, load.failed, fmt(load.recordsPerSec), fmt(load.p99Ms), fmt(idle?.rssMb ?? Number.NaN), fmt(mem.peakRssMb), fmt(mem.hwmMb)]],
      });
      targets.push({ name: targetName, status: peak < LIMIT_MB && load.ok > 0 ? 'met' : 'missed', detail: `peak ${fmt(peak)} MB (VmHWM ${fmt(mem.hwmMb)} MB), ${load.ok} batches accepted, ${load.failed} failed` });
      notes.push(
        `Ingress runs as a child process with its defaults, started fresh for this scenario, so VmHWM (the kernel's high-water mark since start) covers only start-up and this load. ${memoryClients} clients post ${fmt(Buffer.byteLength(pool[0]!.body) / 2 ** 20, 1)} MB batches back to back for ${memorySeconds} s. ` +
          'Failed batches are answers other than 2xx (e.g. 503 from load shedding); they are listed, not hidden.',
      );
    } catch (err) {
      partly = true;
      const reason = err instanceof Error ? err.message : String(err);
      notes.push(`Ingress part not run: ${reason}`);
      targets.push({ name: targetName, status: 'not evaluated', detail: `not run: ${reason}` });
    } finally {
      await ingress?.child.stop();
    }
  }
  if (replayMemory.length > 0) {
    tables.push({
      caption: 'Consumers during replay (scenario 3; the largest of its runs)',
      headers: ['consumer', 'events replayed', 'peak RSS MB'],
      rows: replayMemory.map((m) => [m.consumer, fmt(m.events), fmt(m.peakRssMb)]),
    });
    notes.push('Consumer peaks are sampled from /proc/<pid>/status (VmRSS every 50 ms and VmHWM) of each replay child process; whether they grow with the number of events is scenario 6.');
  } else {
    partly = true;
    notes.push('Consumer memory during replay: not run: scenario 3 did not run in this invocation (BENCH_ONLY).');
  }
  return { id: ID, title: TITLE, status: partly ? 'partly run' : 'ran', notes, tables, targets };
}
