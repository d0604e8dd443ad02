// The in-flight lease: a claim is used for a WTL call only while the call still fits in the lease
// (handler.ts claimLeavesRoomForCall), so a claim that came back late is asked for again, never used for
// a call another instance may already be making.
import { describe, expect, it } from 'vitest';
import { claimLeavesRoomForCall } from '../../services/provisioning/handler.js';

describe('provisioning in-flight lease', () => {
  it('uses a claim only while half its lease is left (the default lease is 2 × the call timeout)', () => {
    const timeoutMs = 1000;
    const leaseMs = 2 * timeoutMs;
    expect(claimLeavesRoomForCall(3, leaseMs)).toBe(true);
    expect(claimLeavesRoomForCall(timeoutMs, leaseMs)).toBe(true);
    // One more millisecond and the call's own timeout could end after another instance took the event over.
    expect(claimLeavesRoomForCall(timeoutMs + 1, leaseMs)).toBe(false);
    expect(claimLeavesRoomForCall(10 * leaseMs, leaseMs)).toBe(false);
  });
});
