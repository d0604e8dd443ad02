// Runs contenders in alternating order, round after round, so slow drifts of a shared machine
// (another job starting, the page cache warming) hit each contender alike; callers quote medians.

export interface Contender<T> {
  name: string;
  run: (round: number) => Promise<T>;
}

/**
 * `repeats` rounds; round r runs the contenders rotated by r (A B C, B C A, C A B, …), so no
 * contender always runs first or right after the same neighbour. Returns each contender's results
 * in round order.
 */
export async function alternate<T>(contenders: readonly Contender<T>[], repeats: number, log?: (line: string) => void): Promise<Map<string, T[]>> {
  const results = new Map<string, T[]>(contenders.map((c) => [c.name, []]));
  for (let round = 0; round < repeats; round++) {
    const n = contenders.length;
    for (let i = 0; i < n; i++) {
      const c = contenders[(i + round) % n]!;
      log?.(`    round ${round + 1}/${repeats}: ${c.name}`);
      results.get(c.name)!.push(await c.run(round));
    }
  }
  return results;
}

/** The contenders' run order for each round (exported for the unit test and the report). */
export function alternationOrder(names: readonly string[], repeats: number): string[][] {
  return Array.from({ length: repeats }, (_, round) => names.map((_, i) => names[(i + round) % names.length]!));
}
