// `npm run bench`: starts a private Kafka + schema registry (or reuses KAFKA_BROKERS and
// SCHEMA_REGISTRY_URL), runs every scenario against Switchboard and its baseline in the same run,
// and writes the Markdown report. BENCH_SMOKE=true runs tiny sizes and writes to a temp file.
// Exit code: 0 when the harness worked, whatever the numbers; 1 when the harness itself broke.

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { portAnswers, repoRoot, startStack, stopStack } from '../infra/local/stack.js';
import { makeContext, type BenchContext } from './lib/context.js';
import { deleteTopics } from './lib/kafka.js';
import { dropRunSchemas } from './lib/cleanup.js';
import { BENCH_DATABASE_URL } from './lib/replay.js';
import { machineFacts } from './lib/machine.js';
import { HOW_TO_RUN } from './lib/howto.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { renderReport, type ReportInput, type ScenarioResult } from './lib/report.js';
import { benchClients, type BenchClients } from './lib/shared.js';
import { nspsIngressScenario } from './scenarios/nsps-ingress.js';
import { onceBatchesScenario } from './scenarios/once-batches.js';
import { replayScenario } from './scenarios/replay.js';
import { provisioningScenario } from './scenarios/provisioning.js';
import { memoryScenario } from './scenarios/memory.js';
import { growthScenario } from './scenarios/growth.js';

/** Hand-written findings (what is ours vs the library's, fixes), kept across regenerated reports. */
const ANALYSIS = join(repoRoot, 'bench', 'analysis.md');

type Scenario = { id: string; title: string; run: (ctx: BenchContext, clients: BenchClients) => Promise<ScenarioResult> };

const SCENARIOS: Scenario[] = [
  { id: '1', title: 'NSPS single events through ingress', run: nspsIngressScenario },
  { id: '2', title: '1NCE batches through ingress', run: onceBatchesScenario },
  { id: '3', title: 'Replay', run: replayScenario },
  { id: '4', title: 'Provisioning against the WTL emulator', run: provisioningScenario },
  { id: '5', title: 'Memory', run: memoryScenario },
  { id: '6', title: 'Growth', run: growthScenario },
];

function log(line: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

/** BENCH_RENDER_FROM=<results.json>: writes the report again from a finished run (e.g. after editing bench/analysis.md). */
function rerender(files: string): number {
  type Saved = Omit<ReportInput, 'appendix' | 'startedAt'> & { startedAt: string; out: string; runId?: string };
  const runs = files.split(',').map((f) => JSON.parse(readFileSync(f.trim(), 'utf8')) as Saved);
  // Several runs (e.g. one scenario re-run after a harness fix): later runs replace the same scenarios.
  const input = runs[0]!;
  for (const later of runs.slice(1)) {
    for (const s of later.scenarios) {
      const i = input.scenarios.findIndex((x) => x.id === s.id);
      s.notes.unshift(`(From a separate run of this scenario alone, started ${later.startedAt}.)`);
      if (i >= 0) input.scenarios[i] = s;
      else input.scenarios.push(s);
    }
    input.durationMs += later.durationMs;
  }
  input.scenarios.sort((a, b) => Number(a.id) - Number(b.id));
  const file = files;
  const out = process.env.BENCH_REPORT ?? input.out;
  writeFileSync(out, renderReport({ ...input, startedAt: new Date(input.startedAt), appendix: appendix() }));
  log(`report re-rendered from ${file} to ${out}`);
  return 0;
}

function appendix(): string[] {
  return [...(existsSync(ANALYSIS) ? [readFileSync(ANALYSIS, 'utf8').trim()] : []), HOW_TO_RUN];
}

/** The JIT the stack's broker runs with, read from its command line (a reused broker may have been started without C2). */
function brokerJit(stateDir: string): string {
  try {
    const pid = readFileSync(join(stateDir, 'kafka', 'kafka.pid'), 'utf8').trim();
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('TieredStopAtLevel=1') ? 'JIT C1 only (-XX:TieredStopAtLevel=1: started without the bench option)' : 'JIT full tiered (C2)';
  } catch {
    return 'JIT unknown';
  }
}

async function main(): Promise<number> {
  if (process.env.BENCH_RENDER_FROM) return rerender(process.env.BENCH_RENDER_FROM);
  const smoke = process.env.BENCH_SMOKE === 'true' || process.env.BENCH_SMOKE === '1';
  const only = (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const startedAt = new Date();
  const t0 = performance.now();

  let brokers = process.env.KAFKA_BROKERS;
  let registryUrl = process.env.SCHEMA_REGISTRY_URL;
  let stackDir: string | undefined;
  let kafkaNote = 'external broker from KAFKA_BROKERS';
  if (!brokers || !registryUrl) {
    const stack = {
      stateDir: process.env.BENCH_STACK_DIR ?? join(repoRoot, '.local', 'bench-stack'),
      kafkaPort: Number(process.env.BENCH_KAFKA_PORT ?? 30092),
      controllerPort: Number(process.env.BENCH_KAFKA_CONTROLLER_PORT ?? 30093),
      registryPort: Number(process.env.BENCH_REGISTRY_PORT ?? 30081),
      // Full tiered compilation (C2) for the measured broker: its steady-state throughput is a ceiling
      // here, and C2 is worth its slower start over a run of many minutes (infra/local/stack.ts).
      optimisingJit: true,
      log: (l: string) => log(l),
    };
    // Stop at the end only what this run started; a stack left running on purpose stays up.
    const alreadyUp = await portAnswers(stack.kafkaPort);
    log(`${alreadyUp ? 'reusing' : 'starting'} the private bench stack in ${stack.stateDir}`);
    ({ brokers, registryUrl } = await startStack(stack));
    if (!alreadyUp) stackDir = stack.stateDir;
    kafkaNote = `private single-node KRaft broker ${alreadyUp ? 'reused (already running)' : 'started by the harness'}, replication factor 1, ${brokerJit(stack.stateDir)}`;
  }
  const ctx = makeContext({ smoke, brokers, registryUrl, log });
  const clients = benchClients(ctx);
  const machine = machineFacts(kafkaNote);
  log(`run ${ctx.runId} (${smoke ? 'smoke' : 'full'} mode), topics ${ctx.topicPrefix}*, logs in ${ctx.workDir}`);

  const results: ScenarioResult[] = [];
  let harnessBroke = false;
  try {
    for (const s of SCENARIOS) {
      if (only.length > 0 && !only.includes(s.id)) continue;
      log(`scenario ${s.id}: ${s.title}`);
      const started = performance.now();
      try {
        const result = await s.run(ctx, clients);
        result.durationMs = performance.now() - started;
        results.push(result);
        log(`scenario ${s.id}: ${result.status}${result.status === 'not run' ? ` (${result.notes[0]})` : ''} in ${Math.round(result.durationMs / 1000)} s`);
      } catch (err) {
        harnessBroke = true;
        const reason = err instanceof Error ? err.stack ?? err.message : String(err);
        log(`scenario ${s.id} broke the harness: ${reason}`);
        results.push({ id: s.id, title: s.title, status: 'not run', notes: [`Not run: the harness failed: ${reason.split('\n')[0]}`], tables: [], targets: [] });
      }
    }
  } finally {
    await clients.close();
    await deleteTopics(clients.kafka, ctx.topicPrefix);
    const dropped = await dropRunSchemas(BENCH_DATABASE_URL, ctx.runId);
    if (dropped > 0) log(`dropped ${dropped} database schema(s) of this run`);
    if (stackDir) await stopStack(stackDir, (l) => log(l));
  }

  const durationMs = performance.now() - t0;
  const input: Omit<ReportInput, 'appendix'> = {
    mode: smoke ? 'smoke' : 'full',
    startedAt,
    durationMs,
    machine,
    settings: {
      mode: smoke ? 'smoke (tiny sizes: checks every path, numbers mean nothing)' : 'full',
      'repeats per pair (medians quoted)': String(ctx.sizes.repeats),
      'runs of each ingress client per load (client comparison)': String(ctx.sizes.clientRepeats),
      'seconds per HTTP run': String(ctx.sizes.httpSeconds),
      'service log level': process.env.BENCH_LOG_LEVEL ?? 'info',
      'scenarios selected': only.length > 0 ? only.join(', ') : 'all',
    },
    preface: [
      'Each scenario runs Switchboard and its baseline in the same run, alternating them, and quotes medians. ' +
        'Ratios (ours / baseline) are the point: absolute figures depend on the machine and on what else it is doing.',
      'Absolute figures vary from run to run with what else the machine is doing (the load average at the start is in the table below). Re-run with `npm run bench`.',
    ],
    scenarios: results,
  };
  const report = renderReport({ ...input, appendix: appendix() });
  const out = process.env.BENCH_REPORT ?? (smoke ? join(tmpdir(), `switchboard-bench-${ctx.runId}.md`) : join(repoRoot, 'docs', 'benchmarks.md'));
  writeFileSync(out, report);
  writeFileSync(join(ctx.workDir, 'results.json'), JSON.stringify({ ...input, out }, null, 1));
  log(`report written to ${out} (${Math.round(durationMs / 1000)} s in all)`);
  return harnessBroke ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
