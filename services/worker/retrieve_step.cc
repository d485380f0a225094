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
#include <iterator>
#include <nlohmann/json.hpp>
#include <optional>
#include <unordered_map>

#include "libs/common/logging.h"
#include "libs/jsonl/result_line.h"
#include "libs/jsonl/schema_validator.h"
#include "libs/metrics/metrics.h"
#include "libs/openai/api_error.h"
#include "libs/pdf/part_planner.h"
#include "libs/pipeline/batch_progress.h"
#include "libs/storage/atomic_file.h"
#include "libs/storage/layout.h"
#include "services/worker/document_outcome.h"
#include "services/worker/records.h"
#include "services/worker/step.h"
#include "services/worker/stitch.h"

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

// What the result files said about one in-flight part so far.
struct Seen {
  DocumentOutcome outcome;
  bool line_succeeded = false;  // the line itself, before schema validation
  bool split = false;           // cut at max_completion_tokens: halve it
  std::string answer_path;      // a part's answer written (documents in parts)
};

// One in-flight part: its document and its place in the document's parts.
struct Slot {
  size_t doc = 0;
  size_t part = 0;
};

using pdf::PagesText;

// Streams the result files line by line and settles each line as it comes:
// classify, validate, write the transcript (or, for a document in parts, the
// part's answer), durability deferred to one syncfs for the whole shard (see
// RunRetrieve). Memory is bounded by one line plus a small record per part,
// whatever the size of the files. Then decides each document from its parts:
// stitched and SUCCEEDED when every part has succeeded, FAILED when a part
// failed for good, else back to PENDING (only the parts that did not succeed
// are sent again; a part cut at max_completion_tokens is replaced by its
// halves at no attempt).
class ResultReader {
 public:
  ResultReader(StepContext& ctx, const BatchRecord& batch, std::vector<ShardDocument>& docs,
               const jsonl::SchemaValidator& validator,
               const std::optional<pricing::ModelPrice>& price)
      : ctx_(ctx),
        batch_(batch),
        docs_(docs),
        validator_(validator),
        price_(price),
        page_array_(PageArrayProperty(batch.json_schema).value_or("")) {
    seen_.resize(docs.size());
    for (size_t d = 0; d < docs.size(); ++d) {
      ShardDocument& doc = docs[d];
      if (doc.parts.empty()) {
        // Planned before parts existed: the whole document in one line.
        PartRecord whole;
        whole.first_page = 1;
        whole.last_page = doc.page_count;
        whole.state = "PENDING";
        whole.shard_id = ctx.shard_id();
        doc.parts.push_back(whole);
        doc.part_count = 1;
      }
      seen_[d].resize(doc.parts.size());
      for (size_t p = 0; p < doc.parts.size(); ++p) {
        const PartRecord& part = doc.parts[p];
        if (part.state != "PENDING" || part.shard_id != ctx.shard_id()) continue;
        slots_.emplace(
            pdf::PartCustomId(doc.document_id, doc.part_count, part.first_page, part.last_page),
            Slot{d, p});
      }
    }
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

  // One outcome per in-flight document, in `docs` order, and one per
  // in-flight part (in `parts`). Stitches the transcripts of documents whose
  // every part has now succeeded (not OK: a file could not be read or written).
  absl::StatusOr<std::vector<DocumentOutcome>> Outcomes(const std::string& openai_status,
                                                        std::vector<PartOutcome>& parts) {
    std::vector<DocumentOutcome> outcomes;
    outcomes.reserve(docs_.size());
    for (size_t d = 0; d < docs_.size(); ++d) {
      auto outcome = Decide(d, openai_status, parts);
      if (!outcome.ok()) return outcome.status();
      outcomes.push_back(std::move(*outcome));
    }
    return outcomes;
  }

  int64_t answered() const {
    int64_t n = 0;
    for (const auto& doc : seen_) {
      for (const auto& seen : doc) n += seen ? 1 : 0;
    }
    return n;
  }
  size_t expected() const { return slots_.size(); }
  const ParseStats& stats() const { return stats_; }

 private:
  absl::Status Settle(std::string_view text) {
    auto parsed = jsonl::ClassifyResultLine(text);
    if (!parsed.ok()) {
      ++stats_.unusable;
      return absl::OkStatus();
    }
    auto it = slots_.find(parsed->custom_id);
    if (it == slots_.end()) {
      ++stats_.unknown;
      return absl::OkStatus();
    }
    const ShardDocument& doc = docs_[it->second.doc];
    const PartRecord& part = doc.parts[it->second.part];
    std::optional<Seen>& slot = seen_[it->second.doc][it->second.part];
    const bool succeeded = parsed->outcome == jsonl::LineOutcome::kSucceeded;
    if (slot) {
      // The first successful line wins; a success replaces an earlier failure.
      ++stats_.duplicates;
      if (slot->line_succeeded || !succeeded) return absl::OkStatus();
    }
    Seen seen{DocumentOutcome::FromLine(*parsed, price_, pricing::PricingMode::kBatch), succeeded};
    seen.outcome.document_id = doc.document_id;
    if (succeeded) {
      if (absl::Status v = validator_.Validate(parsed->content); !v.ok()) {
        seen.outcome.outcome = jsonl::LineOutcome::kRetryable;
        seen.outcome.error = std::string(v.message());
      } else if (doc.whole()) {
        const std::string relative = storage::TranscriptRelativePath(batch_.model, doc.document_id);
        if (absl::Status w = Write(relative, parsed->content); !w.ok()) return w;
        seen.outcome.transcript_path = relative;
        ++stats_.transcripts;
      } else {
        nlohmann::json answer = nlohmann::json::parse(parsed->content, nullptr, false);
        absl::Status check = page_array_.empty() ? absl::OkStatus()
                                                 : CheckPartAnswer(answer, page_array_,
                                                                   part.first_page, part.last_page);
        if (!check.ok()) {
          // A sampled answer that skipped or merged pages: another draw can succeed.
          seen.outcome.outcome = jsonl::LineOutcome::kRetryable;
          seen.outcome.error = std::string(check.message());
        } else {
          const std::string relative = storage::PartAnswerRelativePath(
              batch_.id, doc.document_id, part.first_page, part.last_page);
          if (absl::Status w = Write(relative, parsed->content); !w.ok()) return w;
          seen.answer_path = relative;
        }
      }
    } else if (parsed->finish_reason == "length" &&
               parsed->outcome == jsonl::LineOutcome::kPermanent) {
      const int first = part.first_page;
      const int last = part.last_page > 0 ? part.last_page : doc.page_count;
      if (last > first) {
        seen.split = true;  // the same request would be cut again: send its halves
      } else {
        seen.outcome.error = (last == first ? PagesText(first, last) + " alone needs"
                                            : std::string("the document needs")) +
                             " more than max_completion_tokens (" +
                             std::to_string(batch_.max_completion_tokens) +
                             ") output tokens: the answer was cut (finish_reason=length)";
      }
    }
    slot = std::move(seen);
    return absl::OkStatus();
  }

  absl::Status Write(const std::string& relative, std::string_view content) {
    const fs::path path = ctx_.config.storage_root / relative;
    absl::Status w = storage::AtomicWriteFile(path, content, storage::Durability::kDeferred);
    if (w.ok()) w = syncer_.Add(path.parent_path());
    if (!w.ok()) {
      return absl::UnavailableError("writing " + relative + ": " + std::string(w.message()));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<DocumentOutcome> Decide(size_t d, const std::string& openai_status,
                                         std::vector<PartOutcome>& part_outcomes) {
    const ShardDocument& doc = docs_[d];
    DocumentOutcome out;
    out.document_id = doc.document_id;
    bool all_succeeded = true;
    bool any_failed = false;
    bool any_retry = false;      // to send again
    bool any_spend = false;      // ... after a try that spends an attempt (not an expiry)
    bool any_cancelled = false;  // not executed: no attempt
    std::string failure, retry, cancelled, split;
    std::vector<PartAnswer> answers;
    for (size_t p = 0; p < doc.parts.size(); ++p) {
      const PartRecord& part = doc.parts[p];
      const bool in_flight = part.state == "PENDING" && part.shard_id == ctx_.shard_id();
      if (!in_flight) {
        if (part.state == "SUCCEEDED") {
          answers.push_back({part.first_page, part.last_page, {}});
          if (absl::Status r = LoadAnswer(part.answer_path, answers.back()); !r.ok()) return r;
        } else {
          all_succeeded = false;  // another shard's part (should not happen) or failed earlier
        }
        continue;
      }
      std::optional<Seen>& seen = seen_[d][p];
      Seen line =
          seen ? std::move(*seen) : Seen{DocumentOutcome::Missing(doc.document_id, openai_status)};
      PartOutcome po;
      po.document_id = doc.document_id;
      po.first_page = part.first_page;
      po.last_page = part.last_page;
      po.error = line.outcome.error;
      po.usage = line.outcome.usage;
      po.cost_usd = line.outcome.cost_usd;
      po.sync_cost_usd = line.outcome.sync_cost_usd;
      out.usage.input_tokens += line.outcome.usage.input_tokens;
      out.usage.cached_input_tokens += line.outcome.usage.cached_input_tokens;
      out.usage.output_tokens += line.outcome.usage.output_tokens;
      out.cost_usd += line.outcome.cost_usd;
      out.sync_cost_usd += line.outcome.sync_cost_usd;
      out.billed |= line.outcome.billed;
      const std::string where =
          doc.whole() ? "" : PagesText(part.first_page, part.last_page) + ": ";
      if (line.split) {
        const int last = part.last_page > 0 ? part.last_page : doc.page_count;
        po.state = "SPLIT";
        po.last_page = part.last_page;
        po.split_at = part.first_page + (last - part.first_page) / 2;
        po.error = "cut at max_completion_tokens (finish_reason=length): split into " +
                   PagesText(part.first_page, po.split_at) + " and " +
                   PagesText(po.split_at + 1, last);
        if (part.last_page == 0) {
          // An upgraded whole-document row: its pages are known now.
          po.state = "FAILED";
          po.error =
              "the document needs more than max_completion_tokens output tokens; "
              "retry the batch to plan it in parts";
          any_failed = true;
          if (failure.empty()) failure = po.error;
        }
        all_succeeded = false;
        if (split.empty()) split = PagesText(part.first_page, last) + " " + po.error;
      } else if (line.outcome.outcome == jsonl::LineOutcome::kSucceeded) {
        po.state = "SUCCEEDED";
        po.answer_path = line.answer_path;
        if (doc.whole()) {
          out.transcript_path = line.outcome.transcript_path;
        } else {
          answers.push_back({part.first_page, part.last_page, {}});
          if (absl::Status r = LoadAnswer(line.answer_path, answers.back()); !r.ok()) return r;
        }
      } else if (line.outcome.outcome == jsonl::LineOutcome::kPermanent) {
        po.state = "FAILED";
        any_failed = true;
        all_succeeded = false;
        if (failure.empty()) failure = where + line.outcome.error;
      } else if (line.outcome.outcome == jsonl::LineOutcome::kCancelled) {
        po.state = "PENDING";
        any_cancelled = true;
        all_succeeded = false;
        if (cancelled.empty()) cancelled = where + line.outcome.error;
      } else {
        po.state = "PENDING";
        any_retry = true;
        any_spend |= line.outcome.spend_attempt;
        all_succeeded = false;
        if (retry.empty()) retry = where + line.outcome.error;
      }
      part_outcomes.push_back(std::move(po));
    }
    if (any_failed) {
      out.outcome = jsonl::LineOutcome::kPermanent;
      out.error = failure;
      return out;
    }
    if (all_succeeded) {
      out.outcome = jsonl::LineOutcome::kSucceeded;
      if (!doc.whole()) {
        auto stitched = StitchTranscript(std::move(answers), page_array_, doc.page_count);
        if (!stitched.ok()) {
          out.outcome = jsonl::LineOutcome::kPermanent;
          out.error = "the parts cannot be stitched: " + std::string(stitched.status().message());
          return out;
        }
        const std::string relative = storage::TranscriptRelativePath(batch_.model, doc.document_id);
        if (absl::Status w = Write(relative, *stitched); !w.ok()) return w;
        out.transcript_path = relative;
        ++stats_.transcripts;
        // Tests: a kill -9 with one stitched transcript written and not synced.
        ctx_.crash_points.Reach("retrieve.stitching");
      }
      return out;
    }
    out.outcome = any_cancelled && !any_retry && split.empty() ? jsonl::LineOutcome::kCancelled
                                                               : jsonl::LineOutcome::kRetryable;
    // Only a transient failure spends an attempt; a split changes the request.
    out.spend_attempt = any_spend;
    out.error = any_retry ? retry : (!split.empty() ? split : cancelled);
    return out;
  }

  absl::Status LoadAnswer(const std::string& relative, PartAnswer& answer) {
    std::ifstream in(ctx_.config.storage_root / relative, std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return absl::UnavailableError("cannot read the part answer " + relative);
    }
    answer.answer = nlohmann::json::parse(text, nullptr, false);
    if (answer.answer.is_discarded()) {
      return absl::UnavailableError("the part answer " + relative + " is unreadable");
    }
    return absl::OkStatus();
  }

  StepContext& ctx_;
  const BatchRecord& batch_;
  std::vector<ShardDocument>& docs_;
  const jsonl::SchemaValidator& validator_;
  const std::optional<pricing::ModelPrice>& price_;
  const std::string page_array_;
  std::unordered_map<std::string, Slot> slots_;
  std::vector<std::vector<std::optional<Seen>>> seen_;
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
    return SnoozePaidWork(ctx, *shard, have_output.status(), "downloading the output file");
  }
  ctx.crash_points.Reach("retrieve.after_download");
  auto have_errors = Fetch(ctx, shard->error_file_id, errors_path);
  if (!have_errors.ok()) {
    return SnoozePaidWork(ctx, *shard, have_errors.status(), "downloading the error file");
  }
  if (ctx.stopped()) return StepResult::HandBack();

  std::vector<ShardDocument> docs = LoadInFlightShardDocuments(ctx.conn, batch_id, shard_id);
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
  std::vector<PartOutcome> part_outcomes;
  auto decided = reader.Outcomes(shard->openai_status, part_outcomes);
  if (!decided.ok()) return StepResult::Retry(std::string(decided.status().message()));
  std::vector<DocumentOutcome> outcomes = std::move(*decided);
  // Group commit: every transcript is on stable storage before the
  // transaction below records any document as SUCCEEDED. A crash before that
  // leaves the shard RETRIEVING, and the next run writes them all again.
  if (auto s = reader.SyncTranscripts(); !s.ok()) {
    return StepResult::Retry("syncing the transcripts: " + std::string(s.message()));
  }
  ctx.crash_points.Reach("retrieve.after_transcripts");

  const ParseStats& stats = reader.stats();
  const int64_t answered = reader.answered();
  log::Info("shard results reconciled",
            {{"batch_id", batch_id},
             {"shard_id", shard_id},
             {"openai_status", shard->openai_status},
             {"documents", docs.size()},
             {"lines", stats.lines},
             {"transcripts", stats.transcripts},
             {"parts", static_cast<int64_t>(reader.expected())},
             {"missing", static_cast<int64_t>(reader.expected()) - answered},
             {"unusable_lines", stats.unusable},
             {"unknown_lines", stats.unknown},
             {"duplicate_lines", stats.duplicates}});
  auto tally = std::make_shared<OutcomeTally>();
  StepResult result =
      StepResult::Complete([batch_id, shard_id, outcomes = std::move(outcomes),
                            part_outcomes = std::move(part_outcomes), tally](pqxx::work& tx) {
        auto state = pipeline::LockBatch(tx, batch_id);
        if (!state) return;
        RecordPartOutcomes(tx, batch_id, shard_id, part_outcomes);
        *tally = RecordOutcomes(tx, batch_id, shard_id, outcomes, pipeline::IsCancelState(*state),
                                "plan");
        tx.exec_params(std::string("UPDATE shards SET state = 'DONE', ") + kShardErrorsClearedSql +
                           ", update_time = now() "
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
