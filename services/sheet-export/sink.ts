// Where rows go: a Google spreadsheet or, by default, local CSV files. Both answer the same three
// questions, which is all the no-duplicate scheme (ledger.ts, writer.ts) needs from a destination.
import type { Row } from './rows.js';

export interface Sink {
  /** Metrics label of the external target. */
  readonly target: 'google-sheets' | 'csv';
  /** Creates the tab when it does not exist and writes the header as its first row when it is empty. */
  ensureHeader(tab: string, header: string[]): Promise<void>;
  /** Appends rows at the end of the tab, in order, in one call; resolves with the range written when known (A1 notation). */
  append(tab: string, rows: Row[]): Promise<string | undefined>;
  /** The values of the tab's first column (the envelope event ids), header included. */
  readEventIds(tab: string): Promise<Set<string>>;
  close?(): Promise<void>;
}

const NOT_APPLIED = Symbol('notApplied');

/** Marks an error as a refusal the destination answered before changing anything (e.g. 429, 400). */
export function markNotApplied<E extends Error>(err: E): E {
  (err as E & { [NOT_APPLIED]?: boolean })[NOT_APPLIED] = true;
  return err;
}

export function wasNotApplied(err: unknown): boolean {
  return err instanceof Error && (err as Error & { [NOT_APPLIED]?: boolean })[NOT_APPLIED] === true;
}
