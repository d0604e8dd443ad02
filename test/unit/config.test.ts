import { describe, expect, it } from 'vitest';
import { ConfigError, kafkaConfigShape, loadConfig, env } from '../../services/shared/config.js';

describe('configuration', () => {
  it('names a missing broker address', () => {
    expect(() => loadConfig(kafkaConfigShape, { SCHEMA_REGISTRY_URL: 'http://x:1' })).toThrow(/KAFKA_BROKERS/);
  });
  it('names a malformed broker list and a malformed port, together', () => {
    try {
      loadConfig({ ...kafkaConfigShape, PORT: env.port(3000) }, { KAFKA_BROKERS: 'localhost', SCHEMA_REGISTRY_URL: 'http://x:1', PORT: 'eighty' });
      expect.fail('should have thrown');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/KAFKA_BROKERS/);
      expect(problems).toMatch(/PORT/);
    }
  });
  it('never echoes a secret value', () => {
    try {
      loadConfig({ KAFKA_SASL_PASSWORD: env.port(1) }, { KAFKA_SASL_PASSWORD: 's3cr3t-value' });
      expect.fail('should have thrown');
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cr3t-value');
      expect((err as Error).message).toContain('KAFKA_SASL_PASSWORD');
    }
  });
  it('applies defaults and parses lists', () => {
    const cfg = loadConfig({ ...kafkaConfigShape, TOKENS: env.list() }, { KAFKA_BROKERS: 'a:1, b:2', SCHEMA_REGISTRY_URL: 'http://r:8081', TOKENS: 'x, y' });
    expect(cfg.KAFKA_BROKERS).toEqual(['a:1', 'b:2']);
    expect(cfg.TOKENS).toEqual(['x', 'y']);
    expect(cfg.KAFKA_RAW_RETENTION_MS).toBe(-1);
  });
});
