#include "cli/dry_run.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "cli/defaults.h"
#include "cli/format.h"
#include "libs/jsonl/request_line.h"
#include "libs/pdf/document_planner.h"
#include "libs/pdf/part_planner.h"
#include "libs/storage/document_id.h"
#include "libs/storage/input_root.h"
#include "libs/storage/layout.h"

namespace batchscribe::cli {

namespace v1 = batchscribe::v1;

namespace {

constexpr const char* kDefaultModel = "gpt-4.1-mini";
// Closes a file descriptor at scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

}  // namespace

const std::string& DefaultPrompt() {
  static const std::string prompt = kDefaultPromptText;
  return prompt;
}

const std::string& DefaultJsonSchema() {
  static const std::string schema = kDefaultSchemaText;
  return schema;
}

absl::StatusOr<DryRunPlan> PlanDryRun(const v1::SubmitDocumentsRequest& request,
                                      const DryRunOptions& options,
                                      const pricing::PriceTable& prices) {
  DryRunPlan plan;
  plan.model = request.model().empty() ? kDefaultModel : request.model();
  plan.mode = request.mode() == v1::MODE_SYNC ? v1::MODE_SYNC : v1::MODE_BATCH;
  const auto price = prices.Find(plan.model);
  if (!price) {
    std::string known;
    for (const auto& m : prices.Models()) known += (known.empty() ? "" : ", ") + m;
    return absl::InvalidArgumentError("model: unknown model '" + plan.model + "' (known: " + known +
                                      ")");
  }
  // As the coordinator stores it: the request's value, else the model's output cap.
  plan.max_completion_tokens =
      request.max_completion_tokens() > 0
          ? request.max_completion_tokens()
          : static_cast<int>(pricing::DefaultMaxCompletionTokens(prices, plan.model));
  const std::string& prompt = request.prompt().empty() ? DefaultPrompt() : request.prompt();
  const std::string& schema_text =
      request.json_schema().empty() ? DefaultJsonSchema() : request.json_schema();
  const nlohmann::json schema = nlohmann::json::parse(schema_text, nullptr, false);
  if (schema.is_discarded() || !schema.is_object()) {
    return absl::InvalidArgumentError("json_schema: not a JSON object");
  }
  // The worker's own line builder, so that line sizes are exact.
  auto lines =
      jsonl::RequestLineBuilder::Create({.model = plan.model,
                                         .prompt = prompt,
                                         .json_schema = schema_text,
                                         .max_completion_tokens = plan.max_completion_tokens});
  if (!lines.ok()) return lines.status();
  const bool skip_existing = !request.has_skip_existing() || request.skip_existing();

  auto root = storage::InputRoot::Open(options.input_root);
  if (!root.ok()) {
    return absl::InvalidArgumentError("input root " + options.input_root.string() + ": " +
                                      std::string(root.status().message()));
  }

  // Which files, with which ids, in which order: as the server would pick them.
  std::vector<std::pair<std::string, std::string>> selected;  // path, document id
  if (request.documents_size() > 0) {
    for (const auto& d : request.documents()) selected.emplace_back(d.path(), d.document_id());
  } else {
    const auto& source = request.source();
    const std::string glob = source.glob().empty() ? "*.pdf" : source.glob();
    auto paths =
        root->Glob(source.directory(), glob, static_cast<size_t>(std::max(0, source.limit())));
    if (!paths.ok()) {
      return absl::InvalidArgumentError("source.directory '" + source.directory() +
                                        "': " + std::string(paths.status().message()));
    }
    for (auto& p : *paths) selected.emplace_back(std::move(p), "");
  }
  if (selected.empty()) return absl::InvalidArgumentError("no documents selected");

  pdf::DocumentPlanOptions planning;
  planning.model = plan.model;
  planning.limits =
      pdf::MakePartLimits(options.max_part_pages, static_cast<uint64_t>(options.max_part_bytes),
                          plan.max_completion_tokens, price->context_tokens, prompt, schema_text);
  planning.split_policy =
      request.split_policy() == v1::SPLIT_POLICY_ALLOW   ? pdf::SplitPolicy::kAllow
      : request.split_policy() == v1::SPLIT_POLICY_NEVER ? pdf::SplitPolicy::kNever
                                                         : pdf::SplitPolicy::kAuto;
  planning.per_page_schema = pdf::PageArrayProperty(schema_text).has_value();

  std::set<std::string> ids;
  for (const auto& [path, given_id] : selected) {
    DryRunDocument doc;
    doc.path = path;
    doc.document_id = given_id.empty() ? storage::DefaultDocumentId(path) : given_id;
    if (auto s = storage::ValidateDocumentId(doc.document_id); !s.ok()) {
      return absl::InvalidArgumentError("document '" + path + "': document_id '" + doc.document_id +
                                        "' " + std::string(s.message()));
    }
    if (!ids.insert(doc.document_id).second) {
      return absl::InvalidArgumentError("document '" + path + "': document_id '" + doc.document_id +
                                        "' appears twice in the batch");
    }
    auto info = root->Check(path);
    if (!info.ok()) {
      if (info.status().code() == absl::StatusCode::kNotFound ||
          absl::IsInvalidArgument(info.status())) {
        return absl::InvalidArgumentError("document '" + path +
                                          "': " + std::string(info.status().message()));
      }
      doc.outcome = "fails";
      doc.error = std::string(info.status().message());
      plan.documents.push_back(std::move(doc));
      continue;
    }
    doc.size_bytes = info->size_bytes;
    if (skip_existing && !options.storage_root.empty() &&
        storage::TranscriptExists(options.storage_root, plan.model, doc.document_id)) {
      doc.outcome = "skipped";
      plan.documents.push_back(std::move(doc));
      continue;
    }
    Fd file{open(info->resolved_path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (file.fd < 0) {
      doc.outcome = "fails";
      doc.error = "input file not readable: " + path;
      plan.documents.push_back(std::move(doc));
      continue;
    }
    auto planned = pdf::PlanDocument(file.fd, static_cast<uint64_t>(doc.size_bytes), planning);
    if (!planned.ok()) {
      doc.outcome = "fails";
      doc.error = std::string(planned.status().message());
      plan.documents.push_back(std::move(doc));
      continue;
    }
    doc.pages = planned->page_count;
    const int part_count = static_cast<int>(planned->parts.size());
    const std::string filename = pdf::RequestFilename(path);
    for (const pdf::MeasuredPart& part : planned->parts) {
      doc.parts.push_back({part.first_page, part.last_page, static_cast<int64_t>(part.pdf_bytes),
                           part.input_tokens, part.output_tokens});
      doc.line_bytes += static_cast<int64_t>(lines->LineBytes(
          pdf::PartCustomId(doc.document_id, part_count, part.first_page, part.last_page),
          pdf::PartFilename(filename, part_count, part.first_page, part.last_page),
          part.pdf_bytes));
      doc.input_tokens += part.input_tokens;
      doc.output_tokens += part.output_tokens;
    }
    if (doc.line_bytes > options.max_shard_bytes) {
      doc.outcome = "fails";
      doc.error = "request lines of " + FormatBytes(doc.line_bytes) + " exceed the shard cap of " +
                  FormatBytes(options.max_shard_bytes);
    } else {
      doc.outcome = "planned";
    }
    plan.documents.push_back(std::move(doc));
  }

  // Greedy in selection order under both caps, as the plan step does.
  for (auto& doc : plan.documents) {
    if (doc.outcome == "skipped") {
      ++plan.skipped;
      continue;
    }
    if (doc.outcome == "fails") {
      ++plan.failing;
      continue;
    }
    if (plan.shards.empty() ||
        plan.shards.back().requests + static_cast<int>(doc.parts.size()) >
            options.max_shard_requests ||
        plan.shards.back().bytes + doc.line_bytes > options.max_shard_bytes) {
      char id[16];
      std::snprintf(id, sizeof id, "s%04zu", plan.shards.size() + 1);
      plan.shards.push_back({.shard_id = id});
    }
    auto& shard = plan.shards.back();
    doc.shard_id = shard.shard_id;
    ++shard.documents;
    shard.requests += static_cast<int>(doc.parts.size());
    shard.bytes += doc.line_bytes;
    shard.input_tokens += doc.input_tokens;
    ++plan.planned;
    plan.pdf_bytes += doc.size_bytes;
    plan.pages += doc.pages;
    plan.parts += static_cast<int64_t>(doc.parts.size());
    if (doc.parts.size() > 1) ++plan.split_documents;
    plan.input_tokens += doc.input_tokens;
    plan.output_tokens += doc.output_tokens;
  }
  const pricing::TokenUsage usage{.input_tokens = plan.input_tokens,
                                  .cached_input_tokens = 0,
                                  .output_tokens = plan.output_tokens};
  plan.batch_cost_usd = pricing::CostOf(*price, usage, pricing::PricingMode::kBatch);
  plan.sync_cost_usd = pricing::CostOf(*price, usage, pricing::PricingMode::kSync);
  plan.cost_usd = plan.mode == v1::MODE_SYNC ? plan.sync_cost_usd : plan.batch_cost_usd;
  return plan;
}

std::string DryRunPlanToJson(const DryRunPlan& plan) {
  nlohmann::ordered_json out;
  out["dryRun"] = true;
  out["model"] = plan.model;
  out["mode"] = v1::Mode_Name(plan.mode);
  out["maxCompletionTokens"] = plan.max_completion_tokens;
  out["plannedDocuments"] = plan.planned;
  out["skippedDocuments"] = plan.skipped;
  out["failingDocuments"] = plan.failing;
  out["pdfBytes"] = plan.pdf_bytes;
  out["pages"] = plan.pages;
  out["splitDocuments"] = plan.split_documents;
  out["parts"] = plan.parts;
  out["estimatedInputTokens"] = plan.input_tokens;
  out["estimatedOutputTokens"] = plan.output_tokens;
  out["estimatedCostUsd"] = plan.cost_usd;
  out["estimatedBatchCostUsd"] = plan.batch_cost_usd;
  out["estimatedSyncCostUsd"] = plan.sync_cost_usd;
  out["shards"] = nlohmann::ordered_json::array();
  for (const auto& s : plan.shards) {
    out["shards"].push_back({{"shardId", s.shard_id},
                             {"documents", s.documents},
                             {"requests", s.requests},
                             {"bytes", s.bytes},
                             {"estimatedInputTokens", s.input_tokens}});
  }
  out["documents"] = nlohmann::ordered_json::array();
  for (const auto& d : plan.documents) {
    nlohmann::ordered_json j = {{"path", d.path},
                                {"documentId", d.document_id},
                                {"sizeBytes", d.size_bytes},
                                {"pages", d.pages},
                                {"lineBytes", d.line_bytes},
                                {"estimatedInputTokens", d.input_tokens},
                                {"estimatedOutputTokens", d.output_tokens},
                                {"outcome", d.outcome}};
    if (d.parts.size() > 1) {
      j["parts"] = nlohmann::ordered_json::array();
      for (const auto& p : d.parts) {
        j["parts"].push_back({{"firstPage", p.first_page},
                              {"lastPage", p.last_page},
                              {"pdfBytes", p.pdf_bytes},
                              {"estimatedInputTokens", p.input_tokens},
                              {"estimatedOutputTokens", p.output_tokens}});
      }
    }
    if (!d.shard_id.empty()) j["shardId"] = d.shard_id;
    if (!d.error.empty()) j["error"] = d.error;
    out["documents"].push_back(std::move(j));
  }
  return out.dump();
}

}  // namespace batchscribe::cli
