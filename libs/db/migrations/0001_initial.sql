-- batchscribe schema, version 1. See docs/CONTRACTS.md for the meaning of every state.

CREATE TABLE batches (
  id                    text PRIMARY KEY,            -- [a-z0-9][a-z0-9-]{0,62}
  request_id            text UNIQUE,                 -- AIP-155 idempotency key, NULL when none
  request_hash          text NOT NULL,               -- sha256 of the normalised request body
  display_name          text NOT NULL DEFAULT '',
  state                 text NOT NULL,               -- PENDING RUNNING CANCELLING SUCCEEDED PARTIALLY_SUCCEEDED FAILED CANCELLED
  model                 text NOT NULL,
  mode                  text NOT NULL,               -- BATCH SYNC
  prompt                text NOT NULL,
  json_schema           text NOT NULL,               -- JSON Schema text sent as strict response_format
  max_completion_tokens integer NOT NULL,
  max_cost_usd          double precision NOT NULL DEFAULT 0,
  skip_existing         boolean NOT NULL,
  labels                jsonb NOT NULL DEFAULT '{}',
  last_errors           text[] NOT NULL DEFAULT '{}', -- newest first, at most 10
  input_tokens          bigint NOT NULL DEFAULT 0,
  cached_input_tokens   bigint NOT NULL DEFAULT 0,
  output_tokens         bigint NOT NULL DEFAULT 0,
  cost_usd              double precision NOT NULL DEFAULT 0,
  sync_cost_usd         double precision NOT NULL DEFAULT 0,
  create_time           timestamptz NOT NULL DEFAULT now(),
  update_time           timestamptz NOT NULL DEFAULT now(),
  end_time              timestamptz
);
CREATE INDEX batches_by_time ON batches (create_time DESC, id DESC);

CREATE TABLE documents (
  batch_id            text NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
  document_id         text NOT NULL,                 -- OpenAI custom_id, transcript file name
  path                text NOT NULL,                 -- relative to the input root
  size_bytes          bigint NOT NULL,
  state               text NOT NULL,                 -- PENDING PREPARED SUBMITTED SUCCEEDED FAILED SKIPPED CANCELLED
  attempts            integer NOT NULL DEFAULT 0,    -- attempts spent (a document attempt = one execution at OpenAI)
  max_attempts        integer NOT NULL DEFAULT 3,
  shard_id            text,                          -- shard of the latest attempt
  error               text,
  transcript_path     text,                          -- relative to the storage root
  input_tokens        bigint NOT NULL DEFAULT 0,
  cached_input_tokens bigint NOT NULL DEFAULT 0,
  output_tokens       bigint NOT NULL DEFAULT 0,
  cost_usd            double precision NOT NULL DEFAULT 0,
  sync_cost_usd       double precision NOT NULL DEFAULT 0,
  usage_time          timestamptz,                   -- when usage was recorded (cost report day)
  update_time         timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (batch_id, document_id)
);
CREATE INDEX documents_by_state ON documents (batch_id, state, document_id);
CREATE INDEX documents_by_shard ON documents (batch_id, shard_id);
CREATE INDEX documents_by_usage_time ON documents (usage_time) WHERE usage_time IS NOT NULL;

CREATE TABLE shards (
  batch_id          text NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
  shard_id          text NOT NULL,                   -- s0001, s0002, ...
  state             text NOT NULL,                   -- PLANNED PREPARING UPLOADED SUBMITTED RETRIEVING DONE FAILED CANCELLED
  document_count    integer NOT NULL DEFAULT 0,
  input_bytes       bigint NOT NULL DEFAULT 0,
  estimated_tokens  bigint NOT NULL DEFAULT 0,       -- estimated input tokens (enqueued-token budget)
  input_file_id     text,
  openai_batch_id   text,
  openai_status     text,
  output_file_id    text,
  error_file_id     text,
  error             text,
  create_time       timestamptz NOT NULL DEFAULT now(),
  update_time       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (batch_id, shard_id)
);
CREATE UNIQUE INDEX shards_openai_batch ON shards (openai_batch_id) WHERE openai_batch_id IS NOT NULL;
CREATE INDEX shards_in_flight ON shards (state) WHERE state IN ('UPLOADED', 'SUBMITTED', 'RETRIEVING');

-- Which documents went into which shard (a retried document is in several).
CREATE TABLE shard_documents (
  batch_id    text NOT NULL,
  shard_id    text NOT NULL,
  document_id text NOT NULL,
  line_bytes  bigint NOT NULL,
  outcome     text,                                  -- NULL until retrieved: SUCCEEDED RETRYABLE FAILED CANCELLED
  PRIMARY KEY (batch_id, shard_id, document_id),
  FOREIGN KEY (batch_id, shard_id) REFERENCES shards (batch_id, shard_id) ON DELETE CASCADE
);

-- The work queue (DESIGN §4).
CREATE TABLE tasks (
  id               bigserial PRIMARY KEY,
  kind             text NOT NULL,                    -- plan prepare submit poll retrieve cancel transcribe
  subject          text NOT NULL,                    -- what the task acts on: "<batch>" or "<batch>/<shard>" or "<batch>/<document>"
  batch_id         text NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
  state            text NOT NULL DEFAULT 'available', -- available running succeeded failed cancelled
  attempt          integer NOT NULL DEFAULT 0,       -- attempts started (claims)
  max_attempts     integer NOT NULL DEFAULT 25,
  run_at           timestamptz NOT NULL DEFAULT now(),
  lease_token      uuid,
  lease_owner      text,
  lease_expires_at timestamptz,
  payload          jsonb NOT NULL DEFAULT '{}',
  last_error       text,
  rerun            boolean NOT NULL DEFAULT false,   -- enqueued again while running: re-run after it ends
  create_time      timestamptz NOT NULL DEFAULT now(),
  update_time      timestamptz NOT NULL DEFAULT now(),
  finish_time      timestamptz
);
-- One live task per (subject, kind).
CREATE UNIQUE INDEX tasks_one_live ON tasks (subject, kind) WHERE state IN ('available', 'running');
CREATE INDEX tasks_claimable ON tasks (kind, run_at, id) WHERE state = 'available';
CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE state = 'running';
CREATE INDEX tasks_by_batch ON tasks (batch_id);
