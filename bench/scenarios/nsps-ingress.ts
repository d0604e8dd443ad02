// Scenario 1: single NSPS events through ingress (its default client, @platformatic/kafka, and with
// KAFKA_PRODUCER_CLIENT=kafkajs), against the bare fastify route (HTTP ceiling) and the bare kafkajs
// and @platformatic/kafka producers sending the same envelopes with acks=-1 (Kafka ceilings).
import type { Message } from 'kafkajs';
import { alternate } from '../lib/alternate.js';
import type { BenchClients } from '../lib/shared.js';
import type { BenchContext } from '../lib/context.js';
import { NSPS_TOKEN, ingressMissing, startBareFastify, startIngressChild, type HttpTarget } from '../lib/ingress.js';
import { createTopic, encodeAll } from '../lib/kafka.js';
import { autocannonLoad, medianResult, producerLoad, type ChunkSender, type LoadResult } from '../lib/load.js';
import { fmt, notRun, pct, type ScenarioResult } from '../lib/report.js';
import { median, ratio } from '../lib/stats.js';
import { profileChild, profilingEnabled } from '../lib/profile.js';
import { imsiOf, nspsEnvelope, nspsEventBody } from '../lib/workload.js';

const ID = '1';
const TITLE = 'NSPS single events through ingress';
const TARGETS = ['NSPS ingress ≥ 50 % of bare fastify requests/s, p99 < 50 ms (best connection count)'];

export async function nspsIngressScenario(ctx: BenchContext, clients: BenchClients): Promise<ScenarioResult> {
  const missing = ingressMissing();
  if (missing) return notRun(ID, TITLE, missing, TARGETS);
  const { sizes } = ctx;
  let ingress: HttpTarget | undefined;
  let ingressKafkajs: HttpTarget | undefined;
  let bare: HttpTarget | undefined;
  try {
    ingress = await startIngressChild(ctx, 'ingress-nsps');
    ingressKafkajs = await startIngressChild(ctx, 'ingress-nsps-kafkajs', [], { KAFKA_PRODUCER_CLIENT: 'kafkajs' });
    bare = await startBareFastify(ctx);
    const baselineTopic = `${ctx.topicPrefix}baseline.nsps`;
    await createTopic(clients.kafka, baselineTopic, 6);
    const kafkajsSend = await clients.kafkajsSend();
    const platformaticSend = await clients.platformaticSend();
    // A pool of distinct, pre-encoded envelopes: the Kafka ceiling measures Kafka, not our encoding.
    const pool: Message[] = await encodeAll(clients.codec, baselineTopic, Array.from({ length: 2000 }, (_, i) => {
      const id = `bench-${ctx.runId}-pool-${i}`;
      return { key: imsiOf(i % 1000), envelope: nspsEnvelope(nspsEventBody(id, i % 1000), id, id) };
    }));
    let seq = 0;
    const nextBody = (): string => {
      const n = seq++;
      return nspsEventBody(`bench-${ctx.runId}-${n}`, n % 1000);
    };
    let poolIndex = 0;
    const http = (target: HttpTarget, connections: number, headers: Record<string, string>) => () =>
      autocannonLoad({ url: `${target.url}/process-event`, connections, seconds: sizes.httpSeconds, headers, body: nextBody });
    const producer = (send: ChunkSender, connections: number) => () =>
      producerLoad({ send, topic: baselineTopic, workers: connections, seconds: sizes.httpSeconds, unit: () => ({ chunks: [[pool[poolIndex++ % pool.length]!]], records: 1 }) });
    const auth = { authorization: `Bearer ${NSPS_TOKEN}` };
    const contenders = (connections: number) => [
      { name: 'ingress', run: http(ingress!, connections, auth) },
      { name: 'ingress, kafkajs client', run: http(ingressKafkajs!, connections, auth) },
      { name: 'bare fastify', run: http(bare!, connections, {}) },
      { name: 'bare kafkajs producer', run: producer(kafkajsSend, connections) },
      { name: 'bare platformatic producer', run: producer(platformaticSend, connections) },
    ];
    if (!ctx.smoke) {
      ctx.log('  warm-up (not measured)');
      for (const c of contenders(10)) await c.run();
    }
    const rows: (string | number)[][] = [];
    const ingressByConn: { connections: number; ingress: LoadResult; bare: LoadResult }[] = [];
    for (const connections of sizes.nspsConnections) {
      ctx.log(`  ${connections} connection(s)`);
      const runs = await alternate(contenders(connections), sizes.repeats, ctx.log);
      const m = (name: string): LoadResult => medianResult(runs.get(name)!, median);
      const r = { connections, ingress: m('ingress'), bare: m('bare fastify') };
      const viaKafkajs = m('ingress, kafkajs client');
      const kafkajsProducer = m('bare kafkajs producer');
      const platformaticProducer = m('bare platformatic producer');
      ingressByConn.push(r);
      rows.push([
        connections,
        fmt(r.ingress.opsPerSec), fmt(r.ingress.p50Ms, 1), fmt(r.ingress.p99Ms, 1),
        fmt(viaKafkajs.opsPerSec), fmt(viaKafkajs.p99Ms, 1),
        fmt(r.bare.opsPerSec), fmt(r.bare.p99Ms, 1),
        fmt(kafkajsProducer.opsPerSec), fmt(kafkajsProducer.p99Ms, 1),
        fmt(platformaticProducer.opsPerSec), fmt(platformaticProducer.p99Ms, 1),
        pct(ratio(r.ingress.opsPerSec, r.bare.opsPerSec)), pct(ratio(viaKafkajs.opsPerSec, r.bare.opsPerSec)),
        [r.ingress, viaKafkajs, r.bare, kafkajsProducer, platformaticProducer].map((x) => x.failed).join('/'),
      ]);
    }
    const best = ingressByConn.reduce((a, b) => (b.ingress.opsPerSec > a.ingress.opsPerSec ? b : a));
    const vsHttp = ratio(best.ingress.opsPerSec, best.bare.opsPerSec);
    const met = vsHttp >= 0.5 && best.ingress.p99Ms < 50 && best.ingress.failed === 0;
    const tables: ScenarioResult['tables'] = [{
      headers: ['connections', 'ingress req/s', 'ingress p50 ms', 'ingress p99 ms', 'ingress (kafkajs) req/s', 'ingress (kafkajs) p99 ms', 'fastify req/s', 'fastify p99 ms', 'kafkajs producer events/s', 'kafkajs producer p99 ms', 'platformatic producer events/s', 'platformatic producer p99 ms', 'ingress / fastify', 'ingress (kafkajs) / fastify', 'failed (ingress/ingress kafkajs/fastify/kafkajs/platformatic)'],
      rows,
    }];
    if (!met && profilingEnabled()) {
      ctx.log(`  profiling ingress at ${best.connections} connections (not measured)`);
      const prof = await profileChild(ctx, 'ingress-nsps', (nodeArgs) => startIngressChild(ctx, 'ingress-nsps-prof', nodeArgs), (t) =>
        autocannonLoad({ url: `${t.url}/process-event`, connections: best.connections, seconds: sizes.httpSeconds, headers: { authorization: `Bearer ${NSPS_TOKEN}` }, body: nextBody }));
      if (prof) tables.push(prof);
    }
    return {
      id: ID,
      title: TITLE,
      status: 'ran',
      notes: [
        `autocannon POSTs the sample SIM/Updated event (${fmt(nextBody().length)} bytes) with a unique \`event_id\` per request, spread over 1,000 subscribers (IMSIs). ` +
          `Ingress runs as a child process with its defaults (LOG_LEVEL=${process.env.BENCH_LOG_LEVEL ?? 'info'}, @platformatic/kafka idempotent producer, acks=-1, 6 partitions), and a second one with KAFKA_PRODUCER_CLIENT=kafkajs; the bare fastify route parses the JSON and answers 202 with no auth, no Kafka and no logging; ` +
          `the bare producers are kafkajs and @platformatic/kafka with ingress's producer settings, one acks=-1 send per event, as many concurrent senders as there are connections, from pre-encoded envelopes (no cross-request batching: that is ingress's own work). ` +
          `Each cell is the median of ${sizes.repeats} runs of ${sizes.httpSeconds} s, the five contenders alternated (rotated order each round).`,
        'The single local broker has one replica per partition, so "all in-sync replicas" is that one replica: acks=-1 costs the same as acks=1 here; on a 3-broker cluster the acknowledgement waits for the followers.',
      ],
      tables,
      targets: [{
        name: TARGETS[0]!,
        status: met ? 'met' : 'missed',
        detail: `best at ${best.connections} connections: ${fmt(best.ingress.opsPerSec)} req/s = ${pct(vsHttp)} of fastify's ${fmt(best.bare.opsPerSec)}, p99 ${fmt(best.ingress.p99Ms, 1)} ms, ${best.ingress.failed} failed`,
      }],
    };
  } catch (err) {
    return notRun(ID, TITLE, `harness could not run it: ${err instanceof Error ? err.message : String(err)}`, TARGETS);
  } finally {
    await ingress?.child.stop();
    await ingressKafkajs?.child.stop();
    await bare?.child.stop();
  }
}
