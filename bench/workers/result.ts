// How a replay worker process ends: {events, ms} as JSON in `resultFile` and exit code 0, or the error on
// stderr and exit code 1 (bench/lib/replay.ts reads the file and treats anything else as a broken run).
import { writeFileSync } from 'node:fs';

export function finishReplayWorker(run: Promise<number>, events: number, resultFile: string): void {
  run.then(
    (ms) => {
      writeFileSync(resultFile, JSON.stringify({ events, ms }));
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
