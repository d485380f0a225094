// retrieve: downloads the output and error files of a finished OpenAI batch
// into the shard folder (kept: they were paid for), reconciles every
// in-flight document of the shard with exactly one result line across both
// files (a missing line is a retryable failure), classifies each line
// (libs/jsonl), validates successful answers against the batch's schema,
// writes transcripts atomically, and records outcomes, usage and cost in one
// transaction with the shard's and the batch's new state. Expired and
// cancelled batches keep their partial results; only the rest is retried.

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "libs/common/logging.h"
#include "libs/jsonl/result_line.h"
#include "libs/jsonl/schema_validator.h"
#include "libs/metrics/metrics.h"
#include "libs/openai/api_error.h"
#include "libs/pipeline/batch_progress.h"
#include "libs/storage/atomic_file.h"
#include "libs/storage/layout.h"
#include "services/worker/document_outcome.h"
#include "services/worker/records.h"
#include "services/worker/step.h"

namespace batchscribe::worker {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Downloads `file_id` to `path` unless an earlier run already did (a file
// that exists is complete: downloads are renamed into place). Returns false
// when OpenAI no longer has the file (its lines then count as missing).
absl::StatusOr<bool> Fetch(StepContext& ctx, const std::string& file_id, const fs::path& path) {
  if (file_id.empty()) return false;
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) return true;
  fs::create_directories(path.parent_path(), ec);
  absl::Status s = ctx.openai.DownloadFileContent(file_id, path);
  if (s.ok()) return true;
  auto api = openai::GetApiError(s);
  if (api && api->http_status == 404) {
    log::Warn("result file no longer at OpenAI", {{"file_id", file_id}, {"path", path.string()}});
    return false;
  }
  return s;
}

struct ParseStats {
  int64_t lines = 0;
  int64_t unusable = 0;    // no custom_id at all
  int64_t unknown = 0;     // custom_id not in flight in this shard
  int64_t duplicates = 0;  // a custom_id seen again
};

// Streams one result file line by line into `results` (first success wins).
absl::Status ParseFile(const fs::path& path, const std::map<std::string, bool>& expected,
                       std::map<std::string, jsonl::ResultLine>& results, ParseStats& stats) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InternalError("cannot read " + path.string());
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line == "\r") continue;
    ++stats.lines;
    auto parsed = jsonl::ClassifyResultLine(line);
    if (!parsed.ok()) {
      ++stats.unusable;
      continue;
    }
    if (expected.count(parsed->custom_id) == 0) {
      ++stats.unknown;
      continue;
    }
    auto [it, inserted] = results.emplace(parsed->custom_id, *parsed);
    if (!inserted) {
      ++stats.duplicates;
      if (it->second.outcome != jsonl::LineOutcome::kSucceeded &&
          parsed->outcome == jsonl::LineOutcome::kSucceeded) {
        it->second = *std::move(parsed);
      }
    }
  }
  if (in.bad()) return absl::InternalError("error reading " + path.string());
  return absl::OkStatus();
}

}  // namespace

StepResult RunRetrieve(StepContext& ctx) {
  const std::string batch_id = ctx.batch_id();
  const std::string shard_id = ctx.shard_id();
  auto batch = LoadBatch(ctx.conn, batch_id);
  auto shard = LoadShard(ctx.conn, batch_id, shard_id);
  if (!batch.ok() || !shard.ok() || shard->state != "RETRIEVING") return StepResult::Complete();

  const fs::path dir = storage::ShardDir(ctx.config.storage_root, batch_id, shard_id);
  const fs::path output_path = dir / std::string(storage::kShardOutputFile);
  const fs::path errors_path = dir / std::string(storage::kShardErrorsFile);
  auto have_output = Fetch(ctx, shard->output_file_id, output_path);
  if (!have_output.ok()) {
    return StepResult::FromStatus(have_output.status(), "downloading the output file");
  }
  ctx.crash_points.Reach("retrieve.after_download");
  auto have_errors = Fetch(ctx, shard->error_file_id, errors_path);
  if (!have_errors.ok()) {
    return StepResult::FromStatus(have_errors.status(), "downloading the error file");
  }
  if (ctx.stopped()) return StepResult::HandBack();

  const std::vector<ShardDocument> docs = LoadInFlightShardDocuments(ctx.conn, batch_id, shard_id);
  std::map<std::string, bool> expected;
  for (const auto& d : docs) expected[d.document_id] = true;
  std::map<std::string, jsonl::ResultLine> results;
  ParseStats stats;
  for (const auto& [present, path] :
       {std::pair{*have_output, output_path}, std::pair{*have_errors, errors_path}}) {
    if (!present) continue;
    if (auto s = ParseFile(path, expected, results, stats); !s.ok()) {
      return StepResult::Retry(std::string(s.message()));
    }
  }

  auto validator = jsonl::SchemaValidator::Create(batch->json_schema);
  if (!validator.ok()) {
    return StepResult::Permanent("the batch's JSON schema is unusable: " +
                                 std::string(validator.status().message()));
  }
  const std::optional<pricing::ModelPrice> price = ctx.config.prices.Find(batch->model);
  if (!price) {
    log::Warn("no price for the model: costs recorded as 0", {{"model", batch->model}});
  }

  std::vector<DocumentOutcome> outcomes;
  outcomes.reserve(docs.size());
  for (const ShardDocument& doc : docs) {
    if (ctx.stopped()) return StepResult::HandBack();
    auto it = results.find(doc.document_id);
    DocumentOutcome outcome;
    if (it == results.end()) {
      outcome = DocumentOutcome::Missing(doc.document_id, shard->openai_status);
    } else {
      outcome = DocumentOutcome::FromLine(it->second, price, pricing::PricingMode::kBatch);
      if (outcome.outcome == jsonl::LineOutcome::kSucceeded) {
        if (absl::Status v = validator->Validate(it->second.content); !v.ok()) {
          outcome.outcome = jsonl::LineOutcome::kRetryable;
          outcome.error = std::string(v.message());
        } else {
          const std::string relative =
              storage::TranscriptRelativePath(batch->model, doc.document_id);
          absl::Status w =
              storage::AtomicWriteFile(ctx.config.storage_root / relative, it->second.content);
          if (!w.ok())
            return StepResult::Retry("writing " + relative + ": " + std::string(w.message()));
          outcome.transcript_path = relative;
        }
      }
    }
    outcomes.push_back(std::move(outcome));
  }
  ctx.crash_points.Reach("retrieve.after_transcripts");

  log::Info("shard results reconciled", {{"batch_id", batch_id},
                                         {"shard_id", shard_id},
                                         {"openai_status", shard->openai_status},
                                         {"documents", docs.size()},
                                         {"lines", stats.lines},
                                         {"missing", docs.size() - results.size()},
                                         {"unusable_lines", stats.unusable},
                                         {"unknown_lines", stats.unknown},
                                         {"duplicate_lines", stats.duplicates}});
  auto tally = std::make_shared<OutcomeTally>();
  StepResult result = StepResult::Complete([batch_id, shard_id, outcomes, tally](pqxx::work& tx) {
    auto state = pipeline::LockBatch(tx, batch_id);
    if (!state) return;
    *tally =
        RecordOutcomes(tx, batch_id, shard_id, outcomes, pipeline::IsCancelState(*state), "plan");
    tx.exec_params(
        "UPDATE shards SET state = 'DONE', update_time = now() "
        "WHERE batch_id = $1 AND shard_id = $2 AND state = 'RETRIEVING'",
        batch_id, shard_id);
    pipeline::NotifyBatchChanged(tx, batch_id);
    pipeline::FinishBatchIfSettled(tx, batch_id);
  });
  result.after_commit = [tally, &metrics = ctx.metrics, model = batch->model] {
    RecordTallyMetrics(metrics, model, "batch", *tally);
  };
  return result;
}

}  // namespace batchscribe::worker
