-- Batches whose append may or may not have reached the sheet: written (committed) before the API call,
-- removed after the call succeeded or after reconciliation found out what the sheet holds.
CREATE TABLE IF NOT EXISTS sheet_pending_batches (
  batch_id   text        PRIMARY KEY,
  tab        text        NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS sheet_pending_batches_tab ON sheet_pending_batches (tab);
CREATE TABLE IF NOT EXISTS sheet_pending_rows (
  batch_id text NOT NULL REFERENCES sheet_pending_batches (batch_id) ON DELETE CASCADE,
  event_id text NOT NULL,
  PRIMARY KEY (batch_id, event_id)
);
