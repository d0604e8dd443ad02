// The bare kafkajs consumer of bench/workers/replay-worker.ts (eachBatch doing nothing, same settings),
// timed the way the provisioning service's replay is timed in scenario 3: from the start of its first batch
// of records to the end of the batch holding the last one, so neither side's time includes its process
// start-up or group join. Writes {events, ms} as JSON to `resultFile`.
import { randomUUID } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';
import { finishReplayWorker } from './result.js';

const args = JSON.parse(process.argv[2]!) as { brokers: string; topic: string; expected: number; resultFile: string };
const kafka = new Kafka({ clientId: 'bench-replay-bare-span', brokers: args.brokers.split(','), logLevel: logLevel.NOTHING });

async function main(): Promise<number> {
  const consumer = kafka.consumer({ groupId: `bench-bare-span-${randomUUID()}`, maxBytesPerPartition: 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topics: [args.topic], fromBeginning: true });
  let seen = 0;
  let first: number | undefined;
  const last = await new Promise<number>((resolve, reject) => {
    consumer.run({
      eachBatch: async ({ batch }) => {
        if (batch.messages.length === 0) return;
        first ??= performance.now();
        seen += batch.messages.length;
        if (seen >= args.expected) resolve(performance.now());
      },
    }).catch(reject);
  });
  await consumer.disconnect();
  return last - first!;
}

finishReplayWorker(main(), args.expected, args.resultFile);
