// Secrets from files (NAME_FILE, as the official Docker images do it): one rule in the shared loader.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, env, kafkaConfigShape, loadConfig } from '../../services/shared/config.js';
import { loadIngressConfig } from '../../services/ingress/config.js';

const dir = mkdtempSync(join(tmpdir(), 'switchboard-config-files-'));
const file = (name: string, content: string): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const kafka = { KAFKA_BROKERS: 'a:1', SCHEMA_REGISTRY_URL: 'http://r:8081' };

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  return expect.fail('should have thrown');
}

describe('NAME_FILE', () => {
  it('reads a secret from the file and drops its trailing newline', () => {
    const cfg = loadConfig(kafkaConfigShape, { ...kafka, KAFKA_SASL_PASSWORD_FILE: file('sasl', 'p4ss word\n') });
    expect(cfg.KAFKA_SASL_PASSWORD).toBe('p4ss word');
  });

  it('drops a Windows line end too, and keeps inner newlines (a PEM or JSON key)', () => {
    const json = '{\n  "type": "service_account"\n}';
    const cfg = loadConfig({ GOOGLE_SERVICE_ACCOUNT_JSON: env.optionalString(), SCHEMA_REGISTRY_PASSWORD: env.optionalString() }, {
      GOOGLE_SERVICE_ACCOUNT_JSON_FILE: file('sa.json', `${json}\n`),
      SCHEMA_REGISTRY_PASSWORD_FILE: file('registry', 'r3g\r\n'),
    });
    expect(cfg.GOOGLE_SERVICE_ACCOUNT_JSON).toBe(json);
    expect(cfg.SCHEMA_REGISTRY_PASSWORD).toBe('r3g');
  });

  it('works for lists (several tokens for rotation) and for every service loader', () => {
    const cfg = loadIngressConfig({ ...kafka, NSPS_API_TOKENS_FILE: file('nsps', 'token-one,token-two\n') });
    expect(cfg.NSPS_API_TOKENS).toEqual(['token-one', 'token-two']);
  });

  it('an empty NAME counts as unset next to NAME_FILE (compose passes unset variables as empty)', () => {
    const cfg = loadConfig(kafkaConfigShape, { ...kafka, KAFKA_SASL_PASSWORD: '', KAFKA_SASL_PASSWORD_FILE: file('sasl2', 'x\n') });
    expect(cfg.KAFKA_SASL_PASSWORD).toBe('x');
  });

  it('refuses NAME and NAME_FILE both set, naming both', () => {
    const problems = problemsOf(() => loadConfig(kafkaConfigShape, { ...kafka, KAFKA_SASL_PASSWORD: 'inline', KAFKA_SASL_PASSWORD_FILE: file('sasl3', 'x') }));
    expect(problems).toEqual(['KAFKA_SASL_PASSWORD and KAFKA_SASL_PASSWORD_FILE: set only one of them (both are set)']);
  });

  it('names the variable of a missing file, with the other problems of the same start', () => {
    const problems = problemsOf(() => loadConfig(kafkaConfigShape, { SCHEMA_REGISTRY_URL: 'http://r:8081', SCHEMA_REGISTRY_PASSWORD_FILE: join(dir, 'nope') }));
    expect(problems).toContain(`SCHEMA_REGISTRY_PASSWORD_FILE: cannot read "${join(dir, 'nope')}" (no such file)`);
    expect(problems.join('\n')).toMatch(/KAFKA_BROKERS/);
  });

  it.runIf(process.getuid?.() !== 0)('names the variable of an unreadable file', () => {
    const path = file('locked', 'secret');
    chmodSync(path, 0o000);
    const problems = problemsOf(() => loadConfig(kafkaConfigShape, { ...kafka, KAFKA_SASL_PASSWORD_FILE: path }));
    expect(problems).toEqual([`KAFKA_SASL_PASSWORD_FILE: cannot read "${path}" (permission denied)`]);
  });

  it('names a directory and an empty file', () => {
    expect(problemsOf(() => loadConfig(kafkaConfigShape, { ...kafka, KAFKA_SASL_PASSWORD_FILE: dir }))).toEqual([`KAFKA_SASL_PASSWORD_FILE: cannot read "${dir}" (it is a directory)`]);
    const empty = file('empty', '\n');
    expect(problemsOf(() => loadConfig(kafkaConfigShape, { ...kafka, KAFKA_SASL_PASSWORD_FILE: empty }))).toEqual([`KAFKA_SASL_PASSWORD_FILE: "${empty}" is empty`]);
  });

  it('never echoes a value read from a file, and says where it came from', () => {
    const problems = problemsOf(() => loadConfig({ ...kafkaConfigShape, PORT: env.port(1) }, { ...kafka, PORT_FILE: file('port', 'not-a-port-s3cr3t\n') }));
    expect(problems.join('\n')).not.toContain('s3cr3t');
    expect(problems).toEqual([expect.stringMatching(/^PORT \(from PORT_FILE\): .*\(got a value \(hidden\)\)$/)]);
  });
});
