// Ingress and the bare fastify route as child processes of the harness, so their memory is
// their own and autocannon (in the harness) does not share their event loop.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../infra/local/stack.js';
import { freePort, spawnTs, waitHttp, type RunningChild } from './child.js';
import type { BenchContext } from './context.js';

export const NSPS_TOKEN = 'bench-nsps-token';
export const ONCE_USER = 'bench';
export const ONCE_PASSWORD = 'bench-password';
export const ONCE_PATH = '/1nce/data-streamer';

export interface HttpTarget {
  url: string;
  child: RunningChild;
}

/** Why ingress cannot be benchmarked, or undefined when its entry point exports startIngress. */
export function ingressMissing(): string | undefined {
  const main = join(repoRoot, 'services', 'ingress', 'main.ts');
  if (!existsSync(main)) return 'services/ingress/main.ts does not exist yet';
  if (!/export\s+async\s+function\s+startIngress\b/.test(readFileSync(main, 'utf8'))) return 'services/ingress/main.ts does not export startIngress yet';
  return undefined;
}

export async function startIngressChild(ctx: BenchContext, name: string, nodeArgs: string[] = [], env: Record<string, string> = {}): Promise<HttpTarget> {
  const port = await freePort();
  const child = spawnTs('services/ingress/main.ts', {
    env: ctx.serviceEnv({
      PORT: String(port),
      HOST: '127.0.0.1',
      NSPS_API_TOKENS: NSPS_TOKEN,
      ONCE_BASIC_AUTH_USERS: `${ONCE_USER}:${ONCE_PASSWORD}`,
      ONCE_PATH,
      ...env,
    }),
    logFile: join(ctx.workDir, `${name}.log`),
    nodeArgs,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${url}/readyz`, child, 90_000);
  } catch (err) {
    await child.stop(2000);
    throw err;
  }
  return { url, child };
}

export async function startBareFastify(ctx: BenchContext): Promise<HttpTarget> {
  const port = await freePort();
  const child = spawnTs('bench/workers/bare-fastify.ts', { env: { ...process.env, PORT: String(port) }, logFile: join(ctx.workDir, 'bare-fastify.log') });
  const url = `http://127.0.0.1:${port}`;
  await waitHttp(`${url}/healthz`, child, 30_000);
  return { url, child };
}

export type ProducerClient = 'platformatic' | 'kafkajs';
export const PRODUCER_CLIENTS: readonly ProducerClient[] = ['platformatic', 'kafkajs'];

/** Ingress's default KAFKA_PRODUCER_CLIENT, read from its configuration (it may change; the targets follow it). */
export async function defaultIngressClient(): Promise<ProducerClient> {
  const { ingressConfigShape } = await import('../../services/ingress/config.js');
  return ingressConfigShape.KAFKA_PRODUCER_CLIENT.parse(undefined) as ProducerClient;
}

/** The bare HTTP-to-Kafka pipeline (bench/workers/bare-pipeline.ts) writing to `topic` with `client`. */
export async function startBarePipeline(ctx: BenchContext, client: ProducerClient, topic: string): Promise<HttpTarget> {
  const port = await freePort();
  const child = spawnTs('bench/workers/bare-pipeline.ts', {
    env: { ...process.env, PORT: String(port), KAFKA_BROKERS: ctx.brokers, SCHEMA_REGISTRY_URL: ctx.registryUrl, BENCH_TOPIC: topic, KAFKA_PRODUCER_CLIENT: client },
    logFile: join(ctx.workDir, `bare-pipeline-${client}.log`),
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitHttp(`${url}/healthz`, child, 60_000);
  } catch (err) {
    await child.stop(2000);
    throw err;
  }
  return { url, child };
}

export function basicAuthHeader(): string {
  return `Basic ${Buffer.from(`${ONCE_USER}:${ONCE_PASSWORD}`).toString('base64')}`;
}

export function lastLogLines(child: RunningChild, n = 5): string {
  try {
    return readFileSync(child.logFile, 'utf8').trim().split('\n').slice(-n).join(' / ');
  } catch {
    return '';
  }
}
