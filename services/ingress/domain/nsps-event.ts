// The NSPS Event contract (PortaBilling event notifications), checked the way the reference
// connector's pydantic model does, and the record key that keeps one subscriber's events in order.

export interface NspsEvent {
  event_id: string;
  data: { event_type: string; variables: Record<string, unknown> };
  pb_data?: {
    account_info?: Record<string, unknown> | null;
    sim_info?: Record<string, unknown> | null;
    access_policy_info?: Record<string, unknown> | null;
  } | null;
  handler_id?: string | null;
  created_at?: string | null;
  updated_at?: string | null;
  status?: string | null;
}

export type Validation<T> = { ok: true; value: T } | { ok: false; error: string };

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks a parsed body against the Event contract; `error` names the first problem found. */
export function validateNspsEvent(body: unknown): Validation<NspsEvent> {
  if (!isPlainObject(body)) return { ok: false, error: 'body must be a JSON object' };
  if (body.event_id === undefined || body.event_id === null) return { ok: false, error: 'event_id: field required' };
  if (typeof body.event_id !== 'string' || body.event_id.length === 0) return { ok: false, error: 'event_id: must be a non-empty string' };
  if (body.data === undefined || body.data === null) return { ok: false, error: 'data: field required' };
  if (!isPlainObject(body.data)) return { ok: false, error: 'data: must be an object' };
  const { event_type, variables } = body.data;
  if (event_type === undefined || event_type === null) return { ok: false, error: 'data.event_type: field required' };
  if (typeof event_type !== 'string') return { ok: false, error: 'data.event_type: must be a string' };
  if (variables !== undefined && !isPlainObject(variables)) return { ok: false, error: 'data.variables: must be an object' };
  if (body.pb_data !== undefined && body.pb_data !== null) {
    if (!isPlainObject(body.pb_data)) return { ok: false, error: 'pb_data: must be an object' };
    for (const part of ['account_info', 'sim_info', 'access_policy_info'] as const) {
      const value = body.pb_data[part];
      if (value !== undefined && value !== null && !isPlainObject(value)) return { ok: false, error: `pb_data.${part}: must be an object` };
    }
  }
  for (const field of ['handler_id', 'created_at', 'updated_at', 'status'] as const) {
    const value = body[field];
    if (value !== undefined && value !== null && typeof value !== 'string') return { ok: false, error: `${field}: must be a string` };
  }
  const event = { ...body, data: { ...body.data, event_type, variables: variables ?? {} } } as NspsEvent;
  return { ok: true, value: event };
}

/** One subscriber's events share a key (IMSI, else the account), so they stay in one partition, in order. */
export function nspsRecordKey(event: NspsEvent): string {
  const imsi = event.pb_data?.sim_info?.imsi;
  if (typeof imsi === 'string' && imsi.length > 0) return imsi;
  if (typeof imsi === 'number') return String(imsi);
  const account = event.pb_data?.account_info?.i_account;
  if (typeof account === 'string' && account.length > 0) return account;
  if (typeof account === 'number') return String(account);
  return event.event_id;
}
