// A separate, unmeasured run of a child under `node --cpu-prof`, for missed targets: where the
// CPU time goes, split by owner (ours / library / Node). Profiling slows the process, so its
// numbers never enter the comparison tables.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './context.js';
import { latestProfile, profileFiles, profileHasWindow, summarizeProfile, type ProfileSummary, type ProfileWindow } from './cpuprofile.js';
import type { HttpTarget } from './ingress.js';
import { fmt, type Table } from './report.js';

/** Profiling runs for missed targets; in smoke mode only the ingress path (profileChild), to stay short. */
export function profilingEnabled(ctx?: { smoke: boolean }): boolean {
  return process.env.BENCH_CPU_PROF !== 'false' && !(ctx?.smoke ?? false);
}

/**
 * What the profiled contender measured in the timed runs and what its target asks of it (rates: higher is
 * better), so the profile can say whether our code alone could close the gap.
 */
export interface TargetGap {
  measured: number;
  needed: number;
  /** The rate's unit, e.g. "req/s". */
  unit: string;
}

export async function profileChild(
  ctx: BenchContext,
  name: string,
  start: (nodeArgs: string[]) => Promise<HttpTarget>,
  load: (target: HttpTarget) => Promise<unknown>,
  window?: ProfileWindow,
  gap?: TargetGap,
  /** Worker threads of the process to show as well, each found by the function its load goes through. */
  workerThreads: Array<{ name: string; window: ProfileWindow }> = [],
): Promise<Table[]> {
  const dir = join(ctx.workDir, `cpuprof-${name}`);
  mkdirSync(dir, { recursive: true });
  const target = await start(['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  try {
    await load(target);
  } finally {
    await target.child.stop(20_000);
  }
  // One profile per thread: the main thread's is the one that ran the window's function.
  const files = profileFiles(dir);
  const main = window ? files.find((f) => profileHasWindow(f, window)) : files[0];
  if (!main) {
    // A window that names a function no thread ran (renamed, inlined away) must not drop the profile silently.
    const largest = files[0];
    ctx.log(`  profile of ${name}: no thread ran ${window?.functionName ?? 'the window'}(); showing the largest profile without a window`);
    return largest ? [profileTable(`CPU profile of ${name} under the same load (no thread ran ${window?.functionName}(), the window's function: start-up included)`, largest, undefined, '', gap)] : [];
  }
  const tables = [profileTable(`CPU profile of ${name}'s main thread under the same load`, main, window, 'start-up and stop left out', gap)];
  for (const thread of workerThreads) {
    const file = files.find((f) => f !== main && profileHasWindow(f, thread.window));
    if (file) tables.push(profileTable(`CPU profile of ${name}'s ${thread.name} in the same run`, file, thread.window, 'start-up and stop left out', undefined));
  }
  return tables;
}

/**
 * Sampling interval of profileRun, in microseconds (Node's default is 1,000). A window's function is on the
 * stack only while its synchronous part runs: in an operator replay that part of a batch is well under a
 * millisecond, and at the default interval so few of them were sampled that a window once covered 9 ms of a
 * 0.5 s replay.
 */
const RUN_SAMPLING_INTERVAL_US = 100;

/** Profiles one run of a process that exits by itself (a replay worker or service run). */
export async function profileRun(ctx: BenchContext, name: string, run: (nodeArgs: string[]) => Promise<unknown>, window?: ProfileWindow, gap?: TargetGap): Promise<Table | undefined> {
  const dir = join(ctx.workDir, `cpuprof-${name}`);
  mkdirSync(dir, { recursive: true });
  try {
    await run(['--cpu-prof', `--cpu-prof-dir=${dir}`, `--cpu-prof-interval=${RUN_SAMPLING_INTERVAL_US}`]);
  } catch (err) {
    ctx.log(`  profiling ${name} failed: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  const file = latestProfile(dir);
  return file ? profileTable(`CPU profile of ${name}`, file, window, `start-up, group join and stop left out; a sample every ${RUN_SAMPLING_INTERVAL_US} µs`, gap) : undefined;
}

/** A window keeps a short run's profile to its work: without one, module loading and start-up weigh in. */
function profileTable(title: string, file: string, window: ProfileWindow | undefined, leftOut: string, gap: TargetGap | undefined): Table {
  const end = window?.endsInside ? `to the last inside ${window.endsInside}` : 'to the last';
  const span = window ? `only from the first sample inside ${window.functionName}() ${end} (${leftOut})` : 'start-up included';
  const summary = summarizeProfile(file, 12, window);
  return {
    caption: `${title} (node --cpu-prof, separate unmeasured run; self time by owner, idle excluded, ${span}; ${file.replace(/^.*\/\.local\//, '.local/')})`,
    headers: ['owner', 'self ms', 'share', 'top functions (share of all)'],
    rows: summary.owners.map((o) => [o.owner, fmt(o.ms), `${fmt(o.share * 100, 1)} %`, o.topFunctions]),
    note: oursNote(summary, gap),
  };
}

/**
 * Whether our code alone could close the gap. If this thread's CPU time set the rate and every sample
 * of ours (with the Node and native work it calls) cost nothing, the same work would take (1 − share) of
 * the time: the rate could rise at most to measured / (1 − share). Where other processes (the broker,
 * PostgreSQL, the load generator) share the cores or set the pace, it rises less, so this is an upper bound.
 */
export function oursBound(measured: number, oursShare: number): number {
  return oursShare >= 1 ? Number.POSITIVE_INFINITY : measured / (1 - oursShare);
}

function oursNote(summary: ProfileSummary, gap: TargetGap | undefined): string {
  const shares = `Our code (services/) is ${fmt(summary.oursSelf * 100, 1)} % of this thread's busy time, ${fmt(summary.oursWithCalls * 100, 1)} % with the Node core and native work it calls directly (its Buffer copies, JSON.parse, socket writes).`;
  if (!gap) return shares;
  const bound = oursBound(gap.measured, summary.oursWithCalls);
  const verdict = bound >= gap.needed
    ? 'cutting our code could close the gap, so this profile does not put the gap outside our code'
    : 'even with none of our code the target is out of reach: the rest of the gap is in the libraries, Node, GC and the processes this one waits for';
  return `${shares} Were all of it free, the measured ${fmt(gap.measured)} ${gap.unit} would rise at most to ${fmt(bound)} ${gap.unit} (an upper bound: it assumes this thread's CPU alone sets the rate); the target needs ${fmt(gap.needed)} ${gap.unit}: ${verdict}.`;
}
