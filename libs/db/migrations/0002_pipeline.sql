-- batchscribe schema, version 2: bookkeeping of the worker pipeline (issue 4).

-- Adaptive polling, resubmission after token_limit_exceeded / "Cannot find
-- file", and the OpenAI batches a shard gave up on (failed at validation, so
-- never executed), kept for the record because openai_batch_id only holds the
-- live one.
ALTER TABLE shards
  ADD COLUMN polls integer NOT NULL DEFAULT 0,
  ADD COLUMN resubmits integer NOT NULL DEFAULT 0,
  ADD COLUMN submit_time timestamptz,
  ADD COLUMN abandoned_openai_batch_ids text[] NOT NULL DEFAULT '{}';

-- The sweep looks for in-flight documents per shard (live tasks per subject
-- are found through tasks_one_live).
CREATE INDEX documents_in_flight ON documents (batch_id, shard_id)
  WHERE state IN ('PREPARED', 'SUBMITTED');
