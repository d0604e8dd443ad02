// A subject whose compatibility level is not BACKWARD (an operator's choice, or the registry's default left
// by a registrant that stopped between registering and setting the level): a service whose schema is already
// registered there starts with that schema's id and changes nothing; a schema not registered there is refused.
import { describe, expect, it } from 'vitest';
import { ENVELOPE_SCHEMA, EnvelopeCodec } from '../../services/shared/envelope.js';
import { testKafkaConfig } from '../support/env.js';

describe('registering under a subject whose compatibility level is not BACKWARD', () => {
  const cfg = testKafkaConfig();
  const url = cfg.SCHEMA_REGISTRY_URL;
  const json = { 'content-type': 'application/vnd.schemaregistry.v1+json' };

  const registerDirectly = async (subject: string, schema: string): Promise<number> => {
    const res = await fetch(`${url}/subjects/${encodeURIComponent(subject)}/versions`, { method: 'POST', headers: json, body: JSON.stringify({ schema }) });
    expect(res.status).toBe(200);
    return ((await res.json()) as { id: number }).id;
  };
  const setLevel = async (subject: string, compatibility: string): Promise<void> => {
    const res = await fetch(`${url}/config/${encodeURIComponent(subject)}`, { method: 'PUT', headers: json, body: JSON.stringify({ compatibility }) });
    expect(res.status).toBe(200);
  };
  const level = async (subject: string): Promise<string> =>
    ((await (await fetch(`${url}/config/${encodeURIComponent(subject)}`)).json()) as { compatibilityLevel: string }).compatibilityLevel;

  it('takes the id of the schema already registered there and leaves the level alone', async () => {
    const topic = `${cfg.KAFKA_TOPIC_PREFIX}compat-none`;
    const id = await registerDirectly(`${topic}-value`, ENVELOPE_SCHEMA);
    await setLevel(`${topic}-value`, 'NONE');
    const codec = EnvelopeCodec.create(url);
    await codec.registerFor([topic]);
    expect(await codec.schemaIdFor(topic)).toBe(id);
    expect(await level(`${topic}-value`)).toBe('NONE');
  });

  it('refuses to add its schema to a subject with another level, naming the mismatch', async () => {
    const topic = `${cfg.KAFKA_TOPIC_PREFIX}compat-full`;
    await registerDirectly(`${topic}-value`, '{"type":"record","name":"Other","fields":[{"name":"x","type":"string"}]}');
    await setLevel(`${topic}-value`, 'FULL');
    await expect(EnvelopeCodec.create(url).registerFor([topic])).rejects.toThrow('Compatibility does not match the configuration (BACKWARD != FULL)');
  });
});
