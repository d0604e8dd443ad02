// The development credentials of npm start are public: ingress refuses them unless it listens on
// loopback only or npm start started it (services/ingress/config.ts).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../services/shared/config.js';
import { isLoopbackHost, loadIngressConfig } from '../../services/ingress/config.js';
import { repoRoot } from '../../infra/local/stack.js';
import { DEV_DEFAULTS } from '../../scripts/dev-defaults.js';

const base = { KAFKA_BROKERS: 'a:1', SCHEMA_REGISTRY_URL: 'http://r:8081' };
const dev = {
  NSPS_API_TOKENS: DEV_DEFAULTS.NSPS_API_TOKENS!,
  ONCE_BASIC_AUTH_USERS: DEV_DEFAULTS.ONCE_BASIC_AUTH_USERS!,
  SAP_JWT_HS256_SECRET: DEV_DEFAULTS.SAP_JWT_HS256_SECRET!,
};

function problemsOf(vars: Record<string, string>): string[] {
  try {
    loadIngressConfig({ ...base, ...vars });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return [];
}

describe('development credentials', () => {
  it('are accepted on loopback (the default HOST)', () => {
    expect(problemsOf(dev)).toEqual([]);
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]', '127.0.0.2']) expect(problemsOf({ ...dev, HOST: host })).toEqual([]);
  });

  it('are refused on any other address, each named with the reason', () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3']) {
      const problems = problemsOf({ ...dev, HOST: host });
      expect(problems).toHaveLength(3);
      expect(problems[0]).toMatch(/^NSPS_API_TOKENS: contains the development token "dev-nsps-token": .*loopback or under npm start/);
      expect(problems[1]).toMatch(/^ONCE_BASIC_AUTH_USERS: uses the development password/);
      expect(problems[2]).toMatch(/^SAP_JWT_HS256_SECRET: is the development secret/);
      expect(problems.join('\n')).toContain(`HOST is "${host}"`);
    }
  });

  it('are refused among real ones too (a leftover dev token beside a new one), and with any user name', () => {
    const problems = problemsOf({ HOST: '0.0.0.0', NSPS_API_TOKENS: 'a-real-token,dev-nsps-token', ONCE_BASIC_AUTH_USERS: 'other:dev-streamer-password' });
    expect(problems.map((p) => p.split(':')[0])).toEqual(['NSPS_API_TOKENS', 'ONCE_BASIC_AUTH_USERS']);
  });

  it('are accepted on any address under npm start', () => {
    expect(problemsOf({ ...dev, HOST: '0.0.0.0', SWITCHBOARD_STARTED_BY: 'npm-start' })).toEqual([]);
  });

  it('real credentials are accepted on any address', () => {
    expect(problemsOf({ HOST: '0.0.0.0', NSPS_API_TOKENS: 'n-7f3a9c', ONCE_BASIC_AUTH_USERS: 'streamer:p-81be2', SAP_JWT_HS256_SECRET: 's'.repeat(40) })).toEqual([]);
  });

  it('knows loopback addresses', () => {
    expect(['127.0.0.1', 'LOCALHOST', '::1', '::ffff:127.0.0.1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '::', '192.168.1.1', '128.0.0.1', 'example.com'].some(isLoopbackHost)).toBe(false);
  });

  it('a refused start exits like every configuration error (code 2, the message on stderr, no stack)', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'services/ingress/main.ts'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH, ...base, ...dev, HOST: '0.0.0.0' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/invalid configuration:\n {2}- NSPS_API_TOKENS: contains the development token/);
    expect(run.stderr).not.toMatch(/at .*\.ts:\d+/);
  }, 40_000);
});
