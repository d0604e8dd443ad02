// Sheet-export settings, all from the environment (see docs/sheet-export.md for every variable).
import { readFileSync } from 'node:fs';
import { ConfigError, commonConfigShape, env, kafkaConfigShape, loadConfig } from '../shared/config.js';
import { parseServiceAccount, type ServiceAccount } from './google-sink.js';

export const sheetExportConfigShape = {
  ...kafkaConfigShape,
  ...commonConfigShape,
  HOST: env.string('127.0.0.1'),
  PORT: env.port(9102),
  DB_SCHEMA: env.dbSchema('sheet_export'),
  SHEET_EXPORT_GROUP_ID: env.string('switchboard-sheet-export'),
  /** How long the group waits for a silent (crashed) instance before its partitions move on. */
  SHEET_EXPORT_SESSION_TIMEOUT_MS: env.int(30_000, 6000),
  GOOGLE_SHEETS_SPREADSHEET_ID: env.optionalString(),
  GOOGLE_APPLICATION_CREDENTIALS: env.optionalString(),
  GOOGLE_SERVICE_ACCOUNT_JSON: env.optionalString(),
  GOOGLE_SHEETS_ROOT_URL: env.string('https://sheets.googleapis.com/'),
  GOOGLE_SHEETS_TIMEOUT_MS: env.int(30_000, 100),
  SHEETS_TAB_NSPS: env.string('NSPS events'),
  SHEETS_TAB_1NCE_EVENTS: env.string('1NCE events'),
  SHEETS_TAB_1NCE_USAGE: env.string('1NCE usage'),
  SHEETS_BATCH_MAX_ROWS: env.int(2000, 1),
  SHEETS_BATCH_MAX_WAIT_MS: env.int(2000, 0),
  /** 1000 ms = 60 appends a minute: the per-user write quota of the Sheets API. */
  SHEETS_MIN_CALL_INTERVAL_MS: env.int(1000, 0),
};

export type SheetExportEnv = ReturnType<typeof loadConfig<typeof sheetExportConfigShape>>;

export interface SheetExportConfig extends SheetExportEnv {
  /** Set when Google Sheets is configured; absent means the CSV default. */
  google?: { spreadsheetId: string; credentials: ServiceAccount };
}

export function loadSheetExportConfig(source: Record<string, string | undefined> = process.env): SheetExportConfig {
  const cfg = loadConfig(sheetExportConfigShape, source);
  const problems: string[] = [];
  const tabs = [cfg.SHEETS_TAB_NSPS, cfg.SHEETS_TAB_1NCE_EVENTS, cfg.SHEETS_TAB_1NCE_USAGE];
  if (new Set(tabs).size !== tabs.length) problems.push('SHEETS_TAB_*: the three tab names must differ');
  const credentialJson = readCredentials(cfg, problems);
  const spreadsheetId = cfg.GOOGLE_SHEETS_SPREADSHEET_ID;
  if (credentialJson === undefined) {
    if (spreadsheetId && problems.length === 0) problems.push('GOOGLE_SHEETS_SPREADSHEET_ID is set but no credentials are (GOOGLE_APPLICATION_CREDENTIALS or GOOGLE_SERVICE_ACCOUNT_JSON)');
    if (problems.length > 0) throw new ConfigError(problems);
    return cfg;
  }
  if (!spreadsheetId) problems.push('GOOGLE_SHEETS_SPREADSHEET_ID: is required when Google credentials are configured (it is not set)');
  let credentials: ServiceAccount | undefined;
  try {
    credentials = parseServiceAccount(credentialJson);
  } catch (err) {
    problems.push(`Google credentials: ${(err as Error).message}`);
  }
  if (problems.length > 0 || !credentials || !spreadsheetId) throw new ConfigError(problems);
  return { ...cfg, google: { spreadsheetId, credentials } };
}

function readCredentials(cfg: SheetExportEnv, problems: string[]): string | undefined {
  if (cfg.GOOGLE_SERVICE_ACCOUNT_JSON && cfg.GOOGLE_APPLICATION_CREDENTIALS) {
    problems.push('GOOGLE_SERVICE_ACCOUNT_JSON and GOOGLE_APPLICATION_CREDENTIALS are both set: set one');
    return undefined;
  }
  if (cfg.GOOGLE_SERVICE_ACCOUNT_JSON) return cfg.GOOGLE_SERVICE_ACCOUNT_JSON;
  if (!cfg.GOOGLE_APPLICATION_CREDENTIALS) return undefined;
  try {
    return readFileSync(cfg.GOOGLE_APPLICATION_CREDENTIALS, 'utf8');
  } catch (err) {
    problems.push(`GOOGLE_APPLICATION_CREDENTIALS: cannot read ${cfg.GOOGLE_APPLICATION_CREDENTIALS} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}
