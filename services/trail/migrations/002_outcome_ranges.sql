-- An outcome record may stand for a run of records with the same outcome (schemas/outcome.avsc `also`, a
-- batch's duplicates): it is filed as one row per event, the record's own at index 0 and also[i] at i + 1.
-- Existing rows are single outcomes (index 0). Adding the key rebuilds its index once, at this migration.
ALTER TABLE outcomes ADD COLUMN IF NOT EXISTS outcome_index integer NOT NULL DEFAULT 0;
ALTER TABLE outcomes DROP CONSTRAINT IF EXISTS outcomes_pkey;
ALTER TABLE outcomes ADD PRIMARY KEY (outcome_topic, outcome_partition, outcome_offset, outcome_index);
