-- batchscribe schema, version 4: documents in parts (issue 13).
--
-- A document is sent as one or more parts, each a contiguous page range with
-- its own request line (custom_id = document id when the document is one part,
-- else "<document_id>~p0001-0040"). The document keeps its own state machine
-- (PENDING -> PREPARED -> SUBMITTED -> final); its parts remember what each
-- range already achieved, so that a retry sends only the parts that have not
-- succeeded, and a part cut at max_completion_tokens is replaced by its two
-- halves (state SPLIT) instead of being sent again as it was.

ALTER TABLE batches
  ADD COLUMN split_policy    text   NOT NULL DEFAULT 'AUTO',  -- AUTO ALLOW NEVER
  ADD COLUMN page_count      bigint NOT NULL DEFAULT 0,       -- pages of the documents planned so far
  ADD COLUMN pages_succeeded bigint NOT NULL DEFAULT 0,
  ADD COLUMN part_count      bigint NOT NULL DEFAULT 0,       -- live parts (not SPLIT) planned so far
  ADD COLUMN parts_succeeded bigint NOT NULL DEFAULT 0;

ALTER TABLE documents
  ADD COLUMN page_count      integer,                         -- NULL until planned
  ADD COLUMN part_count      integer NOT NULL DEFAULT 0,      -- live parts; 0 = not planned yet
  ADD COLUMN parts_succeeded integer NOT NULL DEFAULT 0;

CREATE TABLE document_parts (
  batch_id                text    NOT NULL,
  document_id             text    NOT NULL,
  first_page              integer NOT NULL,                  -- 1-based, inclusive
  last_page               integer NOT NULL,                  -- 0: the whole document, pages unknown (upgraded rows)
  state                   text    NOT NULL DEFAULT 'PENDING', -- PENDING SUCCEEDED FAILED SPLIT
  shard_id                text,                              -- shard of the latest attempt
  pdf_bytes               bigint  NOT NULL DEFAULT 0,        -- exact size of the part's own PDF (0: not measured yet)
  line_bytes              bigint  NOT NULL DEFAULT 0,        -- exact request line size, with '\n'
  estimated_input_tokens  bigint  NOT NULL DEFAULT 0,
  estimated_output_tokens bigint  NOT NULL DEFAULT 0,
  attempts                integer NOT NULL DEFAULT 0,
  error                   text,
  answer_path             text,                              -- the part's answer, relative to the storage root
  input_tokens            bigint  NOT NULL DEFAULT 0,
  cached_input_tokens     bigint  NOT NULL DEFAULT 0,
  output_tokens           bigint  NOT NULL DEFAULT 0,
  cost_usd                double precision NOT NULL DEFAULT 0,
  sync_cost_usd           double precision NOT NULL DEFAULT 0,
  update_time             timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (batch_id, document_id, first_page, last_page),
  FOREIGN KEY (batch_id, document_id) REFERENCES documents (batch_id, document_id) ON DELETE CASCADE
);
CREATE INDEX document_parts_by_shard ON document_parts (batch_id, shard_id) WHERE state = 'PENDING';

-- Documents in flight when the database is upgraded were sent whole, with
-- the document id as custom_id: they are one part covering the whole file.
INSERT INTO document_parts (batch_id, document_id, first_page, last_page, state, shard_id)
SELECT batch_id, document_id, 1, 0, 'PENDING', shard_id
  FROM documents WHERE state IN ('PREPARED', 'SUBMITTED');
UPDATE documents SET part_count = 1 WHERE state IN ('PREPARED', 'SUBMITTED');
