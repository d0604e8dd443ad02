// The commit-behind of runtime/committer.ts: one request at a time carrying every partition's latest handled
// offset, never an older offset after a newer one, failed requests sent again, and nothing after close().
import { describe, expect, it } from 'vitest';
import { createCommitter, type PartitionOffset } from '../../services/shared/runtime/committer.js';

/** A commit function whose requests stay open until the test answers them. */
function controlledCommit() {
  const requests: { offsets: PartitionOffset[]; answer: (err?: Error) => void }[] = [];
  const commit = (offsets: PartitionOffset[]) =>
    new Promise<void>((resolve, reject) => requests.push({ offsets, answer: (err) => (err ? reject(err) : resolve()) }));
  return { requests, commit };
}

const at = (partition: number, offset: number): PartitionOffset => ({ topic: 't', partition, offset: String(offset) });
const settle = () => new Promise((r) => setImmediate(r));
const sorted = (offsets: PartitionOffset[]) => [...offsets].sort((a, b) => a.partition - b.partition);

describe('offset committer', () => {
  it('sends what is handled while a request is open as one request with each partition\'s latest offset', async () => {
    const { requests, commit } = controlledCommit();
    let accepted = 0;
    const committer = createCommitter({ commit, onCommitted: () => accepted++ });
    committer.handled(at(0, 10));
    await settle();
    expect(requests).toHaveLength(1);
    committer.handled(at(1, 5));
    committer.handled(at(0, 20));
    committer.handled(at(1, 7));
    await settle();
    expect(requests).toHaveLength(1); // nothing more while the first is open
    requests[0]!.answer();
    await settle();
    expect(requests).toHaveLength(2);
    expect(sorted(requests[1]!.offsets)).toEqual([at(0, 20), at(1, 7)]);
    requests[1]!.answer();
    await settle();
    expect(accepted).toBe(2);
    expect(requests).toHaveLength(2);
  });

  it('sends a failed request\'s offsets again after the delay, unless newer ones were handled meanwhile', async () => {
    const { requests, commit } = controlledCommit();
    const committer = createCommitter({ commit, retryDelayMs: 30 });
    committer.handled(at(0, 10));
    committer.handled(at(1, 4));
    await settle();
    committer.handled(at(0, 12)); // handled while the request that will fail is open
    requests[0]!.answer(new Error('REBALANCE_IN_PROGRESS'));
    await settle();
    expect(requests).toHaveLength(1); // not at once: after the delay
    await new Promise((r) => setTimeout(r, 60));
    expect(requests).toHaveLength(2);
    expect(sorted(requests[1]!.offsets)).toEqual([at(0, 12), at(1, 4)]);
    requests[1]!.answer();
    await committer.close();
  });

  it('close() waits for the open request, sends what is left, and sends nothing afterwards, not even again after a failure', async () => {
    const { requests, commit } = controlledCommit();
    const committer = createCommitter({ commit, retryDelayMs: 10 });
    committer.handled(at(0, 1));
    await settle();
    committer.handled(at(0, 2));
    let closed = false;
    const closing = committer.close().then(() => (closed = true));
    await settle();
    expect(closed).toBe(false);
    requests[0]!.answer();
    await settle();
    expect(requests[1]!.offsets).toEqual([at(0, 2)]);
    requests[1]!.answer(new Error('broker gone'));
    await closing;
    committer.handled(at(0, 3));
    await new Promise((r) => setTimeout(r, 40));
    expect(requests).toHaveLength(2); // no retry timer and no new request after close
  });
});
