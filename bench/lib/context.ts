// What every scenario gets: the mode and its sizes, Kafka and the registry, a logger for progress,
// and a unique run id so each run's topics and consumer groups are its own.
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../infra/local/stack.js';

export interface Sizes {
  /** Repeats of each alternated pair (medians are quoted). */
  repeats: number;
  /**
   * Runs of each ingress client (platformatic, kafkajs) per load, paired by round, to tell the two
   * apart; the baselines beside them run `repeats` times, spread over the same rounds.
   */
  clientRepeats: number;
  /** Seconds of each HTTP load run. */
  httpSeconds: number;
  nspsConnections: number[];
  onceBatchRecords: number;
  onceClients: number;
  replayEvents: number;
  /**
   * The provisioning topic (6 partitions) of the fresh-state pass and the operator replay: large
   * enough that their times are not lost in start-up noise.
   */
  operatorReplayEvents: number;
  provisioningEvents: number;
  provisioningKeys: number;
  provisioningPartitions: number[];
  memoryClients: number;
  memorySeconds: number;
  growthReplayEvents: number[];
  growthBatchSizes: number[];
  growthBatchRequests: number;
}

// Full mode is sized to stay under ~35 minutes on a 2-core machine: the client pair gets 6 paired
// rounds per load (enough to separate a difference of ~10 % on this machine's noise), the baselines 3.
export const FULL: Sizes = {
  repeats: 3,
  clientRepeats: 6,
  httpSeconds: 8,
  nspsConnections: [1, 10, 50],
  onceBatchRecords: 3000,
  onceClients: 4,
  replayEvents: 100_000,
  operatorReplayEvents: 20_000,
  provisioningEvents: 2000,
  provisioningKeys: 200,
  provisioningPartitions: [1, 6],
  memoryClients: 20,
  memorySeconds: 15,
  growthReplayEvents: [10_000, 100_000, 1_000_000],
  growthBatchSizes: [1, 100, 1000, 3000],
  growthBatchRequests: 20,
};

export const SMOKE: Sizes = {
  repeats: 1,
  clientRepeats: 3,
  httpSeconds: 1,
  nspsConnections: [1, 50],
  onceBatchRecords: 300,
  onceClients: 2,
  replayEvents: 2000,
  operatorReplayEvents: 500,
  provisioningEvents: 40,
  provisioningKeys: 10,
  provisioningPartitions: [1, 3],
  memoryClients: 4,
  memorySeconds: 2,
  growthReplayEvents: [500, 2000],
  growthBatchSizes: [1, 100],
  growthBatchRequests: 3,
};

/** BENCH_HTTP_SECONDS, BENCH_REPEATS, BENCH_CLIENT_REPEATS: shorter checks of the harness itself (the report's settings show them). */
export function withOverrides(sizes: Sizes, env: NodeJS.ProcessEnv): Sizes {
  const int = (name: string): number | undefined => {
    const raw = env[name];
    if (raw === undefined || raw === '') return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} must be a whole number ≥ 1, got "${raw}"`);
    return n;
  };
  return {
    ...sizes,
    httpSeconds: int('BENCH_HTTP_SECONDS') ?? sizes.httpSeconds,
    repeats: int('BENCH_REPEATS') ?? sizes.repeats,
    clientRepeats: int('BENCH_CLIENT_REPEATS') ?? sizes.clientRepeats,
  };
}

export interface BenchContext {
  smoke: boolean;
  sizes: Sizes;
  runId: string;
  brokers: string;
  registryUrl: string;
  /** Logs of child processes and scratch files of this run. */
  workDir: string;
  log: (line: string) => void;
  /** Environment every Switchboard service child gets (Kafka, registry, this run's topic prefix). */
  serviceEnv(extra?: Record<string, string>): NodeJS.ProcessEnv;
  topicPrefix: string;
}

export function makeContext(opts: { smoke: boolean; brokers: string; registryUrl: string; log: (l: string) => void }): BenchContext {
  const runId = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const workDir = join(repoRoot, '.local', 'bench-runs', runId);
  mkdirSync(workDir, { recursive: true });
  const topicPrefix = `bench-${runId}.`;
  return {
    smoke: opts.smoke,
    sizes: withOverrides(opts.smoke ? SMOKE : FULL, process.env),
    runId,
    brokers: opts.brokers,
    registryUrl: opts.registryUrl,
    workDir,
    log: opts.log,
    topicPrefix,
    serviceEnv: (extra = {}) => ({
      ...process.env,
      KAFKA_BROKERS: opts.brokers,
      SCHEMA_REGISTRY_URL: opts.registryUrl,
      KAFKA_TOPIC_PREFIX: topicPrefix,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'info',
      DATA_DIR: join(workDir, 'data'),
      ...extra,
    }),
  };
}
