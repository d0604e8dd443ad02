// The embedded default: one RFC 4180 CSV file per tab under ${DATA_DIR}/sheets/, header row first.
// Appends are fsynced before they count, and a row torn by a crash mid-write is cut off on open,
// so reading the first column back tells exactly which rows are durably there.
import { mkdir, open, readFile, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { Cell, Row } from './rows.js';
import type { Sink } from './sink.js';

export function createCsvSink(dir: string): Sink {
  const repaired = new Set<string>();
  const pathOf = (tab: string): string => join(dir, `${tab.replace(/[^A-Za-z0-9._ -]/g, '_')}.csv`);

  /** Cuts a partial last record (no terminating line break) left by a crash during a write. */
  const repair = async (tab: string): Promise<string> => {
    const path = pathOf(tab);
    const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    if (repaired.has(tab)) return text;
    const complete = completeLength(text);
    if (complete < text.length) await truncate(path, Buffer.byteLength(text.slice(0, complete)));
    repaired.add(tab);
    return text.slice(0, complete);
  };

  const write = async (tab: string, content: string): Promise<void> => {
    await mkdir(dir, { recursive: true });
    const handle = await open(pathOf(tab), 'a');
    try {
      await handle.write(content);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  };

  return {
    target: 'csv',
    async ensureHeader(tab, header) {
      const text = await repair(tab);
      if (text.length === 0) await write(tab, toCsv([header]));
    },
    async append(tab, rows) {
      await repair(tab);
      await write(tab, toCsv(rows));
      return undefined; // a CSV file has no ranges; the trail shows the tab (file) only
    },
    async readEventIds(tab) {
      const text = await repair(tab);
      return new Set(parseCsv(text).map((record) => record[0] ?? ''));
    },
  };
}

export function toCsv(rows: Row[]): string {
  return rows.map((row) => row.map(quote).join(',') + '\r\n').join('');
}

function quote(cell: Cell): string {
  const s = String(cell);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Parses RFC 4180 text into records of fields; a trailing record without its line break is ignored. */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      record.push(field);
      field = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      record.push(field);
      records.push(record);
      record = [];
      field = '';
    } else field += c;
  }
  return records;
}

/** Length of the prefix of `text` that ends with a complete record (a line break outside quotes). */
export function completeLength(text: string): number {
  let quoted = false;
  let end = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') quoted = !quoted; // an escaped "" toggles twice: no net change
    else if (!quoted && c === '\n') end = i + 1;
  }
  return end;
}
