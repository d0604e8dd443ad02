// Scenario 6: how time and memory grow with work. Replay of 10k, 100k and 1M NSPS events (bare
// consumer vs the shared consumer runner), and 1NCE batches of 1, 100, 1,000 and 3,000 records
// (ingress vs the bare producer, one client).
import { alternate } from '../lib/alternate.js';
import type { BenchContext } from '../lib/context.js';
import { nspsDataset } from '../lib/datasets.js';
import { ONCE_PATH, basicAuthHeader, ingressMissing, startIngressChild, type HttpTarget } from '../lib/ingress.js';
import { createTopic } from '../lib/kafka.js';
import { batchHttpLoad, medianResult, producerLoad, type LoadResult } from '../lib/load.js';
import { cycle, onceBatches } from '../lib/once.js';
import { replayWorker, type ReplayMeasure } from '../lib/replay.js';
import { fmt, pct, type ScenarioResult, type Target } from '../lib/report.js';
import { sampleRss } from '../lib/rss.js';
import type { BenchClients } from '../lib/shared.js';
import { median, ratio } from '../lib/stats.js';

const ID = '6';
const TITLE = 'Growth';
/** A replay size is skipped when its predicted fill + replay time exceeds this. */
const SIZE_BUDGET_S = Number(process.env.BENCH_GROWTH_BUDGET_S ?? 300);
const FRAMEWORK = 'shared consumer runner, no-op handler';

export async function growthScenario(ctx: BenchContext, clients: BenchClients): Promise<ScenarioResult> {
  const notes: string[] = [];
  const tables: ScenarioResult['tables'] = [];
  const targets: Target[] = [];
  let partly = false;

  // Replay growth.
  const replayRows: (string | number)[][] = [];
  const peaks: { events: number; peak: number }[] = [];
  let perEventS: number | undefined; // fill + both replays, seconds per event, from the last size run
  for (const n of ctx.sizes.growthReplayEvents) {
    if (perEventS !== undefined && perEventS * n > SIZE_BUDGET_S) {
      partly = true;
      notes.push(`${fmt(n)} events skipped: from the smaller sizes, filling the topic and replaying it twice would take about ${fmt(perEventS * n / 60, 1)} minutes on this machine, over the ${fmt(SIZE_BUDGET_S / 60, 0)}-minute budget (BENCH_GROWTH_BUDGET_S).`);
      replayRows.push([fmt(n), 'skipped (over the time budget)', '', '', '', '', '', '']);
      continue;
    }
    const t0 = performance.now();
    const data = await nspsDataset(ctx, clients, n);
    const fillS = data.fillMs / 1000; // counted even when an earlier scenario filled it
    const t1 = performance.now();
    const repeats = n >= 1_000_000 ? 1 : ctx.sizes.repeats;
    const runs = await alternate<ReplayMeasure>([
      { name: 'bare consumer', run: () => replayWorker(ctx, 'bare', data.topic, n) },
      { name: FRAMEWORK, run: () => replayWorker(ctx, 'framework', data.topic, n) },
    ], repeats, ctx.log);
    const bare = runs.get('bare consumer')!;
    const fw = runs.get(FRAMEWORK)!;
    const eps = (m: ReplayMeasure[]): number => median(m.map((x) => x.eventsPerSec));
    const peak = (m: ReplayMeasure[]): number => Math.max(...m.map((x) => x.peakRssMb));
    peaks.push({ events: n, peak: peak(fw) });
    replayRows.push([fmt(n), fmt(median(bare.map((x) => x.ms)) / 1000, 2), fmt(eps(bare)), fmt(peak(bare)), fmt(median(fw.map((x) => x.ms)) / 1000, 2), fmt(eps(fw)), fmt(peak(fw)), pct(ratio(eps(fw), eps(bare)))]);
    // Per-event cost of filling plus one run of each contender, to predict the next size (run once each if ≥ 1M).
    void t0;
    perEventS = (fillS + (performance.now() - t1) / 1000 / repeats) / n;
  }
  tables.push({
    caption: 'Replay of the NSPS topic from the beginning (medians; 1M: one run each)',
    headers: ['events', 'bare s', 'bare events/s', 'bare peak RSS MB', 'runner s', 'runner events/s', 'runner peak RSS MB', 'runner / bare'],
    rows: replayRows,
  });
  const memTarget = 'Replay memory does not grow with the number of events';
  if (peaks.length >= 2) {
    // Compared over the last step (e.g. 100k → 1M), not from the smallest run: a 10k replay ends
    // within a fraction of a second, before fetch buffers and the heap reach their steady size.
    const first = peaks[peaks.length - 2]!;
    const last = peaks[peaks.length - 1]!;
    const grows = last.peak > Math.max(first.peak * 1.25, first.peak + 50);
    const all = peaks.map((p) => `${fmt(p.peak)} MB at ${fmt(p.events)}`).join(', ');
    targets.push({ name: memTarget, status: grows ? 'missed' : 'met', detail: `shared consumer runner peak RSS: ${all} events (rule: met when the largest run is within +25 % or +50 MB of the next smaller one)` });
  } else {
    targets.push({ name: memTarget, status: 'not evaluated', detail: 'fewer than two replay sizes ran' });
  }

  // Batch-size growth.
  const missing = ingressMissing();
  if (missing) {
    partly = true;
    notes.push(`Batch sizes not run: ${missing}.`);
  } else {
    let ingress: HttpTarget | undefined;
    try {
      ingress = await startIngressChild(ctx, 'ingress-growth');
      const topic = `${ctx.topicPrefix}baseline.growth`;
      await createTopic(clients.kafka, topic, 6);
      const send = await clients.kafkajsSend();
      const rows: (string | number)[][] = [];
      let firstId = 20_000_000;
      for (const size of ctx.sizes.growthBatchSizes) {
        const pool = await onceBatches(clients, topic, 3, size, firstId);
        firstId += 3 * size;
        const nextHttp = cycle(pool);
        const nextKafka = cycle(pool);
        const rss = sampleRss(ingress.child.pid);
        const runs = await alternate<LoadResult>([
          { name: 'ingress', run: () => batchHttpLoad({ url: `${ingress!.url}${ONCE_PATH}`, clients: 1, seconds: ctx.sizes.httpSeconds, headers: { authorization: basicAuthHeader() }, body: nextHttp }) },
          { name: 'bare producer', run: () => producerLoad({ send, topic, workers: 1, seconds: ctx.sizes.httpSeconds, unit: () => nextKafka() }) },
        ], ctx.sizes.repeats, ctx.log);
        const mem = rss.stop();
        const ours = medianResult(runs.get('ingress')!, median);
        const base = medianResult(runs.get('bare producer')!, median);
        rows.push([fmt(size), fmt(ours.p50Ms, 1), fmt(ours.p99Ms, 1), fmt(ours.recordsPerSec), fmt((ours.p50Ms * 1000) / size, 0), fmt(base.p50Ms, 1), fmt(base.recordsPerSec), pct(ratio(ours.recordsPerSec, base.recordsPerSec)), fmt(mem.peakRssMb), ours.failed]);
      }
      tables.push({
        caption: '1NCE batch size (one client, batches back to back; medians)',
        headers: ['records per batch', 'ingress p50 ms', 'ingress p99 ms', 'ingress records/s', 'ingress µs per record (p50)', 'kafkajs producer p50 ms', 'kafkajs producer records/s', 'ingress / kafkajs producer', 'ingress peak RSS MB', 'ingress failed'],
        rows,
      });
    } catch (err) {
      partly = true;
      notes.push(`Batch sizes not run: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await ingress?.child.stop();
    }
  }
  notes.unshift(
    'Replay contenders are child processes in fresh consumer groups (as in scenario 3); peak RSS is VmRSS sampled every 50 ms and VmHWM. ' +
      'Batch sizes: one client posting batches back to back to one ingress child, against the bare kafkajs producer sending the same records in the same groups, alternated.',
  );
  return { id: ID, title: TITLE, status: partly ? 'partly run' : 'ran', notes, tables, targets };
}
