-- Current state of every on-premise system the SAP NS reports told us about.
-- id is a hash of {tenant, subaccount, location_id, host}, so a rebuild yields the same ids.
-- Timestamps come from the report's received_at (not now()), so a rebuild yields the same rows.
CREATE TABLE IF NOT EXISTS systems (
  id             text        PRIMARY KEY,
  tenant         text        NOT NULL,
  subaccount     text        NOT NULL,
  location_id    text        NOT NULL,
  host           text        NOT NULL,
  protocol       text,
  type           text,
  system_status  text,
  description    text,
  system_number  text,
  reachable      boolean     NOT NULL,
  created_at     timestamptz NOT NULL,
  updated_at     timestamptz NOT NULL,
  last_report_id text        NOT NULL,
  UNIQUE (tenant, subaccount, location_id, host)
);

CREATE INDEX IF NOT EXISTS systems_by_scc ON systems (tenant, subaccount, location_id, id);

-- What changed, when, and which report (and which Kafka record completed it) caused it.
-- (source_partition, source_offset) orders one tenant's changes exactly as the topic does.
CREATE TABLE IF NOT EXISTS system_history (
  system_id        text        NOT NULL,
  report_id        text        NOT NULL,
  event_id         text        NOT NULL,
  report_type      text        NOT NULL,
  change           text        NOT NULL,
  before           jsonb,
  after            jsonb       NOT NULL,
  changed_at       timestamptz NOT NULL,
  source_partition integer     NOT NULL,
  source_offset    bigint      NOT NULL,
  PRIMARY KEY (system_id, report_id)
);

-- Parts of split reports, held until every part arrived (written with the part's idempotency record).
CREATE TABLE IF NOT EXISTS report_parts (
  report_id   text        NOT NULL,
  part        integer     NOT NULL,
  parts       integer     NOT NULL,
  tenant      text        NOT NULL,
  report_type text        NOT NULL,
  event_id    text        NOT NULL,
  received_at timestamptz NOT NULL,
  payload     bytea       NOT NULL,
  PRIMARY KEY (report_id, part)
);

CREATE INDEX IF NOT EXISTS report_parts_by_tenant ON report_parts (tenant, received_at);

-- Named point-in-time inventories built by `npm run replay -- scc-inventory --as-of <time>`.
CREATE TABLE IF NOT EXISTS snapshots (
  name       text        PRIMARY KEY,
  as_of      timestamptz NOT NULL,
  built_at   timestamptz NOT NULL DEFAULT now(),
  records    bigint      NOT NULL
);

CREATE TABLE IF NOT EXISTS snapshot_systems (
  snapshot text NOT NULL REFERENCES snapshots (name) ON DELETE CASCADE,
  LIKE systems,
  PRIMARY KEY (snapshot, id)
);

CREATE TABLE IF NOT EXISTS snapshot_system_history (
  snapshot text NOT NULL REFERENCES snapshots (name) ON DELETE CASCADE,
  LIKE system_history,
  PRIMARY KEY (snapshot, system_id, report_id)
);
