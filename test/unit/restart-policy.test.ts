import { describe, expect, it } from 'vitest';
import { DEFAULT_RESTART_POLICY, decideRestart } from '../../scripts/restart-policy.js';

const policy = { maxRestarts: 3, windowMs: 60_000, baseDelayMs: 1000, maxDelayMs: 5000 };

describe('npm start restart policy', () => {
  it('restarts a service that never died before after the base delay', () => {
    expect(decideRestart([], 1_000_000, policy)).toEqual({ restart: true, delayMs: 1000, attempt: 1 });
  });

  it('doubles the pause for each restart within the window, up to the cap', () => {
    const now = 1_000_000;
    expect(decideRestart([now - 10_000], now, policy)).toEqual({ restart: true, delayMs: 2000, attempt: 2 });
    expect(decideRestart([now - 20_000, now - 10_000], now, policy)).toEqual({ restart: true, delayMs: 4000, attempt: 3 });
    const wide = { ...policy, maxRestarts: 10 };
    expect(decideRestart([1, 2, 3, 4].map((i) => now - i * 1000), now, wide)).toEqual({ restart: true, delayMs: 5000, attempt: 5 });
  });

  it('gives up once the window holds maxRestarts restarts', () => {
    const now = 1_000_000;
    expect(decideRestart([now - 30_000, now - 20_000, now - 10_000], now, policy)).toEqual({ restart: false, restarts: 3 });
  });

  it('forgets restarts older than the window', () => {
    const now = 1_000_000;
    // Three restarts, but two of them more than a minute ago: the service has been running fine since.
    expect(decideRestart([now - 120_000, now - 90_000, now - 10_000], now, policy)).toEqual({ restart: true, delayMs: 2000, attempt: 2 });
    expect(decideRestart([now - 60_000], now, policy)).toEqual({ restart: true, delayMs: 1000, attempt: 1 });
  });

  it('has defaults that restart a few times and then stop', () => {
    const now = 10_000_000;
    const restarts: number[] = [];
    let decision = decideRestart(restarts, now);
    while (decision.restart) {
      restarts.push(now);
      decision = decideRestart(restarts, now);
    }
    expect(restarts).toHaveLength(DEFAULT_RESTART_POLICY.maxRestarts);
  });
});
