-- Idempotency record shared by all consumers: one row per (consumer, event_id) whose effect happened.
CREATE TABLE IF NOT EXISTS processed_events (
  consumer     text        NOT NULL,
  event_id     text        NOT NULL,
  outcome      text        NOT NULL,
  processed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
