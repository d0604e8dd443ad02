// Scenario 4: provisioning against the WTL emulator answering every call after a fixed 20 ms.
// Events of one subscriber are applied in order; those of different subscribers should not wait
// for each other, with one partition or several. The serial floor (events × 20 ms) is what a
// consumer that handled one event at a time would need.
import { missingCode } from '../lib/availability.js';
import type { BenchContext } from '../lib/context.js';
import { nspsDataset } from '../lib/datasets.js';
import { replayService, startWtlProcess, type ReplayMeasure } from '../lib/replay.js';
import { fmt, notRun, type ScenarioResult } from '../lib/report.js';
import type { BenchClients } from '../lib/shared.js';
import { median } from '../lib/stats.js';
import { provisioningEnv } from './replay.js';

const ID = '4';
const TITLE = 'Provisioning against the WTL emulator (20 ms per call)';
const LATENCY_MS = 20;
const TARGETS = ['Provisioning: slow calls on one key do not serialise the rest (faster than the serial floor with 1 partition)'];

export async function provisioningScenario(ctx: BenchContext, clients: BenchClients): Promise<ScenarioResult> {
  const missing = missingCode('services/provisioning/main.ts', ['startProvisioning']) ?? missingCode('test/emulators/wtl.ts', ['startWtlEmulator']);
  if (missing) return notRun(ID, TITLE, missing, TARGETS);
  const { provisioningEvents: events, provisioningKeys: keys, provisioningPartitions } = ctx.sizes;
  // The emulator in a process of its own, like the remote API (as in scenario 3).
  const wtl = await startWtlProcess(ctx);
  try {
    const serialFloorS = (events * LATENCY_MS) / 1000;
    const rows: (string | number)[][] = [];
    let onePartition: number | undefined;
    let round = 0;
    for (const partitions of provisioningPartitions) {
      const data = await nspsDataset(ctx, clients, events, { partitions, subscribers: keys });
      const measures: ReplayMeasure[] = [];
      const calls: number[] = [];
      for (let r = 0; r < ctx.sizes.repeats; r++) {
        ctx.log(`    ${partitions} partition(s), run ${r + 1}/${ctx.sizes.repeats}`);
        await wtl.reset();
        await wtl.setLatency(LATENCY_MS);
        measures.push(await replayService(ctx, clients.kafka, {
          name: `provisioning-p${partitions}`, entry: 'services/provisioning/main.ts', prefix: data.prefix, topic: data.topic, events,
          groupVar: 'PROVISIONING_GROUP_ID', env: await provisioningEnv(wtl.url, `bench_prov4_${ctx.runId}_${round++}`),
        }));
        calls.push(await wtl.requestCount());
      }
      const seconds = median(measures.map((m) => m.ms)) / 1000;
      if (partitions === 1) onePartition = seconds;
      rows.push([partitions, fmt(events), keys, fmt(seconds, 2), fmt(events / seconds), fmt(serialFloorS, 1), `${fmt(serialFloorS / seconds, 1)}×`, calls.join(' / '), fmt(Math.max(...measures.map((m) => m.peakRssMb)))]);
    }
    const met = onePartition !== undefined && onePartition < serialFloorS / 2;
    return {
      id: ID,
      title: TITLE,
      status: 'ran',
      notes: [
        `${fmt(events)} NSPS SIM/Updated events over ${keys} subscribers (so ${fmt(events / keys)} events per subscriber, which must stay in order), replayed from the beginning by the provisioning service (child process, its defaults: PROVISIONING_KEY_CONCURRENCY=16) ` +
          `against the WTL emulator (test/emulators/wtl.ts, in a process of its own) answering every call after ${LATENCY_MS} ms. Timed from /readyz until the group's committed offsets reach the end of the topic; median of ${ctx.sizes.repeats} run(s) per partition count. ` +
          'The baseline is arithmetic, not a run: the serial floor is what handling one event at a time would take (events × 20 ms). "WTL calls" counts the requests the emulator received per run (≥ events; more means retries).',
      ],
      tables: [{ headers: ['partitions', 'events', 'subscribers', 'seconds (median)', 'events/s', 'serial floor s', 'speed-up over serial', 'WTL calls per run', 'peak RSS MB'], rows }],
      targets: [{
        name: TARGETS[0]!,
        status: met ? 'met' : 'missed',
        detail: onePartition === undefined ? 'the 1-partition case was not run' : `1 partition: ${fmt(onePartition, 2)} s vs ${fmt(serialFloorS, 1)} s serial (${fmt(serialFloorS / onePartition, 1)}× faster)`,
      }],
    };
  } finally {
    await wtl.close();
  }
}
