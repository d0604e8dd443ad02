// Offsets are committed behind the work instead of in its path. kafkajs fetches again only once every batch of
// the previous fetch has returned, so a commit awaited inside a batch held up the next fetch of every partition
// (six commit requests in a row to the group coordinator, up to 20 ms per fetch on a replay). Here a handled
// batch only records its partition's next offset; one commit request at a time carries every partition's latest
// offset, sent while the next fetch is already on its way.
//
// What does not change: an offset is recorded only after its batch was fully handled (or dead-lettered), so a
// commit never passes an unhandled record. What does: a crash or a lost partition can leave the last handled
// batch of a partition uncommitted, which the next owner reads again (idempotency makes that a duplicate);
// before, that window was the commit request alone.
import type { Logger } from '../logger.js';

export interface PartitionOffset {
  topic: string;
  partition: number;
  /** The next offset to read (the last handled one + 1), as Kafka commits it. */
  offset: string;
}

export interface Committer {
  /** Everything of this partition before `offset` is handled: commit it with the next request. */
  handled(next: PartitionOffset): void;
  /**
   * Sends what is recorded and waits for it; nothing is sent after it, and a request that fails now is not
   * sent again (kafkajs has retried it already): called before leaving the group.
   */
  close(): Promise<void>;
}

export interface CommitterOptions {
  commit: (offsets: PartitionOffset[]) => Promise<void>;
  /** Where a failed request is reported (absent: nowhere; the offsets are sent again all the same). */
  logger?: Logger | undefined;
  /** After each request the broker accepted. */
  onCommitted?: (() => void) | undefined;
  /** Pause before a failed request's offsets are sent again (unless newer ones were recorded meanwhile). */
  retryDelayMs?: number;
}

export function createCommitter(opts: CommitterOptions): Committer {
  const retryDelayMs = opts.retryDelayMs ?? 1000;
  const pending = new Map<string, PartitionOffset>();
  let sending: Promise<void> | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let closed = false;

  const record = (next: PartitionOffset): void => {
    const key = `${next.topic}\u0000${next.partition}`;
    const known = pending.get(key);
    // Kept as the larger one: after a failed request its offsets come back, and a newer batch may have been recorded.
    if (!known || BigInt(next.offset) > BigInt(known.offset)) pending.set(key, next);
  };

  const sendAll = async (): Promise<void> => {
    while (pending.size > 0) {
      const offsets = [...pending.values()];
      pending.clear();
      try {
        await opts.commit(offsets);
        opts.onCommitted?.();
      } catch (err) {
        // kafkajs has already retried the request. A rebalance or a broker outage: the offsets wait for the next
        // request; a partition this process lost is then committed by its new owner, whose later offsets win.
        for (const o of offsets) record(o);
        opts.logger?.warn({ err, partitions: offsets.length }, closed ? 'offset commit failed while stopping: the next owner reads these batches again' : 'offset commit failed: sending it again shortly');
        if (!retryTimer && !closed) {
          retryTimer = setTimeout(() => {
            retryTimer = undefined;
            void start();
          }, retryDelayMs);
        }
        return;
      }
    }
  };

  const start = (): Promise<void> => {
    sending ??= sendAll().finally(() => {
      sending = undefined;
      // Recorded after the loop's last look but before this ran: sent now (after a failure the retry timer does it).
      if (pending.size > 0 && !retryTimer && !closed) void start();
    });
    return sending;
  };

  return {
    handled(next) {
      if (closed) return;
      record(next);
      if (!retryTimer) void start();
    },
    async close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = undefined;
      // Offsets waiting for a retry go now; what is recorded while a request is open goes with the next one.
      if (!sending && pending.size > 0) void start();
      while (sending) await sending;
    },
  };
}
