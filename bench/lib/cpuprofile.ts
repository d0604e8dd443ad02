// Reads a V8 .cpuprofile (node --cpu-prof) and splits self time by who owns the code: our
// services, each library under node_modules, Node's internals, and idle/GC. That answers
// "is it ours or the library's" for a missed target.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Where a run's work is: from the first sample inside this function (by name and file) to the last one,
 * or, with `endsInside`, to the last sample inside any code under that path. An async function's stack
 * holds its own frame only while its synchronous parts run: a rebuild whose work happens in callbacks and
 * after awaits is on the stack for a few samples at its start, so its window has to end on its module's code.
 */
export interface ProfileWindow {
  functionName: string;
  urlEndsWith: string;
  endsInside?: string;
}

/**
 * Which samples to count: all of them, or those from the first sample whose stack holds the window's
 * function to the last one (so start-up, group join and shutdown of a short run are left out).
 */
function samplesInWindow(profile: CpuProfile, byId: Map<number, ProfileNode>, parent: Map<number, number>, window: ProfileWindow | undefined): [number, number] {
  if (!window) return [0, profile.samples.length];
  const stackHolds = (matches: (node: ProfileNode) => boolean): ((id: number) => boolean) => {
    const known = new Map<number, boolean>();
    const holds = (id: number): boolean => {
      const cached = known.get(id);
      if (cached !== undefined) return cached;
      const node = byId.get(id);
      const up = parent.get(id);
      const result = (!!node && matches(node)) || (up !== undefined && holds(up));
      known.set(id, result);
      return result;
    };
    return holds;
  };
  const isInside = stackHolds((n) => n.callFrame.functionName === window.functionName && n.callFrame.url.endsWith(window.urlEndsWith));
  const endsInside = window.endsInside;
  const isBeforeEnd = endsInside ? stackHolds((n) => n.callFrame.url.includes(endsInside)) : isInside;
  let first = -1;
  let last = -1;
  profile.samples.forEach((id, i) => {
    if (first < 0 && isInside(id)) first = i;
    if (first >= 0 && isBeforeEnd(id)) last = i;
  });
  return first < 0 ? [0, 0] : [first, last + 1];
}

export interface OwnerShare {
  owner: string;
  ms: number;
  share: number;
  topFunctions: string;
}

/** The owner of a frame: "ours: services/…" , "lib: <package>", "node", or a V8 pseudo-frame. */
export function ownerOf(url: string, functionName: string): string {
  if (!url) {
    if (functionName === '(idle)') return '(idle)';
    if (functionName === '(garbage collector)') return '(GC)';
    if (functionName === '(program)') return '(program: V8/native)';
    return '(native)';
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `lib: ${nm[1]}`;
  const ours = /\/(services\/[^/]+|bench|test)\//.exec(url);
  if (ours) return `ours: ${ours[1]}`;
  if (url.startsWith('node:')) return 'node (core)';
  return 'other';
}

export interface ProfileSummary {
  /** Self time by owner, largest first (the `top` largest). */
  owners: OwnerShare[];
  /** Share of busy time in our own functions (self time). */
  oursSelf: number;
  /**
   * Share of busy time in our functions together with the Node core and native work they call directly
   * (a Buffer copy, a JSON.parse, a write our code makes): each such sample goes to the nearest caller
   * that is ours or a library's. GC and V8's own time stay unattributed.
   */
  oursWithCalls: number;
}

const isAttributable = (owner: string): boolean => owner === 'node (core)' || owner === '(native)' || owner === 'other';
const isOwnCode = (owner: string): boolean => owner.startsWith('ours: services/');

export function summarizeProfile(file: string, top = 12, window?: ProfileWindow): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  const [from, to] = samplesInWindow(profile, byId, parent, window);
  for (let i = from; i < to; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const nodeOwner = (id: number): string => {
    const node = byId.get(id)!;
    return ownerOf(node.callFrame.url, node.callFrame.functionName);
  };
  /** The owner a Node core or native frame works for: its nearest caller that is ours or a library's. */
  const callerOwner = (id: number): string | undefined => {
    for (let up = parent.get(id); up !== undefined; up = parent.get(up)) {
      const owner = nodeOwner(up);
      if (owner.startsWith('ours: ') || owner.startsWith('lib: ')) return owner;
    }
    return undefined;
  };
  const owners = new Map<string, { us: number; fns: Map<string, number> }>();
  let total = 0;
  let oursSelfUs = 0;
  let oursWithCallsUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const owner = ownerOf(node.callFrame.url, node.callFrame.functionName);
    if (owner === '(idle)') continue;
    total += us;
    if (isOwnCode(owner)) {
      oursSelfUs += us;
      oursWithCallsUs += us;
    } else if (isAttributable(owner) && isOwnCode(callerOwner(id) ?? '')) oursWithCallsUs += us;
    const o = owners.get(owner) ?? { us: 0, fns: new Map() };
    o.us += us;
    const fn = `${node.callFrame.functionName || '(anonymous)'}`;
    o.fns.set(fn, (o.fns.get(fn) ?? 0) + us);
    owners.set(owner, o);
  }
  return {
    owners: [...owners]
      .map(([owner, o]) => ({
        owner,
        ms: o.us / 1000,
        share: total > 0 ? o.us / total : 0,
        topFunctions: [...o.fns].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([f, us]) => `${f} ${((us / total) * 100).toFixed(1)}%`).join(', '),
      }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, top),
    oursSelf: total > 0 ? oursSelfUs / total : 0,
    oursWithCalls: total > 0 ? oursWithCallsUs / total : 0,
  };
}

/** The main thread's profile in `dir` (the largest file: tsx's loader thread writes a small one too). */
export function latestProfile(dir: string): string | undefined {
  return profileFiles(dir)[0];
}

/** Every profile in `dir`, largest first: node --cpu-prof writes one per thread (the main thread and each worker). */
export function profileFiles(dir: string): string[] {
  try {
    const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
    return files.sort((a, b) => statSync(b).size - statSync(a).size);
  } catch {
    return [];
  }
}

/** Whether the thread this profile sampled ran the window's function at all. */
export function profileHasWindow(file: string, window: ProfileWindow): boolean {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  return profile.nodes.some((n) => n.callFrame.functionName === window.functionName && n.callFrame.url.endsWith(window.urlEndsWith));
}
