// The fixed closing section of the report: how to run the harness and what each setting does.
export const HOW_TO_RUN = `## Running the harness

\`npm run bench\` (full mode, writes this file) or \`BENCH_SMOKE=true npm run bench\` (CI: tiny sizes, every scenario path, about a minute, report to a temp file). Exit code 0 whenever the harness worked, whether targets were met or missed; 1 only when the harness itself broke.

| variable | default | meaning |
|---|---|---|
| \`BENCH_SMOKE\` | \`false\` | \`true\`: tiny sizes, one repeat, report to \`$TMPDIR/switchboard-bench-<run>.md\` |
| \`BENCH_REPORT\` | \`docs/benchmarks.md\` (full), temp file (smoke) | where the report is written |
| \`BENCH_ONLY\` | all | comma-separated scenario numbers, e.g. \`1,3\` (scenario 5 shows replay memory only when 3 ran) |
| \`BENCH_REPLAY_PARTS\` | all | scenario 3's parts, comma-separated: \`runner\`, \`provisioning\`, \`scc\` (for working on one; the others are reported as not run) |
| \`KAFKA_BROKERS\`, \`SCHEMA_REGISTRY_URL\` | unset | when both are set, that broker and registry are used and nothing is started |
| \`BENCH_STACK_DIR\` | \`.local/bench-stack\` | state of the private stack started when the two above are unset; stopped at the end unless it was already running |
| \`BENCH_KAFKA_PORT\`, \`BENCH_KAFKA_CONTROLLER_PORT\`, \`BENCH_REGISTRY_PORT\` | 30092, 30093, 30081 | ports of the private stack |
| \`BENCH_DATABASE_URL\` | \`DATABASE_URL\`, else \`postgres://postgres@127.0.0.1:5432/test\` | PostgreSQL for the SCC rebuild and provisioning (one fresh schema per run) |
| \`BENCH_LOG_LEVEL\` | \`info\` | LOG_LEVEL of the service children (each writes its log straight into its own file in \`.local/bench-runs/<run>/\`) |
| \`BENCH_CPU_PROF\` | \`true\` | profile (\`node --cpu-prof\`, separate unmeasured run) where a target is missed |
| \`BENCH_RENDER_FROM\` | unset | \`results.json\` of a finished run (in \`.local/bench-runs/<run>/\`), or several comma-separated (later ones replace the same scenarios): writes the report again without running anything, e.g. after editing \`bench/analysis.md\` |
| \`BENCH_GROWTH_BUDGET_S\` | 300 | a growth replay size is skipped when it is predicted to take longer than this |
| \`BENCH_HTTP_SECONDS\`, \`BENCH_REPEATS\`, \`BENCH_CLIENT_REPEATS\` | 8, 3, 6 (smoke 1, 1, 3) | seconds per HTTP run (1NCE runs twice as long), repeats of the baselines, runs of each ingress client per load: lower them only to check the harness |
| \`BENCH_PRODUCER_PERF\` | \`true\` | \`false\`: skip the broker ceiling (Kafka's ProducerPerformance); it is reported as not measured |
| \`BENCH_PRODUCER_PERF_PROPS\` | unset | extra producer settings for ProducerPerformance, e.g. \`batch.size=1048576 linger.ms=5\` (the default run uses the Java client's defaults besides acks=all and idempotence) |

The full run is sized to take about 30 minutes on a 2-core machine (at most ~35): scenario 1 about 11 minutes, 2 about 6, 3 about 5 (more while the provisioning fresh-state pass is slow), 4 about 1, 5 under 1, 6 about 4.

Layout: \`bench/run.ts\` orchestrates and writes the report; \`bench/scenarios/*.ts\` one file per scenario; \`bench/lib/\` holds the stats (median, percentiles), the alternate-and-repeat runner, the RSS sampler, the load generators, the CPU-profile summariser and the report writer; \`bench/workers/\` the processes the harness starts (bare fastify route, bare HTTP-to-Kafka pipeline, replay consumers); \`bench/lib/producer-perf.ts\` runs Kafka's ProducerPerformance (org.apache.kafka:kafka-tools, fetched once from Maven Central into \`.local/cache\`). Services are started as child processes (\`node --import tsx services/<name>/main.ts\`) with their own defaults and a topic prefix of their own (\`bench-<run>.\`); every topic of the run is deleted at the end.

Decisions where the brief was silent:
- **Medians of alternated runs**: each round rotates the contenders' order, so neither always runs first (cold) or right after the other (warm page cache).
- **Ratios over absolute figures**: targets are judged on ratios from one run, because a shared 2-core machine moves absolute figures by ±30 % between runs.
- **Three ceilings for ingress, in the same run**: the bare fastify route (HTTP alone), the bare pipeline (each body produced as is through ingress's own batcher and record writer, per client: a hand-written HTTP-to-Kafka bridge) and the broker's own ceiling (Kafka's ProducerPerformance, acks=all, idempotence on, records of the envelope's size on 6 partitions). The NSPS target is judged against the bare pipeline with ingress's default client; 1NCE against the better bare producer.
- **The bench broker runs with C2** (full tiered compilation; \`npm start\` and the tests keep \`-XX:TieredStopAtLevel=1\`): C1 alone starts the JVM seconds sooner, which is what development and tests want, but its code is slower in the steady state, and a ceiling measured on it would understate the broker. The report's Kafka line says which JIT the broker ran with (a reused stack may have been started without it).
- **Ingress's Kafka client is chosen by numbers**: both clients run in every round (6 per load in full mode) and are compared by the median of their per-round ratios with a 95 % bootstrap interval; "faster: X" only when the interval excludes 1, else "not separated".
- **The bare producer is the same kafkajs producer as ingress's** (services/shared/kafka.ts \`createProducer\`: idempotent, acks=-1), sending pre-encoded envelopes, so "Kafka ceiling" means Kafka and kafkajs, not our encoding.
- **Services that do real work per event replay fewer events** (SCC rebuild, provisioning): their rate does not depend on the topic's length (scenario 6), and 100,000 events at their rates would take the whole run.
- **A child's log goes into a file, not through the harness**: the harness also runs the load generators, and copying a service's log lines (one per request at \`info\`) took about a tenth of a core from them and from the cores the service shares; a pipe the harness is too busy to drain also stalls the service's synchronous log writes. A file costs the service only its own write.
- **Whether our code could close a missed target's gap**: under each profile, our code's share of the profiled thread's busy time is given twice (the main thread; a worker thread, such as ingress's 1NCE batch reader, gets a table of its own without a bound), alone and with the Node core and native work it calls directly (a sample in Node or native code counts for its nearest caller that is ours or a library's; GC and V8's own time for nobody). From the second share the report computes the most the contender could reach were all of our code free: measured ÷ (1 − share). That is an upper bound (it assumes the profiled thread's CPU alone sets the rate; where the broker, PostgreSQL or the load generator share the cores, the rate rises less). When even that bound is below the target, the rest of the gap is in the libraries, Node, GC and the processes ours waits for; when it is above, our code is where the gap is.
- **Memory targets** are judged on the peak of VmRSS sampled every 25–50 ms and VmHWM, whichever is higher.
- **"Replay memory does not grow"** is met when the peak RSS of the largest replay is within +25 % or +50 MB of the next smaller one (10× fewer events). Not from the smallest: a 10,000-event replay ends in a fraction of a second, before the fetch buffers and the heap reach their steady size, so it would count warm-up as growth.
`;
