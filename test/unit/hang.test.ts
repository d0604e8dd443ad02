// settleWithin: the deadline on a produce and the guard against a client call that never settles.
import { describe, expect, it } from 'vitest';
import { ClientHungError, settleWithin } from '../../services/shared/hang.js';
import { classifyError } from '../../services/shared/errors.js';

describe('settleWithin', () => {
  it('gives up on a call that never settles, with a retriable ClientHungError naming the bound', async () => {
    const never = new Promise<void>(() => undefined);
    const started = Date.now();
    const err = await settleWithin(never, 50).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientHungError);
    expect((err as ClientHungError).afterMs).toBe(50);
    expect(classifyError(err)).toBe('unavailable');
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('passes a value or an error through unchanged when the call settles in time', async () => {
    await expect(settleWithin(Promise.resolve(42), 1_000)).resolves.toBe(42);
    const own = new Error('refused');
    await expect(settleWithin(Promise.reject(own), 1_000)).rejects.toBe(own);
  });

  it('rejects with the caller\'s own error when one is given', async () => {
    const late = new Error('deadline passed');
    await expect(settleWithin(new Promise(() => undefined), 20, () => late)).rejects.toBe(late);
  });

  it('leaves no unhandled rejection when the abandoned call fails afterwards', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      let failLater!: (err: Error) => void;
      const slow = new Promise<void>((_, reject) => (failLater = reject));
      await expect(settleWithin(slow, 20)).rejects.toBeInstanceOf(ClientHungError);
      failLater(new Error('the client woke up and failed'));
      await new Promise((r) => setTimeout(r, 50));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});
