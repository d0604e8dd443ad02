// How a replay worker process ends: {events, ms, facts} as JSON in `resultFile` and exit code 0, or the error
// on stderr and exit code 1 (bench/lib/replay.ts reads the file and treats anything else as a broken run).
import { writeFileSync } from 'node:fs';

/** The run's time, and counts of what it wrote that the scenario checks against what its dataset promises. */
export type WorkerOutcome = number | { ms: number; facts: Record<string, number> };

export function finishReplayWorker(run: Promise<WorkerOutcome>, events: number, resultFile: string): void {
  run.then(
    (outcome) => {
      const { ms, facts } = typeof outcome === 'number' ? { ms: outcome, facts: {} } : outcome;
      writeFileSync(resultFile, JSON.stringify({ events, ms, facts }));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
