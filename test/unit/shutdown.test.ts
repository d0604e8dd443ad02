// One Ctrl-C arrives as several signals (the terminal's SIGINT to the group, npm's and npm start's own):
// the shutdown handler drains once for all of them, and only a signal after the window exits at once.
import { describe, expect, it } from 'vitest';
import { shutdownHandler } from '../../services/shared/shutdown.js';
import { captureLogger } from '../support/env.js';

function harness(opts: { windowMs?: number; graceMs?: number } = {}) {
  const { logger, lines } = captureLogger('shutdown-test');
  let clock = 1_000;
  const exits: number[] = [];
  const ran: string[] = [];
  let release!: () => void;
  const drained = new Promise<void>((r) => (release = r));
  const handle = shutdownHandler(
    logger,
    [
      { name: 'server', run: async () => void ran.push('server') },
      { name: 'consumer', run: async () => { ran.push('consumer'); await drained; } },
    ],
    { windowMs: opts.windowMs ?? 2_000, graceMs: opts.graceMs ?? 60_000, exit: (code) => void exits.push(code), now: () => clock },
  );
  const msgs = () => lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  return { handle, exits, ran, release, msgs, tick: (ms: number) => (clock += ms) };
}

describe('shutdown signals', () => {
  it('SIGINT then SIGTERM (and more) within the window: one drain, each step once, exit 0', async () => {
    const h = harness();
    const first = h.handle('SIGINT');
    h.tick(150);
    await h.handle('SIGTERM');
    h.tick(300);
    await h.handle('SIGINT');
    expect(h.exits).toEqual([]);
    h.release();
    await first;
    expect(h.ran).toEqual(['server', 'consumer']);
    expect(h.exits).toEqual([0]);
    expect(h.msgs().filter((m) => m.startsWith('draining…'))).toHaveLength(1);
    expect(h.msgs().filter((m) => m.startsWith('already draining'))).toHaveLength(2);
    expect(h.msgs().at(-1)).toBe('stopped');
  });

  it('in either order', async () => {
    const h = harness();
    const first = h.handle('SIGTERM');
    await h.handle('SIGINT');
    h.release();
    await first;
    expect(h.exits).toEqual([0]);
  });

  it('a signal after the window (a second Ctrl-C) exits at once with 1', async () => {
    const h = harness();
    void h.handle('SIGINT');
    h.tick(2_500);
    await h.handle('SIGINT');
    expect(h.exits).toEqual([1]);
    expect(h.msgs()).toContain('second signal: exiting now without finishing the drain');
  });

  it('a failing step is logged, the next steps still run, and the stop is not clean', async () => {
    const { logger, lines } = captureLogger('shutdown-test');
    const exits: number[] = [];
    const ran: string[] = [];
    await shutdownHandler(logger, [
      { name: 'a', run: async () => { throw new Error('boom'); } },
      { name: 'b', run: async () => void ran.push('b') },
    ], { exit: (c) => void exits.push(c) })('SIGTERM');
    expect(ran).toEqual(['b']);
    expect(exits).toEqual([0]);
    expect(lines.some((l) => l.includes('"step":"a"') && l.includes('boom'))).toBe(true);
    expect(lines.at(-1)).toContain('"clean":false');
  });
});
