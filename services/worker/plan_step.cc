// plan: splits each PENDING document into parts (page ranges that fit one
// request: libs/pdf/part_planner.h) the first time it is planned, groups the
// documents by the exact size of their parts' request lines into shards under
// the shard caps, and queues a prepare task per shard. A document whose parts
// succeeded earlier sends only the others. A document that cannot be read, is
// not a PDF (encrypted, damaged), needs splitting that its batch does not
// allow, or whose lines alone exceed the byte cap fails alone, with a reason
// that says so.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "libs/common/logging.h"
#include "libs/jsonl/request_line.h"
#include "libs/pdf/document_planner.h"
#include "libs/pdf/part_planner.h"
#include "libs/pdf/pdf_document.h"
#include "libs/pipeline/batch_progress.h"
#include "libs/storage/document_id.h"
#include "services/worker/records.h"
#include "services/worker/shard_planning.h"
#include "services/worker/step.h"
#include "services/worker/stitch.h"

namespace batchscribe::worker {
namespace {

using nlohmann::json;

struct PendingDocument {
  std::string document_id;
  std::string path;
  int part_count = 0;
  int page_count = 0;
  std::vector<PartRecord> parts;  // PENDING parts, in page order
};

std::vector<PendingDocument> LoadPending(pqxx::connection& conn, const std::string& batch_id) {
  pqxx::read_transaction tx(conn);
  auto r = tx.exec_params(
      "SELECT document_id, path, part_count, coalesce(page_count, 0) FROM documents "
      "WHERE batch_id = $1 AND state = 'PENDING' ORDER BY document_id",
      batch_id);
  std::vector<PendingDocument> docs;
  docs.reserve(r.size());
  std::unordered_map<std::string, size_t> index;
  for (const auto& row : r) {
    index.emplace(row[0].as<std::string>(), docs.size());
    docs.push_back({row[0].as<std::string>(),
                    row[1].as<std::string>(),
                    row[2].as<int>(),
                    row[3].as<int>(),
                    {}});
  }
  auto parts =
      tx.exec_params(std::string("SELECT p.document_id, ") + kPartColumns +
                         " FROM document_parts p JOIN documents d "
                         "  ON d.batch_id = p.batch_id AND d.document_id = p.document_id "
                         "WHERE d.batch_id = $1 AND d.state = 'PENDING' AND p.state = 'PENDING' "
                         "ORDER BY p.document_id, p.first_page",
                     batch_id);
  for (const auto& row : parts) {
    auto it = index.find(row[0].as<std::string>());
    if (it == index.end()) continue;
    docs[it->second].parts.push_back(PartFromRow(row));
  }
  return docs;
}

// What planning decided for one document's parts.
struct DocumentPlan {
  bool first_planning = false;  // parts are new: insert them
  int page_count = 0;
  std::vector<PartRecord> parts;  // the parts to send now, in page order
};

// The libs/pdf planner's parts as part rows, and back.
PartRecord ToRecord(const pdf::MeasuredPart& m) {
  PartRecord r;
  r.first_page = m.first_page;
  r.last_page = m.last_page;
  r.state = "PENDING";
  r.pdf_bytes = m.pdf_bytes;
  r.estimated_input_tokens = m.input_tokens;
  r.estimated_output_tokens = m.output_tokens;
  return r;
}

pdf::MeasuredPart ToMeasured(const PartRecord& r) {
  return {r.first_page, r.last_page, r.pdf_bytes, r.estimated_input_tokens,
          r.estimated_output_tokens};
}

std::string ShardName(int number) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "s%04d", number);
  return buf;
}

std::string DescribeUnreadable(const absl::Status& status, const std::string& path) {
  switch (status.code()) {
    case absl::StatusCode::kNotFound:
      return "input file not found: " + path;
    case absl::StatusCode::kPermissionDenied:
      return "input file not readable: " + path;
    default:
      return "input file rejected (" + path + "): " + std::string(status.message());
  }
}

// Fails documents that cannot be sent; they never reach a shard.
void FailDocuments(pqxx::work& tx, const std::string& batch_id,
                   const std::vector<std::pair<std::string, std::string>>& failures) {
  if (failures.empty()) return;
  json rows = json::array();
  for (const auto& [id, reason] : failures)
    rows.push_back({{"document_id", id}, {"error", reason}});
  tx.exec_params(
      "UPDATE documents d SET state = 'FAILED', error = x.error, update_time = now() "
      "FROM jsonb_to_recordset($2::jsonb) AS x(document_id text, error text) "
      "WHERE d.batch_id = $1 AND d.document_id = x.document_id AND d.state = 'PENDING'",
      batch_id, rows.dump());
  pipeline::RecordBatchError(tx, batch_id,
                             std::to_string(failures.size()) +
                                 " document(s) could not be sent, e.g. " + failures.front().first +
                                 ": " + failures.front().second);
}

// Records what planning found: the page count and parts of documents planned
// for the first time (and the batch's page and part totals), and the exact
// sizes of parts measured now.
void RecordPartPlans(pqxx::work& tx, const std::string& batch_id,
                     const std::map<std::string, DocumentPlan>& plans) {
  json documents = json::array();
  json parts = json::array();
  for (const auto& [id, plan] : plans) {
    if (plan.first_planning) {
      documents.push_back({{"document_id", id},
                           {"pages", plan.page_count},
                           {"parts", static_cast<int>(plan.parts.size())}});
    }
    for (const PartRecord& part : plan.parts) {
      parts.push_back({{"document_id", id},
                       {"first_page", part.first_page},
                       {"last_page", part.last_page},
                       {"pdf_bytes", part.pdf_bytes},
                       {"line_bytes", part.line_bytes},
                       {"input_tokens", part.estimated_input_tokens},
                       {"output_tokens", part.estimated_output_tokens}});
    }
  }
  if (!documents.empty()) {
    // Rows upgraded from before parts (last_page 0) are replaced.
    tx.exec_params(
        "WITH planned AS ("
        "  UPDATE documents d SET page_count = x.pages, part_count = x.parts, "
        "    parts_succeeded = 0, update_time = now() "
        "  FROM jsonb_to_recordset($2::jsonb) AS x(document_id text, pages int, parts int) "
        "  WHERE d.batch_id = $1 AND d.document_id = x.document_id AND d.state = 'PENDING' "
        "  RETURNING d.document_id, x.pages, x.parts), "
        "dropped AS ("
        "  DELETE FROM document_parts p USING planned WHERE p.batch_id = $1 "
        "    AND p.document_id = planned.document_id AND p.last_page = 0) "
        "UPDATE batches b SET page_count = b.page_count + t.pages, "
        "  part_count = b.part_count + t.parts "
        "FROM (SELECT coalesce(sum(pages), 0) AS pages, coalesce(sum(parts), 0) AS parts "
        "      FROM planned) t WHERE b.id = $1",
        batch_id, documents.dump());
  }
  if (!parts.empty()) {
    tx.exec_params(
        "INSERT INTO document_parts AS p (batch_id, document_id, first_page, last_page, "
        "  pdf_bytes, line_bytes, estimated_input_tokens, estimated_output_tokens) "
        "SELECT $1, x.document_id, x.first_page, x.last_page, x.pdf_bytes, x.line_bytes, "
        "  x.input_tokens, x.output_tokens "
        "FROM jsonb_to_recordset($2::jsonb) AS x(document_id text, first_page int, "
        "  last_page int, pdf_bytes bigint, line_bytes bigint, input_tokens bigint, "
        "  output_tokens bigint) "
        "JOIN documents d ON d.batch_id = $1 AND d.document_id = x.document_id "
        "  AND d.state = 'PENDING' "
        "ON CONFLICT (batch_id, document_id, first_page, last_page) DO UPDATE SET "
        "  pdf_bytes = excluded.pdf_bytes, line_bytes = excluded.line_bytes, "
        "  update_time = now() WHERE p.state = 'PENDING'",
        batch_id, parts.dump());
  }
}

// Worst-case cost of documents not yet paid for: estimated input tokens at the
// batch input price plus max_completion_tokens each at the batch output price.
double WorstCaseCost(const pricing::ModelPrice& price, int64_t input_tokens, int64_t documents,
                     int max_completion_tokens) {
  pricing::TokenUsage usage;
  usage.input_tokens = input_tokens;
  usage.output_tokens = documents * static_cast<int64_t>(max_completion_tokens);
  return pricing::CostOf(price, usage, pricing::PricingMode::kBatch);
}

}  // namespace

StepResult RunPlan(StepContext& ctx) {
  auto batch = LoadBatch(ctx.conn, ctx.batch_id());
  if (!batch.ok()) return StepResult::Complete();
  if (batch->mode != "BATCH" || pipeline::IsCancelState(batch->state) ||
      pipeline::IsFinalBatchState(batch->state)) {
    // Nothing to plan; a cancelling batch's PENDING documents are the
    // coordinator's (CancelBatch) or the sweep's to cancel.
    return StepResult::Complete();
  }
  auto builder = jsonl::RequestLineBuilder::Create({batch->model, batch->prompt, batch->json_schema,
                                                    "transcript", batch->max_completion_tokens});
  if (!builder.ok()) {
    std::string reason =
        "the batch's request cannot be built: " + std::string(builder.status().message());
    return StepResult::Complete([id = batch->id, reason](pqxx::work& tx) {
      if (!pipeline::LockBatch(tx, id)) return;
      pipeline::MarkBatchRunning(tx, id);
      pipeline::FailPendingDocuments(tx, id, reason);
    });
  }

  const ShardLimits limits = EffectiveShardLimits(ctx.config);
  const std::optional<pricing::ModelPrice> model = ctx.config.prices.Find(batch->model);
  pdf::DocumentPlanOptions plan_options;
  plan_options.model = batch->model;
  plan_options.limits = pdf::MakePartLimits(
      ctx.config.max_part_pages, ctx.config.max_part_bytes, batch->max_completion_tokens,
      model ? model->context_tokens : 0, batch->prompt, batch->json_schema);
  plan_options.split_policy = pdf::ParseSplitPolicy(batch->split_policy);
  plan_options.per_page_schema = PageArrayProperty(batch->json_schema).has_value();

  std::vector<PlannedDocument> planned;
  std::map<std::string, DocumentPlan> plans;
  std::vector<std::pair<std::string, std::string>> failures;
  for (PendingDocument& doc : LoadPending(ctx.conn, batch->id)) {
    if (ctx.stopped()) return StepResult::HandBack();
    // The id names the transcript file: one that is not a single safe file name
    // (a tampered row) must never become a path.
    if (absl::Status id = storage::ValidateDocumentId(doc.document_id); !id.ok()) {
      failures.emplace_back(doc.document_id,
                            "document id is not a safe file name: " + std::string(id.message()));
      continue;
    }
    auto file = ctx.input_root.OpenInputFile(doc.path);
    if (!file.ok()) {
      failures.emplace_back(doc.document_id, DescribeUnreadable(file.status(), doc.path));
      continue;
    }
    const uint64_t size = static_cast<uint64_t>(file->size_bytes());
    const std::string filename = RequestFilename(doc.path);
    // A row upgraded from before parts (whole document, pages unknown) is
    // planned afresh.
    if (doc.part_count == 1 && doc.parts.size() == 1 && doc.parts[0].last_page == 0) {
      doc.part_count = 0;
    }
    DocumentPlan plan;
    if (doc.part_count == 0) {
      // First planning: the one planner the dry run uses too.
      auto planned_doc = pdf::PlanDocument(file->fd(), size, plan_options);
      if (!planned_doc.ok()) {
        failures.emplace_back(doc.document_id, std::string(planned_doc.status().message()));
        continue;
      }
      plan.first_planning = true;
      plan.page_count = planned_doc->page_count;
      for (const pdf::MeasuredPart& m : planned_doc->parts) plan.parts.push_back(ToRecord(m));
    } else {
      plan.page_count = doc.page_count;
      plan.parts = doc.parts;
      if (doc.part_count == 1 && plan.parts.size() == 1) plan.parts[0].pdf_bytes = size;
      // Halves of a part cut at max_completion_tokens are measured now.
      bool unmeasured = false;
      for (const PartRecord& part : plan.parts) unmeasured |= part.pdf_bytes == 0;
      if (unmeasured) {
        auto splitter = pdf::PdfSplitter::Open(file->fd());
        if (!splitter.ok()) {
          failures.emplace_back(doc.document_id,
                                "cannot be split: " + std::string(splitter.status().message()));
          continue;
        }
        if (plan.page_count > 0 && (*splitter)->page_count() != plan.page_count) {
          failures.emplace_back(doc.document_id, "the PDF changed since it was planned: it has " +
                                                     std::to_string((*splitter)->page_count()) +
                                                     " pages, not " +
                                                     std::to_string(plan.page_count));
          continue;
        }
        std::vector<pdf::MeasuredPart> measured;
        for (const PartRecord& part : plan.parts) measured.push_back(ToMeasured(part));
        if (absl::Status m =
                pdf::MeasureParts(**splitter, nullptr, batch->model, plan_options.limits, measured);
            !m.ok()) {
          failures.emplace_back(doc.document_id, "cannot be sent: " + std::string(m.message()));
          continue;
        }
        plan.parts.clear();
        for (const pdf::MeasuredPart& m : measured) plan.parts.push_back(ToRecord(m));
      }
    }
    if (plan.parts.empty()) continue;  // nothing left to send (should not happen)
    const int part_count = plan.first_planning
                               ? static_cast<int>(plan.parts.size())
                               : doc.part_count + static_cast<int>(plan.parts.size()) -
                                     static_cast<int>(doc.parts.size());
    PlannedDocument p;
    p.document_id = doc.document_id;
    p.pdf_bytes = static_cast<int64_t>(size);
    p.lines = static_cast<int>(plan.parts.size());
    for (PartRecord& part : plan.parts) {
      const std::string custom_id =
          pdf::PartCustomId(doc.document_id, part_count, part.first_page, part.last_page);
      part.line_bytes = builder->LineBytes(
          custom_id, pdf::PartFilename(filename, part_count, part.first_page, part.last_page),
          part.pdf_bytes);
      p.line_bytes += part.line_bytes;
      p.estimated_tokens += part.estimated_input_tokens;
    }
    if (p.line_bytes > limits.max_bytes) {
      failures.emplace_back(doc.document_id, "too large for a batch: its request lines are " +
                                                 std::to_string(p.line_bytes) +
                                                 " bytes, over the shard limit of " +
                                                 std::to_string(limits.max_bytes) + " bytes");
      continue;
    }
    planned.push_back(std::move(p));
    plans.emplace(doc.document_id, std::move(plan));
  }
  std::vector<PlannedShard> shards = GroupIntoShards(planned, limits);

  const std::optional<pricing::ModelPrice> price = ctx.config.prices.Find(batch->model);
  ctx.crash_points.Reach("plan.before_complete");
  return StepResult::Complete([batch = *batch, shards, failures, price,
                               plans = std::move(plans)](pqxx::work& tx) {
    auto state = pipeline::LockBatch(tx, batch.id);
    if (!state || pipeline::IsCancelState(*state) || pipeline::IsFinalBatchState(*state)) return;
    pipeline::MarkBatchRunning(tx, batch.id);
    FailDocuments(tx, batch.id, failures);
    RecordPartPlans(tx, batch.id, plans);

    // Cost cap: shards whose worst-case cost would pass max_cost_usd are not sent.
    double headroom = 0;
    if (batch.max_cost_usd > 0 && price) {
      auto r = tx.exec_params(
          "SELECT b.cost_usd, coalesce(sum(s.estimated_tokens), 0), "
          "  coalesce(sum(s.document_count), 0) FROM batches b "
          "LEFT JOIN shards s ON s.batch_id = b.id "
          "  AND s.state IN ('PLANNED', 'PREPARING', 'UPLOADED', 'SUBMITTED', 'RETRIEVING') "
          "WHERE b.id = $1 GROUP BY b.cost_usd",
          batch.id);
      double spent = r[0][0].as<double>();
      double in_flight = WorstCaseCost(*price, r[0][1].as<int64_t>(), r[0][2].as<int64_t>(),
                                       batch.max_completion_tokens);
      headroom = batch.max_cost_usd - spent - in_flight;
    }

    auto next = tx.exec_params(
        "SELECT coalesce(max(substr(shard_id, 2)::int), 0) FROM shards WHERE batch_id = $1",
        batch.id);
    int number = next[0][0].as<int>();
    std::vector<std::pair<std::string, std::string>> over_budget;
    for (const PlannedShard& shard : shards) {
      if (batch.max_cost_usd > 0 && price) {
        int64_t lines = 0;
        for (const auto& d : shard.documents) {
          auto it = plans.find(d.document_id);
          lines += it == plans.end() ? 1 : static_cast<int64_t>(it->second.parts.size());
        }
        double cost =
            WorstCaseCost(*price, shard.estimated_tokens, lines, batch.max_completion_tokens);
        if (cost > headroom) {
          char buf[160];
          std::snprintf(buf, sizeof(buf),
                        "not sent: the batch's cost cap of $%.4f would be exceeded "
                        "(worst-case estimate $%.4f for its shard)",
                        batch.max_cost_usd, cost);
          for (const auto& d : shard.documents) over_budget.emplace_back(d.document_id, buf);
          continue;
        }
        headroom -= cost;
      }
      const std::string shard_id = ShardName(++number);
      json rows = json::array();
      for (const auto& d : shard.documents) {
        rows.push_back({{"document_id", d.document_id},
                        {"line_bytes", d.line_bytes},
                        {"estimated_tokens", d.estimated_tokens}});
      }
      tx.exec_params("INSERT INTO shards (batch_id, shard_id, state) VALUES ($1, $2, 'PLANNED')",
                     batch.id, shard_id);
      tx.exec_params(
          "WITH moved AS ("
          "  UPDATE documents d SET state = 'PREPARED', shard_id = $2, update_time = now() "
          "  FROM jsonb_to_recordset($3::jsonb) AS x(document_id text) "
          "  WHERE d.batch_id = $1 AND d.document_id = x.document_id AND d.state = 'PENDING' "
          "  RETURNING d.document_id), "
          "parts AS ("
          "  UPDATE document_parts p SET shard_id = $2, update_time = now() FROM moved m "
          "  WHERE p.batch_id = $1 AND p.document_id = m.document_id AND p.state = 'PENDING') "
          "INSERT INTO shard_documents (batch_id, shard_id, document_id, line_bytes) "
          "SELECT $1, $2, x.document_id, x.line_bytes "
          "FROM jsonb_to_recordset($3::jsonb) AS x(document_id text, line_bytes bigint) "
          "JOIN moved m ON m.document_id = x.document_id",
          batch.id, shard_id, rows.dump());
      auto totals = tx.exec_params(
          "UPDATE shards s SET document_count = t.n, input_bytes = t.bytes, "
          "  estimated_tokens = t.tokens, update_time = now() "
          "FROM (SELECT count(*) AS n, coalesce(sum(sd.line_bytes), 0) AS bytes, "
          "        coalesce(sum(x.estimated_tokens), 0) AS tokens "
          "      FROM shard_documents sd "
          "      JOIN jsonb_to_recordset($3::jsonb) AS x(document_id text, estimated_tokens "
          "bigint) "
          "        ON x.document_id = sd.document_id "
          "      WHERE sd.batch_id = $1 AND sd.shard_id = $2) t "
          "WHERE s.batch_id = $1 AND s.shard_id = $2 RETURNING t.n",
          batch.id, shard_id, rows.dump());
      if (totals.empty() || totals[0][0].as<int64_t>() == 0) {
        // Every document changed state meanwhile: no empty shards.
        tx.exec_params("DELETE FROM shards WHERE batch_id = $1 AND shard_id = $2", batch.id,
                       shard_id);
        --number;
        continue;
      }
      queue::NewTask prepare;
      prepare.kind = "prepare";
      prepare.subject = batch.id + "/" + shard_id;
      prepare.batch_id = batch.id;
      queue::Enqueue(tx, prepare);
    }
    FailDocuments(tx, batch.id, over_budget);
    pipeline::NotifyBatchChanged(tx, batch.id);
    pipeline::FinishBatchIfSettled(tx, batch.id);
  });
}

}  // namespace batchscribe::worker
