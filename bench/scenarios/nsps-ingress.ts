// Scenario 1: single NSPS events through ingress, with each Kafka client (@platformatic/kafka and
// kafkajs), against three ceilings measured in the same run: the bare fastify route (HTTP alone),
// the bare pipeline (bench/workers/bare-pipeline.ts: the body produced with ingress's own batcher
// and record writer, each client; what a hand-written HTTP-to-Kafka bridge does) and the broker's
// own ceiling (Kafka's ProducerPerformance, records of the envelope's size, 6 partitions).
import { alternate, type Contender } from '../lib/alternate.js';
import { CEILING_CAVEAT, brokerCeiling } from '../lib/ceiling.js';
import { CLIENT_METHOD_NOTE, CLIENT_TABLE_HEADERS, clientChoiceRow } from '../lib/client-choice.js';
import type { BenchClients } from '../lib/shared.js';
import type { BenchContext } from '../lib/context.js';
import {
  NSPS_TOKEN, PRODUCER_CLIENTS, defaultIngressClient, ingressMissing, startBareFastify, startBarePipeline, startIngressChild,
  type HttpTarget, type ProducerClient,
} from '../lib/ingress.js';
import { createTopic, encodeAll } from '../lib/kafka.js';
import { autocannonLoad, medianResult, type LoadResult } from '../lib/load.js';
import { fmt, notRun, pct, type ScenarioResult, type Target } from '../lib/report.js';
import { median, range, ratio } from '../lib/stats.js';
import { profileChild, profilingEnabled } from '../lib/profile.js';
import { imsiOf, nspsEnvelope, nspsEventBody } from '../lib/workload.js';

const ID = '1';
const TITLE = 'NSPS single events through ingress';
const TARGET_CONNECTIONS = 50;
const TARGET_SHARE = 0.8;
const TARGET_P99_MS = 20;
const TARGETS = [`NSPS ingress ≥ ${TARGET_SHARE * 100} % of the bare pipeline's requests/s at ${TARGET_CONNECTIONS} connections (ingress's default client), p99 < ${TARGET_P99_MS} ms, LOG_LEVEL=info`];

const INGRESS = (c: ProducerClient): string => `ingress (${c})`;
const PIPELINE = (c: ProducerClient): string => `bare pipeline (${c})`;
const FASTIFY = 'bare fastify';
const BROKER = 'broker ceiling (ProducerPerformance)';

export async function nspsIngressScenario(ctx: BenchContext, clients: BenchClients): Promise<ScenarioResult> {
  const missing = ingressMissing();
  if (missing) return notRun(ID, TITLE, missing, TARGETS);
  const { sizes } = ctx;
  const logLevel = process.env.BENCH_LOG_LEVEL ?? 'info';
  const started: HttpTarget[] = [];
  // One after the other: the first ingress creates the topics and registers their schemas, which two starting at once race for.
  const start = async (t: Promise<HttpTarget>): Promise<HttpTarget> => {
    const target = await t;
    started.push(target);
    return target;
  };
  try {
    const defaultClient = await defaultIngressClient();
    const pipelineTopic = `${ctx.topicPrefix}baseline.nsps`;
    await createTopic(clients.kafka, pipelineTopic, 6);
    const ingress = new Map<ProducerClient, HttpTarget>();
    const pipeline = new Map<ProducerClient, HttpTarget>();
    for (const c of PRODUCER_CLIENTS) {
      ingress.set(c, await start(startIngressChild(ctx, `ingress-nsps-${c}`, [], { KAFKA_PRODUCER_CLIENT: c })));
      pipeline.set(c, await start(startBarePipeline(ctx, c, pipelineTopic)));
    }
    const bare = await start(startBareFastify(ctx));

    // The broker's ceiling writes records of the size ingress writes: the Avro envelope around the body.
    const sample = await encodeAll(clients.codec, `${ctx.topicPrefix}ceiling.nsps`, Array.from({ length: 20 }, (_, i) => {
      const id = `bench-${ctx.runId}-size-${i}`;
      return { key: imsiOf(i), envelope: nspsEnvelope(nspsEventBody(id, i), id, id) };
    }));
    const envelopeBytes = Math.round(median(sample.map((m) => (m.value as Buffer).length)));
    const ceiling = await brokerCeiling(ctx, clients, { name: 'nsps', recordSize: envelopeBytes, seconds: sizes.httpSeconds });

    let seq = 0;
    const nextBody = (): string => {
      const n = seq++;
      return nspsEventBody(`bench-${ctx.runId}-${n}`, n % 1000);
    };
    const bodyBytes = nextBody().length;
    const http = (target: HttpTarget, connections: number, headers: Record<string, string>) => () =>
      autocannonLoad({ url: `${target.url}/process-event`, connections, seconds: sizes.httpSeconds, headers, body: nextBody });
    const auth = { authorization: `Bearer ${NSPS_TOKEN}` };
    const largest = Math.max(...sizes.nspsConnections);
    const contenders = (connections: number): Contender<LoadResult>[] => [
      ...PRODUCER_CLIENTS.map((c) => ({ name: INGRESS(c), run: http(ingress.get(c)!, connections, auth), repeats: sizes.clientRepeats })),
      { name: FASTIFY, run: http(bare, connections, {}), repeats: sizes.repeats },
      ...PRODUCER_CLIENTS.map((c) => ({ name: PIPELINE(c), run: http(pipeline.get(c)!, connections, {}), repeats: sizes.repeats })),
      // Not a function of connections: measured once, beside the largest connection count.
      ...(connections === largest && !('unavailable' in ceiling) ? [{ name: BROKER, run: () => ceiling.run(), repeats: sizes.repeats }] : []),
    ];
    if (!ctx.smoke) {
      ctx.log('  warm-up (not measured)');
      for (const c of contenders(10)) if (c.name !== BROKER) await c.run(0);
    }

    const rows: (string | number)[][] = [];
    const clientRows: string[][] = [];
    const verdicts: string[] = [];
    let atTarget: { ingress: LoadResult; pipeline: LoadResult } | undefined;
    let brokerMedian: LoadResult | undefined;
    const byConnections: { connections: number; runs: Map<string, LoadResult[]> }[] = [];
    for (const connections of sizes.nspsConnections) {
      ctx.log(`  ${connections} connection(s)`);
      const runs = await alternate(contenders(connections), sizes.repeats, ctx.log);
      byConnections.push({ connections, runs });
      if (runs.has(BROKER)) brokerMedian = medianResult(runs.get(BROKER)!, median);
      const chosen = clientChoiceRow(`${connections} connection(s), req/s`, runs.get(INGRESS('platformatic'))!.map((r) => r.opsPerSec), runs.get(INGRESS('kafkajs'))!.map((r) => r.opsPerSec));
      clientRows.push(chosen.row);
      verdicts.push(`${connections} connection(s): ${chosen.verdict}`);
      if (connections === TARGET_CONNECTIONS) {
        atTarget = { ingress: medianResult(runs.get(INGRESS(defaultClient))!, median), pipeline: medianResult(runs.get(PIPELINE(defaultClient))!, median) };
      }
    }
    // Shares are computed once the broker's ceiling (measured with the largest connection count) is known.
    for (const { connections, runs } of byConnections) {
      const m = (name: string): LoadResult | undefined => (runs.has(name) ? medianResult(runs.get(name)!, median) : undefined);
      const fastify = m(FASTIFY)!;
      const pipelines = PRODUCER_CLIENTS.map((c) => m(PIPELINE(c))!);
      for (const name of [...PRODUCER_CLIENTS.map(INGRESS), FASTIFY, ...PRODUCER_CLIENTS.map(PIPELINE), BROKER]) {
        const r = m(name);
        if (!r) continue;
        const spread = range(runs.get(name)!.map((x) => x.opsPerSec));
        rows.push([
          connections, name === INGRESS(defaultClient) ? `${name}, default` : name, runs.get(name)!.length,
          fmt(r.opsPerSec), `${fmt(spread.min)}–${fmt(spread.max)}`, fmt(r.p50Ms, 1), fmt(r.p99Ms, 1), r.failed,
          pct(ratio(r.opsPerSec, fastify.opsPerSec)), ...pipelines.map((p) => pct(ratio(r.opsPerSec, p.opsPerSec))), pct(ratio(r.opsPerSec, brokerMedian?.opsPerSec ?? Number.NaN)),
        ]);
      }
    }

    const tables: ScenarioResult['tables'] = [{
      caption: 'Requests/s (records/s for the broker ceiling): median of the runs, their min–max, latency medians, and each median as a share of every ceiling of the same connection count (the broker ceiling: of its own median)',
      headers: ['connections', 'contender', 'runs', 'req/s', 'min–max', 'p50 ms', 'p99 ms', 'failed', 'of bare fastify', ...PRODUCER_CLIENTS.map((c) => `of ${PIPELINE(c)}`), 'of broker ceiling'],
      rows,
    }, { caption: `Ingress's Kafka client, platformatic against kafkajs (default now: ${defaultClient}). ${verdicts.join('; ')}`, headers: CLIENT_TABLE_HEADERS, rows: clientRows }];

    const targets: Target[] = [];
    if (!atTarget) {
      targets.push({ name: TARGETS[0]!, status: 'not evaluated', detail: `${TARGET_CONNECTIONS} connections were not measured in this mode` });
    } else if (logLevel !== 'info') {
      targets.push({ name: TARGETS[0]!, status: 'not evaluated', detail: `services ran at LOG_LEVEL=${logLevel} (BENCH_LOG_LEVEL), the target is stated for info` });
    } else {
      const share = ratio(atTarget.ingress.opsPerSec, atTarget.pipeline.opsPerSec);
      const met = share >= TARGET_SHARE && atTarget.ingress.p99Ms < TARGET_P99_MS && atTarget.ingress.failed === 0;
      targets.push({
        name: TARGETS[0]!,
        status: met ? 'met' : 'missed',
        detail: `${INGRESS(defaultClient)}: ${fmt(atTarget.ingress.opsPerSec)} req/s = ${pct(share)} of the ${PIPELINE(defaultClient)}'s ${fmt(atTarget.pipeline.opsPerSec)}, p99 ${fmt(atTarget.ingress.p99Ms, 1)} ms, ${atTarget.ingress.failed} failed`,
      });
      if (!met && profilingEnabled()) {
        ctx.log(`  profiling ingress at ${TARGET_CONNECTIONS} connections (not measured)`);
        const prof = await profileChild(ctx, 'ingress-nsps', (nodeArgs) => startIngressChild(ctx, 'ingress-nsps-prof', nodeArgs, { KAFKA_PRODUCER_CLIENT: defaultClient }), (t) =>
          autocannonLoad({ url: `${t.url}/process-event`, connections: TARGET_CONNECTIONS, seconds: sizes.httpSeconds, headers: auth, body: nextBody }),
          // Every request's body goes through it: the window is the load, without ingress's start-up.
          { functionName: 'parseJsonBytes', urlEndsWith: 'services/shared/contracts/json.ts' },
          { measured: atTarget.ingress.opsPerSec, needed: TARGET_SHARE * atTarget.pipeline.opsPerSec, unit: 'req/s' });
        tables.push(...prof);
      }
    }

    return {
      id: ID,
      title: TITLE,
      status: 'ran',
      notes: [
        `autocannon POSTs the sample SIM/Updated event (${fmt(bodyBytes)} bytes) with a unique \`event_id\` per request, spread over 1,000 subscribers (IMSIs). ` +
          `Ingress runs as two child processes with their defaults (LOG_LEVEL=${logLevel}, idempotent producer, acks=-1, 6 partitions), one with KAFKA_PRODUCER_CLIENT=platformatic and one with =kafkajs; its default is ${defaultClient}. Its log (a line per request at info) goes straight into a file, as every child's does: no pipe through the harness, which runs autocannon. ` +
          'The bare fastify route parses the JSON and answers 202 with no auth, no Kafka and no logging (the HTTP ceiling). ' +
          `The bare pipeline (bench/workers/bare-pipeline.ts, one per client) reads each body as bytes and produces it as is (${fmt(bodyBytes)}-byte records, keys spread over 1,000 values) through ingress's own ProduceBatcher and record writer with ingress's defaults, so the cross-request batching is the same code; it has no auth, validation, Avro or logging: what a hand-written HTTP-to-Kafka bridge does. ` +
          'The two unbatched bare producers of earlier reports (one acks=-1 send per event) are gone from this scenario: with cross-request batching they were a floor, not a ceiling.',
        'unavailable' in ceiling
          ? `Broker ceiling not measured: ${ceiling.unavailable}.`
          : `Broker ceiling: ${ceiling.describe}, ${fmt(ceiling.records)} records of ${fmt(envelopeBytes)} bytes (the median Avro envelope of this event) per run on a 6-partition topic, sized after an unmeasured warm-up run to last about ${ceiling.seconds} s; it runs beside the largest connection count, alternated with the others. ` +
            'It has no keys (the Java client\'s sticky partitioner fills one partition\'s batch at a time) and starts a fresh JVM per run (its client code warms up inside the timed run), so it is the order of what this broker takes, not an exact bound. ' +
            CEILING_CAVEAT +
            (ceiling.errors.length > 0 ? ` ${ceiling.errors.length} run(s) failed: ${ceiling.errors[0]}` : ''),
        `Rounds: ingress with each client runs ${sizes.clientRepeats} times per connection count, the ceilings ${sizes.repeats} times spread over the same rounds (every other round in full mode), all alternated with rotating order; ${sizes.httpSeconds} s per run. ` +
          'These sizes keep the full run under about 35 minutes on 2 cores. Medians are quoted; the min–max shows the spread.',
        CLIENT_METHOD_NOTE,
        'The single local broker has one replica per partition, so "all in-sync replicas" is that one replica: acks=-1 costs the same as acks=1 here; on a 3-broker cluster the acknowledgement waits for the followers.',
      ],
      tables,
      targets,
    };
  } catch (err) {
    return notRun(ID, TITLE, `harness could not run it: ${err instanceof Error ? err.message : String(err)}`, TARGETS);
  } finally {
    for (const t of started) await t.child.stop();
  }
}
