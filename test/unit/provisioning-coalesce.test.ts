// Group commit for the provisioning store (services/provisioning/coalesce.ts): concurrent calls share one
// run, each caller gets its own answer, the same key never shares a run, and a failed shared run is split
// so that only the bad item fails (an outage fails them all, to be retried by their callers).
import { describe, expect, it } from 'vitest';
import { coalesce } from '../../services/provisioning/coalesce.js';

const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('coalesce', () => {
  it('runs the calls made in the same turn as one batch and answers each caller with its own result', async () => {
    const runs: number[][] = [];
    const twice = coalesce(async (items: number[]) => {
      runs.push(items);
      return items.map((i) => i * 2);
    });
    expect(await Promise.all([1, 2, 3].map(twice))).toEqual([2, 4, 6]);
    expect(runs).toEqual([[1, 2, 3]]);
  });

  it('gathers the calls made while a run is under way into the next run', async () => {
    const runs: string[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const echo = coalesce(async (items: string[]) => {
      runs.push(items);
      if (runs.length === 1) await gate;
      return items;
    });
    const first = echo('a');
    await new Promise((r) => setImmediate(r)); // the first run has started and waits
    const later = [echo('b'), echo('c')];
    release();
    expect(await Promise.all([first, ...later])).toEqual(['a', 'b', 'c']);
    expect(runs).toEqual([['a'], ['b', 'c']]);
  });

  it('never puts two items with the same key in one run, and keeps their order', async () => {
    const runs: string[][] = [];
    const echo = coalesce(async (items: { id: string; n: number }[]) => {
      runs.push(items.map((i) => `${i.id}${i.n}`));
      return items.map((i) => i.n);
    }, { keysOf: (i) => [i.id] });
    await Promise.all([{ id: 'x', n: 1 }, { id: 'y', n: 2 }, { id: 'x', n: 3 }, { id: 'z', n: 4 }].map(echo));
    expect(runs).toEqual([['x1', 'y2', 'z4'], ['x3']]);
  });

  it('splits a run that fails for a reason other than an outage, so only the bad item fails', async () => {
    const runs: number[][] = [];
    const check = coalesce(async (items: number[]) => {
      runs.push(items);
      if (items.includes(13)) throw new Error('constraint violated');
      return items;
    });
    const results = await Promise.allSettled([1, 13, 2].map(check));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(runs).toEqual([[1, 13, 2], [1], [13], [2]]);
  });

  it('fails every item of a run that meets an outage, without running them one by one', async () => {
    let runs = 0;
    const down = coalesce(async (_items: number[]): Promise<number[]> => {
      runs++;
      throw refused();
    });
    const results = await Promise.allSettled([1, 2, 3].map(down));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(runs).toBe(1);
  });
});
