// Sheet-export configuration: CSV by default, Google only with both a spreadsheet and credentials.
import { describe, expect, it } from 'vitest';
import { loadSheetExportConfig } from '../../services/sheet-export/config.js';
import { ConfigError } from '../../services/shared/config.js';

const base = { KAFKA_BROKERS: '127.0.0.1:9092', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081/apis/ccompat/v7' };
const serviceAccount = JSON.stringify({ client_email: 'a@b.iam.gserviceaccount.com', private_key: '-----BEGIN PRIVATE KEY-----\nsecret-material\n-----END PRIVATE KEY-----\n' });

describe('sheet-export config', () => {
  it('defaults to CSV files, port 9102 and the documented batching', () => {
    const cfg = loadSheetExportConfig(base);
    expect(cfg.google).toBeUndefined();
    expect(cfg.PORT).toBe(9102);
    expect(cfg.SHEETS_BATCH_MAX_ROWS).toBe(2000);
    expect(cfg.SHEETS_MIN_CALL_INTERVAL_MS).toBe(1000);
    expect([cfg.SHEETS_TAB_NSPS, cfg.SHEETS_TAB_1NCE_EVENTS, cfg.SHEETS_TAB_1NCE_USAGE]).toEqual(['NSPS events', '1NCE events', '1NCE usage']);
  });

  it('uses Google Sheets when a spreadsheet and service-account JSON are given', () => {
    const cfg = loadSheetExportConfig({ ...base, GOOGLE_SHEETS_SPREADSHEET_ID: 'abc', GOOGLE_SERVICE_ACCOUNT_JSON: serviceAccount });
    expect(cfg.google?.spreadsheetId).toBe('abc');
    expect(cfg.google?.credentials.client_email).toBe('a@b.iam.gserviceaccount.com');
  });

  it('names every problem without echoing the key material', () => {
    const attempt = (env: Record<string, string>) => {
      try {
        loadSheetExportConfig({ ...base, ...env });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as Error).message;
      }
      throw new Error('expected a ConfigError');
    };
    expect(attempt({ GOOGLE_SERVICE_ACCOUNT_JSON: serviceAccount })).toMatch(/GOOGLE_SHEETS_SPREADSHEET_ID: is required/);
    expect(attempt({ GOOGLE_SHEETS_SPREADSHEET_ID: 'abc' })).toMatch(/no credentials/);
    const bad = attempt({ GOOGLE_SHEETS_SPREADSHEET_ID: 'abc', GOOGLE_SERVICE_ACCOUNT_JSON: '{"private_key":"secret-material"}' });
    expect(bad).toMatch(/client_email and private_key/);
    expect(bad).not.toContain('secret-material');
    expect(attempt({ GOOGLE_APPLICATION_CREDENTIALS: '/nonexistent/key.json', GOOGLE_SHEETS_SPREADSHEET_ID: 'abc' })).toMatch(/cannot read/);
    expect(attempt({ SHEETS_TAB_NSPS: 'Same', SHEETS_TAB_1NCE_EVENTS: 'Same' })).toMatch(/must differ/);
  });
});
