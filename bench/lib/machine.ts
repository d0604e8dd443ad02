// Facts about the machine the numbers came from.
import { cpus, loadavg, totalmem, freemem, release } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KAFKA_VERSION, repoRoot } from '../../infra/local/stack.js';

export function machineFacts(kafkaNote: string): Record<string, string> {
  const cores = cpus();
  return {
    'CPU cores': `${cores.length} × ${cores[0]?.model.trim() ?? 'unknown'}`,
    Memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB total, ${(freemem() / 2 ** 30).toFixed(1)} GiB free at start`,
    'Load average at start (1/5/15 min)': loadavg().map((l) => l.toFixed(2)).join(' / '),
    Kernel: release(),
    Node: process.version,
    Kafka: `${KAFKA_VERSION} (${kafkaNote})`,
    kafkajs: readPackageVersion('kafkajs'),
    '@platformatic/kafka': readPackageVersion('@platformatic/kafka'),
    fastify: readPackageVersion('fastify'),
    autocannon: readPackageVersion('autocannon'),
  };
}

function readPackageVersion(name: string): string {
  try {
    return (JSON.parse(readFileSync(join(repoRoot, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
