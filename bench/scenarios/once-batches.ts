// Scenario 2: 1NCE Data Streamer batches through ingress, with each Kafka client (@platformatic/kafka
// and kafkajs), against the bare kafkajs and bare @platformatic/kafka producers sending the same
// records (same envelopes, same acks=-1, same groups per send) and the broker's own ceiling
// (Kafka's ProducerPerformance, records of the usage envelope's size, 6 partitions).
import { alternate, type Contender } from '../lib/alternate.js';
import { CEILING_CAVEAT, brokerCeiling } from '../lib/ceiling.js';
import { CLIENT_METHOD_NOTE, CLIENT_TABLE_HEADERS, clientChoiceRow } from '../lib/client-choice.js';
import type { BenchContext } from '../lib/context.js';
import { ONCE_PATH, PRODUCER_CLIENTS, basicAuthHeader, defaultIngressClient, ingressMissing, startIngressChild, type HttpTarget, type ProducerClient } from '../lib/ingress.js';
import { createTopic } from '../lib/kafka.js';
import { batchHttpLoad, medianResult, producerLoad, type ChunkSender, type LoadResult } from '../lib/load.js';
import { cycle, onceBatches } from '../lib/once.js';
import { fmt, notRun, pct, type ScenarioResult } from '../lib/report.js';
import type { BenchClients } from '../lib/shared.js';
import { median, range, ratio } from '../lib/stats.js';
import { profileChild, profilingEnabled } from '../lib/profile.js';

const ID = '2';
const TITLE = '1NCE batches through ingress';
const TARGET_SHARE = 0.8;
const TARGETS = [`1NCE batches ≥ ${TARGET_SHARE * 100} % of the best bare producer's records/s (ingress's default client)`];

const INGRESS = (c: ProducerClient): string => `ingress (${c})`;
const PRODUCER = (c: ProducerClient): string => `bare ${c} producer`;
const BROKER = 'broker ceiling (ProducerPerformance)';

export async function onceBatchesScenario(ctx: BenchContext, clients: BenchClients): Promise<ScenarioResult> {
  const missing = ingressMissing();
  if (missing) return notRun(ID, TITLE, missing, TARGETS);
  const { sizes } = ctx;
  const started: HttpTarget[] = [];
  try {
    const defaultClient = await defaultIngressClient();
    // One after the other: the first creates the topics and registers their schemas, which two starting at once race for.
    const ingress = new Map<ProducerClient, HttpTarget>();
    for (const c of PRODUCER_CLIENTS) {
      const t = await startIngressChild(ctx, `ingress-1nce-${c}`, [], { KAFKA_PRODUCER_CLIENT: c });
      started.push(t);
      ingress.set(c, t);
    }
    const topic = `${ctx.topicPrefix}baseline.1nce.usage`;
    await createTopic(clients.kafka, topic, 6);
    const senders = new Map<ProducerClient, ChunkSender>([['kafkajs', await clients.kafkajsSend()], ['platformatic', await clients.platformaticSend()]]);
    const pool = await onceBatches(clients, topic, ctx.smoke ? 2 : 6, sizes.onceBatchRecords, 1_000_000);
    const recordBytes = Math.round(median(pool[0]!.chunks.flat().map((m) => (m.value as Buffer).length)));
    const seconds = sizes.httpSeconds * 2;
    const ceiling = await brokerCeiling(ctx, clients, { name: '1nce', recordSize: recordBytes, seconds });
    const nextHttp = cycle(pool);
    const nextKafka = cycle(pool);
    const http = (target: HttpTarget) => () => batchHttpLoad({ url: `${target.url}${ONCE_PATH}`, clients: sizes.onceClients, seconds, headers: { authorization: basicAuthHeader() }, body: nextHttp });
    const bare = (send: ChunkSender) => () => producerLoad({ send, topic, workers: sizes.onceClients, seconds, unit: () => nextKafka() });
    const contenders: Contender<LoadResult>[] = [
      ...PRODUCER_CLIENTS.map((c) => ({ name: INGRESS(c), run: http(ingress.get(c)!), repeats: sizes.clientRepeats })),
      ...PRODUCER_CLIENTS.map((c) => ({ name: PRODUCER(c), run: bare(senders.get(c)!), repeats: sizes.repeats })),
      ...('unavailable' in ceiling ? [] : [{ name: BROKER, run: () => ceiling.run(), repeats: sizes.repeats }]),
    ];
    const runs = await alternate<LoadResult>(contenders, sizes.repeats, ctx.log);
    const m = (name: string): LoadResult => medianResult(runs.get(name)!, median);
    const ours = m(INGRESS(defaultClient));
    const best = PRODUCER_CLIENTS.map((c) => ({ client: c, r: m(PRODUCER(c)) })).reduce((a, b) => (b.r.recordsPerSec > a.r.recordsPerSec ? b : a));
    const broker = runs.has(BROKER) ? m(BROKER) : undefined;
    const share = ratio(ours.recordsPerSec, best.r.recordsPerSec);
    const met = share >= TARGET_SHARE && ours.failed === 0;
    const bodyMb = Buffer.byteLength(pool[0]!.body) / 2 ** 20;
    const chosen = clientChoiceRow(`${fmt(sizes.onceBatchRecords)}-record batches, records/s`, runs.get(INGRESS('platformatic'))!.map((r) => r.recordsPerSec), runs.get(INGRESS('kafkajs'))!.map((r) => r.recordsPerSec));
    const profile = !met && profilingEnabled()
      ? await profileChild(ctx, 'ingress-1nce', (nodeArgs) => startIngressChild(ctx, 'ingress-1nce-prof', nodeArgs, { KAFKA_PRODUCER_CLIENT: defaultClient }), (t) =>
        batchHttpLoad({ url: `${t.url}${ONCE_PATH}`, clients: sizes.onceClients, seconds, headers: { authorization: basicAuthHeader() }, body: nextHttp }),
        // Every batch's records are encoded there, on the main thread: the window is the load, without
        // ingress's start-up. (Not the route's handler: an arrow function, it has no name in the profile.)
        { functionName: 'encodeBatch', urlEndsWith: 'services/ingress/sources/once.ts' },
        { measured: ours.recordsPerSec, needed: TARGET_SHARE * best.r.recordsPerSec, unit: 'records/s' },
        [{ name: 'batch reader thread (ONCE_READER_THREADS)', window: { functionName: 'readOnceBatch', urlEndsWith: 'services/ingress/domain/once-batch.ts' } }])
      : [];
    const names = [...PRODUCER_CLIENTS.map(INGRESS), ...PRODUCER_CLIENTS.map(PRODUCER), ...(broker ? [BROKER] : [])];
    return {
      id: ID,
      title: TITLE,
      status: 'ran',
      notes: [
        `${sizes.onceClients} clients each POST one batch of ${fmt(sizes.onceBatchRecords)} usage records (${fmt(bodyMb, 1)} MB of JSON, shaped like the 1NCE sample) after the other, for ${seconds} s per run; ` +
          `a pool of ${pool.length} distinct batches is cycled. Ingress runs as two child processes, KAFKA_PRODUCER_CLIENT=platformatic and =kafkajs; its default is ${defaultClient}. ` +
          `Each bare producer sends the same records as encoded envelopes (${fmt(recordBytes)} bytes each), ${pool[0]!.chunks.length} sends of ≤ 900 KiB per batch in sequence (as ingress groups them), acks=-1, idempotent, ${sizes.onceClients} concurrent senders. ` +
          `The target is judged against the better of the two bare producers in this run (${PRODUCER(best.client)}).`,
        'unavailable' in ceiling
          ? `Broker ceiling not measured: ${ceiling.unavailable}.`
          : `Broker ceiling: ${ceiling.describe}, ${fmt(ceiling.records)} records of ${fmt(recordBytes)} bytes (the median usage envelope) per run on a 6-partition topic, sized after an unmeasured warm-up run to last about ${ceiling.seconds} s; no keys (sticky partitioner), a fresh JVM per run. ` +
            CEILING_CAVEAT +
            (ceiling.errors.length > 0 ? ` ${ceiling.errors.length} run(s) failed: ${ceiling.errors[0]}` : ''),
        `Rounds: ingress with each client runs ${sizes.clientRepeats} times, the bare producers and the broker ceiling ${sizes.repeats} times spread over the same rounds, alternated with rotating order; medians quoted, min–max beside them. These sizes keep the full run under about 35 minutes on 2 cores.`,
        CLIENT_METHOD_NOTE,
      ],
      tables: [{
        headers: ['contender', 'runs', 'records/s', 'min–max', 'batches/s', 'batch p50 ms', 'batch p99 ms', 'batches ok', 'failed', ...PRODUCER_CLIENTS.map((c) => `of ${PRODUCER(c)}`), 'of broker ceiling'],
        rows: names.map((name) => {
          const x = m(name);
          const spread = range(runs.get(name)!.map((r) => r.recordsPerSec));
          const isBroker = name === BROKER;
          return [
            name === INGRESS(defaultClient) ? `${name}, default` : name, runs.get(name)!.length, fmt(x.recordsPerSec), `${fmt(spread.min)}–${fmt(spread.max)}`,
            isBroker ? '–' : fmt(x.opsPerSec, 2), isBroker ? `${fmt(x.p50Ms)} (record)` : fmt(x.p50Ms), isBroker ? `${fmt(x.p99Ms)} (record)` : fmt(x.p99Ms), isBroker ? '–' : x.ok, x.failed,
            ...PRODUCER_CLIENTS.map((c) => pct(ratio(x.recordsPerSec, m(PRODUCER(c)).recordsPerSec))), pct(ratio(x.recordsPerSec, broker?.recordsPerSec ?? Number.NaN)),
          ];
        }),
      }, { caption: `Ingress's Kafka client, platformatic against kafkajs (default now: ${defaultClient}): ${chosen.verdict}`, headers: CLIENT_TABLE_HEADERS, rows: [chosen.row] }, ...profile],
      targets: [{
        name: TARGETS[0]!,
        status: met ? 'met' : 'missed',
        detail: `${INGRESS(defaultClient)}: ${fmt(ours.recordsPerSec)} records/s = ${pct(share)} of the ${PRODUCER(best.client)}'s ${fmt(best.r.recordsPerSec)}, ${ours.failed} failed batches` +
          (broker ? `; ${pct(ratio(ours.recordsPerSec, broker.recordsPerSec))} of the broker ceiling` : ''),
      }],
    };
  } catch (err) {
    return notRun(ID, TITLE, `harness could not run it: ${err instanceof Error ? err.message : String(err)}`, TARGETS);
  } finally {
    for (const t of started) await t.child.stop();
  }
}
