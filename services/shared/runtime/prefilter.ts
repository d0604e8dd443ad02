// The replay pre-filter: of a fetched batch, the records whose event_id already produced its effect are
// counted and told to the trail as duplicates before they are decoded, with one query per batch. A
// rewound group re-reads little else, and for those only the event_id is read (EnvelopeCodec.peekEventId):
// decoding each whole envelope, its payload above all, was the largest part of a duplicate's cost.
// Only an optimisation: the handler keeps its own per-record check, which is what keeps concurrent
// instances safe; a record whose event_id cannot be peeked, or a failed query, sends records on as before.
import { AvroCodec } from '../avro-codec.js';
import type { EnvelopeCodec } from '../envelope.js';
import { errorMessage } from '../errors.js';
import type { RunnerObserver } from './observer.js';
import type { RawRecord, RecordRef } from './records.js';

export interface PrefilterDeps {
  codec: Pick<EnvelopeCodec, 'peekEventId' | 'decode'>;
  /** Of these event ids, those that already produced their effect. */
  alreadyProcessed: (eventIds: string[]) => Promise<Set<string>>;
  observer: RunnerObserver;
}

/** The records of a batch that are not known duplicates, in order. */
export type Prefilter = (records: RawRecord[]) => Promise<RawRecord[]>;

export function createPrefilter(deps: PrefilterDeps): Prefilter {
  const { codec, observer } = deps;
  const peekAll = async (records: RawRecord[]): Promise<Array<string | undefined>> => {
    const ids = records.map((r) => codec.peekEventId(r.value));
    if (!ids.includes(undefined)) return ids;
    // A schema id not met yet (the first batch after a start): its writer schema is fetched once, through
    // one record of it, and the batch peeked again. A record still unreadable goes on to decoding, which
    // waits out a registry outage or dead-letters bytes that are not an envelope.
    const firstOfSchema = new Map<number, RawRecord>();
    records.forEach((r, i) => {
      const schemaId = ids[i] === undefined ? AvroCodec.framedSchemaId(r.value) : undefined;
      if (schemaId !== undefined && !firstOfSchema.has(schemaId)) firstOfSchema.set(schemaId, r);
    });
    if (firstOfSchema.size === 0) return ids;
    await Promise.all([...firstOfSchema.values()].map((r) => codec.decode(r.value).catch(() => undefined)));
    return records.map((r, i) => ids[i] ?? codec.peekEventId(r.value));
  };

  return async (records) => {
    if (records.length === 0) return records;
    const ids = await peekAll(records);
    const peeked = ids.filter((id): id is string => id !== undefined);
    if (peeked.length === 0) return records;
    let known: Set<string>;
    try {
      known = await deps.alreadyProcessed(peeked);
    } catch (err) {
      observer.logger.warn({ topic: records[0]!.topic, records: records.length, reason: errorMessage(err) }, 'duplicate pre-filter failed: handing every record to the handler');
      return records;
    }
    if (known.size === 0) return records;
    const rest: RawRecord[] = [];
    const duplicates: RecordRef[] = [];
    records.forEach((r, i) => {
      const id = ids[i];
      if (id !== undefined && known.has(id)) duplicates.push({ topic: r.topic, partition: r.partition, offset: r.offset, headers: r.headers, envelope: { event_id: id } });
      else rest.push(r);
    });
    observer.duplicates(duplicates, 1);
    return rest;
  };
}
