// Scenario 2: 1NCE Data Streamer batches through ingress, against the bare kafkajs producer
// sending the same records (same envelopes, same acks=-1, same groups per send).
import { alternate } from '../lib/alternate.js';
import type { BenchContext } from '../lib/context.js';
import { ONCE_PATH, basicAuthHeader, ingressMissing, startIngressChild, type HttpTarget } from '../lib/ingress.js';
import { createTopic } from '../lib/kafka.js';
import { batchHttpLoad, medianResult, producerLoad, type LoadResult } from '../lib/load.js';
import { cycle, onceBatches } from '../lib/once.js';
import { fmt, notRun, pct, type ScenarioResult } from '../lib/report.js';
import type { BenchClients } from '../lib/shared.js';
import { median, ratio } from '../lib/stats.js';
import { profileChild, profilingEnabled } from '../lib/profile.js';

const ID = '2';
const TITLE = '1NCE batches through ingress';
const TARGETS = ['1NCE batches ≥ 60 % of the bare producer\'s records/s'];

export async function onceBatchesScenario(ctx: BenchContext, clients: BenchClients): Promise<ScenarioResult> {
  const missing = ingressMissing();
  if (missing) return notRun(ID, TITLE, missing, TARGETS);
  const { sizes } = ctx;
  let ingress: HttpTarget | undefined;
  try {
    ingress = await startIngressChild(ctx, 'ingress-1nce');
    const topic = `${ctx.topicPrefix}baseline.1nce.usage`;
    await createTopic(clients.kafka, topic, 6);
    const producer = await clients.producer();
    const pool = await onceBatches(clients, topic, ctx.smoke ? 2 : 6, sizes.onceBatchRecords, 1_000_000);
    const nextHttp = cycle(pool);
    const nextKafka = cycle(pool);
    const url = `${ingress.url}${ONCE_PATH}`;
    const runs = await alternate<LoadResult>([
      { name: 'ingress', run: () => batchHttpLoad({ url, clients: sizes.onceClients, seconds: sizes.httpSeconds * 2, headers: { authorization: basicAuthHeader() }, body: nextHttp }) },
      { name: 'bare producer', run: () => producerLoad({ producer, topic, workers: sizes.onceClients, seconds: sizes.httpSeconds * 2, unit: () => nextKafka() }) },
    ], sizes.repeats, ctx.log);
    const ours = medianResult(runs.get('ingress')!, median);
    const base = medianResult(runs.get('bare producer')!, median);
    const r = ratio(ours.recordsPerSec, base.recordsPerSec);
    const bodyMb = Buffer.byteLength(pool[0]!.body) / 2 ** 20;
    const met = r >= 0.6 && ours.failed === 0;
    const profile = !met && profilingEnabled()
      ? await profileChild(ctx, 'ingress-1nce', (nodeArgs) => startIngressChild(ctx, 'ingress-1nce-prof', nodeArgs), (t) =>
        batchHttpLoad({ url: `${t.url}${ONCE_PATH}`, clients: sizes.onceClients, seconds: sizes.httpSeconds * 2, headers: { authorization: basicAuthHeader() }, body: nextHttp }))
      : undefined;
    return {
      id: ID,
      title: TITLE,
      status: 'ran',
      notes: [
        `${sizes.onceClients} clients each POST one batch of ${fmt(sizes.onceBatchRecords)} usage records (${fmt(bodyMb, 1)} MB of JSON, shaped like the 1NCE sample) after the other, for ${sizes.httpSeconds * 2} s per run; ` +
          `a pool of ${pool.length} distinct batches is cycled. The bare producer sends the same records as encoded envelopes, ${pool[0]!.chunks.length} sends of ≤ 900 KiB per batch in sequence (as ingress groups them), acks=-1, ${sizes.onceClients} concurrent senders. ` +
          `Medians of ${sizes.repeats} alternated runs.`,
      ],
      tables: [{
        headers: ['contender', 'records/s', 'batches/s', 'batch p50 ms', 'batch p99 ms', 'batches ok', 'failed', 'of bare producer'],
        rows: [
          ['ingress', fmt(ours.recordsPerSec), fmt(ours.opsPerSec, 2), fmt(ours.p50Ms), fmt(ours.p99Ms), ours.ok, ours.failed, pct(r)],
          ['bare producer', fmt(base.recordsPerSec), fmt(base.opsPerSec, 2), fmt(base.p50Ms), fmt(base.p99Ms), base.ok, base.failed, '100 %'],
        ],
      }, ...(profile ? [profile] : [])],
      targets: [{ name: TARGETS[0]!, status: met ? 'met' : 'missed', detail: `${fmt(ours.recordsPerSec)} vs ${fmt(base.recordsPerSec)} records/s = ${pct(r)}, ${ours.failed} failed batches` }],
    };
  } catch (err) {
    return notRun(ID, TITLE, `harness could not run it: ${err instanceof Error ? err.message : String(err)}`, TARGETS);
  } finally {
    await ingress?.child.stop();
  }
}
