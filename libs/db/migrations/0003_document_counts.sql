-- batchscribe schema, version 3: per-batch, per-state document counts (issue 8).
--
-- GetBatch, ListBatches, CancelBatch and every worker step that may end a batch
-- used to count a batch's documents with GROUP BY state over `documents`: a
-- scan of the whole batch per call (42 ms on 100,000 documents). PostgreSQL
-- now keeps the totals itself in `document_counts`, an append-only table of
-- deltas: statement-level triggers on `documents` add one row per (batch,
-- state) that a statement changed, and readers sum the rows of a batch. No row
-- is ever updated, so concurrent writers never wait on each other (a single
-- counter row per batch would serialise every transaction of the batch).
-- compact_document_counts() folds a batch's rows into one per state.
--
-- Sums are exact: counts and tokens are bigint; costs are numeric, converted
-- from float8 through its shortest round-trip text (extra_float_digits >= 1),
-- so a delta subtracts exactly what was added and the totals never drift.
-- Readers cast the sums back to float8 (correctly rounded).

CREATE TABLE document_counts (
  batch_id            text NOT NULL,   -- no foreign key: see the DELETE trigger below
  state               text NOT NULL,
  documents           bigint NOT NULL,
  input_tokens        bigint NOT NULL,
  cached_input_tokens bigint NOT NULL,
  output_tokens       bigint NOT NULL,
  cost_usd            numeric NOT NULL,
  sync_cost_usd       numeric NOT NULL
);
CREATE INDEX document_counts_by_batch ON document_counts (batch_id, state);

-- Key of the transaction-scoped advisory lock held by whoever rewrites or
-- removes a batch's rows (compaction, deleting the batch).
CREATE FUNCTION document_counts_lock_key(batch_id text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('batchscribe.document_counts:' || batch_id)::bigint $$;

-- A float8 cost as the numeric of its shortest round-trip text, exactly (the
-- caller sets extra_float_digits = 1). A simple SQL function: the planner
-- inlines it, so the triggers pay no call per row.
CREATE FUNCTION document_counts_exact(value float8) RETURNS numeric
LANGUAGE sql STABLE AS $$ SELECT CASE WHEN value = 0 THEN 0 ELSE value::text::numeric END $$;

-- One trigger function for the three statement-level triggers. A foreign key
-- to batches would make every delta insert take a KEY SHARE lock on the batch
-- row, which conflicts with the workers' FOR UPDATE: deletions are handled
-- here instead.
CREATE FUNCTION document_counts_record() RETURNS trigger
LANGUAGE plpgsql SET extra_float_digits = 1 AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO document_counts (batch_id, state, documents, input_tokens, cached_input_tokens,
                                 output_tokens, cost_usd, sync_cost_usd)
    SELECT batch_id, state, count(*), sum(input_tokens), sum(cached_input_tokens),
           sum(output_tokens),
           sum(document_counts_exact(cost_usd)), sum(document_counts_exact(sync_cost_usd))
      FROM new_documents
     GROUP BY batch_id, state;
  ELSIF TG_OP = 'UPDATE' THEN
    -- +new rows -old rows per (batch, state). Groups that cancel out (an
    -- UPDATE of update_time only, or of columns not counted) add nothing.
    INSERT INTO document_counts (batch_id, state, documents, input_tokens, cached_input_tokens,
                                 output_tokens, cost_usd, sync_cost_usd)
    SELECT batch_id, state, sum(documents), sum(input_tokens), sum(cached_input_tokens),
           sum(output_tokens), sum(cost_usd), sum(sync_cost_usd)
      FROM (SELECT batch_id, state, 1 AS documents, input_tokens, cached_input_tokens,
                   output_tokens,
                   document_counts_exact(cost_usd) AS cost_usd,
                   document_counts_exact(sync_cost_usd) AS sync_cost_usd
              FROM new_documents
            UNION ALL
            SELECT batch_id, state, -1, -input_tokens, -cached_input_tokens, -output_tokens,
                   -document_counts_exact(cost_usd), -document_counts_exact(sync_cost_usd)
              FROM old_documents) d
     GROUP BY batch_id, state
    HAVING sum(documents) <> 0 OR sum(input_tokens) <> 0 OR sum(cached_input_tokens) <> 0
        OR sum(output_tokens) <> 0 OR sum(cost_usd) <> 0 OR sum(sync_cost_usd) <> 0;
  ELSE
    -- Documents deleted with their batch (ON DELETE CASCADE from batches;
    -- this trigger runs after the batch row is gone): drop the batch's rows.
    -- The advisory lock waits for a compaction of the batch in progress, so
    -- that the rows it writes are visible to the DELETE and removed too (and
    -- later compactions find nothing). Locks are taken in batch id order.
    PERFORM pg_advisory_xact_lock(document_counts_lock_key(g.batch_id))
       FROM (SELECT DISTINCT o.batch_id FROM old_documents o
              WHERE NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = o.batch_id)
              ORDER BY 1) g;
    DELETE FROM document_counts c
     USING (SELECT DISTINCT o.batch_id FROM old_documents o
             WHERE NOT EXISTS (SELECT 1 FROM batches b WHERE b.id = o.batch_id)) g
     WHERE c.batch_id = g.batch_id;
    -- Documents deleted from a batch that remains: negative deltas.
    INSERT INTO document_counts (batch_id, state, documents, input_tokens, cached_input_tokens,
                                 output_tokens, cost_usd, sync_cost_usd)
    SELECT batch_id, state, -count(*), -sum(input_tokens), -sum(cached_input_tokens),
           -sum(output_tokens),
           -sum(document_counts_exact(cost_usd)), -sum(document_counts_exact(sync_cost_usd))
      FROM old_documents o
     WHERE EXISTS (SELECT 1 FROM batches b WHERE b.id = o.batch_id)
     GROUP BY batch_id, state;
  END IF;
  RETURN NULL;
END $$;

-- TRUNCATE documents (or TRUNCATE batches CASCADE) empties the counts. TRUNCATE
-- rather than DELETE: its lock waits for compactions in progress.
CREATE FUNCTION document_counts_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE document_counts;
  RETURN NULL;
END $$;

-- Folds the rows of a batch into one per state (dropping states whose sums are
-- all zero). Returns how many rows fewer the batch has, or -1 when another
-- transaction is compacting the batch right now (nothing to do then).
--
-- Why it is safe under READ COMMITTED, with writers and readers running:
-- * The DELETE sees the rows committed before it started (and this
--   transaction's own); it re-inserts exactly their sums in the same
--   statement, so the batch total is unchanged, and a reader sees either all
--   the old rows or the folded ones (one commit), never both or neither.
-- * Rows that writers insert concurrently are invisible to the DELETE and
--   stay as they are: counted once, folded by a later compaction. Writers only
--   insert, so they never wait on a compaction and vice versa.
-- * Compactions of one batch are serialised by the advisory try-lock: a second
--   one returns -1 at once instead of waiting on the first one's row locks.
--   (Without the lock it would still be correct: after the first commits, its
--   DELETE skips the rows the first one deleted and folds only the rest, but
--   two DELETEs locking rows in different orders could deadlock.)
-- * Deleting a batch takes the same lock (blocking), see the DELETE trigger.
CREATE FUNCTION compact_document_counts(p_batch_id text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  removed integer;
BEGIN
  IF NOT pg_try_advisory_xact_lock(document_counts_lock_key(p_batch_id)) THEN
    RETURN -1;
  END IF;
  WITH old AS (
    DELETE FROM document_counts WHERE batch_id = p_batch_id
    RETURNING state, documents, input_tokens, cached_input_tokens, output_tokens, cost_usd,
              sync_cost_usd
  ), folded AS (
    INSERT INTO document_counts (batch_id, state, documents, input_tokens, cached_input_tokens,
                                 output_tokens, cost_usd, sync_cost_usd)
    SELECT p_batch_id, state, sum(documents), sum(input_tokens), sum(cached_input_tokens),
           sum(output_tokens), sum(cost_usd), sum(sync_cost_usd)
      FROM old
     GROUP BY state
    HAVING sum(documents) <> 0 OR sum(input_tokens) <> 0 OR sum(cached_input_tokens) <> 0
        OR sum(output_tokens) <> 0 OR sum(cost_usd) <> 0 OR sum(sync_cost_usd) <> 0
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM old) - (SELECT count(*) FROM folded) INTO removed;
  RETURN removed;
END $$;

-- Triggers first, then the seed: LOCK waits for the transactions writing
-- documents to end and keeps new ones out until this migration commits, after
-- which they fire the triggers. The seed's snapshot (taken after the lock)
-- holds every document written before, so each is counted exactly once.
LOCK TABLE documents IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER documents_count_inserts AFTER INSERT ON documents
  REFERENCING NEW TABLE AS new_documents
  FOR EACH STATEMENT EXECUTE FUNCTION document_counts_record();
CREATE TRIGGER documents_count_updates AFTER UPDATE ON documents
  REFERENCING OLD TABLE AS old_documents NEW TABLE AS new_documents
  FOR EACH STATEMENT EXECUTE FUNCTION document_counts_record();
CREATE TRIGGER documents_count_deletes AFTER DELETE ON documents
  REFERENCING OLD TABLE AS old_documents
  FOR EACH STATEMENT EXECUTE FUNCTION document_counts_record();
CREATE TRIGGER documents_count_truncates AFTER TRUNCATE ON documents
  FOR EACH STATEMENT EXECUTE FUNCTION document_counts_truncate();

SET LOCAL extra_float_digits = 1;
INSERT INTO document_counts (batch_id, state, documents, input_tokens, cached_input_tokens,
                             output_tokens, cost_usd, sync_cost_usd)
SELECT batch_id, state, count(*), sum(input_tokens), sum(cached_input_tokens), sum(output_tokens),
       sum(document_counts_exact(cost_usd)), sum(document_counts_exact(sync_cost_usd))
  FROM documents
 GROUP BY batch_id, state;
