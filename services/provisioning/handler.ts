// Where a Kafka record becomes an effect: an NSPS event becomes (at most) one applied WTL sync.
// Order of checks: map (pure) → already done? → older than what WTL has? → claim → call → record
// (the checks and the claim are one statement, shared with the other events at the same step: store.ts).
import type { Counter } from 'prom-client';
import type { ConsumedRecord, Handled, Outcome } from '../shared/consumer.js';
import { sleep } from '../shared/consumer.js';
import { PermanentError } from '../shared/errors.js';
import type { Logger } from '../shared/logger.js';
import { mapPayload, orderingPosition, type MappingSettings } from './mapping.js';
import type { ProvisioningStore } from './store.js';
import type { WtlClient } from './wtl-client.js';

export interface HandlerDeps {
  settings: MappingSettings;
  store: ProvisioningStore;
  wtl: WtlClient;
  logger: Logger;
  /** Counts skipped events by event_type, so an operator sees which types are arriving unmapped. */
  skippedByType: Counter<'event_type'>;
  /** This process's identity in provisioning_inflight. */
  owner: string;
  leaseMs: number;
}

/**
 * Whether a claim that took `elapsedMs` to come back (measured from asking, so never less than its age)
 * leaves room for a WTL call before its lease lapses. Half the lease: with the default lease (2 ×
 * WTL_TIMEOUT_MS), the call's own timeout still ends it before another instance may take the event over.
 */
export function claimLeavesRoomForCall(elapsedMs: number, leaseMs: number): boolean {
  return elapsedMs <= leaseMs / 2;
}

export function createHandler(deps: HandlerDeps): (record: ConsumedRecord) => Promise<Outcome | Handled> {
  return async (record) => {
    const { envelope } = record;
    // Created on first use: a duplicate (every record of a replay) logs nothing and should not pay for a child logger.
    let child: Logger | undefined;
    const log = (): Logger => (child ??= deps.logger.child({ event_id: envelope.event_id, request_id: envelope.request_id }));

    const mapped = mapPayload(envelope.payload, deps.settings);
    if (mapped.kind === 'invalid') throw new PermanentError(`cannot map NSPS event: ${mapped.reason}`);
    if (mapped.kind === 'skip') {
      deps.skippedByType.inc({ event_type: mapped.eventType });
      log().info({ event_type: mapped.eventType }, 'event type has no WTL action: skipped');
      return { outcome: 'skipped', reason: `event type ${mapped.eventType} has no WTL action` };
    }

    const { request } = mapped;
    const position = orderingPosition(envelope.received_at, mapped.createdAt);
    for (;;) {
      const asked = performance.now();
      const start = await deps.store.start(envelope.event_id, request.imsi, position, deps.owner, deps.leaseMs);
      if (start.kind === 'duplicate') return 'duplicate';
      if (start.kind === 'superseded') {
        await deps.store.recordSuperseded(envelope.event_id);
        log().info({ imsi: request.imsi, newer_event_id: start.by }, 'older than the state already applied at WTL: superseded');
        return { outcome: 'superseded', reason: `older than ${start.by}, already applied at WTL` };
      }
      if (start.kind === 'claimed') {
        // Another instance takes the event over once the lease has lapsed, so the call must fit in it. A claim
        // whose answer came back late (this process or the database held up) is given back and asked for again
        // rather than used for a call another instance may already be making.
        const waitedMs = performance.now() - asked;
        if (!claimLeavesRoomForCall(waitedMs, deps.leaseMs)) {
          log().warn({ imsi: request.imsi, waited_ms: Math.round(waitedMs), lease_ms: deps.leaseMs }, 'the claim came back too late to call WTL within its lease: claiming again');
          await deps.store.release(envelope.event_id, deps.owner);
          continue;
        }
        if (start.resend) log().warn({ imsi: request.imsi }, 'an earlier WTL call for this event has no recorded outcome: re-sending the same full-state request');
        break;
      }
      // Another instance is mid-call for this very event (only during a rebalance overlap): sending now
      // could let its older call land after ours, so wait for it to finish or its lease to lapse, then look again.
      log().info({ other_owner: start.owner, wait_ms: start.waitMs }, 'event in flight at another instance: waiting');
      await sleep(Math.min(start.waitMs, 1000));
    }

    const started = performance.now();
    let answer;
    try {
      answer = await deps.wtl.sync(request, { eventId: envelope.event_id, requestId: envelope.request_id });
    } catch (err) {
      // The call is over (failed or timed out); the retry or the redrive claims again.
      await deps.store.release(envelope.event_id, deps.owner).catch(() => undefined);
      throw err;
    }
    await deps.store.complete(envelope.event_id, request.imsi, position);
    log().info({ imsi: request.imsi, action: request.action, subscriber_status: request.subscriber_status, dry_run: deps.wtl.dryRun }, 'provisioned');
    const effect: Record<string, string> = { action: request.action, subscriber_status: request.subscriber_status, latency_ms: String(Math.round(performance.now() - started)) };
    effect.http_status = answer.http_status === undefined ? 'dry-run' : String(answer.http_status);
    return { outcome: 'processed', effect };
  };
}
