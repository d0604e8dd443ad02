// Decoding a fetched batch: a registry outage is waited out, bytes that are not an envelope (or carry a
// schema id the registry does not know) are dead-lettered alone.
import type { EnvelopeCodec } from '../envelope.js';
import { PermanentError, errorMessage } from '../errors.js';
import { attempt, type RetryPolicy } from '../retry.js';
import type { DeadLetterSink } from './dead-letters.js';
import type { RunnerObserver } from './observer.js';
import type { ConsumedRecord, KeepGoing, RawRecord } from './records.js';

export interface DecodeDeps {
  codec: Pick<EnvelopeCodec, 'decode' | 'decodeCached'>;
  retry: RetryPolicy;
  observer: RunnerObserver;
  deadLetter: DeadLetterSink;
}

/** The decodable records of a batch, in order; undefined when ownership was lost while waiting. */
export async function decodeRecords(records: RawRecord[], deps: DecodeDeps, keepGoing: KeepGoing): Promise<ConsumedRecord[] | undefined> {
  const decoded: ConsumedRecord[] = [];
  for (const raw of records) {
    // The synchronous path first: once a schema id is cached, decoding costs no turn of the event loop.
    let envelope;
    try {
      envelope = raw.value.length > 0 ? deps.codec.decodeCached(raw.value) : undefined;
    } catch {
      envelope = undefined; // decided below, with the error classified
    }
    if (envelope) {
      decoded.push(withEnvelope(raw, envelope));
      continue;
    }
    const describe = () => ({ partition: raw.partition, offset: raw.offset, decoding: true });
    const result = await attempt(async () => {
      if (raw.value.length === 0) throw new PermanentError('empty record value');
      return deps.codec.decodeCached(raw.value) ?? (await deps.codec.decode(raw.value));
    }, deps.retry, deps.observer.retryHooks(keepGoing, raw.topic, describe));
    if (result.status === 'abandoned') return undefined;
    if (result.status === 'done') {
      decoded.push(withEnvelope(raw, result.value));
      continue;
    }
    const reason = `undecodable record: ${errorMessage(result.error)}`;
    const err = result.failure === 'invalid' ? new PermanentError(reason, { cause: result.error }) : new Error(reason, { cause: result.error });
    if (!(await deps.deadLetter(raw, err, result.attempts, keepGoing))) return undefined;
  }
  return decoded;
}

/** A literal of one fixed shape rather than a spread: cheaper per record, and every record has the same hidden class. */
function withEnvelope(raw: RawRecord, envelope: ConsumedRecord['envelope']): ConsumedRecord {
  return { topic: raw.topic, partition: raw.partition, offset: raw.offset, key: raw.key, headers: raw.headers, value: raw.value, envelope };
}
