-- The trail: an index of the raw topics and of the outcomes topic. Every row can be rebuilt from Kafka
-- (npm run replay -- trail); rows older than TRAIL_RETENTION_DAYS are pruned.

-- One row per raw record (a delivery). A sender that resends an event makes a second delivery of the
-- same event_id at another position; a byte-identical record produced again (same event_id, request id
-- and received-at time) is the same delivery and is not stored twice.
CREATE TABLE IF NOT EXISTS events (
  topic         text        NOT NULL,
  partition     integer     NOT NULL,
  "offset"      bigint      NOT NULL,
  event_id      text        NOT NULL,
  source        text        NOT NULL,
  kind          text        NOT NULL,
  event_type    text,
  key           text,
  tenant        text,
  request_id    text        NOT NULL,
  received_at   timestamptz NOT NULL,
  size          integer     NOT NULL,
  sibling_group text,
  attributes    jsonb       NOT NULL,
  PRIMARY KEY (topic, partition, "offset")
);

CREATE UNIQUE INDEX IF NOT EXISTS events_delivery ON events (event_id, request_id, received_at);
CREATE INDEX IF NOT EXISTS events_by_time ON events (received_at DESC, topic DESC, partition DESC, "offset" DESC);
CREATE INDEX IF NOT EXISTS events_by_key ON events (key, received_at DESC);
CREATE INDEX IF NOT EXISTS events_by_group ON events (sibling_group) WHERE sibling_group IS NOT NULL;

-- One row per outcome record. (outcome_partition, outcome_offset) is where it sits in the outcomes topic;
-- topic/partition/offset is the raw (or redrive) record the consumer handled. An outcome published twice
-- (same consumer, event, record, outcome, attempt and time) is one row.
CREATE TABLE IF NOT EXISTS outcomes (
  outcome_topic     text        NOT NULL,
  outcome_partition integer     NOT NULL,
  outcome_offset    bigint      NOT NULL,
  event_id          text        NOT NULL,
  consumer          text        NOT NULL,
  outcome           text        NOT NULL,
  attempt           integer     NOT NULL,
  reason            text,
  effect            jsonb       NOT NULL,
  at                timestamptz NOT NULL,
  topic             text        NOT NULL,
  partition         integer     NOT NULL,
  "offset"          bigint      NOT NULL,
  PRIMARY KEY (outcome_topic, outcome_partition, outcome_offset)
);

CREATE UNIQUE INDEX IF NOT EXISTS outcomes_fact ON outcomes (event_id, consumer, topic, partition, "offset", outcome, attempt, at);
CREATE INDEX IF NOT EXISTS outcomes_by_time ON outcomes (at);

-- Each consumer's latest outcome per event (by `at`, then by position in the outcomes topic, where one
-- event's outcomes keep their order): what the list filters on, so "dead-lettered since 09:00" is an index scan.
CREATE TABLE IF NOT EXISTS latest_outcomes (
  event_id          text        NOT NULL,
  consumer          text        NOT NULL,
  outcome           text        NOT NULL,
  attempt           integer     NOT NULL,
  reason            text,
  at                timestamptz NOT NULL,
  outcome_partition integer     NOT NULL,
  outcome_offset    bigint      NOT NULL,
  PRIMARY KEY (event_id, consumer)
);

CREATE INDEX IF NOT EXISTS latest_outcomes_by_outcome ON latest_outcomes (outcome, consumer);
