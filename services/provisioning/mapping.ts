// Pure mapping from an NSPS Event to the WTL unified sync request (no I/O, no clock, no config loading):
// the same event and the same settings always give the same request, which is what makes a replay
// or a re-send after a crash harmless. Rules follow the reference WTL HLR/HSS connector. The payload
// is read with the NSPS contract (shared/contracts/nsps-event.ts), the one ingress accepted it with.
import { isObject } from '../shared/json.js';
import { parseNspsEvent, type NspsEvent } from '../shared/contracts/nsps-event.js';
import { identifierProblem } from '../shared/contracts/identifiers.js';

export const WTL_ACTIONS = ['insert', 'update', 'delete', 'set', 'unset', 'modify'] as const;
export type WtlAction = (typeof WTL_ACTIONS)[number];

export type SubscriberStatus = 'SERVICE_GRANTED' | 'OPERATOR_DETERMINED_BARRING';

/** The body POSTed to WTL. Profiles are left out when neither the event nor the defaults give one. */
export interface UnifiedSyncRequest {
  imsi: string;
  subscriber_status: SubscriberStatus;
  msisdn: string[];
  cs_profile?: string;
  eps_profile?: string;
  action: WtlAction;
}

export interface MappingSettings {
  /** event_type → WTL action, e.g. { 'SIM/Updated': 'update' }. */
  eventActions: Readonly<Record<string, WtlAction>>;
  /** When set, the IMSI must match it (searched, not anchored, like the reference connector). */
  imsiPattern?: RegExp | undefined;
  defaultCsProfile?: string | undefined;
  defaultEpsProfile?: string | undefined;
}

export type MappingResult =
  | { kind: 'sync'; eventType: string; request: UnifiedSyncRequest; createdAt: string | undefined }
  | { kind: 'skip'; eventType: string; reason: string }
  | { kind: 'invalid'; reason: string };

const MSISDN_SUFFIX = '@msisdn';

/** Parses the raw NSPS payload bytes with the NSPS contract and maps the event; a payload that is not an Event is 'invalid'. */
export function mapPayload(payload: Buffer | string, settings: MappingSettings): MappingResult {
  const parsed = parseNspsEvent(typeof payload === 'string' ? Buffer.from(payload) : payload);
  if (!parsed.ok) return { kind: 'invalid', reason: `payload is not an NSPS event: ${parsed.error}` };
  return mapEvent(parsed.event, settings);
}

export function mapEvent(event: NspsEvent, settings: MappingSettings): MappingResult {
  const eventType = event.data.event_type;
  // The contract allows an empty event type; no action can be configured for it.
  if (eventType === '') return { kind: 'invalid', reason: 'data.event_type is missing' };

  // An own-property lookup, so names like "constructor" never resolve to something inherited.
  const action = Object.prototype.hasOwnProperty.call(settings.eventActions, eventType) ? settings.eventActions[eventType] : undefined;
  if (!action) return { kind: 'skip', eventType, reason: `no WTL action configured for event type ${eventType}` };

  const pb = event.pb_data ?? {};
  const sim = pb.sim_info ?? {};
  const account = pb.account_info ?? {};

  // A numeric IMSI beyond 2^53 was rounded by JSON.parse: provisioning a rounded IMSI would change another subscriber.
  if (typeof sim.imsi === 'number' && !Number.isSafeInteger(sim.imsi)) {
    return { kind: 'invalid', reason: `pb_data.sim_info.imsi: the number ${String(sim.imsi)} cannot be read exactly; send the IMSI as a string` };
  }
  const imsi = typeof sim.imsi === 'string' ? sim.imsi.trim() : typeof sim.imsi === 'number' ? String(sim.imsi) : '';
  if (imsi === '') return { kind: 'invalid', reason: 'pb_data.sim_info.imsi is missing' };
  // Provisioning's per-subscriber state is keyed by the IMSI (identifiers.ts bounds such keys).
  const imsiProblem = identifierProblem(imsi);
  if (imsiProblem) return { kind: 'invalid', reason: `pb_data.sim_info.imsi: ${imsiProblem}` };
  if (settings.imsiPattern && !settings.imsiPattern.test(imsi)) {
    return { kind: 'invalid', reason: `IMSI ${imsi} does not match WTL_IMSI_REGEXP ${settings.imsiPattern.source}` };
  }

  const billOpen = account.bill_status === 'open';
  const blocked = account.blocked === true;
  const msisdn = billOpen ? msisdnFromAccountId(account.id) : undefined;

  const request: UnifiedSyncRequest = {
    imsi,
    subscriber_status: !blocked && billOpen ? 'SERVICE_GRANTED' : 'OPERATOR_DETERMINED_BARRING',
    msisdn: msisdn ? [msisdn] : [],
    action,
  };
  const cs = profile(pb.access_policy_info, 'cs_profile') ?? settings.defaultCsProfile;
  const eps = profile(pb.access_policy_info, 'eps_profile') ?? settings.defaultEpsProfile;
  if (cs !== undefined) request.cs_profile = cs;
  if (eps !== undefined) request.eps_profile = eps;
  return { kind: 'sync', eventType, request, createdAt: typeof event.created_at === 'string' ? event.created_at : undefined };
}

/** "79123456789@msisdn" → "79123456789"; any other account id form carries no MSISDN. */
export function msisdnFromAccountId(id: unknown): string | undefined {
  if (typeof id !== 'string' || !id.endsWith(MSISDN_SUFFIX)) return undefined;
  const msisdn = id.slice(0, -MSISDN_SUFFIX.length).trim();
  return msisdn === '' ? undefined : msisdn;
}

function profile(policy: Record<string, unknown> | null | undefined, name: string): string | undefined {
  if (!policy || !Array.isArray(policy.attributes)) return undefined;
  for (const attr of policy.attributes) {
    if (isObject(attr) && attr.name === name && typeof attr.value === 'string' && attr.value !== '') return attr.value;
  }
  return undefined;
}

/** Parses WTL_EVENT_ACTIONS: "SIM/Updated=update,SIM/Deleted=delete". Throws naming the bad entry. */
export function parseEventActions(spec: string): Record<string, WtlAction> {
  const map: Record<string, WtlAction> = {};
  for (const entry of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.lastIndexOf('=');
    const type = eq > 0 ? entry.slice(0, eq).trim() : '';
    const action = eq > 0 ? entry.slice(eq + 1).trim() : '';
    if (!type || !(WTL_ACTIONS as readonly string[]).includes(action)) {
      throw new Error(`"${entry}" must be <event_type>=<${WTL_ACTIONS.join('|')}>`);
    }
    map[type] = action as WtlAction;
  }
  return map;
}

// Ordering of one subscriber's events. NSPS sends full state (pb_data) with every event, so applying
// an older event after a newer one would roll the subscriber back. The position is when ingress
// received the event (the order in which Switchboard learned the states), then the event's own
// created_at as a tie-breaker.
export interface OrderingPosition {
  receivedAt: number;
  /** ms since the epoch from the event's created_at; 0 when absent or unparseable. */
  createdAt: number;
}

export function orderingPosition(receivedAt: number, createdAt: string | undefined): OrderingPosition {
  const created = createdAt === undefined ? NaN : Date.parse(createdAt);
  return { receivedAt, createdAt: Number.isFinite(created) ? created : 0 };
}

/** True when `a` comes strictly before `b` (equal positions are not older: the event is applied). */
export function isOlder(a: OrderingPosition, b: OrderingPosition): boolean {
  return a.receivedAt < b.receivedAt || (a.receivedAt === b.receivedAt && a.createdAt < b.createdAt);
}

