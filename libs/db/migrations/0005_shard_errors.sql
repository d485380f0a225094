-- batchscribe schema, version 5: consecutive errors of a shard's paid work (issue 14).
--
-- Once an OpenAI batch may exist for a shard, poll and retrieve never fail for
-- good on a transient error (429, 5xx, a dropped connection): they snooze with
-- a backoff that grows with the errors in a row, counted here (0 after any
-- success), and the shard's error says what keeps failing.

ALTER TABLE shards ADD COLUMN consecutive_errors integer NOT NULL DEFAULT 0;
