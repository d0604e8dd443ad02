// Instances that start together (ingress scaled to several replicas, services started by one command) register
// the same new subjects at the same moment against the real registry: every one of them must start, with the
// one id the registry keeps for the schema.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { classifyError } from '../../services/shared/errors.js';
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

describe('a registry that accepts connections and never answers', () => {
  it('fails the request after its deadline, as an unavailable registry (waited out by the runner), instead of hanging', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => void sockets.add(socket)); // reads nothing, answers nothing
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    try {
      const codec = EnvelopeCodec.create(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
      const record = Buffer.concat([Buffer.from([0, 0, 0, 0, 7]), Buffer.from([2, 0])]); // schema id 7: must be fetched
      const outcome = await codec.decode(record).then(() => 'decoded', (err: unknown) => classifyError(err));
      expect(outcome).toBe('unavailable');
      expect(sockets.size).toBeGreaterThan(0); // the request did reach the silent server
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  }, 120_000);
});
