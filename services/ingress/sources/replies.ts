// Every refusal ingress answers, in one table: what went wrong is named once (a Refusal), and each
// source answers it with its sender's documented status and body shape (docs/ingress.md). Errors
// thrown before a handler ran (body limits, load shedding, Basic auth, fastify's own 4xx) are sorted
// into a Refusal once, here, by the one error handler every source plugin installs.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Source } from '../../shared/envelope.js';
import { errorMessage } from '../../shared/errors.js';
import { PARSE_FAILED } from '../../shared/contracts/sap-report.js';
import { BodyError } from '../http/body.js';
import type { SourceDeps } from './common.js';

type Refusal =
  | 'unauthorized' | 'no_tenant' | 'jwks_unavailable'
  | 'body_too_large' | 'body_timeout' | 'body_unreadable' | 'unsupported_encoding'
  | 'bad_request' | 'unsupported_media_type'
  | 'invalid_json' | 'invalid_event' | 'not_an_array' | 'too_many_records' | 'record_too_large'
  | 'invalid_report_type' | 'missing_property'
  | 'overloaded' | 'kafka_unavailable' | 'internal';

interface Answer {
  /** The status; `same` keeps the status of the error fastify raised (a 400, 415…). */
  status: number | 'same';
  /** The sentence of the body; without it, the detail of the refusal (what exactly is wrong). */
  text?: string;
  /** The `reason` label of switchboard_records_rejected_total (and 1NCE's `error` code) when not the refusal's name. */
  reason?: string;
  retryAfter?: 'load' | 'kafka';
  headers?: Record<string, string>;
}

const SAP_UPDATE_FAILED = 'Update failed';

/** refusal → source → answer. A source without an entry never meets that refusal. */
const ANSWERS: Record<Refusal, Partial<Record<Source, Answer>>> = {
  unauthorized: {
    nsps: { status: 401, text: 'Invalid API token', headers: { 'www-authenticate': 'Bearer' } },
    // @fastify/basic-auth has set WWW-Authenticate already.
    '1nce': { status: 401, text: 'valid HTTP Basic credentials are required' },
    sap: { status: 401, text: 'unauthorized' },
  },
  no_tenant: { sap: { status: 401, text: 'unauthorized' } },
  jwks_unavailable: { sap: { status: 500, text: SAP_UPDATE_FAILED } },
  body_too_large: { nsps: { status: 413 }, '1nce': { status: 413 }, sap: { status: 413 } },
  body_timeout: { nsps: { status: 408 }, '1nce': { status: 408 }, sap: { status: 408, text: 'timeout' } },
  // The adapter's documented message, spelling included.
  body_unreadable: { nsps: { status: 400 }, '1nce': { status: 400 }, sap: { status: 400, text: 'faild to retrieve request body' } },
  // A Content-Encoding ingress cannot undo: to NSPS and the adapter a body they cannot read (their answer to
  // any unreadable body), to 1NCE the HTTP status for it.
  unsupported_encoding: { nsps: { status: 422 }, '1nce': { status: 415 }, sap: { status: 400, text: PARSE_FAILED } },
  // The adapter answers whatever it cannot decode with the parse error.
  bad_request: { nsps: { status: 422 }, '1nce': { status: 'same' }, sap: { status: 400, text: PARSE_FAILED, reason: 'invalid_json' } },
  unsupported_media_type: { nsps: { status: 422, reason: 'bad_request' }, '1nce': { status: 'same' }, sap: { status: 400, text: PARSE_FAILED, reason: 'invalid_json' } },
  invalid_json: { nsps: { status: 422 }, '1nce': { status: 400 }, sap: { status: 400, text: PARSE_FAILED } },
  invalid_event: { nsps: { status: 422 } },
  not_an_array: { '1nce': { status: 422, text: 'body must be a JSON array of records' } },
  too_many_records: { '1nce': { status: 413 } },
  record_too_large: { '1nce': { status: 413 } },
  invalid_report_type: { sap: { status: 400, text: "the query parameter 'reportType' is missing or invalid" } },
  missing_property: { sap: { status: 400 } },
  overloaded: {
    nsps: { status: 503, text: 'Server is overloaded, retry later', retryAfter: 'load' },
    '1nce': { status: 503, text: 'server is overloaded, retry later', retryAfter: 'load' },
    sap: { status: 503, text: 'service unavailable', retryAfter: 'load' },
  },
  kafka_unavailable: {
    nsps: { status: 503, text: 'Event could not be stored, retry later', retryAfter: 'kafka' },
    '1nce': { status: 503, text: 'records could not be stored, retry later', retryAfter: 'kafka' },
    sap: { status: 500, text: SAP_UPDATE_FAILED },
  },
  internal: { nsps: { status: 500, text: 'Unexpected error' }, '1nce': { status: 500, text: 'unexpected error' }, sap: { status: 500, text: SAP_UPDATE_FAILED } },
};

/** NSPS bodies: the reference connector's {message, error, type}, message and type by status. */
const NSPS_KINDS: Record<number, [message: string, type: string]> = {
  401: ['Authentication failed', 'AUTHENTICATION_ERROR'],
  408: ['Request timeout', 'TIMEOUT_ERROR'],
  500: ['Internal error', 'INTERNAL_ERROR'],
  503: ['Service unavailable', 'SERVICE_UNAVAILABLE'],
};
const NSPS_VALIDATION: [string, string] = ['Validation failed', 'VALIDATION_ERROR'];

/** The body of a refusal in the source's documented shape; a string is sent as text/plain. */
function body(source: Source, status: number, reason: string, text: string): object | string {
  if (source === 'nsps') {
    const [message, type] = NSPS_KINDS[status] ?? NSPS_VALIDATION;
    return { message, error: text, type };
  }
  if (source === '1nce') return { error: reason, message: text };
  // SAP: the adapter's {error: {code, message}}; its 413 is the plain text of Go's http.MaxBytesReader.
  return status === 413 ? `Payload Too Large: ${text}` : { error: { code: status, message: text } };
}

/** The JSON schema of a source's refusal bodies, so fastify serialises them from the schema. */
export function errorBodySchema(source: Source): object {
  const text = { type: 'string' };
  if (source === 'nsps') return { type: 'object', properties: { message: text, error: text, type: text }, required: ['message', 'error', 'type'] };
  if (source === '1nce') return { type: 'object', properties: { error: text, message: text }, required: ['error', 'message'] };
  return { type: 'object', properties: { error: { type: 'object', properties: { code: { type: 'integer' }, message: text }, required: ['code', 'message'] } }, required: ['error'] };
}

type Refuse = (reply: FastifyReply, refusal: Refusal, detail?: string, errorStatus?: number) => FastifyReply;

/** The answer to one refusal for one source: counts it and sends the documented status, headers and body. */
function refuser(source: Source, deps: Pick<SourceDeps, 'cfg' | 'ingressMetrics'>): Refuse {
  const retryAfter = { load: String(deps.cfg.LOAD_RETRY_AFTER_SECONDS), kafka: String(deps.cfg.KAFKA_RETRY_AFTER_SECONDS) };
  return (reply, refusal, detail = '', errorStatus = 500) => {
    const answer = ANSWERS[refusal][source] ?? ANSWERS.internal[source]!;
    const status = answer.status === 'same' ? errorStatus : answer.status;
    const reason = answer.reason ?? refusal;
    deps.ingressMetrics.recordsRejected.inc({ source, reason });
    if (answer.retryAfter) reply.header('retry-after', retryAfter[answer.retryAfter]);
    if (answer.headers) reply.headers(answer.headers);
    const payload = body(source, status, reason, answer.text ?? detail);
    return reply.code(status).type(typeof payload === 'string' ? 'text/plain; charset=utf-8' : 'application/json').send(payload);
  };
}

type ThrownError = Error & { statusCode?: number; code?: string };

/** Sorts an error raised before or outside a handler into the refusal it is; the detail is what the sender may read. */
function refusalOf(err: ThrownError): { refusal: Refusal; detail: string; status?: number } {
  if (err instanceof BodyError) return { refusal: err.reason, detail: err.message };
  if (err.code === 'FST_UNDER_PRESSURE' || err.statusCode === 503) return { refusal: 'overloaded', detail: '' };
  if (err.statusCode === 401) return { refusal: 'unauthorized', detail: '' };
  // A 4xx that fastify itself raised before our handler ran (unusable Content-Type, bad Content-Length…).
  if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    if (err.statusCode === 415) return { refusal: 'unsupported_media_type', detail: 'the Content-Type header is missing or not valid', status: 415 };
    return { refusal: 'bad_request', detail: err.message, status: err.statusCode };
  }
  return { refusal: 'internal', detail: '' };
}

/**
 * Installs the source's refusals on its plugin scope: the error handler, and the `refuse` its hooks and
 * handler call. After a body error the connection is closed: the unread rest of the body is not read.
 */
export function useReplies(app: FastifyInstance, source: Source, deps: Pick<SourceDeps, 'cfg' | 'ingressMetrics'>): Refuse {
  const refuse = refuser(source, deps);
  app.setErrorHandler((err: ThrownError, req: FastifyRequest, reply: FastifyReply) => {
    const { refusal, detail, status } = refusalOf(err);
    if (err instanceof BodyError) reply.header('connection', 'close');
    if (refusal === 'internal') req.log.error({ err: errorMessage(err) }, 'unexpected error');
    return refuse(reply, refusal, detail, status);
  });
  return refuse;
}
