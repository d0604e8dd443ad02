// Google Sheets through the official client (@googleapis/sheets) with service-account credentials.
// Errors are classified here, once: refusals and outages are transient (the exporter pauses and
// retries, it never drops rows because a sheet is unreachable or misconfigured); only a 400 on an
// append, which blames the rows themselves, is permanent.
import { auth as googleAuth, sheets, type sheets_v4 } from '@googleapis/sheets';
import { PermanentError, TransientError } from '../shared/errors.js';
import type { Sink } from './sink.js';
import { markNotApplied } from './sink.js';
import { retryAfterMs as parseRetryAfter } from '../shared/retry-after.js';

export const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';
const SCOPE = 'https://www.googleapis.com/auth/spreadsheets';

export interface ServiceAccount {
  client_email: string;
  private_key: string;
  token_uri?: string;
}

export interface GoogleSinkOptions {
  spreadsheetId: string;
  credentials: ServiceAccount;
  /** Base URL of the Sheets API (tests point it at the emulator). */
  rootUrl: string;
  timeoutMs: number;
  onThrottled?: () => void;
}

export function parseServiceAccount(json: string): ServiceAccount {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error('the service account credentials are not valid JSON');
  }
  const sa = parsed as Partial<ServiceAccount>;
  if (typeof sa.client_email !== 'string' || typeof sa.private_key !== 'string') {
    throw new Error('the service account credentials need client_email and private_key');
  }
  return { client_email: sa.client_email, private_key: sa.private_key, ...(typeof sa.token_uri === 'string' ? { token_uri: sa.token_uri } : {}) };
}

export function createGoogleSink(opts: GoogleSinkOptions): Sink {
  const tokenUri = opts.credentials.token_uri ?? DEFAULT_TOKEN_URI;
  // google-auth-library's JWT flow posts to Google's fixed token URL; honour the key file's token_uri
  // (as Google's other client libraries do) by rewriting that one URL in the auth transporter.
  const auth = new googleAuth.JWT({ email: opts.credentials.client_email, key: opts.credentials.private_key, scopes: [SCOPE] });
  auth.transporter.interceptors.request.add({
    resolved: async (config) => {
      if (tokenUri !== DEFAULT_TOKEN_URI && String(config.url) === DEFAULT_TOKEN_URI) config.url = new URL(tokenUri);
      config.timeout ??= opts.timeoutMs; // the token request has none of its own: never hang a flush on it
      return config;
    },
  });
  const api = sheets({ version: 'v4', auth, rootUrl: opts.rootUrl, timeout: opts.timeoutMs });
  const spreadsheetId = opts.spreadsheetId;
  // Our own backoff decides retries (and respects the quota); the client must not retry behind its back.
  const noRetry = { retry: false, retryConfig: { retry: 0 } } as const;

  const call = async <T>(what: string, fn: () => Promise<T>, rowsAreBlamed = false): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw classify(err, what, tokenUri, rowsAreBlamed, opts.onThrottled);
    }
  };

  const tabTitles = async (): Promise<Set<string>> => {
    const res = await call('get spreadsheet', () => api.spreadsheets.get({ spreadsheetId, fields: 'sheets.properties.title' }, noRetry));
    return new Set((res.data.sheets ?? []).map((s) => s.properties?.title ?? ''));
  };

  return {
    target: 'google-sheets',
    async ensureHeader(tab, header) {
      if (!(await tabTitles()).has(tab)) {
        const req: sheets_v4.Schema$BatchUpdateSpreadsheetRequest = { requests: [{ addSheet: { properties: { title: tab } } }] };
        await call('add tab', () => api.spreadsheets.batchUpdate({ spreadsheetId, requestBody: req }, noRetry)).catch(async (err: unknown) => {
          if (!(await tabTitles()).has(tab)) throw err; // another instance created it meanwhile: fine
        });
      }
      const first = await call('read header', () => api.spreadsheets.values.get({ spreadsheetId, range: `${a1(tab)}!1:1` }, noRetry));
      if ((first.data.values ?? []).length === 0) {
        // Writing A1 in place (not appending) is idempotent: two instances starting together write one header.
        await call('write header', () =>
          api.spreadsheets.values.update({ spreadsheetId, range: `${a1(tab)}!A1`, valueInputOption: 'RAW', requestBody: { values: [header] } }, noRetry),
        );
      }
    },
    async append(tab, rows) {
      const res = await call(
        'append',
        () =>
          api.spreadsheets.values.append(
            { spreadsheetId, range: `${a1(tab)}!A1`, valueInputOption: 'RAW', insertDataOption: 'INSERT_ROWS', requestBody: { values: rows } },
            noRetry,
          ),
        true,
      );
      return res.data.updates?.updatedRange ?? undefined;
    },
    async readEventIds(tab) {
      const res = await call('read event ids', () => api.spreadsheets.values.get({ spreadsheetId, range: `${a1(tab)}!A:A` }, noRetry));
      return new Set((res.data.values ?? []).map((row) => String(row[0] ?? '')));
    },
  };
}

/** A tab name in A1 notation: always quoted, quotes doubled. */
export function a1(tab: string): string {
  return `'${tab.replace(/'/g, "''")}'`;
}

interface HttpishError {
  status?: number;
  code?: string | number;
  config?: { url?: string | URL };
  response?: { status?: number; headers?: { get?(name: string): string | null } | Record<string, string> };
}

function classify(err: unknown, what: string, tokenUri: string, rowsAreBlamed: boolean, onThrottled?: () => void): Error {
  const e = (err ?? {}) as HttpishError;
  const status = e.response?.status ?? e.status;
  const message = `Google Sheets ${what} failed${status ? ` with HTTP ${status}` : ''}: ${err instanceof Error ? err.message : String(err)}`;
  if (status === undefined) return new TransientError(message, undefined, { cause: err }); // network, timeout: outcome unknown
  const url = String(e.config?.url ?? '');
  if (status === 429) {
    onThrottled?.();
    return markNotApplied(new TransientError(message, retryAfterMs(e), { cause: err }));
  }
  if (status >= 500 || status === 408) return new TransientError(message, retryAfterMs(e), { cause: err });
  // "Unable to parse range": the tab is gone (deleted or renamed by a person), not bad rows. The next
  // attempt re-creates it, so retry soon.
  if (status === 400 && /Unable to parse range/i.test(message)) return markNotApplied(new TransientError(message, undefined, { cause: err }));
  if (status === 400 && rowsAreBlamed && !url.startsWith(tokenUri)) return markNotApplied(new PermanentError(message, { cause: err }));
  // 401/403/404 and the rest: credentials, sharing or spreadsheet id are wrong. Pause until an operator fixes it.
  return markNotApplied(new TransientError(message, 30_000, { cause: err }));
}

function retryAfterMs(e: HttpishError): number | undefined {
  const headers = e.response?.headers;
  const raw = headers && typeof (headers as { get?: unknown }).get === 'function'
    ? (headers as { get(name: string): string | null }).get('retry-after')
    : (headers as Record<string, string> | undefined)?.['retry-after'];
  return parseRetryAfter(raw);
}
