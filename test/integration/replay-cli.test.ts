// The replay command when no broker answers: on the embedded defaults (KAFKA_BROKERS unset) the broker is
// npm start's, which Ctrl-C on npm start stops too, so the command says how to run it alone; with a broker
// the operator configured, it reports the connection error as it is.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../infra/local/stack.js';
import { freePort } from '../support/env.js';

const execFileP = promisify(execFile);
const tsx = join(repoRoot, 'node_modules', '.bin', 'tsx');

async function replay(env: NodeJS.ProcessEnv): Promise<{ code: number; stderr: string }> {
  return execFileP(tsx, ['scripts/replay.ts', 'provisioning'], { cwd: repoRoot, env, timeout: 90_000 })
    .then(() => ({ code: 0, stderr: '' }))
    .catch((e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr }));
}

describe('npm run replay without a broker', () => {
  it('on the embedded defaults, says how to run the local broker alone', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const { KAFKA_BROKERS: _k, SCHEMA_REGISTRY_URL: _r, ...rest } = process.env;
    const result = await replay({ ...rest, LOCAL_KAFKA_PORT: String(port), LOG_LEVEL: 'silent' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('replay failed');
    expect(result.stderr).toContain('ECONNREFUSED');
    expect(result.stderr).toContain(`No Kafka broker answers at 127.0.0.1:${port}`);
    expect(result.stderr).toContain('npm run infra:up');
  });

  it('with a configured broker, reports the error without the local hint', { timeout: 120_000 }, async () => {
    const port = await freePort();
    const result = await replay({ ...process.env, KAFKA_BROKERS: `127.0.0.1:${port}`, LOG_LEVEL: 'silent' });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('ECONNREFUSED');
    expect(result.stderr).not.toContain('npm run infra:up');
  });
});
