// transcribe (SYNC mode): the seed's rollback plan. Documents are sent to
// /v1/chat/completions directly, `sync_concurrency` at a time, with the same
// request body, classification, schema validation, transcript files and
// accounting as batch results, priced at the standard rate. Work goes in
// chunks: each chunk is marked SUBMITTED and its outcomes recorded in fenced
// transactions, so a crash loses at most one chunk's bookkeeping. A rate
// limit (429) spends no attempt and pauses the next chunk.

#include <algorithm>
#include <atomic>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "libs/common/logging.h"
#include "libs/jsonl/request_line.h"
#include "libs/jsonl/result_line.h"
#include "libs/jsonl/schema_validator.h"
#include "libs/openai/api_error.h"
#include "libs/pipeline/batch_progress.h"
#include "libs/storage/atomic_file.h"
#include "libs/storage/layout.h"
#include "services/worker/document_outcome.h"
#include "services/worker/records.h"
#include "services/worker/shard_planning.h"
#include "services/worker/step.h"

namespace batchscribe::worker {
namespace {

using nlohmann::json;

struct SyncDocument {
  std::string document_id;
  std::string path;
};

struct Shared {
  const BatchRecord& batch;
  const jsonl::RequestLineBuilder& builder;
  const jsonl::SchemaValidator& validator;
  const std::optional<pricing::ModelPrice>& price;
  StepContext& ctx;
};

// One synchronous request; never throws.
DocumentOutcome Transcribe(const Shared& s, openai::OpenAiClient& client, const SyncDocument& doc,
                           std::chrono::milliseconds& pause) {
  DocumentOutcome out;
  out.document_id = doc.document_id;
  auto file = s.ctx.input_root.OpenInputFile(doc.path);
  absl::StatusOr<std::string> pdf =
      file.ok() ? file->ReadAll() : absl::StatusOr<std::string>(file.status());
  if (!pdf.ok()) {
    out.outcome = jsonl::LineOutcome::kPermanent;
    out.error =
        "input file cannot be read (" + doc.path + "): " + std::string(pdf.status().message());
    out.spend_attempt = false;
    return out;
  }
  std::string body = s.builder.BuildChatBody(RequestFilename(doc.path), *pdf);
  pdf->clear();
  auto reply = client.CreateChatCompletion(body);
  if (!reply.ok()) {
    auto api = openai::GetApiError(reply.status());
    int status = api ? api->http_status : 0;
    out.outcome = reply.status().code() == absl::StatusCode::kCancelled
                      ? jsonl::LineOutcome::kCancelled
                      : jsonl::OutcomeForHttpStatus(status);
    out.error = std::string(reply.status().message());
    // Not executed: a rate limit or a request that never connected.
    out.spend_attempt = !(status == 429 || openai::CertainlyNotProcessed(reply.status())) &&
                        out.outcome != jsonl::LineOutcome::kCancelled;
    if (api && api->code == "insufficient_quota") {
      out.outcome = jsonl::LineOutcome::kPermanent;
    }
    if (status == 429) {
      pause = std::max(
          pause, api && api->retry_after ? *api->retry_after : std::chrono::milliseconds(2000));
    }
    return out;
  }
  jsonl::ResultLine line = jsonl::ClassifyChatCompletion(doc.document_id, *reply);
  out = DocumentOutcome::FromLine(line, s.price, pricing::PricingMode::kSync);
  if (out.outcome != jsonl::LineOutcome::kSucceeded) return out;
  if (absl::Status v = s.validator.Validate(line.content); !v.ok()) {
    out.outcome = jsonl::LineOutcome::kRetryable;
    out.error = std::string(v.message());
    return out;
  }
  const std::string relative = storage::TranscriptRelativePath(s.batch.model, doc.document_id);
  absl::Status w = storage::AtomicWriteFile(s.ctx.config.storage_root / relative, line.content);
  if (!w.ok()) {
    out.outcome = jsonl::LineOutcome::kRetryable;
    out.error = "writing " + relative + ": " + std::string(w.message());
    return out;
  }
  out.transcript_path = relative;
  return out;
}

}  // namespace

StepResult RunTranscribe(StepContext& ctx) {
  const std::string batch_id = ctx.batch_id();
  auto batch = LoadBatch(ctx.conn, batch_id);
  if (!batch.ok() || batch->mode != "SYNC" || pipeline::IsCancelState(batch->state) ||
      pipeline::IsFinalBatchState(batch->state)) {
    return StepResult::Complete();
  }
  auto builder = jsonl::RequestLineBuilder::Create({batch->model, batch->prompt, batch->json_schema,
                                                    "transcript", batch->max_completion_tokens});
  auto validator = jsonl::SchemaValidator::Create(batch->json_schema);
  if (!builder.ok() || !validator.ok()) {
    std::string reason = !builder.ok() ? std::string(builder.status().message())
                                       : std::string(validator.status().message());
    return StepResult::Complete([batch_id, reason](pqxx::work& tx) {
      if (!pipeline::LockBatch(tx, batch_id)) return;
      tx.exec_params(
          "UPDATE documents SET state = 'PENDING', update_time = now() "
          "WHERE batch_id = $1 AND state = 'SUBMITTED' AND shard_id IS NULL",
          batch_id);
      pipeline::FailPendingDocuments(tx, batch_id,
                                     "the batch's request cannot be built: " + reason);
    });
  }
  const std::optional<pricing::ModelPrice> price = ctx.config.prices.Find(batch->model);

  // Requests a crashed run left in flight are sent again (a chat completion has
  // no id to look up afterwards).
  if (!RunFenced(ctx, [&](pqxx::work& tx) {
        tx.exec_params(
            "UPDATE documents SET state = 'PENDING', update_time = now() "
            "WHERE batch_id = $1 AND state = 'SUBMITTED' AND shard_id IS NULL",
            batch_id);
      })) {
    return StepResult::HandBack();
  }

  const int workers = std::max(1, ctx.config.sync_concurrency);
  const int chunk_size = workers * 4;
  std::vector<std::unique_ptr<openai::OpenAiClient>> clients;
  for (int i = 0; i < workers; ++i) clients.push_back(ctx.new_openai_client());
  std::set<std::string> seen;  // each document at most once per run
  std::chrono::milliseconds pause{0};
  Shared shared{*batch, *builder, *validator, price, ctx};

  for (;;) {
    if (ctx.stopped()) return StepResult::HandBack();
    if (pause.count() > 0) {
      // Rate limited: hand the rest to a later run instead of holding a slot.
      break;
    }
    std::vector<SyncDocument> chunk;
    bool cancelled = false;
    if (!RunFenced(ctx, [&](pqxx::work& tx) {
          auto state = pipeline::LockBatch(tx, batch_id);
          if (!state || pipeline::IsCancelState(*state)) {
            cancelled = true;
            return;
          }
          pipeline::MarkBatchRunning(tx, batch_id);
          auto r = tx.exec_params(
              "SELECT document_id, path FROM documents WHERE batch_id = $1 AND state = 'PENDING' "
              "ORDER BY document_id",
              batch_id);
          json ids = json::array();
          for (const auto& row : r) {
            std::string id = row[0].as<std::string>();
            if (seen.count(id) > 0) continue;
            chunk.push_back({id, row[1].as<std::string>()});
            ids.push_back({{"document_id", id}});
            if (static_cast<int>(chunk.size()) >= chunk_size) break;
          }
          if (chunk.empty()) return;
          tx.exec_params(
              "UPDATE documents d SET state = 'SUBMITTED', update_time = now() "
              "FROM jsonb_to_recordset($2::jsonb) AS x(document_id text) "
              "WHERE d.batch_id = $1 AND d.document_id = x.document_id AND d.state = 'PENDING'",
              batch_id, ids.dump());
          pipeline::NotifyBatchChanged(tx, batch_id);
        })) {
      return StepResult::HandBack();
    }
    if (cancelled || chunk.empty()) break;
    for (const auto& d : chunk) seen.insert(d.document_id);

    std::vector<DocumentOutcome> outcomes(chunk.size());
    std::atomic<size_t> next{0};
    std::mutex pause_mu;
    std::vector<std::thread> threads;
    for (int w = 0; w < workers && w < static_cast<int>(chunk.size()); ++w) {
      threads.emplace_back([&, w] {
        for (size_t i = next++; i < chunk.size(); i = next++) {
          std::chrono::milliseconds wait{0};
          try {
            outcomes[i] = Transcribe(shared, *clients[w], chunk[i], wait);
          } catch (const std::exception& e) {
            outcomes[i].document_id = chunk[i].document_id;
            outcomes[i].outcome = jsonl::LineOutcome::kRetryable;
            outcomes[i].error = std::string("transcription failed: ") + e.what();
          }
          if (wait.count() > 0) {
            std::lock_guard lock(pause_mu);
            pause = std::max(pause, wait);
          }
        }
      });
    }
    for (auto& t : threads) t.join();

    OutcomeTally tally;
    if (!RunFenced(ctx, [&](pqxx::work& tx) {
          auto state = pipeline::LockBatch(tx, batch_id);
          if (!state) return;
          tally = RecordOutcomes(tx, batch_id, "", outcomes, pipeline::IsCancelState(*state),
                                 "transcribe");
          pipeline::FinishBatchIfSettled(tx, batch_id);
        })) {
      return StepResult::HandBack();
    }
    RecordTallyMetrics(ctx.metrics, batch->model, "sync", tally);
  }

  return StepResult::Complete([batch_id, pause](pqxx::work& tx) {
    auto state = pipeline::LockBatch(tx, batch_id);
    if (!state || pipeline::IsCancelState(*state)) return;
    auto pending = tx.exec_params(
        "SELECT 1 FROM documents WHERE batch_id = $1 AND state = 'PENDING' LIMIT 1", batch_id);
    if (!pending.empty()) {
      queue::NewTask again{"transcribe", batch_id, batch_id};
      again.run_at =
          std::chrono::system_clock::now() + std::max(pause, std::chrono::milliseconds(200));
      queue::Enqueue(tx, again);
    }
    pipeline::FinishBatchIfSettled(tx, batch_id);
  });
}

}  // namespace batchscribe::worker
