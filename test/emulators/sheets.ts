// A Google Sheets API emulator for tests: a node:http server speaking just enough of the real protocol
// for the real @googleapis/sheets client and google-auth-library's service-account JWT flow:
//   POST /token                                        OAuth 2 jwt-bearer grant (signature checked)
//   GET  /v4/spreadsheets/{id}                         tab titles
//   POST /v4/spreadsheets/{id}:batchUpdate             addSheet
//   GET  /v4/spreadsheets/{id}/values/{range}          'Tab'!A:A, 'Tab'!1:1
//   PUT  /v4/spreadsheets/{id}/values/{range}          'Tab'!A1 (header)
//   POST /v4/spreadsheets/{id}/values/{range}:append   RAW / INSERT_ROWS
// Rows live in memory. Every write is applied ON RECEIPT: an append's rows are in the tab as soon as
// the request arrives, whatever then happens to the answer (latency, a scripted error after writing,
// the client gone). Scriptable: fail the next N calls of a kind with a status (optionally after
// applying the append, as a server that wrote and then failed would), add latency, count calls, and an
// on-append hook whose promise holds the answer (a test kills the client between write and answer).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createVerify, generateKeyPairSync, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';

export type CallKind = 'token' | 'getSpreadsheet' | 'batchUpdate' | 'valuesGet' | 'valuesUpdate' | 'append';

interface Fault {
  status: number;
  times: number;
  retryAfterSeconds?: number;
  /** Apply an append before answering with the error (the outcome is unknown to the client). */
  applyFirst?: boolean;
}

export interface AppendRecord {
  seq: number;
  at: number;
  tab: string;
  /** Column A of the appended rows (the event ids). */
  eventIds: string[];
  /** The status answered, once written (undefined while held, or when the client went away first). */
  status?: number;
  /** The client closed the connection before the answer. */
  aborted: boolean;
}

export interface SheetsEmulator {
  /** Root URL for the client (GOOGLE_SHEETS_ROOT_URL). */
  rootUrl: string;
  tokenUri: string;
  spreadsheetId: string;
  /** A service-account key file whose token_uri points at this emulator. */
  serviceAccountJson: string;
  calls: Record<CallKind, number>;
  /** Rows appended per call, in order. */
  appendSizes: number[];
  /** Every applied append, in order (recorded on receipt). */
  appends: AppendRecord[];
  /** Called for every applied append right after its rows are in the tab; the answer waits for its promise. */
  onAppend: ((append: AppendRecord) => void | Promise<void>) | undefined;
  latencyMs: number;
  tabs(): string[];
  /** A tab's rows, header included. */
  rows(tab: string): unknown[][];
  fail(kind: CallKind, fault: Fault): void;
  /** What a person deleting a tab in the browser does. */
  deleteTab(tab: string): void;
  close(): Promise<void>;
}

const SCOPE = 'https://www.googleapis.com/auth/spreadsheets';

export async function startSheetsEmulator(opts: { spreadsheetId?: string } = {}): Promise<SheetsEmulator> {
  const spreadsheetId = opts.spreadsheetId ?? `sheet-${randomUUID()}`;
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = 'switchboard-test@emulator.iam.gserviceaccount.com';
  const sheets = new Map<string, unknown[][]>([['Sheet1', []]]);
  const tokens = new Set<string>();
  const faults = new Map<CallKind, Fault[]>();
  const calls: Record<CallKind, number> = { token: 0, getSpreadsheet: 0, batchUpdate: 0, valuesGet: 0, valuesUpdate: 0, append: 0 };
  const appendSizes: number[] = [];
  const appends: AppendRecord[] = [];

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => send(res, 500, googleError(500, String(err), 'INTERNAL')));
  });

  const emulator: SheetsEmulator = {
    rootUrl: '',
    tokenUri: '',
    spreadsheetId,
    serviceAccountJson: '',
    calls,
    appendSizes,
    appends,
    onAppend: undefined,
    latencyMs: 0,
    tabs: () => [...sheets.keys()],
    rows: (tab) => sheets.get(tab) ?? [],
    fail(kind, fault) {
      const list = faults.get(kind) ?? [];
      list.push({ ...fault });
      faults.set(kind, list);
    },
    deleteTab: (tab) => void sheets.delete(tab),
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };

  /** Returns the fault to answer with, if one is scripted for this kind. */
  const takeFault = (kind: CallKind): Fault | undefined => {
    const list = faults.get(kind);
    const fault = list?.[0];
    if (!fault) return undefined;
    if (--fault.times <= 0) list!.shift();
    return fault;
  };

  const answerFault = (res: ServerResponse, fault: Fault): void => {
    const headers: Record<string, string> = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
    const status = fault.status === 429 ? 'RESOURCE_EXHAUSTED' : fault.status >= 500 ? 'INTERNAL' : 'INVALID_ARGUMENT';
    const message = fault.status === 429
      ? "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user'"
      : 'scripted failure';
    send(res, fault.status, googleError(fault.status, message, status), headers);
  };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const body = await readBody(req);
    if (req.method === 'POST' && url.pathname === '/token') return token(res, body);

    const auth = req.headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || !tokens.has(auth.slice('Bearer '.length))) {
      return send(res, 401, googleError(401, 'Request had invalid authentication credentials.', 'UNAUTHENTICATED'));
    }

    const m = /^\/v4\/spreadsheets\/([^/:]+)(?::batchUpdate|\/values\/([^/]+?)(:append)?)?$/.exec(url.pathname);
    if (!m || decodeURIComponent(m[1]!) !== spreadsheetId) return send(res, 404, googleError(404, 'Requested entity was not found.', 'NOT_FOUND'));
    const rangeText = m[2] !== undefined ? decodeURIComponent(m[2]) : undefined;
    const isAppend = m[3] !== undefined;

    const kind: CallKind = rangeText === undefined
      ? url.pathname.endsWith(':batchUpdate') ? 'batchUpdate' : 'getSpreadsheet'
      : isAppend ? 'append' : req.method === 'PUT' ? 'valuesUpdate' : 'valuesGet';
    calls[kind]++;
    const fault = takeFault(kind);
    // Latency delays the answer, not the effect: writes below are applied first.
    const later = async (): Promise<void> => {
      if (emulator.latencyMs > 0) await new Promise((r) => setTimeout(r, emulator.latencyMs));
    };
    if (fault && !fault.applyFirst) return later().then(() => answerFault(res, fault));

    switch (kind) {
      case 'getSpreadsheet':
        await later();
        return send(res, 200, { spreadsheetId, sheets: [...sheets.keys()].map((title, i) => ({ properties: { sheetId: i, title } })) });
      case 'batchUpdate': {
        const requests = (JSON.parse(body || '{}') as { requests?: { addSheet?: { properties?: { title?: string } } }[] }).requests ?? [];
        const replies = [];
        for (const r of requests) {
          const title = r.addSheet?.properties?.title;
          if (!title) return send(res, 400, googleError(400, 'only addSheet is emulated', 'INVALID_ARGUMENT'));
          if (sheets.has(title)) return send(res, 400, googleError(400, `Invalid requests[0].addSheet: A sheet with the name "${title}" already exists.`, 'INVALID_ARGUMENT'));
          sheets.set(title, []);
          replies.push({ addSheet: { properties: { sheetId: sheets.size - 1, title } } });
        }
        await later();
        return send(res, 200, { spreadsheetId, replies });
      }
    }

    const range = parseRange(rangeText!);
    const rows = range ? sheets.get(range.tab) : undefined;
    if (!range || !rows) return send(res, 400, googleError(400, `Unable to parse range: ${rangeText}`, 'INVALID_ARGUMENT'));

    if (kind === 'valuesGet') {
      let values: unknown[][];
      if (range.cells === 'A:A') values = rows.map((r) => (r.length > 0 ? [r[0]] : []));
      else if (range.cells === '1:1') values = rows.slice(0, 1);
      else return send(res, 400, googleError(400, `range ${range.cells} is not emulated`, 'INVALID_ARGUMENT'));
      while (values.length > 0 && values[values.length - 1]!.length === 0) values.pop();
      await later();
      return send(res, 200, { range: rangeText, majorDimension: 'ROWS', ...(values.length > 0 ? { values: values.map((v) => v.map(String)) } : {}) });
    }

    const values = (JSON.parse(body || '{}') as { values?: unknown[][] }).values ?? [];
    if (url.searchParams.get('valueInputOption') !== 'RAW') return send(res, 400, googleError(400, 'valueInputOption must be RAW here', 'INVALID_ARGUMENT'));
    if (kind === 'valuesUpdate') {
      if (range.cells !== 'A1') return send(res, 400, googleError(400, `range ${range.cells} is not emulated`, 'INVALID_ARGUMENT'));
      values.forEach((v, i) => (rows[i] = v));
      await later();
      return send(res, 200, { spreadsheetId, updatedRange: rangeText, updatedRows: values.length });
    }
    // append
    if (url.searchParams.get('insertDataOption') !== 'INSERT_ROWS') return send(res, 400, googleError(400, 'insertDataOption must be INSERT_ROWS here', 'INVALID_ARGUMENT'));
    const start = rows.length + 1;
    rows.push(...values);
    appendSizes.push(values.length);
    const record: AppendRecord = { seq: appends.length + 1, at: Date.now(), tab: range.tab, eventIds: values.map((v) => String(v[0])), aborted: false };
    appends.push(record);
    res.on('close', () => {
      if (record.status === undefined) record.aborted = true;
    });
    await emulator.onAppend?.(record);
    await later();
    if (res.destroyed) return;
    if (fault) {
      record.status = fault.status;
      return answerFault(res, fault); // applied, then failed
    }
    record.status = 200;
    return send(res, 200, {
      spreadsheetId,
      tableRange: `${quote(range.tab)}!A1:Z${start - 1}`,
      updates: { spreadsheetId, updatedRange: `${quote(range.tab)}!A${start}:Z${rows.length}`, updatedRows: values.length, updatedColumns: values[0]?.length ?? 0, updatedCells: values.reduce((n, v) => n + v.length, 0) },
    });
  }

  function token(res: ServerResponse, body: string): void {
    calls.token++;
    const fault = takeFault('token');
    if (fault) return send(res, fault.status, { error: 'temporarily_unavailable' });
    const form = new URLSearchParams(body);
    const assertion = form.get('assertion') ?? '';
    const [h, p, s] = assertion.split('.');
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer' || !h || !p || !s) {
      return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid grant: not a JWT bearer assertion' });
    }
    const verified = createVerify('RSA-SHA256').update(`${h}.${p}`).verify(publicKey, Buffer.from(s, 'base64url'));
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as { iss?: string; scope?: string; exp?: number };
    if (!verified || claims.iss !== clientEmail || !String(claims.scope).split(' ').includes(SCOPE) || (claims.exp ?? 0) * 1000 < Date.now()) {
      return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT Signature.' });
    }
    const accessToken = `ya29.emulated-${randomUUID()}`;
    tokens.add(accessToken);
    send(res, 200, { access_token: accessToken, expires_in: 3599, token_type: 'Bearer' });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  emulator.rootUrl = `http://127.0.0.1:${port}/`;
  emulator.tokenUri = `http://127.0.0.1:${port}/token`;
  emulator.serviceAccountJson = JSON.stringify({
    type: 'service_account',
    project_id: 'switchboard-test',
    private_key_id: 'emulated',
    private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    client_email: clientEmail,
    client_id: '1',
    token_uri: emulator.tokenUri,
  });
  return emulator;
}

/** 'Tab name'!A1 → { tab: 'Tab name', cells: 'A1' } (quotes doubled inside a quoted name). */
export function parseRange(text: string): { tab: string; cells: string } | undefined {
  if (text.startsWith("'")) {
    let tab = '';
    for (let i = 1; i < text.length; i++) {
      if (text[i] === "'" && text[i + 1] === "'") {
        tab += "'";
        i++;
      } else if (text[i] === "'") {
        return text[i + 1] === '!' ? { tab, cells: text.slice(i + 2) } : undefined;
      } else tab += text[i];
    }
    return undefined;
  }
  const bang = text.indexOf('!');
  return bang > 0 ? { tab: text.slice(0, bang), cells: text.slice(bang + 1) } : undefined;
}

function quote(tab: string): string {
  return `'${tab.replace(/'/g, "''")}'`;
}

function googleError(code: number, message: string, status: string): unknown {
  return { error: { code, message, status } };
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
