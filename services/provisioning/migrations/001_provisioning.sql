-- Calls to WTL that were started but whose outcome is not recorded yet (see docs/provisioning.md).
-- A row left behind by a crash means "the call may or may not have reached WTL": the event is re-sent.
CREATE TABLE IF NOT EXISTS provisioning_inflight (
  event_id   text        PRIMARY KEY,
  imsi       text        NOT NULL,
  owner      text        NOT NULL,
  claimed_at timestamptz NOT NULL DEFAULT now()
);

-- Per subscriber, the ordering position of the latest event whose state was applied at WTL.
-- An event older than this is 'superseded' and never sent (it would roll the subscriber back).
CREATE TABLE IF NOT EXISTS provisioning_subscribers (
  imsi        text        PRIMARY KEY,
  event_id    text        NOT NULL,
  received_at bigint      NOT NULL,
  created_at  bigint      NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now()
);
