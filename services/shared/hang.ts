// Deadlines on promises: a produce's acknowledgement deadline (kafka.ts), and the guard against a client
// call that never settles. Clients bound their own requests, connects and retries; a call still pending
// long past all of those is hung (a lost callback in the client), and anything queued behind it would
// wait for ever. The guard gives up on it, so its caller can replace the client and go on.

/** The call did not settle within its bound; retriable, like any unavailable infrastructure. */
export class ClientHungError extends Error {
  readonly retriable = true;
  constructor(readonly afterMs: number) {
    super(`the client did not settle the call within ${afterMs} ms`);
    this.name = 'ClientHungError';
  }
}

/** Settles as `work` does, or rejects with `late()` (a ClientHungError by default) once `ms` have passed without that. */
export async function settleWithin<T>(work: Promise<T>, ms: number, late: () => Error = () => new ClientHungError(ms)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  try {
    // race() handles both: a late rejection of the abandoned call is never an unhandled one.
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
