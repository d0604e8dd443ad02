// Runs contenders in alternating order, round after round, so slow drifts of a shared machine
// (another job starting, the page cache warming) hit each contender alike; callers quote medians.

export interface Contender<T> {
  name: string;
  run: (round: number) => Promise<T>;
  /**
   * Runs of this contender, spread evenly over the rounds (default: one per round). Fewer than the
   * rounds for a contender that needs fewer, e.g. baselines beside a pair that needs more runs to
   * be told apart: the pair runs every round, the baselines every other one, over the same period.
   */
  repeats?: number;
}

/**
 * Which contenders run in each round and in what order. `rounds` is the largest repeats asked; a
 * contender with k repeats runs in rounds ⌊i·rounds/k⌋ (i < k). Within a round the participants
 * are rotated by the round's number (A B C, B C A, C A B, …), so none always runs first or right
 * after the same neighbour.
 */
export function alternationPlan(contenders: readonly { name: string; repeats: number }[]): string[][] {
  const rounds = Math.max(0, ...contenders.map((c) => c.repeats));
  const plan: string[][] = [];
  for (let round = 0; round < rounds; round++) {
    const here = contenders.filter((c) => {
      const k = Math.min(c.repeats, rounds);
      return Array.from({ length: k }, (_, i) => Math.floor((i * rounds) / k)).includes(round);
    });
    plan.push(here.map((_, i) => here[(i + round) % here.length]!.name));
  }
  return plan;
}

/**
 * `repeats` rounds (or each contender's own `repeats`, see alternationPlan); returns each
 * contender's results in round order.
 */
export async function alternate<T>(contenders: readonly Contender<T>[], repeats: number, log?: (line: string) => void): Promise<Map<string, T[]>> {
  const results = new Map<string, T[]>(contenders.map((c) => [c.name, []]));
  const byName = new Map(contenders.map((c) => [c.name, c]));
  const plan = alternationPlan(contenders.map((c) => ({ name: c.name, repeats: c.repeats ?? repeats })));
  for (const [round, names] of plan.entries()) {
    for (const name of names) {
      log?.(`    round ${round + 1}/${plan.length}: ${name}`);
      results.get(name)!.push(await byName.get(name)!.run(round));
    }
  }
  return results;
}

/** The contenders' run order for each round when all run every round (exported for the unit test and the report). */
export function alternationOrder(names: readonly string[], repeats: number): string[][] {
  return alternationPlan(names.map((name) => ({ name, repeats })));
}
