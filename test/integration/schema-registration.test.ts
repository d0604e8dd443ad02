// Instances that start together (ingress scaled to several replicas, services started by one command) register
// the same new subjects at the same moment against the real registry: every one of them must start, with the
// one id the registry keeps for the schema.
import { describe, expect, it } from 'vitest';
import { EnvelopeCodec } from '../../services/shared/envelope.js';
import { uniqueName } from '../support/env.js';

describe('schema registration by instances starting together', () => {
  it('registers each new subject once for everyone: no instance fails, all get the same id', async () => {
    const registryUrl = process.env.SCHEMA_REGISTRY_URL!;
    const topics = Array.from({ length: 4 }, () => `${uniqueName('reg')}.raw`);
    const instances = Array.from({ length: 4 }, () => EnvelopeCodec.create(registryUrl));
    const results = await Promise.allSettled(instances.map((codec) => codec.registerFor(topics)));
    expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
    for (const topic of topics) {
      const ids = await Promise.all(instances.map((codec) => codec.schemaIdFor(topic)));
      expect(new Set(ids).size).toBe(1);
    }
  });
});
