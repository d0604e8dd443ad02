// Scenario 2: 1NCE Data Streamer batches through ingress (with its default client, @platformatic/kafka,
// and with KAFKA_PRODUCER_CLIENT=kafkajs), against the bare kafkajs and bare @platformatic/kafka
// producers sending the same records (same envelopes, same acks=-1, same groups per send).
import { alternate } from '../lib/alternate.js';
import type { BenchContext } from '../lib/context.js';
import { ONCE_PATH, basicAuthHeader, ingressMissing, startIngressChild, type HttpTarget } from '../lib/ingress.js';
import { createTopic } from '../lib/kafka.js';
import { batchHttpLoad, medianResult, producerLoad, type ChunkSender, type LoadResult } from '../lib/load.js';
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
  let ingressKafkajs: HttpTarget | undefined;
  try {
    ingress = await startIngressChild(ctx, 'ingress-1nce');
    ingressKafkajs = await startIngressChild(ctx, 'ingress-1nce-kafkajs', [], { KAFKA_PRODUCER_CLIENT: 'kafkajs' });
    const topic = `${ctx.topicPrefix}baseline.1nce.usage`;
    await createTopic(clients.kafka, topic, 6);
    const kafkajsSend = await clients.kafkajsSend();
    const platformaticSend = await clients.platformaticSend();
    const pool = await onceBatches(clients, topic, ctx.smoke ? 2 : 6, sizes.onceBatchRecords, 1_000_000);
    const nextHttp = cycle(pool);
    const nextKafka = cycle(pool);
    const http = (target: HttpTarget) => () => batchHttpLoad({ url: `${target.url}${ONCE_PATH}`, clients: sizes.onceClients, seconds: sizes.httpSeconds * 2, headers: { authorization: basicAuthHeader() }, body: nextHttp });
    const bare = (send: ChunkSender) => () => producerLoad({ send, topic, workers: sizes.onceClients, seconds: sizes.httpSeconds * 2, unit: () => nextKafka() });
    const runs = await alternate<LoadResult>([
      { name: 'ingress', run: http(ingress) },
      { name: 'ingress, kafkajs client', run: http(ingressKafkajs) },
      { name: 'bare kafkajs producer', run: bare(kafkajsSend) },
      { name: 'bare platformatic producer', run: bare(platformaticSend) },
    ], sizes.repeats, ctx.log);
    const m = (name: string): LoadResult => medianResult(runs.get(name)!, median);
    const ours = m('ingress');
    const oursKafkajs = m('ingress, kafkajs client');
    const base = m('bare kafkajs producer');
    const basePlatformatic = m('bare platformatic producer');
    const r = ratio(ours.recordsPerSec, base.recordsPerSec);
    const rSameClient = ratio(ours.recordsPerSec, basePlatformatic.recordsPerSec);
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
          `a pool of ${pool.length} distinct batches is cycled. "ingress" runs with its default client (@platformatic/kafka), "ingress, kafkajs client" with KAFKA_PRODUCER_CLIENT=kafkajs. ` +
          `Each bare producer sends the same records as encoded envelopes, ${pool[0]!.chunks.length} sends of ≤ 900 KiB per batch in sequence (as ingress groups them), acks=-1, idempotent, ${sizes.onceClients} concurrent senders. ` +
          `Medians of ${sizes.repeats} alternated runs. The target, as the issue states it, is judged against the bare kafkajs producer; the ratio to the bare producer of ingress's own client is shown beside it.`,
      ],
      tables: [{
        headers: ['contender', 'records/s', 'batches/s', 'batch p50 ms', 'batch p99 ms', 'batches ok', 'failed', 'of bare kafkajs producer', 'of bare platformatic producer'],
        rows: [ours, oursKafkajs, base, basePlatformatic].map((x, i) => [
          ['ingress (platformatic client, default)', 'ingress, kafkajs client', 'bare kafkajs producer', 'bare platformatic producer'][i]!,
          fmt(x.recordsPerSec), fmt(x.opsPerSec, 2), fmt(x.p50Ms), fmt(x.p99Ms), x.ok, x.failed,
          pct(ratio(x.recordsPerSec, base.recordsPerSec)), pct(ratio(x.recordsPerSec, basePlatformatic.recordsPerSec)),
        ]),
      }, ...(profile ? [profile] : [])],
      targets: [{ name: TARGETS[0]!, status: met ? 'met' : 'missed', detail: `${fmt(ours.recordsPerSec)} vs ${fmt(base.recordsPerSec)} records/s = ${pct(r)}, ${ours.failed} failed batches (${pct(rSameClient)} of the bare @platformatic/kafka producer; ingress with kafkajs: ${pct(ratio(oursKafkajs.recordsPerSec, base.recordsPerSec))} of the bare kafkajs producer)` }],
    };
  } catch (err) {
    return notRun(ID, TITLE, `harness could not run it: ${err instanceof Error ? err.message : String(err)}`, TARGETS);
  } finally {
    await ingress?.child.stop();
    await ingressKafkajs?.child.stop();
  }
}
