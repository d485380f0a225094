// retrieve: downloads the output and error files of a finished OpenAI batch
// into the shard folder (kept: they were paid for), reconciles every
// in-flight document of the shard with exactly one result line across both
// files (a missing line is a retryable failure), classifies each line
// (libs/jsonl), validates successful answers against the batch's schema,
// writes transcripts atomically (made durable together by one syncfs: group
// commit), and records outcomes, usage and cost in one transaction with the
// shard's and the batch's new state. Expired and
// cancelled batches keep their partial results; only the rest is retried.

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

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
  int64_t transcripts = 0;
};

// What the result files said about one in-flight document so far.
struct Seen {
  DocumentOutcome outcome;
  bool line_succeeded = false;  // the line itself, before schema validation
};

// Streams the result files line by line and settles each line as it comes:
// classify, validate, write the transcript (durability deferred to one
// syncfs for the whole shard, see RunRetrieve). Memory is bounded by one line
// plus a small record per document, whatever the size of the files.
class ResultReader {
 public:
  ResultReader(StepContext& ctx, const BatchRecord& batch, const std::vector<ShardDocument>& docs,
               const jsonl::SchemaValidator& validator,
               const std::optional<pricing::ModelPrice>& price)
      : ctx_(ctx), batch_(batch), validator_(validator), price_(price) {
    seen_.reserve(docs.size());
    for (const auto& d : docs) seen_.emplace(d.document_id, std::nullopt);
  }

  // Not OK: a file could not be read or a transcript not written (retry).
  // Sets `stopped` when the worker is draining.
  absl::Status ReadFile(const fs::path& path, bool& stopped) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return absl::InternalError("cannot read " + path.string());
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line == "\r") continue;
      if ((++stats_.lines & 255) == 0 && ctx_.stopped()) {
        stopped = true;
        return absl::OkStatus();
      }
      if (absl::Status s = Settle(line); !s.ok()) return s;
    }
    if (in.bad()) return absl::InternalError("error reading " + path.string());
    return absl::OkStatus();
  }

  // Makes the transcripts written so far durable (one syncfs per file system).
  absl::Status SyncTranscripts() { return syncer_.Sync(); }

  // One outcome per in-flight document, in `docs` order.
  std::vector<DocumentOutcome> Outcomes(const std::vector<ShardDocument>& docs,
                                        const std::string& openai_status) {
    std::vector<DocumentOutcome> outcomes;
    outcomes.reserve(docs.size());
    for (const ShardDocument& doc : docs) {
      auto& seen = seen_.at(doc.document_id);
      outcomes.push_back(seen ? std::move(seen->outcome)
                              : DocumentOutcome::Missing(doc.document_id, openai_status));
    }
    return outcomes;
  }

  int64_t answered() const {
    int64_t n = 0;
    for (const auto& [id, seen] : seen_) n += seen ? 1 : 0;
    return n;
  }
  const ParseStats& stats() const { return stats_; }

 private:
  absl::Status Settle(std::string_view text) {
    auto parsed = jsonl::ClassifyResultLine(text);
    if (!parsed.ok()) {
      ++stats_.unusable;
      return absl::OkStatus();
    }
    auto it = seen_.find(parsed->custom_id);
    if (it == seen_.end()) {
      ++stats_.unknown;
      return absl::OkStatus();
    }
    const bool succeeded = parsed->outcome == jsonl::LineOutcome::kSucceeded;
    if (it->second) {
      // The first successful line wins; a success replaces an earlier failure.
      ++stats_.duplicates;
      if (it->second->line_succeeded || !succeeded) return absl::OkStatus();
    }
    Seen seen{DocumentOutcome::FromLine(*parsed, price_, pricing::PricingMode::kBatch), succeeded};
    if (succeeded) {
      if (absl::Status v = validator_.Validate(parsed->content); !v.ok()) {
        seen.outcome.outcome = jsonl::LineOutcome::kRetryable;
        seen.outcome.error = std::string(v.message());
      } else {
        const std::string relative =
            storage::TranscriptRelativePath(batch_.model, parsed->custom_id);
        const fs::path path = ctx_.config.storage_root / relative;
        absl::Status w =
            storage::AtomicWriteFile(path, parsed->content, storage::Durability::kDeferred);
        if (w.ok() && syncer_.empty()) w = syncer_.Add(path.parent_path());
        if (!w.ok()) {
          return absl::UnavailableError("writing " + relative + ": " + std::string(w.message()));
        }
        seen.outcome.transcript_path = relative;
        ++stats_.transcripts;
      }
    }
    it->second = std::move(seen);
    return absl::OkStatus();
  }

  StepContext& ctx_;
  const BatchRecord& batch_;
  const jsonl::SchemaValidator& validator_;
  const std::optional<pricing::ModelPrice>& price_;
  std::unordered_map<std::string, std::optional<Seen>> seen_;
  storage::FileSystemSyncer syncer_;
  ParseStats stats_;
};

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
  auto validator = jsonl::SchemaValidator::Create(batch->json_schema);
  if (!validator.ok()) {
    return StepResult::Permanent("the batch's JSON schema is unusable: " +
                                 std::string(validator.status().message()));
  }
  const std::optional<pricing::ModelPrice> price = ctx.config.prices.Find(batch->model);
  if (!price) {
    log::Warn("no price for the model: costs recorded as 0", {{"model", batch->model}});
  }

  ResultReader reader(ctx, *batch, docs, *validator, price);
  for (const auto& [present, path] :
       {std::pair{*have_output, output_path}, std::pair{*have_errors, errors_path}}) {
    if (!present) continue;
    bool stopped = false;
    if (auto s = reader.ReadFile(path, stopped); !s.ok()) {
      return StepResult::Retry(std::string(s.message()));
    }
    if (stopped) return StepResult::HandBack();
  }
  // Group commit: every transcript is on stable storage before the
  // transaction below records any document as SUCCEEDED. A crash before that
  // leaves the shard RETRIEVING, and the next run writes them all again.
  if (auto s = reader.SyncTranscripts(); !s.ok()) {
    return StepResult::Retry("syncing the transcripts: " + std::string(s.message()));
  }
  ctx.crash_points.Reach("retrieve.after_transcripts");

  const ParseStats& stats = reader.stats();
  const int64_t answered = reader.answered();
  std::vector<DocumentOutcome> outcomes = reader.Outcomes(docs, shard->openai_status);
  log::Info("shard results reconciled", {{"batch_id", batch_id},
                                         {"shard_id", shard_id},
                                         {"openai_status", shard->openai_status},
                                         {"documents", docs.size()},
                                         {"lines", stats.lines},
                                         {"transcripts", stats.transcripts},
                                         {"missing", static_cast<int64_t>(docs.size()) - answered},
                                         {"unusable_lines", stats.unusable},
                                         {"unknown_lines", stats.unknown},
                                         {"duplicate_lines", stats.duplicates}});
  auto tally = std::make_shared<OutcomeTally>();
  StepResult result = StepResult::Complete([batch_id, shard_id, outcomes = std::move(outcomes),
                                            tally](pqxx::work& tx) {
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
