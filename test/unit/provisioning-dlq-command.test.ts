// The dead-letter operator command's argument parsing and listing format (no Kafka needed).
import { describe, expect, it } from 'vitest';
import { formatLetters, parseDlqArgs, UsageError } from '../../scripts/dlq.js';
import type { DeadLetter } from '../../services/shared/dead-letter.js';

describe('dlq command', () => {
  it('parses list and redrive with event ids for any consumer', () => {
    expect(parseDlqArgs(['list', 'sheet-export'])).toEqual({ action: 'list', consumer: 'sheet-export', eventIds: [], json: false });
    expect(parseDlqArgs(['list', 'scc-inventory', '--json']).json).toBe(true);
    expect(parseDlqArgs(['redrive', 'provisioning', '--event-id', 'a', '--event-id=b']).eventIds).toEqual(['a', 'b']);
  });

  it('rejects unknown commands, a missing consumer and stray arguments', () => {
    expect(() => parseDlqArgs(['purge', 'provisioning'])).toThrow(UsageError);
    expect(() => parseDlqArgs(['list'])).toThrow(/consumer name is required/);
    expect(() => parseDlqArgs(['redrive', 'provisioning', '--event-id'])).toThrow(/needs a value/);
    expect(() => parseDlqArgs(['list', 'provisioning', '--event-id', 'x'])).toThrow(/for redrive/);
    expect(() => parseDlqArgs(['redrive', 'provisioning', '--all'])).toThrow(/unknown argument/);
  });

  it('lists event id, reason, attempts, original position and time, one line each', () => {
    const letter: DeadLetter = {
      dlqPartition: 0, dlqOffset: '4', eventId: 'ev-9', reason: 'WTL rejected the request with 400:\n bad', errorClass: 'PermanentError', attempts: 1,
      originalTopic: 'switchboard.raw.nsps.events', originalPartition: 2, originalOffset: '17', deadLetteredAt: '2026-11-23T09:00:00.000Z',
      key: 'imsi', value: Buffer.alloc(0), headers: {},
    };
    const [head, row, extra] = formatLetters([letter]).split('\n');
    expect(head).toMatch(/^DEAD_LETTERED_AT\s+EVENT_ID\s+ATTEMPTS\s+ORIGINAL\s+ERROR\s+REASON$/);
    expect(row).toMatch(/^2026-11-23T09:00:00.000Z\s+ev-9\s+1\s+switchboard\.raw\.nsps\.events\/2@17\s+PermanentError\s+WTL rejected the request with 400: bad$/);
    expect(extra).toBeUndefined();
  });
});
